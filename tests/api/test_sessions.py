"""Sessions that really end: a server-side login row, checked on every request and socket event."""
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telemed.extensions import db, socketio
from tests.helpers import PASSWORD, ApiClient, consultation_body, page_csrf_token


def _replay(app, client: ApiClient) -> ApiClient:
    """Another browser holding a copy of this client's session cookie (and its CSRF token)."""
    thief = ApiClient(app)
    thief.http.set_cookie("session", client.http.get_cookie("session").value)
    thief.csrf_token = client.csrf_token
    return thief


def _events(sock, name):
    return [e["args"][0] for e in sock.get_received() if e["name"] == name]


def test_a_cookie_saved_before_logout_is_refused_over_http_and_sockets(app, login, district):
    doctor = login(district.doctor)
    copy = _replay(app, doctor)
    assert copy.get("/queue").status_code == 200            # the copy works while the login lives
    assert doctor.delete("/session").status_code == 204
    answer = copy.get("/queue")
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "unauthenticated"
    assert copy.post(f"/consultations/{'0' * 8}-0000-0000-0000-{'0' * 12}/accept").status_code == 401
    sock = socketio.test_client(app, flask_test_client=copy.http)
    assert not sock.is_connected()                          # a new socket with it is refused


@pytest.mark.parametrize("change", [{"active": False}, {"password": "a new long passphrase 9"},
                                    {"role": "admin"}])
def test_an_account_change_ends_its_logins_and_closes_its_sockets(app, login, district, change):
    doctor = login(district.doctor)
    copy = _replay(app, doctor)
    sock = socketio.test_client(app, flask_test_client=doctor.http)
    sock.get_received()
    admin = login(district.admin)
    assert admin.http.patch(f"/api/v1/users/{district.doctor.id}", json=change,
                            headers={"X-CSRFToken": admin.csrf_token}).status_code == 200
    assert not sock.is_connected()                          # closed by the server
    assert doctor.get("/queue").status_code == 401
    assert copy.get("/queue").status_code == 401


def test_a_feldsher_moved_to_another_post_stops_hearing_the_old_one(app, login, district):
    nurse = login(district.feldsher_b)
    sock = socketio.test_client(app, flask_test_client=nurse.http)
    admin = login(district.admin)
    assert admin.http.patch(f"/api/v1/users/{district.feldsher_b.id}",
                            json={"facility_id": district.post_a.id},
                            headers={"X-CSRFToken": admin.csrf_token}).status_code == 200
    assert not sock.is_connected()
    # Whatever happens at the old post afterwards reaches nobody through that login.
    login(district.feldsher_a).post("/consultations", json=consultation_body())
    assert nurse.get("/consultations").status_code == 401


def test_an_admin_changing_their_own_password_keeps_this_login_and_ends_the_others(app, district):
    here, elsewhere = ApiClient(app, "admin_z"), ApiClient(app, "admin_z")
    assert here.http.patch(f"/api/v1/users/{district.admin.id}",
                           json={"password": "another long passphrase 7"},
                           headers={"X-CSRFToken": here.csrf_token}).status_code == 200
    assert here.get("/session").status_code == 200
    assert elsewhere.get("/session").status_code == 401


def test_an_idle_login_and_a_too_old_login_end(app, login, district, monkeypatch):
    from telemed.db import utcnow
    from telemed.models import Login

    doctor = login(district.doctor)
    settings = app.config["TELEMED"]
    with app.app_context():
        db.session.execute(sa.update(Login).values(
            seen_at=utcnow() - timedelta(seconds=settings.session_idle_s + 5)))
        db.session.commit()
    assert doctor.get("/session").status_code == 401
    fresh = login(district.doctor)
    with app.app_context():
        db.session.execute(sa.update(Login).where(Login.ended_at.is_(None)).values(
            created_at=utcnow() - timedelta(seconds=settings.session_max_s + 5)))
        db.session.commit()
    assert fresh.get("/session").status_code == 401
    with app.app_context():
        reasons = sorted(db.session.scalars(sa.select(Login.end_reason)))
    assert reasons == ["expired", "idle"]


def test_logging_in_rotates_the_csrf_token(app, district):

    client = ApiClient(app)
    before = page_csrf_token(client.http)  # an anonymous session's token
    answer = client.http.post("/api/v1/session", json={"username": "doctor_g", "password": PASSWORD})
    after = answer.get_json()["csrf_token"]
    assert after != before
    # The token planted before the login no longer passes.
    planted = client.http.post("/api/v1/consultations", json=consultation_body(),
                               headers={"X-CSRFToken": before})
    assert planted.status_code == 400


