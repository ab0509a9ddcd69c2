"""Chat between a post and the doctor holding its consultation."""
from __future__ import annotations

import uuid

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from telemed.db import write_transaction
from telemed.errors import Conflict, Forbidden, NotFound
from telemed.extensions import db
from telemed.models import Consultation, Message, User
from telemed.services import events
from telemed.services.events import MessageSent
from telemed.services.policy import is_participant, visible_to


def _visible(user: User, consultation_id: uuid.UUID) -> Consultation:
    consultation = db.session.scalar(
        select(Consultation).where(Consultation.id == consultation_id, visible_to(user))
    )
    if consultation is None:
        raise NotFound(_("No such consultation."))
    return consultation


def list_messages(user: User, consultation_id: uuid.UUID) -> list[Message]:
    """The chat of a consultation the user can see, oldest first."""
    _visible(user, consultation_id)
    return db.session.scalars(
        select(Message).where(Message.consultation_id == consultation_id)
        .order_by(Message.created_at, Message.id)
    ).all()


def send_message(user: User, consultation_id: uuid.UUID, body: str,
                 client_key: uuid.UUID) -> tuple[Message, bool]:
    """Post a message; the same client_key again returns the stored message and writes nothing."""
    existing = message_by_client_key(user, client_key)
    if existing is not None:
        return existing, False
    try:
        with write_transaction(db.session) as session:
            check_can_write(session, user, consultation_id)
            message = Message(consultation_id=consultation_id, sender_id=user.id, body=body,
                              client_key=client_key)
            session.add(message)
            session.flush()
            events.record(session, MessageSent(message.id, consultation_id))
    except IntegrityError:
        existing = message_by_client_key(user, client_key)
        if existing is None:
            raise
        return existing, False
    return message, True


def check_can_write(session, user: User, consultation_id: uuid.UUID) -> Consultation:
    """The consultation, if this user may write in its chat now; NotFound, Forbidden or Conflict."""
    consultation = _visible(user, consultation_id)
    if not is_participant(user, consultation):
        raise Forbidden(_("Only the post and the doctor holding the consultation can write here."))
    if not consultation.is_open:
        raise Conflict(_("This request was cancelled; its chat is closed.")
                       if consultation.status == "cancelled"
                       else _("This consultation is closed; its chat is closed."))
    return consultation


def doctor_message_counts(consultation_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many messages the doctors wrote in each of these consultations (one statement)."""
    if not consultation_ids:
        return {}
    return dict(db.session.execute(
        select(Message.consultation_id, func.count()).join(User, User.id == Message.sender_id)
        .where(Message.consultation_id.in_(consultation_ids), User.role == "doctor")
        .group_by(Message.consultation_id)
    ).all())


def message_by_client_key(user: User, client_key: uuid.UUID) -> Message | None:
    """The message this user already sent with this key, if any."""
    return db.session.scalar(
        select(Message).where(Message.sender_id == user.id, Message.client_key == client_key)
    )
