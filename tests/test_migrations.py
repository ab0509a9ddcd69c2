"""The schema comes from the migrations: they run up and down, and match the models exactly."""
import subprocess

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from telemed.extensions import db
from tests.live import TELEMED


def test_migrations_round_trip_and_match_the_models(tmp_path):
    # In a subprocess: a second app in this process would rebind the shared Socket.IO server.
    env = {"TELEMED_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for command in (["db", "upgrade"], ["db", "downgrade", "base"], ["db", "upgrade"], ["db", "check"]):
        result = subprocess.run([TELEMED, *command], env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, (command, result.stderr[-2000:])
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_the_test_database_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []
        codes = {row[0] for row in connection.execute(db.text("SELECT code FROM certification_types"))}
    assert {"BLS", "ACLS", "PALS", "CARDIO"} <= codes
