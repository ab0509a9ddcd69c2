"""Logging in."""
from __future__ import annotations

from marshmallow import fields, validate

from telemed.schemas.common import StrictSchema


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
