"""Live connections, and doctors' presence: the status they choose while connected, `offline` when no
connection is open.

Each open Socket.IO connection, of any user, is a `presence_connections` row (with the login it
belongs to, so ending a login can close its connections on every process) that its server process
refreshes on every sweep. A process that dies (SIGKILL, power loss) stops refreshing; its rows go stale and the sweep
removes them, so presence survives crashes and works across several server processes.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, exists, func, insert, select, update

from telemed.db import utcnow, write_transaction
from telemed.extensions import db
from telemed.models import Presence, PresenceConnection, User
from telemed.services import events
from telemed.services.events import PresenceChanged
from telemed.services.policy import require_role

# Identifies this server process's connections.
SERVER_ID = uuid.uuid4().hex


def _presence_row(session, user_id: int) -> Presence:
    presence = session.get(Presence, user_id)
    if presence is None:
        presence = Presence(user_id=user_id, status="offline", chosen_status="available",
                            offline_since=utcnow())
        session.add(presence)
    return presence


def _recompute(session, user_id: int) -> tuple[str, str]:
    """Set a doctor's visible status from their connections; (before, after)."""
    presence = _presence_row(session, user_id)
    before = presence.status
    connected = session.scalar(
        select(func.count()).select_from(PresenceConnection)
        .where(PresenceConnection.user_id == user_id)
    )
    presence.status = presence.chosen_status if connected else "offline"
    if presence.status == "offline" and before != "offline":
        presence.offline_since = utcnow()
    elif presence.status != "offline":
        presence.offline_since = None
    presence.updated_at = utcnow()
    return before, presence.status


def _recompute_and_record(session, user_id: int) -> str:
    before, after = _recompute(session, user_id)
    if before != after:
        events.record(session, PresenceChanged(user_id, after))
    return after


def _change(user: User, change) -> str:
    """Apply a change to a doctor's presence rows; tell everyone if what they see changed."""
    require_role(user, "doctor")  # only doctors have a presence
    with write_transaction(db.session) as session:
        change(session)
        session.flush()
        return _recompute_and_record(session, user.id)


def set_status(user: User, status: str) -> str:
    """The doctor chooses `available` or `away`; returns the status others now see."""
    def choose(session):
        _presence_row(session, user.id).chosen_status = status
    return _change(user, choose)


def connected(user: User, sid: str, login_id: str | None) -> str | None:
    """A connection of this user (of this login) opened on this server process; for a doctor, the
    status they chose (what their page shows)."""
    user_id, is_doctor, now = user.id, user.role == "doctor", utcnow()
    with write_transaction(db.session) as session:
        session.execute(insert(PresenceConnection).values(
            sid=sid, user_id=user_id, login_id=login_id, server_id=SERVER_ID, connected_at=now,
            seen_at=now))
        if not is_doctor:
            return None
        # The usual case in one statement: an offline doctor comes back as they chose to be.
        came_back = session.execute(
            update(Presence).where(Presence.user_id == user_id, Presence.status == "offline")
            .values(status=Presence.chosen_status, offline_since=None, updated_at=now)
            .returning(Presence.status).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if came_back is not None:
            events.record(session, PresenceChanged(user_id, came_back))
            return came_back
        # Already online in another tab, or connected for the first time ever.
        _recompute_and_record(session, user_id)
        return _presence_row(session, user_id).chosen_status


def disconnected(sid: str) -> None:
    """A connection closed, however it closed (the client left, the server cut it, a logout).

    Two statements whoever it was (a tower going down drops thousands at once): the connection's
    row goes, and a doctor left without another connection turns offline; anyone else has no
    presence row, so the second matches nothing."""
    with write_transaction(db.session) as session:
        user_id = session.scalar(
            delete(PresenceConnection).where(PresenceConnection.sid == sid)
            .returning(PresenceConnection.user_id).execution_options(synchronize_session=False))
        if user_id is not None:
            _turn_offline_when_unconnected(session, utcnow(), Presence.user_id == user_id)


def _turn_offline_when_unconnected(session, now, *conditions) -> list[int]:
    """Doctors (among those matching the conditions) shown online with no connection left turn
    offline, set-based, and everyone is told; their ids."""
    gone = session.scalars(
        update(Presence)
        .where(Presence.status != "offline",
               ~exists().where(PresenceConnection.user_id == Presence.user_id), *conditions)
        .values(status="offline", offline_since=now, updated_at=now)
        .returning(Presence.user_id)
        .execution_options(synchronize_session=False)
    ).all()
    for user_id in gone:
        events.record(session, PresenceChanged(user_id, "offline"))
    return gone


def login_connections(session, login_id: str) -> tuple[str, ...]:
    """The open connections of one login, on every server process."""
    return tuple(session.scalars(select(PresenceConnection.sid)
                                 .where(PresenceConnection.login_id == login_id)))


def heartbeat_and_expire(stale_after_s: int) -> list[int]:
    """Refresh this process's connections, drop stale ones (a dead process's); doctors now offline.

    Set-based, however many connections a killed process left behind: one UPDATE, one DELETE, and
    one UPDATE ... RETURNING that turns offline every doctor left without a connection.
    """
    now = utcnow()
    with write_transaction(db.session) as session:
        session.execute(update(PresenceConnection)
                        .where(PresenceConnection.server_id == SERVER_ID).values(seen_at=now))
        session.execute(delete(PresenceConnection).where(
            PresenceConnection.seen_at < now - timedelta(seconds=stale_after_s)))
        return sorted(_turn_offline_when_unconnected(session, now))


def status_of(user_id: int) -> str:
    """The presence others see for this doctor."""
    return db.session.scalar(select(Presence.status).where(Presence.user_id == user_id)) or "offline"


def chosen_status_of(user_id: int) -> str:
    """The status a doctor chose for when they are connected (`available` until they choose)."""
    chosen = db.session.scalar(select(Presence.chosen_status).where(Presence.user_id == user_id))
    return chosen or "available"


def doctors_on_duty() -> list[dict]:
    """Every active doctor with the presence others see, available first."""
    rows = db.session.execute(
        select(User, Presence.status)
        .outerjoin(Presence, Presence.user_id == User.id)
        .where(User.role == "doctor", User.active)
        .order_by(User.full_name)
    ).all()
    order = {"available": 0, "away": 1, "offline": 2}
    doctors = [{"user_id": user.id, "full_name": user.full_name, "specialties": user.specialties,
                "status": status or "offline"} for user, status in rows]
    return sorted(doctors, key=lambda d: order[d["status"]])
