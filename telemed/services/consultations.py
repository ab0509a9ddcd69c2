"""The consultation lifecycle: create, claim, release, transfer, cancel, close (DESIGN.md).

Every transition is one short write transaction that checks its precondition in the UPDATE itself
(`... WHERE status = 'waiting'`), appends a `consultation_events` row and
records a domain event that is published once the transaction has committed. A row count of zero
means somebody else got there first.
"""
from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from telemed.db import end_read_transaction, utcnow, write_transaction
from telemed.errors import AtCapacity, Conflict, Forbidden, NotFound, ValidationFailed
from telemed.extensions import db
from telemed.models import Consultation, ConsultationEvent, Outcome, User
from telemed.services import audit, events
from telemed.services.certifications import qualified_specialties
from telemed.services.events import ConsultationChanged
from telemed.services.news2 import score as news2_score
from telemed.services.news2 import triaged_priority
from telemed.services.policy import (
    WAITING_OFFERED_TO_QUALIFIED,
    offered_to,
    offered_to_every_doctor,
    require_role,
    visible_to,
)
from telemed.services.queue import QUEUE_ORDER


@dataclass
class Page:
    items: list
    total: int


def _load_visible(session: Session, user: User, consultation_id: uuid.UUID) -> Consultation:
    consultation = session.scalar(
        select(Consultation).where(Consultation.id == consultation_id, visible_to(user))
    )
    if consultation is None:
        raise NotFound(_("No such consultation."))
    return consultation


def ensure_visible(user: User, consultation_id: uuid.UUID) -> None:
    """NotFound unless the consultation is within the user's scope (not audited: nothing is read)."""
    _load_visible(db.session, user, consultation_id)
    end_read_transaction(db.session)


def get_consultation(user: User, consultation_id: uuid.UUID, ip: str | None = None) -> Consultation:
    """One consultation within the user's scope, with its events; the read is audited."""
    with write_transaction(db.session) as session:
        consultation = _load_visible(session, user, consultation_id)
        audit.record(session, user, "consultation_read", object_type="consultation",
                     object_id=consultation.id, ip=ip)
    return consultation


def list_consultations(user: User, filters: dict) -> Page:
    """The consultations in the user's scope matching the filters, newest first."""
    conditions = [visible_to(user)]
    if filters.get("status"):
        conditions.append(Consultation.status == filters["status"])
    if filters.get("facility_id") is not None:
        conditions.append(Consultation.facility_id == filters["facility_id"])
    if filters.get("from_"):
        conditions.append(Consultation.created_at >= filters["from_"])
    if filters.get("to"):
        conditions.append(Consultation.created_at <= filters["to"])
    total = db.session.scalar(select(func.count()).select_from(Consultation).where(*conditions))
    items = db.session.scalars(
        select(Consultation).where(*conditions)
        .options(selectinload(Consultation.outcome))
        .order_by(Consultation.created_at.desc(), Consultation.id)
        .limit(filters.get("limit", 50)).offset(filters.get("offset", 0))
    ).all()
    return Page(items=items, total=total)


# Every connect and resync of a doctor runs it: built once, so each pays only for running it.
_OFFERED_QUEUE = select(Consultation).where(WAITING_OFFERED_TO_QUALIFIED).order_by(*QUEUE_ORDER)
_DOCTOR_QUEUE = (
    select(Consultation)
    .where(WAITING_OFFERED_TO_QUALIFIED
           | ((Consultation.doctor_id == bindparam("doctor_id")) & (Consultation.status == "active")))
    .order_by(*QUEUE_ORDER)
)


def doctor_queue(doctor: User, qualified: list[str] | None = None
                 ) -> tuple[list[Consultation], list[Consultation]]:
    """The waiting consultations offered to this doctor (queue order) and their active ones
    (oldest claim first), read in one statement."""
    if qualified is None:
        qualified = qualified_specialties(doctor)
    rows = db.session.scalars(_DOCTOR_QUEUE, {"qualified": qualified, "doctor_id": doctor.id}).all()
    waiting = [c for c in rows if c.status == "waiting"]
    active = sorted((c for c in rows if c.status == "active"), key=lambda c: c.accepted_at)
    return waiting, active


def offered_queue(qualified: list[str]) -> list[Consultation]:
    """The waiting consultations offered to a doctor qualified for these specialties, in queue order."""
    return db.session.scalars(_OFFERED_QUEUE, {"qualified": qualified}).all()


def active_consultations_of(doctor_ids: list[int]) -> dict[int, list[Consultation]]:
    """Each of these doctors' active consultations, oldest claim first, in one statement."""
    held: dict[int, list[Consultation]] = {doctor_id: [] for doctor_id in doctor_ids}
    for consultation in db.session.scalars(
        select(Consultation)
        .where(Consultation.doctor_id.in_(doctor_ids), Consultation.status == "active")
        .order_by(Consultation.accepted_at)
    ):
        held[consultation.doctor_id].append(consultation)
    return held


