"""The periodic sweep: escalate requests left waiting, return offline doctors' consultations.

Every step is a conditional UPDATE, so several server processes may sweep at the same moment:
each escalation step and each requeue happens exactly once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from telemed.db import utcnow, write_transaction
from telemed.extensions import db
from telemed.models import Consultation, Presence
from telemed.models.consultation import MAX_ESCALATION_LEVEL
from telemed.models.vocabulary import raise_priority
from telemed.realtime.notifier import notifier
from telemed.services import presence
from telemed.services.consultations import log_event, requeue_values, transition
from telemed.services.news2 import triaged_priority


def escalation_threshold_s(priority: str) -> int:
    """How long a request of this effective priority may wait before the next escalation step."""
    settings = current_app.config["TELEMED"]
    return {
        "emergency": settings.escalation_emergency_s,
        "urgent": settings.escalation_urgent_s,
        "routine": settings.escalation_routine_s,
    }[priority]


def escalate_overdue() -> list[Consultation]:
    """Raise every waiting request whose wait passed its threshold by one step (at most 2)."""
    now = utcnow()
    candidates = db.session.scalars(
        select(Consultation).where(Consultation.status == "waiting",
                                   Consultation.escalation_level < MAX_ESCALATION_LEVEL)
    ).all()
    due = [c for c in candidates
           if now - (c.escalated_at or c.queued_at)
           >= timedelta(seconds=escalation_threshold_s(c.effective_priority))]
    escalated = []
    if not due:
        return escalated
    with write_transaction(db.session) as session:
        for consultation in due:
            level = consultation.escalation_level + 1
            priority = raise_priority(
                triaged_priority(consultation.priority, consultation.news2), level
            )
            waited = int((now - consultation.queued_at).total_seconds())
            # The level in the WHERE makes a second sweeper's identical UPDATE match nothing.
            if transition(session, consultation.id, "waiting",
                          Consultation.escalation_level == consultation.escalation_level,
                          escalation_level=level, effective_priority=priority, escalated_at=now):
                log_event(session, consultation.id, None, "escalated", level=level,
                          effective_priority=priority, waited_s=waited)
                escalated.append(consultation)
    for consultation in escalated:
        db.session.refresh(consultation)
        notifier.consultation_changed(consultation)
    return escalated


def release_offline_doctors() -> list[Consultation]:
    """Return to the queue the consultations of doctors offline for longer than the grace period."""
    grace = timedelta(seconds=current_app.config["TELEMED"].doctor_grace_s)
    cutoff = utcnow() - grace
    # A doctor who never connected counts as offline since they took the consultation.
    stranded = db.session.scalars(
        select(Consultation)
        .outerjoin(Presence, Presence.user_id == Consultation.doctor_id)
        .where(
            Consultation.status == "active",
            or_(
                and_(Presence.status == "offline", Presence.offline_since <= cutoff),
                and_(Presence.user_id.is_(None), Consultation.accepted_at <= cutoff),
            ),
        )
    ).all()
    released = []
    with write_transaction(db.session) as session:
        for consultation in stranded:
            doctor_id = consultation.doctor_id
            if transition(session, consultation.id, "active", holder_id=doctor_id,
                          **requeue_values()):
                log_event(session, consultation.id, None, "released", reason="doctor_offline",
                          doctor_id=doctor_id)
                released.append((consultation, doctor_id))
    for consultation, doctor_id in released:
        db.session.refresh(consultation)
        notifier.consultation_changed(consultation, previous_doctor_id=doctor_id)
    return [consultation for consultation, _ in released]


@dataclass
class SweepResult:
    went_offline: list[int] = field(default_factory=list)
    escalated: list = field(default_factory=list)
    released: list = field(default_factory=list)


def sweep() -> SweepResult:
    """One pass of the background sweep."""
    settings = current_app.config["TELEMED"]
    return SweepResult(
        went_offline=presence.heartbeat_and_expire(settings.connection_stale_s),
        escalated=[c.id for c in escalate_overdue()],
        released=[c.id for c in release_offline_doctors()],
    )


def median_time_to_accept_s(priority: str, since_days: int = 7, sample: int = 50) -> float | None:
    """The median wait before acceptance of recent requests of this priority, or None."""
    since = utcnow() - timedelta(days=since_days)
    rows = db.session.execute(
        select(Consultation.queued_at, Consultation.accepted_at)
        .where(Consultation.accepted_at.is_not(None), Consultation.accepted_at >= since,
               Consultation.effective_priority == priority)
        .order_by(Consultation.accepted_at.desc()).limit(sample)
    ).all()
    waits = sorted((accepted - queued).total_seconds() for queued, accepted in rows)
    if not waits:
        return None
    middle = len(waits) // 2
    return waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2


def available_doctors_by_specialty() -> dict[str, int]:
    """How many available doctors hold each specialty, plus `*` for all of them."""
    from telemed.models import User

    doctors = db.session.scalars(
        select(User).join(Presence, Presence.user_id == User.id)
        .where(Presence.status == "available", User.active, User.role == "doctor")
    ).all()
    counts: dict[str, int] = {"*": len(doctors)}
    for doctor in doctors:
        for specialty in doctor.specialties or ():
            counts[specialty] = counts.get(specialty, 0) + 1
    return counts

