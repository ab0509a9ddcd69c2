"""Faults against a real server: escalation and grace in real time, a SIGKILL and restart, a
process frozen past the stale interval, clients that drop and reconnect, a retried request whose
answer was lost."""
import http.client
import json
import signal
import time
import uuid

import pytest

from tests.helpers import FAST_SETTINGS, close_body, consultation_body
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


def test_escalation_reaches_every_doctor_in_real_time(fast_server, district):
    post = fast_server.session("feldsher_a")
    general = fast_server.session("doctor_g").socket()
    try:
        general.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body(
            priority="routine", specialty="cardiology", vitals={})).json()
        offered = general.wait_for("queue:upsert", lambda c: c["id"] == created["id"], timeout=15)
        assert offered["escalation_level"] == 1
        assert offered["effective_priority"] == "urgent"
        # the next step comes one urgent threshold later
        again = general.wait_for("queue:upsert", lambda c: c["id"] == created["id"]
                                 and c["escalation_level"] == 2, timeout=15)
        assert again["effective_priority"] == "emergency"
    finally:
        general.close()


def test_grace_requeue_in_real_time_and_the_post_is_told(fast_server, district):
    post = fast_server.session("feldsher_a")
    post_sock = post.socket()
    doctor_sock = fast_server.session("doctor_g").socket()
    try:
        created = post.post("/consultations", json=consultation_body(priority="emergency")).json()
        assert doctor_sock.call("consultation:accept", {"id": created["id"]})["ok"]
        post_sock.wait_for("consultation:update", lambda c: c["id"] == created["id"]
                           and c["status"] == "active")
        doctor_sock.close()
        back = post_sock.wait_for("consultation:update", lambda c: c["id"] == created["id"]
                                  and c["status"] == "waiting", timeout=15)
        assert back["doctor"] is None
        events = post.get(f"/consultations/{created['id']}").json()["events"]
        assert events[-1]["kind"] == "released"
        assert events[-1]["payload"]["reason"] == "doctor_offline"
    finally:
        post_sock.close()
        doctor_sock.close()


def test_server_killed_mid_consultation_and_restarted(app, database_url, district, tmp_path):
    server = LiveServer(database_url, tmp_path / "instance", tmp_path / "serve.log",
                        **{**FAST_SETTINGS, "TELEMED_DOCTOR_GRACE_S": "20"}).start()
    post = server.session("feldsher_a")
    doctor = server.session("doctor_g")
    post_sock = post.socket(reconnection=True)
    doctor_sock = doctor.socket(reconnection=True)
    try:
        created = post.post("/consultations", json=consultation_body()).json()
        assert doctor_sock.call("consultation:accept", {"id": created["id"]})["ok"]
        post_sock.call("message:send", {"consultation_id": created["id"], "body": "before the crash",
                                        "client_key": str(uuid.uuid4())})

        post_sock.clear()
        doctor_sock.clear()
        server.kill()
        server.start()

        # Both clients reconnect on their own and get a full snapshot of what was.
        snapshot = doctor_sock.wait_for("queue:snapshot", timeout=20)
        assert [c["id"] for c in snapshot["active"]] == [created["id"]]
        post_snapshot = post_sock.wait_for("consultations:snapshot", timeout=20)
        assert post_snapshot["items"][0]["status"] == "active"
        chat = post.get(f"/consultations/{created['id']}/messages").json()["items"]
        assert [m["body"] for m in chat] == ["before the crash"]

        # The dead process's presence rows expire; the doctor stays online and keeps the case.
        time.sleep(5)
        presence = {d["user_id"]: d["status"] for d in doctor.get("/presence").json()["items"]}
        assert presence[district.doctor.id] == "available"
        assert post.get(f"/consultations/{created['id']}").json()["status"] == "active"

        sent = doctor_sock.call("message:send", {"consultation_id": created["id"],
                                                 "body": "after the restart",
                                                 "client_key": str(uuid.uuid4())})
        assert sent["ok"]
        assert post_sock.wait_for("message:new", lambda m: m["body"] == "after the restart")
        assert doctor.post(f"/consultations/{created['id']}/close", json=close_body()).status_code == 200
    finally:
        post_sock.close()
        doctor_sock.close()
        server.stop()


def _doctor_status(session, doctor_id: int) -> str:
    return {d["user_id"]: d["status"] for d in session.get("/presence").json()["items"]}[doctor_id]


