"""Follow-ups a doctor asked for at closing: what is due at each post, and marking them done."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from telemed.db import district_today, utcnow, write_transaction
from telemed.errors import Conflict, NotFound
from telemed.extensions import db
from telemed.models import Consultation, Outcome, User
from telemed.services import events
from telemed.services.consultations import log_event
from telemed.services.events import ConsultationChanged
from telemed.services.policy import require_role, visible_to

WINDOWS = ("overdue", "today", "upcoming", "all")


def due_follow_ups(user: User, window: str, today: date | None = None) -> list[Consultation]:
    """Open follow-ups in the user's scope: overdue, due today, due within 7 days, or all."""
    today = today or district_today()
    conditions = [visible_to(user), Outcome.follow_up_on.is_not(None),
                  Outcome.follow_up_done_at.is_(None)]
    if window == "overdue":
        conditions.append(Outcome.follow_up_on < today)
    elif window == "today":
        conditions.append(Outcome.follow_up_on == today)
    elif window == "upcoming":
        conditions += [Outcome.follow_up_on > today, Outcome.follow_up_on <= today + timedelta(days=7)]
    return db.session.scalars(
        select(Consultation).join(Outcome, Outcome.consultation_id == Consultation.id)
        .where(*conditions).order_by(Outcome.follow_up_on, Consultation.created_at)
    ).all()


def mark_done(user: User, consultation_id: uuid.UUID, note: str | None) -> Consultation:
    """The post records that the follow-up took place (written to the event log)."""
    require_role(user, "feldsher")
    with write_transaction(db.session) as session:
        consultation = session.scalar(select(Consultation).where(
            Consultation.id == consultation_id, visible_to(user)))
        if consultation is None:
            raise NotFound(_("No such consultation."))
        outcome = consultation.outcome
        if outcome is None or outcome.follow_up_on is None:
            raise Conflict(_("No follow-up was asked for in this consultation."))
        if outcome.follow_up_done_at is not None:
            raise Conflict(_("This follow-up is already marked done."))
        outcome.follow_up_done_at = utcnow()
        outcome.follow_up_done_by = user.id
        log_event(session, consultation_id, user, "follow_up_done", note=note,
                  due=outcome.follow_up_on.isoformat())
        events.record(session, ConsultationChanged(consultation_id))
    return consultation
