"""Doctors' presence: the status they choose, and offline when no connection is open."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from telemed.db import utcnow, write_transaction
from telemed.errors import Forbidden
from telemed.extensions import db
from telemed.models import Presence, User
from telemed.realtime.notifier import notifier


def _row(session, user: User) -> Presence:
    presence = session.get(Presence, user.id)
    if presence is None:
        presence = Presence(user_id=user.id, status="offline", chosen_status="available",
                            connections=0)
        session.add(presence)
    return presence


def _effective(presence: Presence) -> str:
    return presence.chosen_status if presence.connections > 0 else "offline"


def _update(user: User, change) -> str:
    if user.role != "doctor":
        raise Forbidden(_("Only doctors have a presence."))
    with write_transaction(db.session) as session:
        presence = _row(session, user)
        before = presence.status
        change(presence)
        presence.status = _effective(presence)
        presence.updated_at = presence.last_seen_at = utcnow()
        after = presence.status
    if after != before:
        notifier.presence_changed(user.id, after)
    return after


def set_status(user: User, status: str) -> str:
    """The doctor chooses `available` or `away`; returns the status others now see."""
    def choose(presence):
        presence.chosen_status = status
    return _update(user, choose)


def connected(user: User) -> str:
    """A connection of this doctor opened."""
    def opened(presence):
        presence.connections = presence.connections + 1
    return _update(user, opened)


def disconnected(user: User) -> str:
    """A connection of this doctor closed."""
    def closed(presence):
        presence.connections = max(presence.connections - 1, 0)
    return _update(user, closed)


def status_of(user_id: int) -> str:
    """The presence others see for this doctor."""
    return db.session.scalar(select(Presence.status).where(Presence.user_id == user_id)) or "offline"
