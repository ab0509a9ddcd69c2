"""Database plumbing shared by every service: SQLite behaviour, write transactions, the clock.

A write transaction publishes the domain events recorded in it once it has committed
(`telemed.services.events`)."""
from __future__ import annotations

import sqlite3
import threading
import weakref
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from telemed.errors import Unavailable
from telemed.services import events

WRITE_OPTION = "telemed_write"
# On PostgreSQL the engine's connections read in autocommit mode (config.Settings.flask_config):
# what a connection that writes, or streams a read through a server-side cursor, is given instead.
TRANSACTIONAL = {"isolation_level": "READ COMMITTED"}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def district_today() -> date:
    """Today in the district (TELEMED_TIMEZONE, Asia/Almaty by default), not on the server's clock:
    from 00:00 to 05:00 in Almaty a UTC server still lives in yesterday."""
    from flask import current_app

    return utcnow().astimezone(ZoneInfo(current_app.config["TELEMED"].timezone)).date()


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always handed back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use telemed.db.utcnow()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


LIKE_ESCAPE = "\\"


def containing(text: str) -> str:
    """A LIKE pattern (with `escape=LIKE_ESCAPE`) for values holding `text` as typed: its `%` and
    `_` are letters, not wildcards."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def configure_engine(engine: Engine) -> None:
    """Give SQLite WAL, foreign keys and explicit BEGIN so write transactions can be IMMEDIATE."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # A write transaction takes SQLite's write lock up front: a deferred one that read first
        # could fail with SQLITE_BUSY_SNAPSHOT when another writer committed in between.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# SQLite copies its write-ahead log back into the database when a commit finds the log past
# `wal_autocheckpoint` pages (1,000 by default): that commit then copies and syncs both files on
# the event loop, for whichever request or claim happened to commit it (bench b on SQLite: the
# slowest creations answered in 38-43 ms, against 26 ms with no checkpoint on commit). A
# serving process leaves this to its sweep, in a thread of its own (`checkpoint_wal`); a commit
# still does it past this many pages (about 40 MB), should the sweep ever fall that far behind.
BACKSTOP_CHECKPOINT_PAGES = 10_000


def _sqlite_file(engine: Engine) -> str | None:
    """The path of the engine's SQLite database file; None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return engine.url.database


def leave_checkpoints_to_sweep(engine: Engine) -> None:
    """Let this process's commits leave SQLite's checkpoints to `checkpoint_wal`, up to the backstop."""
    if _sqlite_file(engine) is None:
        return

    @event.listens_for(engine, "connect")
    def _backstop_only(dbapi_connection: sqlite3.Connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")

    engine.dispose()  # the connections opened before now would still checkpoint on commit


def checkpoint_wal(engine: Engine) -> tuple[int, int, int] | None:
    """Copy what SQLite's write-ahead log holds back into the database, waiting for no reader or
    writer (PASSIVE), on a connection of its own: (1 if it could not finish, frames in the log,
    frames copied so far). None when the database is not a SQLite file. Blocking: run it with
    `telemed.concurrency.run_blocking`."""
    path = _sqlite_file(engine)
    if path is None:
        return None
    connection = sqlite3.connect(path)
    try:
        return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
    finally:
        connection.close()


COMMITS = "telemed_write_commits"


def commits_so_far(session: Session) -> int:
    """How many write transactions this session has committed: a marker for reads cached since."""
    if isinstance(session, scoped_session):
        session = session()
    return session.info.get(COMMITS, 0)


def end_read_transaction(session: Session) -> None:
    """Return the pooled connection now, keeping the loaded objects as they are (not expired).

    Used before a fan-out: emitting must not hold a database connection that a racing claim needs.
    """
    if isinstance(session, scoped_session):
        session = session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


@contextmanager
def detached_session(engine: Engine) -> Iterator[Session]:
    """A read-only session on a connection taken out of the pool for good and closed at the end.

    For a read paced by a client, such as an export downloading over a slow line: it would
    otherwise hold one of the pool's few connections for as long (TELEMED_DATABASE_POOL_SIZE). The
    pool opens a new connection in its place when it next needs one."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection = connection.execution_options(**TRANSACTIONAL)  # a named cursor needs one
    if isinstance(engine.pool, QueuePool):  # a single shared connection (in-memory SQLite) stays
        connection.detach()
    session = Session(bind=connection)
    try:
        yield session
    finally:
        session.close()
        connection.close()


class _ReadApartSlots:
    """How many reads apart run at once on this process: each holds a connection outside the pool."""

    def __init__(self):
        self._lock = threading.Lock()
        self._taken = 0

    def take(self, limit: int) -> Callable[[], None]:
        """A slot, or Unavailable when `limit` are taken; the slot's release may be called often."""
        with self._lock:
            if self._taken >= limit:
                raise Unavailable(_("Too many downloads are running at once; try again in a minute."))
            self._taken += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._taken -= 1
        return release


_read_apart_slots = _ReadApartSlots()


def rows_read_apart(session: Session, engine: Engine, query, forget: tuple[int, ...] = ()) -> Iterator:
    """The rows of `query` for a read paced by a client (a download): `session` gives its pooled
    connection back first and the rows come on a connection of their own (`detached_session`); the
    objects at the positions `forget` leave the identity map once used, so it does not grow.

    At most TELEMED_EXPORT_CONCURRENCY run at once on a process: past them this raises Unavailable
    at once, before any answer has begun, rather than open one more connection to the database."""
    from flask import current_app

    release = _read_apart_slots.take(current_app.config["TELEMED"].export_concurrency)
    rows = _rows_on_own_connection(session, engine, query, forget, release)
    # However the download ends: read to the end, cut off mid-way, or closed before its first row
    # (a generator never started runs no `finally`).
    weakref.finalize(rows, release)
    return rows


def _rows_on_own_connection(session, engine, query, forget, release) -> Iterator:
    try:
        end_read_transaction(session)
        with detached_session(engine) as own:
            for row in own.execute(query):
                yield row
                for position in forget:
                    if row[position] is not None:
                        own.expunge(row[position])
    finally:
        release()


def _write_options(session: Session) -> dict:
    if session.get_bind().dialect.name == "postgresql":
        return {WRITE_OPTION: True, **TRANSACTIONAL}
    return {WRITE_OPTION: True}  # SQLite: BEGIN IMMEDIATE (configure_engine)


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """One short read-write transaction: committed on success, rolled back on any error."""
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        # Finish whatever read the request did first, so the write starts from fresh data (the
        # objects read stay loaded: what a transition depends on it re-checks in its UPDATE).
        end_read_transaction(session)
    session.connection(execution_options=_write_options(session))
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        events.discard(session)
        raise
    # Lets a read made after this commit be reused until the next one (services/queue.py).
    session.info[COMMITS] = session.info.get(COMMITS, 0) + 1
    events.publish_committed(session)
