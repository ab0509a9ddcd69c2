"""CSV that a spreadsheet opens safely, streamed in batches.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel and
LibreOffice (OWASP, "CSV Injection"): a staff name such as `=HYPERLINK(...)` typed into the roster
would run on the administrator's machine. Such text cells get a leading apostrophe, which the
spreadsheet shows as plain text; numbers are written as they are.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The value as a spreadsheet should show it: text that could be a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def stream(header: list[str], rows: Iterable[Iterable], batch: int = 1000) -> Iterator[str]:
    """The header, then the rows, as CSV text in chunks of `batch` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(cell) for cell in row])
        if count % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
