"""Reading roster spreadsheets (CSV or XLSX) into validated rows, each with its row number."""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, pre_load, validate

from telemed.errors import ValidationFailed
from telemed.schemas.common import flatten_errors, reject_nul_characters

COLUMNS = ("username", "type", "issued_on", "expires_on", "issuer", "number")
REQUIRED = ("username", "type", "issued_on")
MAX_ROWS = 20000
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")


class RosterDate(fields.Field):
    """A date as ISO (2026-06-01), or day first (01.06.2026, 01/06/2026), or a spreadsheet date."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = str(value).strip()
        for pattern in DATE_FORMATS:
            try:
                return datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        raise ValidationError(_("Not a date, or an impossible one (use 2026-06-01 or 01.06.2026)."))


class RosterRowSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    issued_on = RosterDate(required=True)
    expires_on = RosterDate(load_default=None, allow_none=True)
    issuer = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))

    @pre_load
    def _tidy(self, data, **kwargs):
        tidy = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None:
                tidy[key] = value
        if isinstance(tidy.get("username"), str):
            tidy["username"] = tidy["username"].lower()
        if isinstance(tidy.get("type"), str):
            tidy["type"] = tidy["type"].upper()
        if isinstance(tidy.get("number"), (int, float)):
            tidy["number"] = str(tidy["number"])
        return tidy


def _cells(content: bytes) -> list[list]:
    if content.startswith(b"PK\x03\x04"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise ValidationFailed(_("The XLSX file cannot be read."),
                                   {"file": [_("The XLSX file cannot be read.")]}) from exc
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The CSV file is not UTF-8 text."),
                               {"file": [_("Save the CSV as UTF-8.")]}) from exc
    dialect = csv.excel
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        pass
    return [row for row in csv.reader(io.StringIO(text), dialect)]


def _as_typed(value) -> str:
    """A cell as the person typed it, for showing beside its error."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def read_roster(content: bytes) -> tuple[list[tuple[int, dict]], dict[int, dict], dict[int, dict]]:
    """Rows as (spreadsheet row number, loaded data), per-row field errors, and every row's cells
    as typed (by column), to show a bad row as it was."""
    cells = _cells(content)
    if not cells or not any(cells[0]):
        raise ValidationFailed(_("The file is empty."), {"file": [_("The file has no header row.")]})
    header = [str(c).strip().lower() if c is not None else "" for c in cells[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed(
            _("The header row lacks columns: %(columns)s.", columns=", ".join(missing)),
            {"file": [_("Columns needed: %(columns)s.", columns=", ".join(COLUMNS))]},
        )
    if len(cells) - 1 > MAX_ROWS:
        raise ValidationFailed(_("At most %(n)s rows in one import.", n=MAX_ROWS),
                               {"file": [_("Split the file.")]})
    schema = RosterRowSchema()
    rows, errors, typed = [], {}, {}
    for number, values in enumerate(cells[1:], start=2):
        if not any(v not in (None, "") for v in values):
            continue  # blank lines are not rows
        raw = {name: value for name, value in zip(header, values) if name in COLUMNS}
        typed[number] = {name: _as_typed(raw.get(name)).replace("\x00", "") for name in COLUMNS}
        try:
            reject_nul_characters(raw)
            rows.append((number, schema.load(raw)))
        except ValidationError as exc:
            errors[number] = flatten_errors(exc.messages)
    if not rows and not errors:
        raise ValidationFailed(_("The file has no rows."), {"file": [_("The file has no rows.")]})
    return rows, errors, typed
