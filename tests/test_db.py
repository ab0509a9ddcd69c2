"""Transactions: a write is all or nothing on both databases; on PostgreSQL a read is in none."""
import pytest

from tests.helpers import row_counts


class Interrupted(Exception):
    pass


def test_a_write_transaction_that_fails_half_way_leaves_nothing_and_tells_nobody(app, app_ctx, monkeypatch):
    from telemed.db import write_transaction
    from telemed.extensions import db
    from telemed.models import District, Facility
    from telemed.services import events

    heard = []
    monkeypatch.setattr(events, "publish", heard.extend)
    before = row_counts(app)
    with pytest.raises(Interrupted):
        with write_transaction(db.session) as session:
            district = District(name="Half-written", region="Nowhere")
            session.add(district)
            session.flush()  # the first INSERT has reached the database
            session.add(Facility(name="Post", kind="fap", village="V", district_id=district.id))
            session.flush()
            events.record(session, events.QualificationsChanged((1,)))
            raise Interrupted
    assert row_counts(app) == before
    assert heard == []


def test_on_postgresql_reads_run_outside_a_transaction_and_writes_inside_one(app, app_ctx):
    from telemed.db import write_transaction
    from telemed.extensions import db
    from telemed.models import District

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite reads in a deferred transaction of its own")
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS

    def status():
        return db.session.connection().connection.dbapi_connection.info.transaction_status

    db.session.scalar(db.select(db.func.count()).select_from(District))
    assert status() == TRANSACTION_STATUS_IDLE  # no BEGIN was sent: nothing to roll back
    with write_transaction(db.session) as session:
        session.add(District(name="Written", region="Somewhere"))
        session.flush()
        assert status() == TRANSACTION_STATUS_INTRANS
    db.session.scalar(db.select(db.func.count()).select_from(District))
    assert status() == TRANSACTION_STATUS_IDLE  # the connection given back read in autocommit again


def test_on_postgresql_requests_after_a_server_restart_reconnect_without_an_error(app):
    """After the server dropped every pooled connection (a restart, a failover), the pool's ping
    on checkout finds each dead one and opens a new one: no request is refused for it."""
    import sqlalchemy as sa

    from telemed.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: an SQLite file has no server to lose")
        held = [db.engine.connect() for _ in range(3)]  # three connections in the pool
        pids = [c.connection.dbapi_connection.get_backend_pid() for c in held]
        for connection in held:
            connection.close()
        killer = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with killer.connect() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"),
                           {"pids": pids})
    killer.dispose()
    client = app.test_client()
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5


def _fill_log(engine, pages: int) -> None:
    """Commit about `pages` pages of new rows in one transaction (4,000-byte blobs, one a page)."""
    import sqlalchemy as sa

    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS filler (b BLOB)"))
        connection.execute(sa.text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :pages) "
            "INSERT INTO filler SELECT randomblob(4000) FROM n"), {"pages": pages})


def _sqlite_engine(path):
    import sqlalchemy as sa

    from telemed.db import configure_engine

    engine = sa.create_engine(f"sqlite:///{path}")
    configure_engine(engine)
    return engine


def test_a_serving_process_leaves_sqlite_checkpoints_to_its_sweep_not_to_a_commit(tmp_path):
    """A commit past SQLite's 1,000 log pages would copy and sync the log itself, on the event loop
    of whichever request made it; a serving process's commits leave that to the sweep. Seen in the
    database file, which holds the new pages only once they are checkpointed."""
    from telemed.db import checkpoint_wal, leave_checkpoints_to_sweep

    by_commit = _sqlite_engine(tmp_path / "commit.db")
    _fill_log(by_commit, 2000)
    assert (tmp_path / "commit.db").stat().st_size > 6_000_000  # the commit checkpointed

    served = _sqlite_engine(tmp_path / "served.db")
    leave_checkpoints_to_sweep(served)
    _fill_log(served, 2000)
    assert (tmp_path / "served.db").stat().st_size < 1_000_000  # still in the log only
    busy, in_log, copied = checkpoint_wal(served)
    assert (busy, copied) == (0, in_log) and in_log >= 2000
    assert (tmp_path / "served.db").stat().st_size > 6_000_000
    by_commit.dispose()
    served.dispose()


def test_the_sweep_checkpoints_sqlite_off_the_event_loop(app, monkeypatch):
    """Each sweep pass checkpoints SQLite's log through the adapter that runs blocking work off the
    event loop; on PostgreSQL there is nothing to checkpoint."""
    from telemed.extensions import db
    from telemed.realtime import sweeper

    offloaded = []
    monkeypatch.setattr(sweeper, "run_blocking", lambda work, *args: offloaded.append((work.__name__, work(*args))))
    sweeper.sweep_once(app)
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    [(name, result)] = offloaded
    assert name == "checkpoint_wal"
    if sqlite:
        busy, in_log, copied = result
        assert busy == 0 and copied == in_log
    else:
        assert result is None


def test_starting_the_sweep_takes_checkpoints_off_the_commits(app, monkeypatch):
    from telemed.extensions import db, socketio
    from telemed.realtime import sweeper

    monkeypatch.setattr(socketio, "start_background_task", lambda *_args: None)
    handed = []
    monkeypatch.setattr(sweeper, "leave_checkpoints_to_sweep", handed.append)
    sweeper.start(app)
    with app.app_context():
        assert handed == [db.engine]
