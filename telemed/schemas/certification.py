"""Certifications and their types."""
from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from telemed.models.vocabulary import PROFESSIONS
from telemed.schemas.common import (
    Int,
    PageSchema,
    RefSchema,
    StrictSchema,
    Text,
    UTCDateTimeField,
    _sane_date,
)


class CertificationCreateSchema(StrictSchema):
    user_id = Int(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    issued_on = fields.Date(required=True, validate=_sane_date)
    expires_on = fields.Date(load_default=None, allow_none=True, validate=_sane_date)
    issuer = Text(200, load_default=None, allow_none=True)
    number = Text(64, load_default=None, allow_none=True)

    @validates_schema
    def _expiry_after_issue(self, data, **kwargs):
        if data.get("expires_on") and data["expires_on"] <= data["issued_on"]:
            raise ValidationError(_("The expiry must be after the issue date."), "expires_on")


class CertificationPatchSchema(StrictSchema):
    issued_on = fields.Date(validate=_sane_date)
    expires_on = fields.Date(validate=_sane_date)
    issuer = Text(200, allow_none=True)
    number = Text(64, allow_none=True)

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(_("Nothing to change."), "_schema")


class CertificationTypeCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_-]{2,32}$"))
    name = Text(200, required=True)
    validity_months = Int(required=True, strict=True, validate=validate.Range(1, 240))
    required_for = fields.List(fields.String(validate=validate.OneOf(PROFESSIONS)), load_default=list)


class CertificationFilterSchema(PageSchema):
    user_id = Int()
    facility_id = Int()
    profession = fields.String(validate=validate.OneOf(PROFESSIONS))
    type = fields.String(validate=validate.Length(max=32))
    status = fields.String(validate=validate.OneOf(("valid", "expiring", "expired", "revoked")))
    as_of = fields.Date(validate=_sane_date)


class CertificationPersonSchema(Schema):
    id = Int()
    username = fields.String()
    full_name = fields.String()
    profession = fields.String()
    facility = fields.Nested(RefSchema, allow_none=True)


class CertificationSchema(Schema):
    id = Int()
    user = fields.Nested(CertificationPersonSchema)
    type = fields.Function(lambda c: c.type.code)
    issued_on = fields.Date()
    expires_on = fields.Date()
    issuer = fields.String(allow_none=True)
    number = fields.String(allow_none=True)
    revoked_at = UTCDateTimeField(allow_none=True)
    revoked_reason = fields.String(allow_none=True)


class CertificationTypeSchema(Schema):
    id = Int()
    code = fields.String()
    name = fields.String()
    validity_months = Int()
    required_for = fields.List(fields.String())