def open_consultations(facility_ids: Collection[int] | None = None) -> list[Consultation]:
    """The waiting and active consultations, oldest first: these posts', or every post's."""
    query = select(Consultation).where(Consultation.status.in_(("waiting", "active")))
    if facility_ids is not None:
        query = query.where(Consultation.facility_id.in_(list(facility_ids)))
    return db.session.scalars(query.order_by(Consultation.created_at)).all()


# ---------------------------------------------------------------------------- transitions


def log_event(session: Session, consultation_id, actor: User | int | None, kind: str,
              **payload) -> None:
    """Append one row to the consultation's event log (in the caller's transaction); the actor is
    a user, a user id, or None for the system."""
    actor_id = actor.id if isinstance(actor, User) else actor
    session.add(ConsultationEvent(consultation_id=consultation_id, actor_id=actor_id, kind=kind,
                                  payload=payload))


def transition(session: Session, consultation_id: uuid.UUID, expected_status: str,
               *conditions, holder_id: int | None = None, **values) -> bool:
    """The conditional UPDATE every transition is; True when this caller made the change."""
    conditions = [Consultation.id == consultation_id, Consultation.status == expected_status,
                  *conditions]
    if holder_id is not None:
        conditions.append(Consultation.doctor_id == holder_id)
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Consultation).where(*conditions).values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1



def create_consultation(requester: User, data: dict) -> tuple[Consultation, bool]:
    """Open a request for the requester's facility; a repeated client_key returns the stored one.

    A repeat is told by the unique key refusing the INSERT, not by a read before it: every first
    attempt saves that read, and a retry (a weak line's resend) costs a refused INSERT instead."""
    require_role(requester, "feldsher")
    if requester.facility_id is None:
        raise Forbidden(_("Your account is not attached to a facility."))
    patient = data["patient"]
    news2 = news2_score(patient.get("age_years"), data.get("vitals") or {})
    try:
        with write_transaction(db.session) as session:
            now = utcnow()
            consultation = Consultation(
                client_key=data["client_key"], facility_id=requester.facility_id,
                requester_id=requester.id, patient_age_years=patient.get("age_years"),
                patient_age_months=patient.get("age_months"), patient_sex=patient["sex"],
                patient_iin=patient.get("iin"), patient_ref=patient.get("ref"),
                complaint=data["complaint"], vitals=data.get("vitals") or {},
                priority=data["priority"], news2=news2,
                effective_priority=triaged_priority(data["priority"], news2),
                specialty=data["specialty"], status="waiting", escalation_level=0,
                created_at=now, queued_at=now, updated_at=now,
            )
            session.add(consultation)
            session.flush()
            log_event(session, consultation.id, requester, "created", priority=data["priority"],
                      effective_priority=consultation.effective_priority,
                      specialty=data["specialty"], news2=news2["score"] if news2 else None)
            events.record(session, ConsultationChanged(consultation.id))
    except IntegrityError:
        # The same key was sent before (a retry, or a resend racing on another connection): the
        # first one stands.
        existing = _by_client_key(requester, data["client_key"])
        if existing is None:
            raise
        return existing, False
    return consultation, True


def _by_client_key(requester: User, client_key: uuid.UUID) -> Consultation | None:
    return db.session.scalar(
        select(Consultation).where(
            Consultation.requester_id == requester.id, Consultation.client_key == client_key
        )
    )


# What a claim reads before it may write, run by every claim of a race: built once.
_CLAIM_LIGHT_READ = (
    select(Consultation.status, Consultation.specialty, Consultation.escalation_level)
    .where(Consultation.id == bindparam("id"))
)


def accept(doctor: User, consultation_id: uuid.UUID) -> Consultation:
    """Claim a waiting consultation; exactly one of any number of concurrent claims wins.

    A light read first sends the losers of a race away without taking the write lock; the winner's
    conditional UPDATE re-checks both the status and the doctor's eligibility, atomically.
    """
    require_role(doctor, "doctor")
    doctor_id = doctor.id
    limit = current_app.config["TELEMED"].max_active_per_doctor
    current = db.session.execute(_CLAIM_LIGHT_READ, {"id": consultation_id}).one_or_none()
    if current is None:
        raise NotFound(_("No such consultation."))
    # A doctor's qualifications are read only for a request of one specialty: general and
    # escalated ones go to every doctor (most claims, and every loser of a race for one, skip it).
    to_everyone = offered_to_every_doctor(current)
    qualified = [] if to_everyone else qualified_specialties(doctor)
    if not (to_everyone or current.specialty in qualified):
        # Never offered to this doctor, so outside their scope whatever its state: answered as if
        # it did not exist (DESIGN.md, errors). A doctor it was offered to who lost the race is
        # told so (409) below.
        raise NotFound(_("No such consultation."))
    if current.status != "waiting":
        raise Conflict(_not_waiting_message(current.status))
    with write_transaction(db.session) as session:
        # Serialises one doctor's claims on PostgreSQL so the capacity count below cannot race.
        # SQLite ignores FOR UPDATE; there the IMMEDIATE transaction already serialises writers.
        session.execute(select(User.id).where(User.id == doctor_id).with_for_update())
        active = session.scalar(
            select(func.count()).select_from(Consultation)
            .where(Consultation.doctor_id == doctor_id, Consultation.status == "active")
        )
        if active >= limit:
            raise AtCapacity(_("You already hold %(count)s active consultations, the most allowed.",
                               count=active))
        # The routing condition is built only here: a race's losers, sent away above, skip it.
        if not transition(session, consultation_id, "waiting", offered_to(qualified),
                          status="active", doctor_id=doctor_id, accepted_at=utcnow()):
            raise Conflict(_not_waiting_message("active"))
        log_event(session, consultation_id, doctor_id, "accepted")
        events.record(session, ConsultationChanged(consultation_id, left_queue_reason="accepted"))
    return session.get(Consultation, consultation_id)


