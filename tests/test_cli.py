"""The `telemed` commands: migrations, the demo district, the first admin."""
import subprocess
from collections import Counter

import pytest
import sqlalchemy as sa

from tests.live import TELEMED


def test_console_script_migrates_and_loads_the_demo_district(tmp_path):
    env = {"TELEMED_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    upgrade = subprocess.run([TELEMED, "db", "upgrade"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "telemed.db").exists()
    demo = subprocess.run([TELEMED, "demo-data"], env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    assert "492 active staff" in demo.stdout
    for login in ("admin", "doctor1", "doctor2", "cardiologist1", "feldsher1", "feldsher2"):
        assert login in demo.stdout
    again = subprocess.run([TELEMED, "demo-data"], env=env, capture_output=True, text=True, timeout=120)
    assert "already has users" in again.stdout


def test_demo_district_matches_the_design(app, app_ctx):
    from telemed.extensions import db
    from telemed.models import Facility, User
    from telemed.services.auth import authenticate
    from telemed.services.demo import load_demo_district

    assert load_demo_district() is not None
    assert load_demo_district() is None  # loads only into an empty database
    staff = db.session.scalars(sa.select(User).where(User.active, User.role != "admin")).all()
    assert len(staff) == 492
    professions = Counter(u.profession for u in staff)
    assert professions["nurse"] >= 171 + 40 and professions["doctor"] >= 52
    for username, password in [("admin", "demo-admin"), ("doctor1", "demo-doctor"),
                               ("doctor2", "demo-doctor"), ("cardiologist1", "demo-doctor"),
                               ("feldsher1", "demo-feldsher"), ("feldsher2", "demo-feldsher")]:
        assert authenticate(username, password)[0].username == username
    by_name = {u.username: u for u in db.session.scalars(sa.select(User))}
    assert by_name["feldsher1"].facility.village == "Talapker"
    assert by_name["feldsher2"].facility.village == "Kyzylzhar"
    assert by_name["cardiologist1"].specialties == ["cardiology"]
    assert by_name["doctor1"].specialties == ["general"]
    villages = set(db.session.scalars(sa.select(Facility.village)))
    assert {"Akmol", "Talapker", "Kyzylzhar", "Orazak", "Karamen Batyr"} <= villages
    # roster-only accounts cannot log in until an admin sets a password
    from telemed.errors import Unauthenticated

    with pytest.raises(Unauthenticated):
        authenticate("nurse010", "")


def test_create_user_command(app, district):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--username", "chief", "--full-name", "Chief Admin",
                                 "--role", "admin", "--profession", "other"],
                           input="a-long-password\na-long-password\n")
    assert result.exit_code == 0, result.output
    assert "Created admin chief" in result.output
    duplicate = runner.invoke(args=["create-user", "--username", "chief", "--full-name", "Again",
                                    "--role", "admin", "--profession", "other",
                                    "--password", "a-long-password"])
    assert duplicate.exit_code != 0 and "taken" in duplicate.output
    no_facility = runner.invoke(args=["create-user", "--username", "postless", "--full-name", "X",
                                      "--role", "feldsher", "--profession", "nurse",
                                      "--password", "a-long-password"])
    assert no_facility.exit_code != 0 and "facility" in no_facility.output
    short = runner.invoke(args=["create-user", "--username", "shorty", "--full-name", "X",
                                "--role", "admin", "--profession", "other", "--password", "short"])
    assert short.exit_code != 0 and "password" in short.output


def test_serve_takes_start_up_objects_out_of_the_collectors_passes_before_serving(app, monkeypatch):
    """What start-up built (some 170,000 objects) is frozen before the first connection: every full
    collection walked all of it (bench: scenario d's p99 246-325 ms without, 157-177 ms with). And
    the youngest generation is collected less often than CPython's default, so a fan-out's packets
    die young instead of bringing on full passes (bench/results/session15/README.md); so is the
    middle one, so that they are not moved up into the oldest (bench/results/session16/)."""
    import gc

    from telemed import cli
    from telemed.extensions import socketio
    from telemed.realtime import sweeper

    when_serving = []
    monkeypatch.setattr(sweeper, "start", lambda app: None)
    monkeypatch.setattr(socketio, "start_background_task", lambda *args, **kwargs: None)
    monkeypatch.setattr(socketio, "run", lambda *args, **kwargs: when_serving.append(
        (gc.get_freeze_count(), gc.get_threshold())))
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        result = app.test_cli_runner().invoke(cli.serve, ["--port", "5999"])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert result.exit_code == 0, result.output
    frozen, (young, middle, oldest) = when_serving[0]
    assert frozen > 100_000
    assert young == cli.YOUNG_COLLECTION_THRESHOLD > 700  # CPython's default
    assert middle == cli.MIDDLE_COLLECTION_THRESHOLD > 10  # CPython's default
    assert oldest == thresholds[2]


@pytest.mark.parametrize("access_log", [False, True])
def test_serve_writes_an_access_log_only_when_the_setting_asks(app, monkeypatch, access_log):
    from telemed import cli
    from telemed.extensions import socketio
    from telemed.realtime import sweeper

    runs = []
    monkeypatch.setattr(app.config["TELEMED"], "access_log", access_log)
    monkeypatch.setattr(sweeper, "start", lambda app: None)
    monkeypatch.setattr(socketio, "start_background_task", lambda *args, **kwargs: None)
    monkeypatch.setattr(socketio, "run", lambda *args, **kwargs: runs.append(kwargs))
    try:
        result = app.test_cli_runner().invoke(cli.serve, ["--port", "5999"])
    finally:
        import gc

        gc.unfreeze()
    assert result.exit_code == 0, result.output
    assert [run["log_output"] for run in runs] == [access_log]
