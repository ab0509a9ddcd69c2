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
