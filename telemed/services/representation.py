"""The JSON shapes of DESIGN.md, shared by the HTTP API and the Socket.IO events."""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import case, select

from telemed.api.schemas import (
    ConsultationDetailSchema, ConsultationSchema, MessageSchema, UserSchema,
)
from telemed.extensions import db
from telemed.models import Consultation, Message, User
from telemed.models.vocabulary import PRIORITIES

PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITIES)}, value=Consultation.effective_priority)
# The waiting queue's order (DESIGN.md, Routing): effective priority, then creation time.
QUEUE_ORDER = (PRIORITY_RANK, Consultation.created_at, Consultation.id)


@dataclass
class QueueContext:
    """What a waiting consultation's place and expected wait are computed from, read once."""

    positions: dict
    median_accept_s: dict
    available: dict

    @classmethod
    def now(cls) -> "QueueContext":
        """The queue as it stands."""
        from telemed.services.routing import available_doctors_by_specialty, median_time_to_accept_s

        ids = db.session.scalars(
            select(Consultation.id).where(Consultation.status == "waiting").order_by(*QUEUE_ORDER)
        )
        return cls(
            positions={cid: place for place, cid in enumerate(ids, start=1)},
            median_accept_s={p: median_time_to_accept_s(p) for p in PRIORITIES},
            available=available_doctors_by_specialty(),
        )

    def doctors_available(self, consultation: Consultation) -> int | None:
        """Available doctors eligible for a waiting consultation."""
        if consultation.status != "waiting":
            return None
        if consultation.specialty == "general" or consultation.escalation_level > 0:
            return self.available.get("*", 0)
        return self.available.get(consultation.specialty, 0)

    def estimated_wait_s(self, consultation: Consultation) -> int | None:
        """Recent median time-to-accept for its priority, times the rounds of doctors ahead of it."""
        position = self.positions.get(consultation.id)
        doctors = self.doctors_available(consultation)
        median = self.median_accept_s.get(consultation.effective_priority)
        if position is None or not doctors or median is None:
            return None
        return int(median * math.ceil(position / doctors))


def waiting_consultations() -> list[Consultation]:
    """The whole waiting queue, in queue order."""
    return db.session.scalars(
        select(Consultation).where(Consultation.status == "waiting").order_by(*QUEUE_ORDER)
    ).all()


def consultation_payload(consultation: Consultation, queue: QueueContext | None = None) -> dict:
    """One consultation as the API and the events carry it."""
    return ConsultationSchema(queue=queue or QueueContext.now()).dump(consultation)


def consultation_list_payload(consultations) -> list[dict]:
    """Several consultations, with the queue read once."""
    schema = ConsultationSchema(queue=QueueContext.now())
    return [schema.dump(c) for c in consultations]


def consultation_detail_payload(consultation: Consultation) -> dict:
    """One consultation with its event log, the requester's certifications and any flags."""
    from telemed.services.certifications import current_holdings, is_current

    payload = ConsultationDetailSchema(queue=QueueContext.now()).dump(consultation)
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
