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
    # Plain rows, not ORM objects: the values the UPDATE expects must be the ones read here, not
    # ones reloaded after another sweeper committed (objects expire when a transaction commits).
    candidates = db.session.execute(
        select(Consultation.id, Consultation.priority, Consultation.news2,
               Consultation.effective_priority, Consultation.escalation_level,
               Consultation.queued_at, Consultation.escalated_at)
        .where(Consultation.status == "waiting",
               Consultation.escalation_level < MAX_ESCALATION_LEVEL)
    ).all()
    due = [row for row in candidates
           if now - (row.escalated_at or row.queued_at)
           >= timedelta(seconds=escalation_threshold_s(row.effective_priority))]
    if not due:
        return []
    escalated = []
    with write_transaction(db.session) as session:
        for row in due:
            level = row.escalation_level + 1
            priority = raise_priority(triaged_priority(row.priority, row.news2), level)
            # The level read above, in the WHERE, makes a second sweeper's UPDATE match nothing.
            if transition(session, row.id, "waiting",
                          Consultation.escalation_level == row.escalation_level,
                          escalation_level=level, effective_priority=priority, escalated_at=now):
                log_event(session, row.id, None, "escalated", level=level,
                          effective_priority=priority,
                          waited_s=int((now - row.queued_at).total_seconds()))
                escalated.append(row.id)
    return _notify_each(escalated)


def release_offline_doctors() -> list[Consultation]:
    """Return to the queue the consultations of doctors offline for longer than the grace period."""
    grace = timedelta(seconds=current_app.config["TELEMED"].doctor_grace_s)
    cutoff = utcnow() - grace
    # A doctor who never connected counts as offline since they took the consultation.
    stranded = db.session.execute(
        select(Consultation.id, Consultation.doctor_id)
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
        for consultation_id, doctor_id in stranded:
            # holder_id as read above: if another doctor holds it by now, this matches nothing.
            if transition(session, consultation_id, "active", holder_id=doctor_id,
                          **requeue_values()):
                log_event(session, consultation_id, None, "released", reason="doctor_offline",
                          doctor_id=doctor_id)
                released.append((consultation_id, doctor_id))
    return _notify_each([cid for cid, _ in released], dict(released))


def _notify_each(consultation_ids: list, previous_doctors: dict | None = None) -> list[Consultation]:
    consultations = [db.session.get(Consultation, cid) for cid in consultation_ids]
    for consultation in consultations:
        notifier.consultation_changed(
            consultation, previous_doctor_id=(previous_doctors or {}).get(consultation.id)
        )
    return consultations


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

