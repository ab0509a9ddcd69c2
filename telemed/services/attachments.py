"""ECG photos and documents sent in a consultation's chat: JPEG, PNG or PDF, recognised by content.

Photos are decoded and stored re-encoded without their metadata: a phone's EXIF carries the GPS
position of the village and the patient's home, the time and the device, none of which the doctor
needs (docs/security.md). The picture is turned upright first, as its EXIF orientation said.
"""
from __future__ import annotations

import hashlib
import io
import os
import uuid
import warnings
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import secure_filename

from telemed.concurrency import run_blocking
from telemed.db import end_read_transaction, write_transaction
from telemed.errors import NotFound, PayloadTooLarge, ValidationFailed
from telemed.extensions import db
from telemed.models import Attachment, Consultation, Message, User
from telemed.services import audit, events
from telemed.services.events import MessageSent
from telemed.services.messages import check_can_write, message_by_client_key
from telemed.services.policy import may_open_attachments

MAX_BYTES = 5 * 1024 * 1024
# The largest photo decoded: 50 megapixels is past any phone camera; a bigger one is refused before
# decoding, so a small "decompression bomb" file cannot take the server's memory.
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 90  # ECG traces stay sharp; a re-encoded phone photo keeps about its size
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (JPEG, PNG, PDF), or None."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    return None


def storage_dir() -> Path:
    """Where attachment bytes live: `<instance>/attachments`."""
    return Path(current_app.config["TELEMED"].instance_path) / "attachments"


def _validate(filename: str, claimed_type: str | None, data: bytes) -> str:
    if not data:
        raise ValidationFailed(_("The file is empty."), {"file": [_("The file is empty.")]})
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(_("The file is larger than 5 MB."),
                              {"file": [_("The file is larger than 5 MB.")]})
    actual = sniff(data)
    if actual is None:
        raise ValidationFailed(_("Only JPEG, PNG or PDF files can be sent."),
                               {"file": [_("This file is not a JPEG, PNG or PDF.")]})
    if claimed_type and claimed_type != "application/octet-stream" and claimed_type != actual:
        raise ValidationFailed(
            _("The file claims to be %(claimed)s but is %(actual)s.", claimed=claimed_type,
              actual=actual),
            {"file": [_("The file is not what it claims to be.")]},
        )
    return actual


def _unreadable_image() -> ValidationFailed:
    return ValidationFailed(_("The picture could not be read; it may be damaged."),
                            {"file": [_("This picture is damaged or incomplete.")]})


def without_metadata(data: bytes, content_type: str) -> bytes:
    """The photo decoded and encoded again without EXIF, comments or text chunks, turned upright as
    its EXIF orientation said; a PDF is returned as it is. CPU work: call it off the event loop."""
    if content_type == "application/pdf":
        return data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValidationFailed(
                        _("The picture is too large; send a photo of at most 50 megapixels."),
                        {"file": [_("The picture has too many pixels.")]})
                upright = ImageOps.exif_transpose(image)
                clean = io.BytesIO()
                if content_type == "image/jpeg":
                    upright.save(clean, "JPEG", quality=JPEG_QUALITY,
                                 icc_profile=image.info.get("icc_profile"))
                else:
                    upright.save(clean, "PNG", icc_profile=image.info.get("icc_profile"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        raise _unreadable_image() from error
    return clean.getvalue()


def add_attachment(user: User, consultation_id: uuid.UUID, filename: str, claimed_type: str | None,
                   data: bytes, client_key: uuid.UUID, caption: str | None) -> tuple[Message, bool]:
    """Store the file and post it in the chat; the same client_key again returns the stored one."""
    existing = message_by_client_key(user, client_key)
    if existing is not None:
        return existing, False
    content_type = _validate(filename, claimed_type, data)
    end_read_transaction(db.session)  # no pooled connection held while the image is re-encoded
    data = run_blocking(without_metadata, data, content_type)
    attachment_id = uuid.uuid4()
    directory = storage_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / str(attachment_id)
    temporary = path.with_suffix(".part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    safe_name = secure_filename(filename or "") or f"attachment-{attachment_id.hex[:8]}"
    try:
        with write_transaction(db.session) as session:
            check_can_write(session, user, consultation_id)
            session.add(Attachment(
                id=attachment_id, consultation_id=consultation_id, uploader_id=user.id,
                filename=safe_name, content_type=content_type, size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            ))
            session.flush()
            message = Message(consultation_id=consultation_id, sender_id=user.id,
                              body=caption or safe_name, client_key=client_key,
                              attachment_id=attachment_id)
            session.add(message)
            session.flush()
            events.record(session, MessageSent(message.id, consultation_id))
    except IntegrityError:
        path.unlink(missing_ok=True)
        existing = message_by_client_key(user, client_key)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return message, True


def open_attachment(user: User, attachment_id: uuid.UUID, ip: str | None = None) -> tuple[Attachment, Path]:
    """An attachment and its file, for the consultation's participants and admins only."""
    attachment = db.session.get(Attachment, attachment_id)
    consultation = db.session.get(Consultation, attachment.consultation_id) if attachment else None
    if consultation is None or not may_open_attachments(user, consultation):
        raise NotFound(_("No such attachment."))
    path = storage_dir() / str(attachment.id)
    if not path.exists():
        raise NotFound(_("The file of this attachment is missing."))
    with write_transaction(db.session) as session:
        audit.record(session, user, "attachment_read", object_type="attachment",
                     object_id=attachment.id, ip=ip)
    return attachment, path

