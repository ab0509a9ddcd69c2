"""The JSON shapes of DESIGN.md, shared by the HTTP API and the Socket.IO events."""
from __future__ import annotations

from sqlalchemy import case, func, or_, and_, select

from telemed.api.schemas import (
    ConsultationDetailSchema, ConsultationSchema, MessageSchema, UserSchema,
)
from telemed.extensions import db
from telemed.models import Consultation, Message, User
from telemed.models.vocabulary import PRIORITIES

PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITIES)}, value=Consultation.effective_priority)
# The waiting queue's order (DESIGN.md, Routing): effective priority, then creation time.
QUEUE_ORDER = (PRIORITY_RANK, Consultation.created_at, Consultation.id)


def queue_position(consultation: Consultation) -> int | None:
    """1-based place in the whole waiting queue, or None when not waiting."""
    if consultation.status != "waiting":
        return None
    rank = PRIORITIES.index(consultation.effective_priority)
    ahead = db.session.scalar(
        select(func.count()).select_from(Consultation).where(
            Consultation.status == "waiting",
            or_(
                PRIORITY_RANK < rank,
                and_(PRIORITY_RANK == rank, Consultation.created_at < consultation.created_at),
            ),
        )
    )
    return ahead + 1


def queue_positions() -> dict:
    """Every waiting consultation's place in the queue."""
    ids = db.session.scalars(
        select(Consultation.id).where(Consultation.status == "waiting").order_by(*QUEUE_ORDER)
    )
    return {cid: place for place, cid in enumerate(ids, start=1)}


def consultation_payload(consultation: Consultation, positions: dict | None = None) -> dict:
    """One consultation as the API and the events carry it."""
    if positions is None:
        positions = {consultation.id: queue_position(consultation)}
    return ConsultationSchema(positions=positions).dump(consultation)


def consultation_list_payload(consultations) -> list[dict]:
    """Several consultations, with queue positions computed once."""
    schema = ConsultationSchema(positions=queue_positions())
    return [schema.dump(c) for c in consultations]


def consultation_detail_payload(consultation: Consultation) -> dict:
    """One consultation with its event log."""
    positions = {consultation.id: queue_position(consultation)}
    return ConsultationDetailSchema(positions=positions).dump(consultation)


def message_payload(message: Message) -> dict:
    """One chat message."""
    return MessageSchema().dump(message)


def user_payload(user: User) -> dict:
    """One staff account, without its password hash."""
    return UserSchema().dump(user)
