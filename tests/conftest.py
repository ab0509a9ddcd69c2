"""Shared fixtures: one migrated database per run (SQLite, or PostgreSQL via
TELEMED_TEST_DATABASE_URL), a clean slate per test, a small district, logged-in clients."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from telemed.config import Settings, normalise_database_url
from tests.helpers import FAST_SETTINGS, IN_CI, PASSWORD, ApiClient


def _database_url(tmp_root: Path) -> str:
    configured = os.environ.get("TELEMED_TEST_DATABASE_URL", "").strip()
    if not configured:
        return f"sqlite:///{tmp_root / 'telemed-test.db'}"
    return normalise_database_url(configured)


def _require_reachable(url: str) -> None:
    """Skip the run (or fail it under CI=true) when the configured server is not there."""
    if url.startswith("sqlite"):
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but the test database {url} is unreachable: {exc}", pytrace=False)
        pytest.skip(f"test database {url} is unreachable ({exc.__class__.__name__}); "
                    "start PostgreSQL or unset TELEMED_TEST_DATABASE_URL", allow_module_level=True)
    finally:
        engine.dispose()


def _drop_everything(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = _database_url(tmp_path_factory.mktemp("db"))
    _require_reachable(url)
    _drop_everything(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory) -> Settings:
    return Settings.from_env(
        instance_path=tmp_path_factory.mktemp("instance"),
        database_url=database_url,
        secret_key="test-secret-key",
        async_mode="threading",
        testing=True,
        login_rate_limit="1000 per minute",
        login_account_rate_limit="1000 per minute",
        write_rate_limit="1000 per minute",
        socket_rate_limit="1000 per 10 seconds",
        socket_sync_rate_limit="1000 per 10 seconds",
        message_queue=None,
        positions_interval_s=0,  # queue:positions sent at once, so tests see them synchronously
        connections_write_interval_s=0,  # and connections written as they open and close
        default_locale="en",  # most tests read English messages; tests/web/test_languages.py the rest
    )


@pytest.fixture(scope="session")
def app(settings):
    from flask_migrate import upgrade

    from telemed import create_app

    application = create_app(settings)
    with application.app_context():
        upgrade()  # the schema comes from the migrations, exactly as in production
    return application


def _empty_every_table(engine, metadata, attempts: int = 5) -> None:
    """Delete every row, children first. A live server of the module may be writing the same
    tables at that moment (its sweep, a closing page's presence): PostgreSQL then breaks a deadlock
    by failing one side, or a child row lands after its table was emptied: retry."""
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                for table in reversed(metadata.sorted_tables):
                    connection.execute(table.delete())
            return
        except (sa.exc.OperationalError, sa.exc.IntegrityError) as exc:
            concurrent = isinstance(exc, sa.exc.IntegrityError) or "deadlock" in str(exc).lower()
            if not concurrent or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Empty every table after each test that used the database."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from telemed.extensions import db, limiter
    from telemed.services import queue

    with app.app_context():
        db.session.remove()
        _empty_every_table(db.engine, db.metadata)
        # The first migration seeds the standard certification types; put them back.
        from telemed.services.certifications import ensure_standard_types

        ensure_standard_types()
        db.session.remove()
        queue.forget_cached()
        # Connections a test left noted but unwritten (its writes stopped) belong to users now gone.
        from telemed.services import logins, presence

        presence.forget_connections()
        logins.forget_pending_touches()
        limiter.reset()


@pytest.fixture
def app_ctx(app):
    from telemed.extensions import db

    with app.app_context():
        yield
        db.session.remove()


@dataclass
class District:
    """The small world most tests need: two posts, a hub, their staff."""

    post_a: object
    post_b: object
    hub: object
    feldsher_a: object
    feldsher_b: object
    doctor: object
    doctor2: object
    cardiologist: object
    admin: object


@pytest.fixture(scope="session")
def password_hash():
    from telemed.services.auth import hash_password

    return hash_password(PASSWORD)


@pytest.fixture
def district(app, password_hash) -> District:
    from telemed.extensions import db
    from telemed.models import District as DistrictModel
    from telemed.models import Facility, User

    with app.app_context():
        d = DistrictModel(name="Test District", region="Test Region")
        hub = Facility(name="District Hospital", kind="district_hospital", village="Centre", district=d)
        post_a = Facility(name="Post A", kind="fap", village="Alpha", district=d)
        post_b = Facility(name="Post B", kind="medical_post", village="Beta", district=d)
        db.session.add_all([d, hub, post_a, post_b])
        db.session.flush()

        def user(username, role, profession, facility, specialties=()):
            u = User(username=username, full_name=username.title(), role=role,
                     profession=profession, facility_id=facility.id,
                     specialties=list(specialties), password_hash=password_hash)
            db.session.add(u)
            return u

        world = District(
            post_a=post_a, post_b=post_b, hub=hub,
            feldsher_a=user("feldsher_a", "feldsher", "feldsher", post_a),
            feldsher_b=user("feldsher_b", "feldsher", "nurse", post_b),
            doctor=user("doctor_g", "doctor", "doctor", hub, ["general"]),
            doctor2=user("doctor_h", "doctor", "doctor", hub, ["general", "pediatrics"]),
            cardiologist=user("cardio", "doctor", "doctor", hub, ["cardiology"]),
            admin=user("admin_z", "admin", "other", hub),
        )
        db.session.commit()
        for value in vars(world).values():
            db.session.refresh(value)
        db.session.expunge_all()
        return world


@pytest.fixture
def login(app, district):
    """`login(user)` gives an ApiClient logged in as that user."""
    return lambda user: ApiClient(app, user.username)


# Live servers are per module: each runs a background sweep on the shared test database, which
# must not be left running under other modules' tests (it would escalate or requeue their data).
@pytest.fixture(scope="module")
def live_server(app, database_url, tmp_path_factory):
    """A `telemed serve` (eventlet) for one test module, on the same database as the tests."""
    from tests.live import LiveServer

    root = tmp_path_factory.mktemp("live")
    server = LiveServer(database_url, root / "instance", root / "serve.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fast_server(app, database_url, tmp_path_factory):
    """A `telemed serve` whose escalation, grace and sweep run in seconds, not minutes."""
    from tests.live import LiveServer

    root = tmp_path_factory.mktemp("fast")
    server = LiveServer(database_url, root / "instance", root / "serve.log", **FAST_SETTINGS).start()
    yield server
    server.stop()


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url():
    """The Redis that several server processes share (skip without it, fail under CI=true)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc}); start redis-server")
    return REDIS_URL
