"""Consultations, their lifecycle transitions and their chat."""
import uuid

from flask import jsonify, request, send_file
from flask_babel import gettext as _
from flask_login import current_user

from telemed.api.blueprint import bp
from telemed.api.common import accepts, form_fields, json_body, page, query_args, roles_required
from telemed.errors import ValidationFailed
from telemed.extensions import limiter, user_rate_key, write_rate_limit
from telemed.schemas.consultation import (
    CloseSchema,
    ConsultationCreateSchema,
    ConsultationFilterSchema,
    FollowUpQuerySchema,
    ReasonSchema,
    TransferSchema,
)
from telemed.schemas.message import AttachmentFormSchema, MessageCreateSchema
from telemed.services import attachments, messages
from telemed.services import consultations as service
from telemed.services import follow_ups as follow_ups_service
from telemed.services.representation import (
    consultation_detail_payload,
    consultation_list_payload,
    consultation_payload,
    message_payload,
)


@bp.post("/consultations")
@accepts(body=ConsultationCreateSchema)
@roles_required("feldsher")
@limiter.limit(write_rate_limit, key_func=user_rate_key)
def create_consultation():
    """Open a request for the caller's post (201; 200 for a repeated client_key)."""
    consultation, created = service.create_consultation(
        current_user, json_body()
    )
    return jsonify(consultation_payload(consultation)), 201 if created else 200


@bp.get("/consultations")
@accepts(query=ConsultationFilterSchema)
@roles_required()
def list_consultations():
    """Consultations in the caller's scope, newest first."""
    result = service.list_consultations(current_user, query_args())
    return page(consultation_list_payload(result.items), result.total)


@bp.get("/consultations/<uuid:consultation_id>")
@roles_required()
def get_consultation(consultation_id: uuid.UUID):
    """One consultation with its event log."""
    consultation = service.get_consultation(current_user, consultation_id, ip=request.remote_addr)
    return jsonify(consultation_detail_payload(consultation))


@bp.post("/consultations/<uuid:consultation_id>/accept")
@roles_required("doctor")
def accept(consultation_id: uuid.UUID):
    """Claim a waiting consultation (409 conflict or at_capacity when it cannot be)."""
    return jsonify(consultation_payload(service.accept(current_user, consultation_id)))


@bp.post("/consultations/<uuid:consultation_id>/release")
@accepts(body=ReasonSchema)
@roles_required("doctor")
def release(consultation_id: uuid.UUID):
    """Give a held consultation back to the queue."""
    data = json_body()
    return jsonify(consultation_payload(service.release(current_user, consultation_id, data["reason"])))


@bp.post("/consultations/<uuid:consultation_id>/transfer")
@accepts(body=TransferSchema)
@roles_required("doctor")
def transfer(consultation_id: uuid.UUID):
    """Give a held consultation back to the queue under another specialty."""
    data = json_body()
    consultation = service.transfer(current_user, consultation_id, data["specialty"], data["reason"])
    return jsonify(consultation_payload(consultation))


@bp.post("/consultations/<uuid:consultation_id>/cancel")
@accepts(body=ReasonSchema)
@roles_required("feldsher")
def cancel(consultation_id: uuid.UUID):
    """Withdraw a waiting request of the caller's post."""
    data = json_body()
    return jsonify(consultation_payload(service.cancel(current_user, consultation_id, data["reason"])))


@bp.post("/consultations/<uuid:consultation_id>/close")
@accepts(body=CloseSchema)
@roles_required("doctor")
def close(consultation_id: uuid.UUID):
    """Close a held consultation with a disposition, ICD-10 codes and a recommendation."""
    consultation = service.close(current_user, consultation_id, json_body())
    return jsonify(consultation_payload(consultation))


@bp.get("/consultations/<uuid:consultation_id>/messages")
@roles_required()
def list_messages(consultation_id: uuid.UUID):
    """The consultation's chat, oldest first."""
    items = [message_payload(m) for m in messages.list_messages(current_user, consultation_id)]
    return page(items, len(items))


@bp.post("/consultations/<uuid:consultation_id>/messages")
@accepts(body=MessageCreateSchema)
@roles_required("feldsher", "doctor")
@limiter.limit(write_rate_limit, key_func=user_rate_key)
def send_message(consultation_id: uuid.UUID):
    """Post a chat message (201; 200 for a repeated client_key)."""
    data = json_body()
    message, created = messages.send_message(
        current_user, consultation_id, data["body"], data["client_key"]
    )
    return jsonify(message_payload(message)), 201 if created else 200


@bp.post("/consultations/<uuid:consultation_id>/attachments")
# Larger than the 1 MiB limit of every other request: the file may be 5 MB, plus the envelope.
@accepts(form=AttachmentFormSchema, files=("file",), max_bytes=attachments.MAX_BYTES + 64 * 1024)
@roles_required("feldsher", "doctor")
@limiter.limit(write_rate_limit, key_func=user_rate_key)
def upload_attachment(consultation_id: uuid.UUID):
    """Send a JPEG, PNG or PDF (at most 5 MB) in the chat."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_("Attach a file in the `file` field."),
                               {"file": [_("Missing data for required field.")]})
    form = form_fields()
    data = upload.read(attachments.MAX_BYTES + 1)
    message, created = attachments.add_attachment(
        current_user, consultation_id, upload.filename, upload.mimetype, data,
        form["client_key"], form["body"],
    )
    return jsonify(message_payload(message)), 201 if created else 200


@bp.get("/attachments/<uuid:attachment_id>")
@roles_required()
def download_attachment(attachment_id: uuid.UUID):
    """An attachment's file, for the consultation's participants and admins."""
    attachment, path = attachments.open_attachment(current_user, attachment_id, request.remote_addr)
    response = send_file(path, mimetype=attachment.content_type, download_name=attachment.filename,
                         as_attachment=attachment.content_type == "application/pdf")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/follow-ups")
@accepts(query=FollowUpQuerySchema)
@roles_required()
def follow_ups():
    """Open follow-ups in the caller's scope: overdue, today, upcoming or all."""
    window = query_args()["due"]
    items = consultation_list_payload(follow_ups_service.due_follow_ups(current_user, window))
    return page(items, len(items))


@bp.post("/consultations/<uuid:consultation_id>/follow-up")
@accepts(body=ReasonSchema)
@roles_required("feldsher")
def follow_up_done(consultation_id: uuid.UUID):
    """The post marks a follow-up done."""
    data = json_body()
    consultation = follow_ups_service.mark_done(current_user, consultation_id, data["reason"])
    return jsonify(consultation_payload(consultation))
