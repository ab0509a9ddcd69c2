"""Logins: each browser session is a server-side row, checked on every request and socket event.

The signed session cookie carries only the login's id. Logging out, deactivating the account,
resetting its password or changing its role or facility ends the row at once, and the end is
published (SessionEnded) so the login's open sockets are closed on every server process. A login
also ends after TELEMED_SESSION_IDLE_S without a request and TELEMED_SESSION_MAX_S after it began.
"""
from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from telemed.db import utcnow, write_transaction
from telemed.extensions import db
from telemed.models import Login, User
from telemed.services import events, presence
from telemed.services.events import SessionEnded

# How stale `seen_at` may get before a use of the login notes it again: one write a minute at
# most, not one per request.
TOUCH_EVERY = timedelta(seconds=60)
# Changes to an account after which its logins must start again (they change what it may see).
ENDING_CHANGES = {"active": "deactivated", "password": "password_reset", "role": "role_changed",
                  "facility_id": "facility_changed"}
# Read on every request and socket event: built once, so a request pays only for running it.
_OPEN_LOGIN_USER = (
    select(User, Login.created_at, Login.seen_at).join(Login, Login.user_id == User.id)
    .where(Login.id == bindparam("login_id"), User.id == bindparam("user_id"),
           Login.ended_at.is_(None), User.active)
)
_OPEN_LOGINS_USERS = (
    select(Login.id, User, Login.created_at, Login.seen_at).join(Login, Login.user_id == User.id)
    .where(Login.id.in_(bindparam("login_ids", expanding=True)), Login.ended_at.is_(None), User.active)
)
# One row's use; executed with many parameter sets (a batch), each login keeps its own time. The
# table, not the mapped class, so the session runs a plain executemany with this WHERE clause.
_TOUCH = (
    update(Login.__table__)
    .where(Login.__table__.c.id == bindparam("login_id"), Login.__table__.c.ended_at.is_(None))
    .values(seen_at=bindparam("seen"))
)


def begin(session: Session, user: User, ip: str | None) -> str:
    """A new login for this user (in the caller's transaction); its id goes into the cookie."""
    login_id = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(Login(id=login_id, user_id=user.id, created_at=now, seen_at=now,
                      ip=(ip or "")[:64] or None))
    return login_id


def user_of(login_id: str | None, user_id: int) -> User | None:
    """The active user of a login that is still open; None (and the login ended) otherwise.

    Only reads: a login used more than TOUCH_EVERY after it was last seen is noted, and the notes
    are written together by `write_pending_touches` (the sweep). A reconnect storm of a district's
    phones is one UPDATE, not one write transaction per connection, and the user loaded here is
    not expired by a commit before the request has used it."""
    if not login_id:
        return None
    row = db.session.execute(_OPEN_LOGIN_USER, {"login_id": login_id, "user_id": user_id}).one_or_none()
    if row is None:
        return None
    user, created_at, seen_at = row
    reason = _reason_to_end(login_id, created_at, seen_at)
    if reason:
        end(login_id=login_id, reason=reason)
        return None
    _note_use(login_id, seen_at)
    return user


def users_of(logins: dict[str, int]) -> dict[str, User]:
    """`user_of` for many logins (login id -> the user id its cookie names) in one statement: the
    users of those still open, by login id. Socket.IO connections opened together are checked
    together (realtime/handlers.py)."""
    if not logins:
        return {}
    rows = db.session.execute(_OPEN_LOGINS_USERS, {"login_ids": list(logins)}).all()
    fresh, stale = {}, {}
    for login_id, user, created_at, seen_at in rows:
        if user.id != logins[login_id]:
            continue
        reason = _reason_to_end(login_id, created_at, seen_at)
        if reason:
            stale[login_id] = reason
        else:
            fresh[login_id] = (user, seen_at)
    for login_id, reason in stale.items():
        end(login_id=login_id, reason=reason)
    if stale and fresh:
        # Ending them committed, which expired the users loaded with them: read those again.
        return users_of({login_id: logins[login_id] for login_id in fresh})
    for login_id, (_user, seen_at) in fresh.items():
        _note_use(login_id, seen_at)
    return {login_id: user for login_id, (user, _seen_at) in fresh.items()}


