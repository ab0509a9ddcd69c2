"""The Russian and Kazakh catalogues are complete: every user-facing string in the code and the
templates has a translation in each, with the same placeholders."""
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from telemed.config import REPOSITORY_ROOT

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%|\{[a-z_]*\}")


def strings_in_the_code() -> set[str]:
    """Every msgid `pybabel extract` finds with the project's babel.cfg."""
    with open(REPOSITORY_ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(REPOSITORY_ROOT), method_map, options_map, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(locale: str):
    path = REPOSITORY_ROOT / "telemed" / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as po:
        return read_po(po, locale=locale)


@pytest.fixture(scope="module")
def code_strings():
    return strings_in_the_code()


@pytest.mark.parametrize("locale", ["ru", "kk"])
def test_every_string_in_the_code_is_translated(code_strings, locale):
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalogue(locale) if m.id}
    missing = sorted(s for s in code_strings if s not in translated)
    assert missing == [], f"{locale}: not in the catalogue (run pybabel extract and update): {missing[:10]}"
    empty = sorted(s for s in code_strings
                   if translated[s].fuzzy or not all(translated[s].string if isinstance(translated[s].string, tuple)
                                                     else [translated[s].string]))
    assert empty == [], f"{locale}: untranslated or fuzzy: {empty[:10]}"


@pytest.mark.parametrize("locale", ["ru", "kk"])
def test_translations_keep_every_placeholder(locale):
    for message in catalogue(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = sorted(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            assert sorted(PLACEHOLDER.findall(text)) == expected, (locale, ids[0], text)


def test_the_glossary_names_the_terms_in_both_languages():
    glossary = (REPOSITORY_ROOT / "docs" / "glossary.md").read_text()
    for term in ("feldsher", "Emergency", "IIN", "ICD-10", "Ambulance called"):
        assert term in glossary, term