def test_logout_leaves_no_ghost_doctor(app, login, district):
    from telemed.services import presence

    doctor = login(district.doctor)
    sock = socketio.test_client(app, flask_test_client=doctor.http)
    with app.app_context():
        assert presence.status_of(district.doctor.id) == "available"
    assert doctor.delete("/session").status_code == 204
    assert not sock.is_connected()
    with app.app_context():
        assert presence.status_of(district.doctor.id) == "offline"   # and the grace clock runs


def test_an_account_changed_before_its_connection_was_written_still_loses_it(
        app, login, district, monkeypatch):
    """Connections are written a moment after they open (with the others opened meanwhile): a
    login ended in that moment, on any process, could not see this one's row; the write cuts it."""
    from telemed.realtime import handlers
    from telemed.services import presence

    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # written below
    doctor = login(district.doctor)
    sock = socketio.test_client(app, flask_test_client=doctor.http)
    sock.get_received()
    admin = login(district.admin)
    assert admin.http.patch(f"/api/v1/users/{district.doctor.id}", json={"active": False},
                            headers={"X-CSRFToken": admin.csrf_token}).status_code == 200
    assert sock.is_connected()  # its row did not exist yet: nobody knew to close it
    with app.app_context():
        presence.write_pending_connections()
    assert not sock.is_connected()


def _age_logins(app, seconds: float) -> None:
    """Every open login last seen `seconds` ago."""
    from telemed.db import utcnow
    from telemed.models import Login

    with app.app_context():
        db.session.execute(sa.update(Login).where(Login.ended_at.is_(None))
                           .values(seen_at=utcnow() - timedelta(seconds=seconds)))
        db.session.commit()


def _seen_at(app) -> dict:
    from telemed.models import Login

    with app.app_context():
        seen = dict(db.session.execute(sa.select(Login.user_id, Login.seen_at)).all())
        db.session.remove()
    return seen


def test_a_login_used_after_a_minute_is_noted_and_written_with_the_others_in_one_statement(
        app, login, district):
    from telemed.services import logins
    from tests.helpers import recording_statements

    clients = [login(user) for user in (district.doctor, district.feldsher_a, district.admin)]
    _age_logins(app, 120)
    before = _seen_at(app)
    for client in clients:
        with recording_statements(app) as sent:
            assert client.get("/session").status_code == 200
        # The request only reads (nothing written, so nothing it loaded is expired and read again).
        writes = [s for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
        assert writes == [] and len(sent) <= 3, sent
    assert _seen_at(app) == before
    with app.app_context(), recording_statements(app) as sent:
        assert logins.write_pending_touches() == 3
    assert [s.split()[0].upper() for s in sent if not s.upper().startswith("BEGIN")] == ["UPDATE"], sent
    after = _seen_at(app)
    assert all(after[user_id] > before[user_id] + timedelta(seconds=100) for user_id in before)
    with app.app_context():
        assert logins.write_pending_touches() == 0  # written once


def test_each_login_is_written_as_of_its_own_last_use(app, login, district):
    """Written together, but not all as of the latest use: a login used earlier keeps its earlier
    time (an idle limit counts from each login's own last request)."""
    from telemed.services import logins

    doctor, post = login(district.doctor), login(district.feldsher_a)
    _age_logins(app, 120)
    assert doctor.get("/session").status_code == 200
    time.sleep(0.05)
    assert post.get("/session").status_code == 200
    with app.app_context():
        assert logins.write_pending_touches() == 2
    seen = _seen_at(app)
    assert seen[district.feldsher_a.id] - seen[district.doctor.id] >= timedelta(seconds=0.04), seen


def test_a_use_noted_and_not_yet_written_keeps_the_login_from_going_idle(app, login, district):
    doctor = login(district.doctor)
    _age_logins(app, 120)
    assert doctor.get("/session").status_code == 200  # noted, not written
    _age_logins(app, app.config["TELEMED"].session_idle_s + 5)
    assert doctor.get("/session").status_code == 200


def test_a_login_ended_before_its_use_is_written_stays_ended(app, login, district):
    from telemed.models import Login
    from telemed.services import logins

    doctor = login(district.doctor)
    _age_logins(app, 120)
    assert doctor.get("/session").status_code == 200
    assert doctor.delete("/session").status_code == 204
    ended_seen = _seen_at(app)
    with app.app_context():
        logins.write_pending_touches()
        assert db.session.scalar(sa.select(Login.end_reason)) == "logout"
    assert _seen_at(app) == ended_seen


def test_a_failed_write_of_uses_is_retried_by_the_next_sweep(app, login, district, monkeypatch):
    from telemed.realtime import sweeper
    from telemed.services import logins

    doctor = login(district.doctor)
    _age_logins(app, 120)
    before = _seen_at(app)
    assert doctor.get("/session").status_code == 200

    def broken(_session):
        raise sa.exc.OperationalError("UPDATE logins", {}, Exception("database is locked"))
    monkeypatch.setattr(logins, "write_transaction", broken)
    with app.app_context(), pytest.raises(sa.exc.OperationalError):
        logins.write_pending_touches()
    monkeypatch.undo()
    assert _seen_at(app) == before
    sweeper.sweep_once(app)
    assert _seen_at(app)[district.doctor.id] > before[district.doctor.id]


def test_a_socket_whose_login_ends_before_its_admission_is_told_and_closed(app, login, district, monkeypatch):
    """Connections are admitted together at the loop's next turn; a logout in between must not
    let one in: it is told its session ended (its page goes to the login screen) and closed."""
    from telemed.models import PresenceConnection
    from telemed.realtime import handlers

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)  # the turn: below
    doctor = login(district.doctor)
    sock = socketio.test_client(app, flask_test_client=doctor.http)
    assert sock.is_connected() and sock.get_received() == []  # accepted, not yet admitted
    assert doctor.delete("/session").status_code == 204
    with app.app_context():
        handlers.connections_admitted.run()
        handlers.connections_written.run()
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(PresenceConnection))
    assert not sock.is_connected()
    # What it was sent before the close (the test client keeps it; a closed one cannot be asked).
    assert [(event["name"], event["args"]) for event in sock.queue] == [("session:ended", [{}])]
    assert rows == 0


