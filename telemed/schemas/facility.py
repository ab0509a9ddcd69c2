"""Facilities."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from telemed.models.vocabulary import FACILITY_KINDS
from telemed.schemas.common import Int, StrictSchema, Text


class FacilityCreateSchema(StrictSchema):
    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(FACILITY_KINDS))
    village = Text(200, required=True)
    district_id = Int(required=True)


class FacilityPatchSchema(StrictSchema):
    name = Text(200)
    kind = fields.String(validate=validate.OneOf(FACILITY_KINDS))
    village = Text(200)
    active = fields.Boolean(truthy={True}, falsy={False})


class FacilitySchema(Schema):
    id = Int()
    name = fields.String()
    kind = fields.String()
    village = fields.String()
    district_id = Int()
    active = fields.Boolean()
