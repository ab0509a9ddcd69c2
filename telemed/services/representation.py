"""The JSON shapes of DESIGN.md, shared by the HTTP API and the notifier (built once per change)."""
from __future__ import annotations

from telemed.models import Consultation, Message, User
from telemed.schemas.consultation import ConsultationDetailSchema, ConsultationSchema
from telemed.schemas.message import MessageSchema
from telemed.schemas.staff import UserSchema
from telemed.services.queue import QueueState


def _schema(queue: QueueState) -> ConsultationSchema:
    # Building a marshmallow schema copies all its fields: one per queue state, not per payload.
    schema = queue.shaped.get(ConsultationSchema)
    if schema is None:
        schema = queue.shaped[ConsultationSchema] = ConsultationSchema(queue=queue)
    return schema


def consultation_payload(consultation: Consultation, queue: QueueState | None = None) -> dict:
    """One consultation as the API and the events carry it (shaped once per committed state)."""
    queue = queue or QueueState.now()
    payload = queue.shaped.get(consultation.id)
    if payload is None:
        payload = queue.shaped[consultation.id] = _schema(queue).dump(consultation)
    return payload


def consultation_list_payload(consultations, queue: QueueState | None = None) -> list[dict]:
    """Several consultations, with the queue read once."""
    queue = queue or QueueState.now()
    queue.expect(consultations)
    return [consultation_payload(c, queue) for c in consultations]


def consultation_detail_payload(consultation: Consultation) -> dict:
    """One consultation with its event log, the requester's certifications and any flags."""
    from telemed.services.certifications import current_holdings, is_current

    payload = ConsultationDetailSchema(queue=QueueState.now()).dump(consultation)
    holdings = [h for h in current_holdings(consultation.requester_id) if is_current(h["status"])]
    payload["requester_certifications"] = [
        {**h, "expires_on": h["expires_on"].isoformat()} for h in holdings]
    flags = []
    if consultation.effective_priority == "emergency" and "BLS" not in {h["code"] for h in holdings}:
        # The doctor should talk the post through resuscitation step by step.
        flags.append("requester_without_valid_bls")
    payload["flags"] = flags
    return payload


def message_payload(message: Message) -> dict:
    """One chat message."""
    return MessageSchema().dump(message)


def user_payload(user: User) -> dict:
    """One staff account, without its password hash."""
    return UserSchema().dump(user)