def test_a_socket_closed_while_its_login_is_read_is_not_noted_as_connected(app, login, district, monkeypatch):
    """The admission's read lets other green threads run: a connection that closed meanwhile must
    not be noted as connected after its close was (it would stay a ghost doctor, online)."""
    from telemed.models import Presence, PresenceConnection
    from telemed.realtime import handlers
    from telemed.services import logins

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)
    sock = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    read = logins.users_of

    def closing_meanwhile(of_logins):
        sock.disconnect()
        return read(of_logins)

    monkeypatch.setattr(logins, "users_of", closing_meanwhile)
    with app.app_context():
        handlers.connections_admitted.run()
        handlers.connections_written.run()
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(PresenceConnection))
        status = db.session.scalar(sa.select(Presence.status).where(Presence.user_id == district.doctor.id))
    assert rows == 0
    assert status in (None, "offline")


def test_an_idle_login_among_fresh_ones_is_ended_and_the_fresh_ones_admitted(app, login, district, monkeypatch):
    """After a long outage a district reconnects with idle and fresh logins mixed in one turn: the
    idle one's socket is told its session ended, every fresh one is admitted as usual."""
    from telemed.realtime import handlers

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)  # the turn: below
    idle = login(district.doctor)
    _age_logins(app, app.config["TELEMED"].session_idle_s + 5)
    fresh = [login(user) for user in (district.doctor2, district.feldsher_a)]
    # The fresh ones first, so the idle one's end comes after their users were loaded.
    sockets = [socketio.test_client(app, flask_test_client=client.http) for client in (*fresh, idle)]
    idle_sid = socketio.server.manager.sid_from_eio_sid(sockets[-1].eio_sid, "/")
    with app.app_context():
        assert handlers.connections_admitted.run() == {idle_sid}
    assert [sock.is_connected() for sock in sockets] == [True, True, False]
    assert [(event["name"], event["args"]) for event in sockets[-1].queue] == [("session:ended", [{}])]
    received = [[event["name"] for event in sock.get_received()] for sock in sockets[:2]]
    assert "queue:snapshot" in received[0] and received[1] == ["consultations:snapshot"]
    for sock in sockets[:2]:
        sock.disconnect()
    assert idle.get("/session").status_code == 401
