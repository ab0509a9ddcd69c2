"""The schema comes from the migrations: they run up and down, and match the models exactly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from telemed import create_app
from telemed.extensions import db


def test_migrations_round_trip_and_match_the_models(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'm.db'}", "instance_path": tmp_path,
                      "secret_key": "m", "async_mode": "threading"})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        codes = {row[0] for row in db.session.execute(db.text("SELECT code FROM certification_types"))}
        assert codes == {"BLS", "ACLS", "PALS", "CARDIO"}


def test_the_test_database_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []
