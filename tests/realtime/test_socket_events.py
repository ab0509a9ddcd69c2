"""Socket.IO events through Flask-SocketIO's test client (no message queue)."""
import uuid

import pytest

from telemed.extensions import socketio
from tests.helpers import close_body, consultation_body, row_counts


@pytest.fixture
def connect(app, login):
    """`connect(user)` gives (socket test client, ApiClient) sharing one logged-in session."""
    clients = []

    def _connect(user):
        api = login(user)
        sock = socketio.test_client(app, flask_test_client=api.http)
        clients.append(sock)
        return sock, api

    yield _connect
    for sock in clients:
        if sock.is_connected():
            sock.disconnect()


def events(sock, name):
    return [event["args"][0] for event in sock.get_received() if event["name"] == name]


def drain(*socks):
    for sock in socks:
        sock.get_received()


def test_unauthenticated_connection_is_refused(app, district):
    sock = socketio.test_client(app, flask_test_client=app.test_client())
    assert not sock.is_connected()


def test_snapshots_on_connect(connect, district):
    post_sock, post_api = connect(district.feldsher_a)
    created = post_api.post("/consultations", json=consultation_body()).get_json()
    doctor_sock, _ = connect(district.doctor)
    snapshot = events(doctor_sock, "queue:snapshot")
    assert len(snapshot) == 1
    assert [c["id"] for c in snapshot[0]["waiting"]] == [created["id"]]
    assert snapshot[0]["active"] == []
    post_again, _ = connect(district.feldsher_a)
    items = events(post_again, "consultations:snapshot")[0]["items"]
    assert [c["id"] for c in items] == [created["id"]]
    other_post, _ = connect(district.feldsher_b)
    assert events(other_post, "consultations:snapshot")[0]["items"] == []


def test_new_request_reaches_eligible_doctors_only(connect, district):
    _, post_api = connect(district.feldsher_a)
    general, _ = connect(district.doctor)
    cardio, _ = connect(district.cardiologist)
    other_post, _ = connect(district.feldsher_b)
    drain(general, cardio, other_post)

    general_request = post_api.post("/consultations", json=consultation_body()).get_json()
    assert [c["id"] for c in events(general, "queue:upsert")] == [general_request["id"]]
    assert [c["id"] for c in events(cardio, "queue:upsert")] == [general_request["id"]]

    cardio_request = post_api.post("/consultations", json=consultation_body(specialty="cardiology")).get_json()
    assert events(general, "queue:upsert") == []
    assert [c["id"] for c in events(cardio, "queue:upsert")] == [cardio_request["id"]]
    assert events(other_post, "consultation:update") == []


def test_claim_over_socket_updates_post_and_removes_from_other_queues(connect, district):
    post_sock, post_api = connect(district.feldsher_a)
    doctor, _ = connect(district.doctor)
    rival, _ = connect(district.doctor2)
    created = post_api.post("/consultations", json=consultation_body()).get_json()
    drain(post_sock, doctor, rival)

    ack = doctor.emit("consultation:accept", {"id": created["id"]}, callback=True)
    assert ack["ok"] is True
    assert ack["consultation"]["status"] == "active"
    assert events(rival, "queue:remove") == [{"id": created["id"], "reason": "accepted"}]
    updates = events(post_sock, "consultation:update")
    assert updates[-1]["status"] == "active" and updates[-1]["doctor"]["id"] == district.doctor.id

    lost = rival.emit("consultation:accept", {"id": created["id"]}, callback=True)
    assert lost == {"ok": False, "error": {"code": "conflict", "message": lost["error"]["message"]}}


def test_chat_over_socket_reaches_participants_only(app, connect, district):
    post_sock, post_api = connect(district.feldsher_a)
    doctor, _ = connect(district.doctor)
    outsider, _ = connect(district.feldsher_b)
    created = post_api.post("/consultations", json=consultation_body()).get_json()
    doctor.emit("consultation:accept", {"id": created["id"]}, callback=True)
    drain(post_sock, doctor, outsider)

    key = str(uuid.uuid4())
    ack = post_sock.emit("message:send", {"consultation_id": created["id"], "body": "SpO2 now 91",
                                          "client_key": key}, callback=True)
    assert ack["ok"] and ack["created"] is True
    assert [m["body"] for m in events(doctor, "message:new")] == ["SpO2 now 91"]
    assert events(outsider, "message:new") == []

    before = row_counts(app)
    retry = post_sock.emit("message:send", {"consultation_id": created["id"], "body": "SpO2 now 91",
                                            "client_key": key}, callback=True)
    assert retry["ok"] and retry["created"] is False
    assert retry["message"]["id"] == ack["message"]["id"]
    assert row_counts(app) == before
    assert events(doctor, "message:new") == []

    sneaky = outsider.emit("message:send", {"consultation_id": created["id"], "body": "hi",
                                            "client_key": str(uuid.uuid4())}, callback=True)
    assert sneaky["ok"] is False and sneaky["error"]["code"] == "not_found"


