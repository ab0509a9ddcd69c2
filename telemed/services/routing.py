"""The periodic sweep: escalate requests left waiting, return offline doctors' consultations.

Every step is a conditional UPDATE, so several server processes may sweep at the same moment:
each escalation step and each requeue happens exactly once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, insert, or_, select, update

from telemed.db import utcnow, write_transaction
from telemed.extensions import db
from telemed.models import Consultation, ConsultationEvent, Presence
from telemed.models.consultation import MAX_ESCALATION_LEVEL
from telemed.models.vocabulary import PRIORITIES, raise_priority
from telemed.services import events, presence
from telemed.services.consultations import log_event, requeue_values, transition
from telemed.services.events import ConsultationChanged


def escalation_threshold_s(priority: str) -> int:
    """How long a request of this effective priority may wait before the next escalation step."""
    settings = current_app.config["TELEMED"]
    return {
        "emergency": settings.escalation_emergency_s,
        "urgent": settings.escalation_urgent_s,
        "routine": settings.escalation_routine_s,
    }[priority]


def _due_for_escalation(priority: str, now):
    """The waiting requests of this effective priority whose wait passed its threshold."""
    cutoff = now - timedelta(seconds=escalation_threshold_s(priority))
    return and_(Consultation.status == "waiting",
                Consultation.effective_priority == priority,
                Consultation.escalation_level < MAX_ESCALATION_LEVEL,
                func.coalesce(Consultation.escalated_at, Consultation.queued_at) <= cutoff)


def escalate_overdue() -> list:
    """Raise every waiting request whose wait passed its threshold by one step (at most 2).

    One UPDATE per effective priority, whatever the number of requests: the new priority is one
    step above the current one, and the wait is measured from the last step (or from queueing).
    The WHERE re-checks the wait under the row lock, so when several processes sweep at once each
    step is taken exactly once: a second UPDATE finds the row just escalated and skips it.
    """
    now = utcnow()
    # Most passes find nothing due: one read then, instead of a write transaction (SQLite's write
    # lock, every few seconds from every process) around UPDATEs that change nothing.
    anything_due = db.session.scalar(
        select(Consultation.id).where(or_(*(_due_for_escalation(p, now) for p in PRIORITIES))).limit(1))
    if anything_due is None:
        return []
    escalated = []
    with write_transaction(db.session) as session:
        for priority in PRIORITIES:
            rows = session.execute(
                update(Consultation)
                .where(_due_for_escalation(priority, now))
                .values(escalation_level=Consultation.escalation_level + 1,
                        effective_priority=raise_priority(priority, 1), escalated_at=now,
                        updated_at=now)
                .returning(Consultation.id, Consultation.escalation_level, Consultation.queued_at)
                .execution_options(synchronize_session=False)
            ).all()
            if not rows:
                continue
            # The event log rows in one INSERT, however many were due.
            session.execute(insert(ConsultationEvent), [
                dict(consultation_id=consultation_id, actor_id=None, kind="escalated", created_at=now,
                     payload=dict(level=level, effective_priority=raise_priority(priority, 1),
                                  waited_s=int((now - queued_at).total_seconds())))
                for consultation_id, level, queued_at in rows])
            for consultation_id, _level, _queued_at in rows:
                events.record(session, ConsultationChanged(consultation_id))
                escalated.append(consultation_id)
    return escalated


def release_offline_doctors() -> list:
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
                events.record(session, ConsultationChanged(consultation_id,
                                                           previous_doctor_id=doctor_id))
                released.append(consultation_id)
    return released


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
        escalated=escalate_overdue(),
        released=release_offline_doctors(),
    )