def _wait_for_status(session, doctor_id: int, status: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (seen := _doctor_status(session, doctor_id)) != status and time.monotonic() < deadline:
        time.sleep(0.3)
    return seen


def test_a_process_frozen_past_the_stale_interval_gives_its_doctor_back(app, database_url, district,
                                                                         tmp_path):
    """A process that stops answering for longer than TELEMED_CONNECTION_STALE_S (SIGSTOP here; a
    stalled loop, or a link to the database down, in the field) is taken for dead by the other,
    which shows its doctor offline. The doctor's page never lost its connection: once the process
    runs again, the doctor is available again and keeps the consultation past the grace period."""
    grace_s = 12
    settings = {**FAST_SETTINGS, "TELEMED_DOCTOR_GRACE_S": str(grace_s)}
    frozen, other = (LiveServer(database_url, tmp_path / f"instance{i}", tmp_path / f"serve{i}.log",
                                **settings).start() for i in range(2))
    post = frozen.session("feldsher_a")
    doctor = frozen.session("doctor_g")
    colleague = other.session("doctor_h")
    doctor_sock = doctor.socket()
    try:
        doctor_sock.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body()).json()
        assert doctor_sock.call("consultation:accept", {"id": created["id"]})["ok"]
        assert _wait_for_status(colleague, district.doctor.id, "available", 5) == "available"

        frozen.process.send_signal(signal.SIGSTOP)
        try:
            stale_s = int(settings["TELEMED_CONNECTION_STALE_S"])
            # The other process's sweep takes the silent one for dead.
            assert _wait_for_status(colleague, district.doctor.id, "offline", stale_s + 5) == "offline"
            offline_from = time.monotonic()
            time.sleep(2)
        finally:
            frozen.process.send_signal(signal.SIGCONT)

        assert _wait_for_status(colleague, district.doctor.id, "available", 5) == "available"
        assert doctor_sock.client.connected
        # Past the grace period counted from when the doctor was shown offline: not released.
        time.sleep(max(0.0, offline_from + grace_s + 3 - time.monotonic()))
        assert post.get(f"/consultations/{created['id']}").json()["status"] == "active"
        assert _doctor_status(colleague, district.doctor.id) == "available"
    finally:
        doctor_sock.close()
        frozen.stop()
        other.stop()


def test_retry_after_a_lost_answer_creates_nothing_twice(live_server, district):
    post = live_server.session("feldsher_a")
    body = consultation_body()
    # Send the request and hang up before reading the answer, as a line that drops would.
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    connection.request("POST", "/api/v1/consultations", body=json.dumps(body), headers={
        "Content-Type": "application/json", "Cookie": post.cookie_header(),
        "X-CSRFToken": post.csrf_token})
    connection.sock.shutdown(2)
    connection.close()
    deadline = time.monotonic() + 10
    while post.get("/consultations").json()["total"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    retry = post.post("/consultations", json=body)
    assert retry.status_code == 200
    listing = post.get("/consultations").json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == retry.json()["id"]

    message_key = str(uuid.uuid4())
    first = post.post(f"/consultations/{retry.json()['id']}/messages",
                      json={"body": "hello", "client_key": message_key})
    second = post.post(f"/consultations/{retry.json()['id']}/messages",
                       json={"body": "hello", "client_key": message_key})
    assert (first.status_code, second.status_code) == (201, 200)
    assert len(post.get(f"/consultations/{retry.json()['id']}/messages").json()["items"]) == 1


def test_a_client_that_drops_and_reconnects_misses_nothing(live_server, district):
    post = live_server.session("feldsher_a")
    doctor = live_server.session("doctor_g")
    doctor_sock = doctor.socket()
    doctor_sock.wait_for("queue:snapshot")
    doctor_sock.close()
    created = post.post("/consultations", json=consultation_body()).json()  # while it is away
    back = doctor.socket()
    try:
        snapshot = back.wait_for("queue:snapshot")
        assert created["id"] in [c["id"] for c in snapshot["waiting"]]
    finally:
        back.close()


def test_the_servers_sweep_checkpoints_sqlite_in_a_thread_of_its_own(fast_server, district, database_url):
    """Under eventlet the sweep's checkpoint runs through the thread pool and works: a request's
    writes reach the database file itself (in WAL mode only a checkpoint writes it, and one this
    small never makes a commit checkpoint) within a few sweeps, and no sweep fails."""
    from pathlib import Path

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write-ahead log; PostgreSQL checkpoints by itself")
    database = Path(database_url.removeprefix("sqlite:///"))
    post = fast_server.session("feldsher_a")
    before = database.stat().st_mtime_ns
    assert post.post("/consultations", json=consultation_body()).status_code == 201
    deadline = time.monotonic() + 4 * int(FAST_SETTINGS["TELEMED_SWEEP_INTERVAL_S"]) + 2
    while database.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert database.stat().st_mtime_ns != before, "no sweep checkpointed the request's write"
    assert "sweep failed" not in fast_server.log_path.read_text()