def test_bad_socket_payloads_are_refused_with_specific_errors(app, connect, district):
    doctor, _ = connect(district.doctor)
    post_sock, _ = connect(district.feldsher_a)
    before = row_counts(app)
    missing = doctor.emit("consultation:accept", {}, callback=True)
    assert missing["ok"] is False and missing["error"]["code"] == "validation_error"
    assert "id" in missing["error"]["fields"]
    garbage = doctor.emit("consultation:accept", {"id": "nope"}, callback=True)
    assert garbage["error"]["code"] == "validation_error"
    presence = doctor.emit("presence:set", {"status": "sleeping"}, callback=True)
    assert presence["error"]["fields"] == {"status": [presence["error"]["fields"]["status"][0]]}
    wrong_role = post_sock.emit("consultation:accept", {"id": str(uuid.uuid4())}, callback=True)
    assert wrong_role["error"]["code"] == "forbidden"
    assert row_counts(app) == before


def test_a_database_outage_on_an_event_is_unavailable_not_internal(app, connect, district, monkeypatch):
    import sqlalchemy as sa

    from telemed.services import consultations

    doctor, _ = connect(district.doctor)
    before = row_counts(app)

    def gone(*_args):
        raise sa.exc.OperationalError("UPDATE consultations", {}, Exception("server closed the connection"))

    monkeypatch.setattr(consultations, "accept", gone)
    ack = doctor.emit("consultation:accept", {"id": str(uuid.uuid4())}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
    assert "database" in ack["error"]["message"]
    assert row_counts(app) == before
    # The connection is still served once the database answers again.
    monkeypatch.undo()
    assert doctor.emit("queue:sync", {}, callback=True) == {"ok": True}


def test_close_reaches_the_post_with_the_outcome(connect, district):
    post_sock, post_api = connect(district.feldsher_a)
    doctor_sock, doctor_api = connect(district.doctor)
    created = post_api.post("/consultations", json=consultation_body()).get_json()
    doctor_sock.emit("consultation:accept", {"id": created["id"]}, callback=True)
    drain(post_sock)
    doctor_api.post(f"/consultations/{created['id']}/close", json=close_body())
    update = events(post_sock, "consultation:update")[-1]
    assert update["status"] == "closed"
    assert update["outcome"]["icd10"] == ["I20.0"]


def test_presence_and_queue_sync(app, connect, district):
    doctor, doctor_api = connect(district.doctor)
    second_tab = socketio.test_client(app, flask_test_client=doctor_api.http)
    colleague, _ = connect(district.doctor2)
    admin, _ = connect(district.admin)
    drain(doctor, second_tab, colleague, admin)
    ack = doctor.emit("presence:set", {"status": "away"}, callback=True)
    assert ack == {"ok": True, "status": "away"}
    change = {"user_id": district.doctor.id, "status": "away"}
    assert change in events(admin, "presence:update")
    assert change in events(second_tab, "presence:update")      # the doctor's other tabs follow
    # Colleagues do not show each other's presence: telling every doctor of every doctor's
    # change would cost doctors² messages when a shift connects (docs/decisions.md).
    assert events(colleague, "presence:update") == []
    second_tab.disconnect()
    sync = doctor.emit("queue:sync", {}, callback=True)
    assert sync == {"ok": True}
    assert len(events(doctor, "queue:snapshot")) == 1


def test_logging_out_cuts_that_browser_sessions_sockets_only(app, connect, district):
    from tests.helpers import ApiClient

    sock, api = connect(district.feldsher_a)
    other_device = ApiClient(app, district.feldsher_a.username)
    other_sock = socketio.test_client(app, flask_test_client=other_device.http)
    assert sock.is_connected() and other_sock.is_connected()
    assert api.delete("/session").status_code == 204
    assert not sock.is_connected()          # this browser's live connection is closed
    assert other_sock.is_connected()        # the same person's other device is untouched
    other_sock.disconnect()


def waiting_ids(snapshot) -> list[str]:
    return [c["id"] for c in snapshot["waiting"]]


def test_a_doctors_specialty_rooms_follow_an_admins_change_live(app, connect, login, district):
    """An administrator gives a connected doctor a specialty, then takes it away: without a
    reconnect the doctor's page gets the requests now offered, then stops getting them."""
    doctor, _ = connect(district.doctor)  # general only
    _, post = connect(district.feldsher_a)
    admin = login(district.admin)
    drain(doctor)
    unseen = post.post("/consultations", json=consultation_body(specialty="cardiology")).get_json()
    assert events(doctor, "queue:upsert") == []

    given = admin.http.patch(f"/api/v1/users/{district.doctor.id}", headers=admin._headers(),
                             json={"specialties": ["general", "cardiology"]})
    assert given.status_code == 200
    [snapshot] = events(doctor, "queue:snapshot")
    assert waiting_ids(snapshot) == [unseen["id"]]
    offered = post.post("/consultations", json=consultation_body(specialty="cardiology")).get_json()
    assert [c["id"] for c in events(doctor, "queue:upsert")] == [offered["id"]]

    taken = admin.http.patch(f"/api/v1/users/{district.doctor.id}", headers=admin._headers(),
                             json={"specialties": ["general"]})
    assert taken.status_code == 200
    [snapshot] = events(doctor, "queue:snapshot")
    assert waiting_ids(snapshot) == []
    post.post("/consultations", json=consultation_body(specialty="cardiology"))
    assert events(doctor, "queue:upsert") == []
    # A change that leaves the specialties alone sends nothing.
    assert admin.http.patch(f"/api/v1/users/{district.doctor.id}", headers=admin._headers(),
                            json={"full_name": "Doctor G"}).status_code == 200
    assert events(doctor, "queue:snapshot") == []


@pytest.fixture
def cardiology_needs_a_certificate(app, district):
    """Cardiology requests go only to doctors holding a valid CARDIO certificate, and the
    district's cardiologist holds one; (the certificate's id)."""
    from datetime import date, timedelta

    from telemed.extensions import db
    from telemed.models import Certification, CertificationType, SpecialtyRequirement

    with app.app_context():
        cardio = db.session.scalar(db.select(CertificationType).where(CertificationType.code == "CARDIO"))
        db.session.add(SpecialtyRequirement(specialty="cardiology", type_id=cardio.id))
        certificate = Certification(user_id=district.cardiologist.id, type_id=cardio.id,
                                    issued_on=date.today() - timedelta(days=400),
                                    expires_on=date.today() + timedelta(days=400))
        db.session.add(certificate)
        db.session.commit()
        return certificate.id


def test_a_revoked_or_recorded_certificate_moves_the_connected_doctor(
        app, connect, login, district, cardiology_needs_a_certificate):
    cardiologist, _ = connect(district.cardiologist)
    _, post = connect(district.feldsher_a)
    admin = login(district.admin)
    waiting = post.post("/consultations", json=consultation_body(specialty="cardiology")).get_json()
    assert [c["id"] for c in events(cardiologist, "queue:upsert")] == [waiting["id"]]

    revoked = admin.delete(f"/certifications/{cardiology_needs_a_certificate}")
    assert revoked.status_code == 200
    [snapshot] = events(cardiologist, "queue:snapshot")
    assert waiting_ids(snapshot) == []
    post.post("/consultations", json=consultation_body(specialty="cardiology"))
    assert events(cardiologist, "queue:upsert") == []

    recorded = admin.post("/certifications", json={"user_id": district.cardiologist.id, "type": "CARDIO",
                                                   "issued_on": "2026-01-10"})
    assert recorded.status_code == 201, recorded.get_json()
    [snapshot] = events(cardiologist, "queue:snapshot")
    assert len(waiting_ids(snapshot)) == 2 and waiting["id"] in waiting_ids(snapshot)


def test_a_certificate_that_lapses_overnight_moves_the_doctor_on_the_new_days_sweep(
        app, connect, district, cardiology_needs_a_certificate):
    from datetime import date, timedelta

    from telemed.db import district_today
    from telemed.extensions import db
    from telemed.models import Certification
    from telemed.realtime import sweeper

    cardiologist, _ = connect(district.cardiologist)
    _, post = connect(district.feldsher_a)
    with app.app_context():  # the date passes its expiry: no service runs, no row changes then
        certificate = db.session.get(Certification, cardiology_needs_a_certificate)
        certificate.expires_on = date.today() - timedelta(days=1)
        db.session.commit()
        today = district_today()
    drain(cardiologist)
    assert sweeper.sweep_once(app, last_day=today) == today  # the same day: nothing moves
    assert events(cardiologist, "queue:snapshot") == []
    assert sweeper.sweep_once(app, last_day=today - timedelta(days=1)) == today
    assert len(events(cardiologist, "queue:snapshot")) == 1
    post.post("/consultations", json=consultation_body(specialty="cardiology"))
    assert events(cardiologist, "queue:upsert") == []


def test_queue_sync_moves_the_doctors_rooms_with_the_snapshot(app, connect, district):
    from telemed.extensions import db
    from telemed.models import User

    doctor, _ = connect(district.doctor)
    _, post = connect(district.feldsher_a)
    with app.app_context():  # changed behind the services' back: no event
        db.session.get(User, district.doctor.id).specialties = ["general", "pediatrics"]
        db.session.commit()
    assert doctor.emit("queue:sync", {}, callback=True) == {"ok": True}
    drain(doctor)
    offered = post.post("/consultations", json=consultation_body(specialty="pediatrics")).get_json()
    assert [c["id"] for c in events(doctor, "queue:upsert")] == [offered["id"]]


def test_after_a_message_queue_outage_administrators_get_every_open_consultation(app, login, district):
    """An administrator's overview gets no snapshot on connect; when this process's listener
    missed events (a message-queue outage), it gets every post's open consultations, and reads
    its figures again."""
    from telemed.realtime.notifier import notifier

    admin = socketio.test_client(app, flask_test_client=login(district.admin).http)
    post = socketio.test_client(app, flask_test_client=login(district.feldsher_a).http)
    created = [login(user).post("/consultations", json=consultation_body()).get_json()
               for user in (district.feldsher_a, district.feldsher_b)]
    assert not [e for e in admin.get_received() if e["name"] == "consultations:snapshot"]
    post.get_received()
    notifier._resync_this_process()
    snapshots = [e["args"][0] for e in admin.get_received() if e["name"] == "consultations:snapshot"]
    assert [[c["id"] for c in s["items"]] for s in snapshots] == [[c["id"] for c in created]]
    # A post still gets only its own.
    posts = [e["args"][0] for e in post.get_received() if e["name"] == "consultations:snapshot"]
    assert [[c["id"] for c in s["items"]] for s in posts] == [[created[0]["id"]]]
    admin.disconnect()
    post.disconnect()


def test_a_posts_snapshot_leaves_the_shared_payloads_as_every_other_event_sends_them(app, login, district):
    """`doctor_messages` belongs to the post's snapshot only: the consultation's own payload,
    shaped once per request and shared by every event of it, does not gain the field."""
    from telemed.extensions import db
    from telemed.models import Consultation
    from telemed.services.representation import consultation_payload
    from telemed.services.snapshots import consultations_snapshot

    created = login(district.feldsher_a).post("/consultations", json=consultation_body()).get_json()
    with app.app_context():
        snapshot = consultations_snapshot(district.post_a.id)
        shared = consultation_payload(db.session.get(Consultation, uuid.UUID(created["id"])))
        db.session.remove()
    assert snapshot["items"][0]["doctor_messages"] == 0
    assert "doctor_messages" not in shared


def test_a_connection_answers_in_the_users_own_language_once_admitted(app, login, district, monkeypatch):
    """Refusals made without loading the user (over the rate limit) speak the browser's language
    until the connection is admitted, then the user's own choice."""
    import sqlalchemy as sa
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from telemed.extensions import db
    from telemed.models import User
    from telemed.realtime import handlers

    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == district.doctor.id).values(locale="kk"))
        db.session.commit()
    with app.test_request_context(), force_locale("ru"):
        in_russian = _("Too many events from this connection; wait a moment.")
    with app.test_request_context(), force_locale("kk"):
        in_kazakh = _("Too many events from this connection; wait a moment.")
    assert in_russian != in_kazakh
    monkeypatch.setattr(app.config["TELEMED"], "socket_sync_rate_limit", "1 per 10 seconds")
    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)  # the turn: below
    sock = socketio.test_client(app, flask_test_client=login(district.doctor).http,
                                headers={"Accept-Language": "ru"})
    answers = [sock.emit("queue:sync", {}, callback=True) for _ in range(2)]
    with app.app_context():
        handlers.connections_admitted.run()
    answers.append(sock.emit("queue:sync", {}, callback=True))
    sock.disconnect()
    assert answers[0]["ok"]
    assert [answer["error"]["message"] for answer in answers[1:]] == [in_russian, in_kazakh]
