"""Reference data look-ups (ICD-10)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from telemed.schemas.common import Int


class ICD10QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    q = fields.String(required=True, validate=validate.Length(min=1, max=100))
    limit = Int(load_default=20, validate=validate.Range(1, 50))
