"""Marshmallow's own error messages in the user's language.

Marshmallow writes its messages in English (and composes some, such as a range's, when a schema is
defined, before any request has a language). Every validation error passes through
`schemas.common.flatten_errors`, which hands each message to `translated` here: a message of
marshmallow's is matched by its English pattern and written again in the request's language;
telemed's own messages, already translated where they were raised, match no pattern.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _

# (marshmallow's English, as a pattern) -> the message in the user's language, given the groups.
_PATTERNS = [
    (r"Missing data for required field\.", lambda m: _("This field is required.")),
    (r"Field may not be null\.", lambda m: _("This field may not be empty.")),
    (r"Unknown field\.", lambda m: _("Unknown field.")),
    (r"Invalid input type\.|Invalid type\.", lambda m: _("Not the expected kind of value.")),
    (r"Not a valid integer\.", lambda m: _("Not a whole number.")),
    (r"Not a valid number\.", lambda m: _("Not a number.")),
    (r"Number too large\.", lambda m: _("The number is too large.")),
    (r"Special numeric values \(nan or infinity\) are not permitted\.", lambda m: _("Not a number.")),
    (r"Not a valid string\.", lambda m: _("Not text.")),
    (r"Not a valid utf-8 string\.", lambda m: _("Not text.")),
    (r"Not a valid boolean\.", lambda m: _("Not yes or no.")),
    (r"Not a valid date\.", lambda m: _("Not a date (2026-06-01).")),
    (r"Not a valid datetime\.", lambda m: _("Not a time (2026-06-01T08:00:00Z).")),
    (r"Not a valid UUID\.", lambda m: _("Not a valid identifier.")),
    (r"Not a valid list\.", lambda m: _("Not a list.")),
    (r"Not a valid mapping type\.", lambda m: _("Not a set of named values.")),
    (r"Invalid value\.|Invalid input\.", lambda m: _("Not a valid value.")),
    (r"String does not match expected pattern\.", lambda m: _("Not in the expected form.")),
    (r"Must be one of: (?P<choices>.*)\.", lambda m: _("Must be one of: %(choices)s.", choices=m["choices"])),
    (r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
     lambda m: _("Must be from %(min)s to %(max)s.", min=m["min"], max=m["max"])),
    (r"Must be greater than or equal to (?P<min>\S+)\.", lambda m: _("Must be at least %(min)s.", min=m["min"])),
    (r"Must be less than or equal to (?P<max>\S+)\.", lambda m: _("Must be at most %(max)s.", max=m["max"])),
    (r"Must be greater than (?P<min>\S+)\.", lambda m: _("Must be more than %(min)s.", min=m["min"])),
    (r"Must be less than (?P<max>\S+)\.", lambda m: _("Must be less than %(max)s.", max=m["max"])),
    (r"Length must be between (?P<min>\d+) and (?P<max>\d+)\.",
     lambda m: _("Must be %(min)s to %(max)s characters long.", min=m["min"], max=m["max"])),
    (r"Shorter than minimum length (?P<min>\d+)\.",
     lambda m: _("Must be at least %(min)s characters long.", min=m["min"])),
    (r"Longer than maximum length (?P<max>\d+)\.",
     lambda m: _("Must be at most %(max)s characters long.", max=m["max"])),
    (r"Length must be (?P<equal>\d+)\.", lambda m: _("Must be exactly %(equal)s long.", equal=m["equal"])),
]
_COMPILED = [(re.compile(pattern + r"\Z"), write) for pattern, write in _PATTERNS]


def translated(message: str) -> str:
    """The message in the request's language if it is one of marshmallow's, else as it is."""
    for pattern, write in _COMPILED:
        match = pattern.match(message)
        if match:
            return write(match)
    return message