def requeue_values(**changes) -> dict:
    """The column values of a consultation going back to the waiting queue."""
    return dict(status="waiting", doctor_id=None, accepted_at=None, queued_at=utcnow(),
                escalated_at=None, **changes)


def _cannot_cancel_message(status: str) -> str:
    if status == "active":
        return _("A doctor has already taken this request; it can no longer be cancelled.")
    if status == "cancelled":
        return _("This request is already cancelled.")
    return _("This consultation is already closed.")


def _not_waiting_message(status: str) -> str:
    if status == "cancelled":
        return _("The post has cancelled this request.")
    if status == "closed":
        return _("This consultation is already closed.")
    return _("Another doctor has already taken this consultation.")


def _back_to_queue(doctor: User, consultation_id: uuid.UUID, kind: str, reason: str | None,
                   **changes) -> Consultation:
    """Release or transfer: the assigned doctor hands an active consultation back to the queue."""
    require_role(doctor, "doctor")
    with write_transaction(db.session) as session:
        consultation = _load_visible(session, doctor, consultation_id)
        if "specialty" in changes and consultation.specialty == changes["specialty"]:
            raise ValidationFailed(
                _("The consultation is already for %(specialty)s.", specialty=changes["specialty"]),
                {"specialty": [_("Choose another specialty.")]})
        if not transition(session, consultation_id, "active", holder_id=doctor.id,
                          **requeue_values(**changes)):
            raise Conflict(_("You do not hold this consultation."))
        log_event(session, consultation_id, doctor, kind, reason=reason, **changes)
        events.record(session, ConsultationChanged(consultation_id, previous_doctor_id=doctor.id))
    return consultation


def release(doctor: User, consultation_id: uuid.UUID, reason: str | None) -> Consultation:
    """Give an active consultation back to the waiting queue."""
    return _back_to_queue(doctor, consultation_id, "released", reason)


def transfer(doctor: User, consultation_id: uuid.UUID, specialty: str, reason: str) -> Consultation:
    """Give an active consultation back to the queue under another specialty."""
    return _back_to_queue(doctor, consultation_id, "transferred", reason, specialty=specialty)


def cancel(user: User, consultation_id: uuid.UUID, reason: str | None) -> Consultation:
    """The post withdraws a request that no doctor has taken yet."""
    require_role(user, "feldsher")
    with write_transaction(db.session) as session:
        consultation = _load_visible(session, user, consultation_id)
        if not transition(session, consultation_id, "waiting", status="cancelled",
                           cancelled_at=utcnow()):
            raise Conflict(_cannot_cancel_message(consultation.status))
        log_event(session, consultation_id, user, "cancelled", reason=reason)
        events.record(session, ConsultationChanged(consultation_id, left_queue_reason="cancelled"))
    return consultation


def close(doctor: User, consultation_id: uuid.UUID, data: dict) -> Consultation:
    """The assigned doctor closes an active consultation with a coded outcome."""
    require_role(doctor, "doctor")
    with write_transaction(db.session) as session:
        consultation = _load_visible(session, doctor, consultation_id)
        now = utcnow()
        if not transition(session, consultation_id, "active", holder_id=doctor.id,
                           status="closed", closed_at=now):
            raise Conflict(_("You do not hold this consultation, so you cannot close it."))
        session.add(Outcome(
            consultation_id=consultation_id, doctor_id=doctor.id,
            disposition=data["disposition"], icd10=data["icd10"],
            recommendation=data["recommendation"], follow_up_on=data.get("follow_up_on"),
            created_at=now,
        ))
        log_event(session, consultation_id, doctor, "closed", disposition=data["disposition"],
                  icd10=data["icd10"])
        events.record(session, ConsultationChanged(consultation_id))
    return consultation
