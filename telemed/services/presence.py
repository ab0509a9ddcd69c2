"""Live connections, and doctors' presence: the status they choose while connected, `offline` when no
connection is open.

Each open Socket.IO connection, of any user, is a `presence_connections` row (with the login it
belongs to, so ending a login can close its connections on every process) that its server process
writes a moment after it opens, with the others opened meanwhile. Each process refreshes its own
heartbeat (one `presence_servers` row) on every sweep. A process that dies (SIGKILL, power loss)
stops refreshing; once its heartbeat is stale the sweep removes its rows, so presence survives
crashes and works across several server processes. A process that was only cut off for a while
(its loop stalled, or its link to the database was down) writes back, at its next beat, the rows of
its connections still open that the others removed meanwhile.
"""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Iterable

from sqlalchemy import bindparam, delete, exists, func, insert, select, update

from telemed.db import utcnow, write_transaction
from telemed.extensions import db
from telemed.models import Login, Presence, PresenceConnection, PresenceServer, User
from telemed.services import events
from telemed.services.events import PresenceChanged, SessionEnded
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
    write_pending_connections()  # the status follows the connections: this one's may be pending

    def choose(session):
        _presence_row(session, user.id).chosen_status = status
    return _change(user, choose)


class _PendingConnections:
    """Connections opened and closed on this process since they were last written.

    A district's phones connect and drop in storms (a restart, a cell tower going down and back):
    written one transaction each, thousands of them queued on the database's write lock. They are
    noted here and written together by `write_pending_connections`, soon after (realtime/handlers.py
    asks for it, coalesced; at once in tests)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._opened: dict[str, dict] = {}
        self._doctors: set[str] = set()
        self._closed: set[str] = set()
        # The connections of this process whose rows are written and not yet deleted, with whether
        # each is a doctor's: what the heartbeat writes back if other processes removed them.
        self._written: dict[str, tuple[dict, bool]] = {}

    def open(self, row: dict, is_doctor: bool) -> None:
        with self._lock:
            self._opened[row["sid"]] = row
            if is_doctor:
                self._doctors.add(row["sid"])

    def close(self, sid: str) -> None:
        with self._lock:
            if self._opened.pop(sid, None) is not None:
                self._doctors.discard(sid)  # never written: nothing to undo
            else:
                self._closed.add(sid)  # written already: its row goes

    def take(self) -> tuple[dict[str, dict], set[str], set[str]]:
        with self._lock:
            taken = self._opened, self._doctors, self._closed
            self._opened, self._doctors, self._closed = {}, set(), set()
            return taken

    def committed(self, opened: dict[str, dict], doctors: set[str], closed: set[str]) -> None:
        """What `take` gave is in the database now."""
        with self._lock:
            for sid, row in opened.items():
                self._written[sid] = (row, sid in doctors)
            for sid in closed:
                self._written.pop(sid, None)

    def written(self) -> dict[str, tuple[dict, bool]]:
        with self._lock:
            return dict(self._written)

    def forget(self) -> None:
        with self._lock:
            self._opened, self._doctors, self._closed, self._written = {}, set(), set(), {}

    def give_back(self, opened: dict[str, dict], doctors: set[str], closed: set[str]) -> None:
        """A write failed: what it took is written with the next one (later closes still win)."""
        with self._lock:
            for sid, row in opened.items():
                if sid in self._closed:
                    self._closed.discard(sid)
                else:
                    self._opened.setdefault(sid, row)
                    if sid in doctors:
                        self._doctors.add(sid)
            self._closed |= closed


_pending = _PendingConnections()
# Taken before the database's write lock by whatever writes this process's connection rows: a
# heartbeat writing back lost rows must not restore one that a close is deleting meanwhile.
# Reentrant: the events a write publishes after its commit can close connections, and that close
# may be written at once, in the same thread (a green one when serving).
_writing_connections = threading.RLock()


def connected(user: User, sid: str, login_id: str | None) -> None:
    """A connection of this user (of this login) opened on this server process, written soon with
    the others."""
    now = utcnow()
    _pending.open(dict(sid=sid, user_id=user.id, login_id=login_id, server_id=SERVER_ID,
                       connected_at=now, seen_at=now), user.role == "doctor")


def disconnected(sid: str) -> None:
    """A connection closed, however it closed (the client left, the server cut it, a logout);
    written soon with the others."""
    _pending.close(sid)


def forget_connections() -> None:
    """Forget this process's connections, written or not (their users and sessions are gone)."""
    _pending.forget()


