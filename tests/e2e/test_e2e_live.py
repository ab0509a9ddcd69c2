"""End to end: real python-socketio clients against `telemed serve` (eventlet) in a subprocess."""
import time
import uuid

import pytest
import socketio

from tests.helpers import close_body, consultation_body

pytestmark = pytest.mark.e2e


def test_full_consultation_flow_live(live_server, district):
    post = live_server.session("feldsher_a")
    doctor = live_server.session("doctor_g")
    post_sock = post.socket()
    doctor_sock = doctor.socket()
    try:
        assert post_sock.wait_for("consultations:snapshot")["items"] == []
        assert doctor_sock.wait_for("queue:snapshot") == {"waiting": [], "active": [],
                                                       "presence": "available"}

        created = post.post("/consultations", json=consultation_body()).json()
        offered = doctor_sock.wait_for("queue:upsert", lambda c: c["id"] == created["id"])
        assert offered["status"] == "waiting"

        ack = doctor_sock.call("consultation:accept", {"id": created["id"]})
        assert ack["ok"], ack
        taken = post_sock.wait_for("consultation:update",
                                   lambda c: c["id"] == created["id"] and c["status"] == "active")
        assert taken["doctor"]["id"] == district.doctor.id

        sent = post_sock.call("message:send", {"consultation_id": created["id"],
                                               "body": "Pain 8/10", "client_key": str(uuid.uuid4())})
        assert sent["ok"]
        assert doctor_sock.wait_for("message:new")["body"] == "Pain 8/10"
        doctor_sock.call("message:send", {"consultation_id": created["id"],
                                          "body": "Aspirin 300 mg now", "client_key": str(uuid.uuid4())})
        reply = post_sock.wait_for("message:new", lambda m: m["sender"]["role"] == "doctor")
        assert reply["body"] == "Aspirin 300 mg now"

        closed = doctor.post(f"/consultations/{created['id']}/close", json=close_body())
        assert closed.status_code == 200
        final = post_sock.wait_for("consultation:update", lambda c: c["status"] == "closed")
        assert final["outcome"]["disposition"] == "referred_urgent"
    finally:
        post_sock.close()
        doctor_sock.close()


def test_connection_refused_without_session_or_from_a_foreign_origin(live_server, district):
    anonymous = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        anonymous.connect(live_server.url, wait_timeout=5)
    post = live_server.session("feldsher_a")
    with pytest.raises(socketio.exceptions.ConnectionError):
        post.socket(headers={"Origin": "http://evil.example"})
    same_origin = post.socket(headers={"Origin": live_server.url})
    try:
        assert same_origin.wait_for("consultations:snapshot") == {"items": []}
    finally:
        same_origin.close()


def test_a_cookie_replayed_after_logout_gets_session_ended_and_is_closed(live_server, district):
    """A new socket is admitted at the loop's next turn, its login checked then: one carrying the
    cookie of a login that has ended is told so (the page goes to the login screen) and closed,
    and is sent nothing else."""
    doctor = live_server.session("doctor_g")
    replayed = doctor.socket(connect=False)  # holds a copy of the cookie
    logout = doctor.http.delete(f"{live_server.url}/api/v1/session", timeout=10,
                                headers={"X-CSRFToken": doctor.csrf_token})
    assert logout.status_code == 204
    replayed.connect()
    try:
        assert replayed.wait_for("session:ended") == {}
        deadline = time.monotonic() + 5
        while replayed.client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not replayed.client.connected
        assert replayed.events.empty()  # no snapshot, no other event
    finally:
        replayed.close()


def test_long_polling_only_client_works(live_server, district):
    """Pages must stay usable where websockets are blocked."""
    post = live_server.session("feldsher_a")
    sock = post.socket(transports=["polling"])
    try:
        assert sock.client.transport() == "polling"
        sock.wait_for("consultations:snapshot")
        created = post.post("/consultations", json=consultation_body()).json()
        assert sock.wait_for("consultation:update")["id"] == created["id"]
    finally:
        sock.close()


def test_the_icd10_index_is_built_when_the_server_starts_not_in_the_first_search(live_server):
    """The server builds the index as it starts and says so in its log, whether or not anyone has
    searched yet (the first search used to wait about two seconds for it)."""
    import time

    deadline = time.monotonic() + 30
    while "ICD-10 index built in" not in live_server.log_path.read_text():
        assert time.monotonic() < deadline, live_server.log_path.read_text()[-2000:]
        time.sleep(0.2)
