"""Passwords (argon2), logins and staff accounts."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import select

from telemed.concurrency import run_blocking
from telemed.db import end_read_transaction, write_transaction
from telemed.errors import Unauthenticated
from telemed.extensions import db
from telemed.models import User
from telemed.services import audit, logins

# argon2id with OWASP's first recommended configuration (Password Storage Cheat Sheet: 19 MiB,
# 2 passes, 1 lane). One lane matters here: argon2-cffi's default of four lanes takes four cores
# for every hash and starves the event loop on a two-core server while a shift logs in.
# Hashes made with other parameters are upgraded at their next successful login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("telemed-timing-equaliser")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (computed off the event loop)."""
    return run_blocking(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(username: str, password: str, ip: str | None = None) -> tuple[User, str]:
    """The active user with these credentials and a new login for them; Unauthenticated (and an
    audit row) otherwise."""
    # No username holds a NUL (and no database column could): such a name matches nobody, and is
    # audited with the NULs made visible.
    username = username.replace("\x00", "\N{REPLACEMENT CHARACTER}")
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    stored = user.password_hash if user else _DUMMY_HASH
    # No pooled connection is held while the hash is checked (tens of milliseconds, and a queue
    # of them during a burst of logins): other requests must not wait for a connection meanwhile.
    end_read_transaction(db.session)
    matches = run_blocking(_verify, stored, password)
    verified = matches and user is not None and user.active
    upgraded = hash_password(password) if verified and _hasher.check_needs_rehash(stored) else None
    with write_transaction(db.session) as session:
        if not verified:
            audit.record(session, user, "login_failed", ip=ip, username=username[:80])
        else:
            audit.record(session, user, "login", ip=ip)
            login_id = logins.begin(session, user, ip)
            if upgraded:
                session.get(User, user.id).password_hash = upgraded
    if not verified:
        raise Unauthenticated(_("Wrong username or password, or the account is deactivated."),
                              audited=True)
    return user, login_id


def record_logout(user: User, login_id: str | None, ip: str | None = None) -> None:
    """Audit a logout and end that login's live connections, on every server process."""
    with write_transaction(db.session) as session:
        audit.record(session, user, "logout", ip=ip)
        if login_id:
            logins.end_in(session, "logout", login_id=login_id)