def write_pending_connections() -> int:
    """Write the connections opened and closed on this process since the last call, in one
    transaction whatever their number: doctors who came online or went offline are told, and a
    connection whose login ended before its row existed is cut. The number written."""
    with _writing_connections:
        return _write_pending_connections()


def _write_pending_connections() -> int:
    opened, doctors, closed = _pending.take()
    if not opened and not closed:
        return 0
    try:
        with write_transaction(db.session) as session:
            now = utcnow()
            if opened:
                session.execute(insert(PresenceConnection), list(opened.values()))
            left = set(session.scalars(
                delete(PresenceConnection).where(PresenceConnection.sid.in_(closed))
                .returning(PresenceConnection.user_id).execution_options(synchronize_session=False)
            )) if closed else set()
            if doctors:
                _bring_online(session, now, {opened[sid]["user_id"] for sid in doctors})
            if left:
                _turn_offline_when_unconnected(session, now, Presence.user_id.in_(left))
            if opened:
                _cut_connections_of_ended_logins(session, opened.values())
    except Exception:
        _pending.give_back(opened, doctors, closed)
        raise
    _pending.committed(opened, doctors, closed)
    return len(opened) + len(closed)


def _bring_online(session, now, user_ids: set[int]) -> None:
    """Doctors shown offline who now have a connection come back as they chose to be; one who
    never connected before gets a presence row."""
    came_back = session.execute(
        update(Presence).where(Presence.user_id.in_(user_ids), Presence.status == "offline")
        .values(status=Presence.chosen_status, offline_since=None, updated_at=now)
        .returning(Presence.user_id, Presence.status).execution_options(synchronize_session=False)
    ).all()
    for user_id, status in came_back:
        events.record(session, PresenceChanged(user_id, status))
    known = set(session.scalars(select(Presence.user_id).where(Presence.user_id.in_(user_ids))))
    for user_id in user_ids - known:
        session.add(Presence(user_id=user_id, status="available", chosen_status="available",
                             offline_since=None, updated_at=now))
        events.record(session, PresenceChanged(user_id, "available"))


def _cut_connections_of_ended_logins(session, rows) -> None:
    # A logout (on any process) between the connect and this write did not see these rows.
    login_ids = {row["login_id"] for row in rows if row["login_id"]}
    ended = set(session.scalars(select(Login.id).where(Login.id.in_(login_ids),
                                                        Login.ended_at.is_not(None)))) if login_ids else set()
    for login_id in ended:
        events.record(session, SessionEnded(login_id, tuple(
            row["sid"] for row in rows if row["login_id"] == login_id)))


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


def doctor_connections(user_ids: Iterable[int] | None = None,
                       this_process: bool = False) -> list[tuple[User, list[str]]]:
    """Connected doctors, each with the ids of their open connections: those among `user_ids`, or
    every one; on every server process, or only on this one."""
    query = (select(User, PresenceConnection.sid)
             .join(PresenceConnection, PresenceConnection.user_id == User.id)
             .where(User.role == "doctor", User.active).order_by(User.id))
    if user_ids is not None:
        query = query.where(User.id.in_(list(user_ids)))
    if this_process:
        query = query.where(PresenceConnection.server_id == SERVER_ID)
    connections: dict[int, tuple[User, list[str]]] = {}
    for user, sid in db.session.execute(query):
        connections.setdefault(user.id, (user, []))[1].append(sid)
    return list(connections.values())


def facilities_connected(this_process: bool = False) -> list[int]:
    """The facilities some of whose post staff are connected (on this process only, if asked)."""
    query = (select(User.facility_id).distinct()
             .join(PresenceConnection, PresenceConnection.user_id == User.id)
             .where(User.role == "feldsher", User.facility_id.is_not(None)))
    if this_process:
        query = query.where(PresenceConnection.server_id == SERVER_ID)
    return sorted(db.session.scalars(query))


def login_connections(session, login_id: str) -> tuple[str, ...]:
    """The open connections of one login, on every server process."""
    return tuple(session.scalars(select(PresenceConnection.sid)
                                 .where(PresenceConnection.login_id == login_id)))


