"""Report, range and audit queries."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from telemed.db import district_today
from telemed.schemas.common import Int, RangeQuerySchema, UTCDateTimeField, _sane_date


class ReportQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    as_of = fields.Date(load_default=district_today, validate=_sane_date)
    district_id = Int(load_default=None)
    days = Int(load_default=90, validate=validate.Range(1, 365))


class AuditQuerySchema(RangeQuerySchema):
    """Range filters (the last 30 days by default) plus who, what, which object and words of
    the detail."""

    actor_id = Int(load_default=None)
    action = fields.String(load_default=None, validate=validate.Length(max=64))
    object_type = fields.String(load_default=None, validate=validate.Length(max=64))
    object_id = fields.String(load_default=None, validate=validate.Length(max=64))
    detail = fields.String(load_default=None, validate=validate.Length(max=100))  # words in the detail
    limit = Int(load_default=50, validate=validate.Range(1, 500))
    offset = Int(load_default=0, validate=validate.Range(0))


class AuditEntrySchema(Schema):
    id = Int()
    at = UTCDateTimeField()
    actor_id = Int(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    detail = fields.Dict()
