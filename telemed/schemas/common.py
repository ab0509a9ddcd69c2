"""Fields, limits and base schemas every resource's schemas share."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from telemed.db import district_today
from telemed.errors import ValidationFailed
from telemed.schemas.messages import translated

MAX_COMPLAINT = 2000


MAX_MESSAGE = 4000


MAX_REASON = 500


MAX_ICD10_CODES = 10


class UTCDateTimeField(fields.DateTime):
    """ISO 8601 in UTC with a `Z`, as DESIGN.md fixes for every time."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


MAX_INT = 2**31 - 1  # ids, offsets and counts are 32-bit integers in the database


class Int(fields.Integer):
    """A whole number the database can hold: beyond ±2^31 it is a 422 naming the field, not a 500."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.insert(0, validate.Range(-MAX_INT - 1, MAX_INT))


class Text(fields.String):
    """A string that is stripped and must not be empty (or only spaces)."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return text.strip()


def flatten_errors(messages: dict, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as one `{"patient.age_years": [...]}` mapping."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        path = f"{prefix}{key}" if key != "_schema" else (prefix.rstrip(".") or "_schema")
        if isinstance(value, dict):
            flat.update(flatten_errors(value, f"{path}."))
        else:
            flat.setdefault(path, []).extend(translated(str(v)) for v in value)
    return flat


class StrictSchema(Schema):
    """Refuses unknown fields, so a typo in a field name is an error instead of silently ignored."""

    class Meta:
        ordered = True


class PageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = Int(load_default=50, validate=validate.Range(1, 500))
    offset = Int(load_default=0, validate=validate.Range(0))


def _sane_date(value: date) -> None:
    if not date(2000, 1, 1) <= value <= district_today().replace(year=district_today().year + 10):
        raise ValidationError(_("The date must lie between 2000 and ten years from now."))


# How OpenAPI describes a date or a time: 2026-06-01, or 2026-06-01T08:00:00Z (with a zone); empty
# is the same as not given, as a browser's form sends an unfilled field.
DATE_OR_TIME = {"type": "string",
                "pattern": r"^(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?)?$"}


class RangeQuerySchema(Schema):
    """`from` and `to` as dates (whole days, `to` included) or times; the last 30 days by default."""

    class Meta:
        unknown = EXCLUDE

    from_ = fields.Raw(data_key="from", load_default=None, metadata=DATE_OR_TIME)
    to = fields.Raw(load_default=None, metadata=DATE_OR_TIME)
    facility_id = Int(load_default=None)

    @post_load
    def _range(self, data, **kwargs):
        end = _moment(data["to"], "to", end_of_day=True) if data["to"] else None
        start = _moment(data["from_"], "from") if data["from_"] else None
        end = end or datetime.now(timezone.utc)
        start = start or end - timedelta(days=30)
        if start >= end:
            raise ValidationError(_("`from` must be before `to`."), "to")
        if end - start > timedelta(days=3660):
            raise ValidationError(_("At most ten years at once."), "from")
        if not datetime(2000, 1, 1, tzinfo=timezone.utc) <= start:
            raise ValidationError(_("The dates must lie after 2000."), "from")
        rest = {k: v for k, v in data.items() if k not in ("from_", "to")}
        return {**rest, "start": start, "end": end}


def _moment(value, name: str, end_of_day: bool = False) -> datetime:
    text = str(value)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day,
                                      datetime.min.time(), tzinfo=timezone.utc)
            return moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(_("Not a date (2026-06-01) or time (2026-06-01T08:00:00Z)."), name) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class RefSchema(Schema):
    id = fields.Raw()
    name = fields.String()


class PersonSchema(Schema):
    id = Int()
    full_name = fields.String()


class SenderSchema(PersonSchema):
    role = fields.String()


def reject_nul_characters(data) -> None:
    """ValidationError naming every text (or key) holding a NUL character: no text column can
    store one (PostgreSQL refuses it outright), so it is refused at the edge, not by the database."""
    bad: dict[str, list[str]] = {}

    def walk(value, where: str) -> None:
        if isinstance(value, str):
            if "\x00" in value:
                bad[where or "_schema"] = [_("Contains a NUL character, which no text may hold.")]
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(str(key), where)
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}.{index}" if where else str(index))

    walk(data, "")
    if bad:
        raise ValidationError(bad)


def validated(schema: Schema, data) -> dict:
    """Data loaded through the schema, or ValidationFailed naming every bad field."""
    try:
        reject_nul_characters(data)
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(_("Some fields are not valid."), flatten_errors(exc.messages)) from exc


def check_password(password: str | None, *personal: str | None) -> None:
    """Refuse a password that is among the commonly used ones or guessable from the person's own
    name (zxcvbn's estimate below 3 of 4: "safely unguessable" starts there)."""
    if not password:
        return
    from zxcvbn import zxcvbn

    # zxcvbn refuses more than 72 characters; a phrase that long is judged on its first 72.
    if zxcvbn(password[:72], user_inputs=[p[:72] for p in personal if p])["score"] < 3:
        raise ValidationError(_("This password is too easy to guess (common, a sequence or the "
                                "person's own name); choose a longer phrase."), "password")
