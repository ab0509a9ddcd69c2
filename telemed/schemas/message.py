"""Chat messages and attachments."""
from __future__ import annotations

from marshmallow import Schema, fields

from telemed.schemas.common import (
    MAX_MESSAGE,
    MAX_REASON,
    Int,
    SenderSchema,
    StrictSchema,
    Text,
    UTCDateTimeField,
)


class MessageCreateSchema(StrictSchema):
    body = Text(MAX_MESSAGE, required=True)
    client_key = fields.UUID(required=True)


class AttachmentFormSchema(StrictSchema):
    client_key = fields.UUID(required=True)
    body = Text(MAX_REASON, load_default=None, allow_none=True)


class SocketMessageSchema(MessageCreateSchema):
    consultation_id = fields.UUID(required=True)


class AttachmentSchema(Schema):
    id = fields.UUID()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = Int()
    url = fields.Function(lambda a: f"/api/v1/attachments/{a.id}")


class MessageSchema(Schema):
    id = fields.UUID()
    consultation_id = fields.UUID()
    sender = fields.Nested(SenderSchema)
    body = fields.String()
    client_key = fields.UUID()
    created_at = UTCDateTimeField()
    attachment = fields.Nested(AttachmentSchema, allow_none=True)