def _reason_to_end(login_id: str, created_at: datetime, seen_at: datetime) -> str | None:
    """Why an open login's row must end now: gone idle, or reached its maximum age; None if not."""
    settings = current_app.config["TELEMED"]
    now = utcnow()
    if now - _touches.last_seen(login_id, seen_at) > timedelta(seconds=settings.session_idle_s):
        return "idle"
    if now - created_at > timedelta(seconds=settings.session_max_s):
        return "expired"
    return None


def _note_use(login_id: str, seen_at: datetime) -> None:
    """Note a use of the login if its `seen_at` (or a use noted already) is over TOUCH_EVERY old."""
    now = utcnow()
    if now - _touches.last_seen(login_id, seen_at) > TOUCH_EVERY:
        _touches.note(login_id, now)


class _PendingTouches:
    """When logins were last used on this process, since the last write."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen: dict[str, datetime] = {}

    def note(self, login_id: str, at: datetime) -> None:
        with self._lock:
            self._seen[login_id] = at

    def last_seen(self, login_id: str, stored: datetime) -> datetime:
        """The later of the stored `seen_at` and a use noted here and not yet written."""
        noted = self._seen.get(login_id)
        return max(stored, noted) if noted else stored

    def take(self) -> dict[str, datetime]:
        with self._lock:
            taken, self._seen = self._seen, {}
            return taken

    def give_back(self, taken: dict[str, datetime]) -> None:
        with self._lock:
            for login_id, at in taken.items():
                self._seen[login_id] = max(at, self._seen.get(login_id, at))


_touches = _PendingTouches()


def write_pending_touches() -> int:
    """Write `seen_at` of the logins used on this process since the last call, each as of its own
    latest use, in one transaction of one batched UPDATE; ended logins stay as they ended. The
    number of logins noted."""
    touched = _touches.take()
    if not touched:
        return 0
    try:
        with write_transaction(db.session) as session:
            session.execute(_TOUCH, [{"login_id": login_id, "seen": at}
                                     for login_id, at in sorted(touched.items())])
    except Exception:
        _touches.give_back(touched)
        raise
    return len(touched)


def forget_pending_touches() -> None:
    """Drop the uses noted and not yet written (their logins are gone)."""
    _touches.take()


def end_in(session: Session, reason: str, *, login_id: str | None = None,
           user_id: int | None = None, keep: str | None = None) -> list[str]:
    """End one login, or every open login of a user but `keep`, in the caller's transaction; each
    ended login's connections are closed once it commits."""
    conditions = [Login.ended_at.is_(None)]
    if login_id is not None:
        conditions.append(Login.id == login_id)
    if user_id is not None:
        conditions.append(Login.user_id == user_id)
    if keep is not None:
        conditions.append(Login.id != keep)
    ended = session.scalars(
        update(Login).where(*conditions).values(ended_at=utcnow(), end_reason=reason)
        .returning(Login.id).execution_options(synchronize_session=False)
    ).all()
    for ended_id in ended:
        events.record(session, SessionEnded(ended_id, presence.login_connections(session, ended_id)))
    return list(ended)


def end(reason: str, *, login_id: str | None = None, user_id: int | None = None) -> list[str]:
    """End logins in a transaction of their own (see `end_in`)."""
    with write_transaction(db.session) as session:
        return end_in(session, reason, login_id=login_id, user_id=user_id)


def reason_to_end(changes: dict) -> str | None:
    """Why an account change must end its logins, if it must."""
    for key, reason in ENDING_CHANGES.items():
        if key in changes and not (key == "active" and changes[key]):
            return reason
    return None
