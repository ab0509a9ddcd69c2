"""Staff accounts and doctors' presence."""
from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from telemed.config import SUPPORTED_LOCALES
from telemed.models.vocabulary import PRESENCE_STATUSES, PROFESSIONS, ROLES, SPECIALTIES
from telemed.schemas.common import Int, PageSchema, RefSchema, StrictSchema, Text, check_password


class PresenceSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(("available", "away")))


class UserCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_.-]{3,80}$"))
    full_name = Text(200, required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    profession = fields.String(required=True, validate=validate.OneOf(PROFESSIONS))
    facility_id = Int(allow_none=True, load_default=None)
    specialties = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)), load_default=list)
    password = fields.String(required=True, validate=validate.Length(min=10, max=200))

    @validates_schema
    def _strong_password(self, data, **kwargs):
        check_password(data.get("password"), data.get("username"), data.get("full_name"))
    locale = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(SUPPORTED_LOCALES))


class UserPatchSchema(StrictSchema):
    full_name = Text(200)
    role = fields.String(validate=validate.OneOf(ROLES))
    profession = fields.String(validate=validate.OneOf(PROFESSIONS))
    facility_id = Int(allow_none=True)
    specialties = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)))
    active = fields.Boolean(truthy={True}, falsy={False})
    password = fields.String(validate=validate.Length(min=10, max=200))

    @validates_schema
    def _strong_password(self, data, **kwargs):
        check_password(data.get("password"), data.get("full_name"))
    locale = fields.String(allow_none=True, validate=validate.OneOf(SUPPORTED_LOCALES))

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(_("Nothing to change."), "_schema")


class UserFilterSchema(PageSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    profession = fields.String(validate=validate.OneOf(PROFESSIONS))
    facility_id = Int()
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(max=100))


class UserSchema(Schema):
    id = Int()
    username = fields.String()
    full_name = fields.String()
    role = fields.String()
    profession = fields.String()
    facility = fields.Nested(RefSchema, allow_none=True)
    specialties = fields.List(fields.String())
    active = fields.Boolean()
    locale = fields.String()


class PresenceOutSchema(Schema):
    user_id = Int()
    status = fields.String(validate=validate.OneOf(PRESENCE_STATUSES))