def heartbeat_and_expire(stale_after_s: int) -> list[int]:
    """Refresh this process's heartbeat, drop the connections of processes whose heartbeat went
    stale (a dead process's); the doctors now offline.

    One row refreshed, not one per connection: rewriting a district's 2,200 connection rows every
    pass took PostgreSQL about 28 ms, against about 4 ms for this whole step
    (bench/results/sweep-cost.md). Set-based however many connections a killed process left
    behind: the heartbeat (read, then written), two DELETEs, and one UPDATE ... RETURNING that
    turns offline every doctor left without one. A process whose own previous beat is missing or
    stale (its first pass, or the database was away) expires nothing in that pass, and writes back
    the rows of its open connections that others removed while it was silent.
    """
    with _writing_connections:
        return _heartbeat_and_expire(stale_after_s)


def _heartbeat_and_expire(stale_after_s: int) -> list[int]:
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    servers = PresenceServer.__table__
    with write_transaction(db.session) as session:
        previous_beat = session.scalar(select(servers.c.seen_at).where(servers.c.server_id == SERVER_ID))
        if previous_beat is None:  # this process's first pass
            session.execute(insert(servers).values(server_id=SERVER_ID, seen_at=now))
        else:
            session.execute(update(servers).where(servers.c.server_id == SERVER_ID).values(seen_at=now))
        # Only a process that kept beating itself judges the others' silence. After the database
        # was away for longer than the stale interval every heartbeat is stale, and the first
        # process back would otherwise remove the connections of every live process and show
        # their doctors offline; it waits a pass, and the others beat meanwhile.
        if previous_beat is not None and previous_beat >= cutoff:
            alive = select(servers.c.server_id).where(servers.c.seen_at >= cutoff)
            # A row written since the last heartbeats (its own seen_at) is alive whatever its server's.
            session.execute(delete(PresenceConnection.__table__).where(
                PresenceConnection.__table__.c.seen_at < cutoff,
                PresenceConnection.__table__.c.server_id.not_in(alive)))
            session.execute(delete(servers).where(servers.c.seen_at < cutoff))
        else:
            _write_back_lost_connections(session, now)
        return sorted(_turn_offline_when_unconnected(session, now))


def _write_back_lost_connections(session, now) -> None:
    """This process was silent past the stale interval (its loop stalled, or the database was out
    of its reach), so the others may have taken it for dead and removed its connections' rows: its
    doctors would show offline, and after the grace period lose the consultations they are in,
    while their pages are still connected. The rows of its connections still open come back."""
    written = _pending.written()
    if not written:
        return
    present = set(session.scalars(select(PresenceConnection.sid)
                                  .where(PresenceConnection.server_id == SERVER_ID)))
    lost = {sid: (row, is_doctor) for sid, (row, is_doctor) in written.items() if sid not in present}
    if not lost:
        return
    rows = [dict(row, seen_at=now) for row, _is_doctor in lost.values()]
    session.execute(insert(PresenceConnection), rows)
    doctors = {row["user_id"] for row, is_doctor in lost.values() if is_doctor}
    if doctors:
        _bring_online(session, now, doctors)
    _cut_connections_of_ended_logins(session, rows)


def status_of(user_id: int) -> str:
    """The presence others see for this doctor."""
    return db.session.scalar(select(Presence.status).where(Presence.user_id == user_id)) or "offline"


# Read on every connect of a doctor: built once, so a connect pays only for running it.
_CHOSEN_STATUS = select(Presence.chosen_status).where(Presence.user_id == bindparam("user_id"))


def chosen_status_of(user_id: int) -> str:
    """The status a doctor chose for when they are connected (`available` until they choose)."""
    return db.session.scalar(_CHOSEN_STATUS, {"user_id": user_id}) or "available"


def chosen_statuses_of(user_ids: list[int]) -> dict[int, str]:
    """`chosen_status_of` for several doctors, in one statement."""
    chosen = dict(db.session.execute(
        select(Presence.user_id, Presence.chosen_status).where(Presence.user_id.in_(user_ids))).all())
    return {user_id: chosen.get(user_id) or "available" for user_id in user_ids}


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
