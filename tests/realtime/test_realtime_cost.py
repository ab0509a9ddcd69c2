"""The shape of the real-time core's cost: SQL statements and emits per change do not grow with the
queue, queue places go only where they changed, and clients over their rate limits are refused.

Nothing here is timed; the benchmarks in bench/ measure speed.
"""
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telemed.extensions import socketio
from tests.helpers import (
    ApiClient,
    add_doctors,
    add_facilities,
    add_waiting_requests,
    consultation_body,
    counting_emits,
    recording_statements,
)

LONG_QUEUE = 300


@pytest.fixture
def live_world(app, login, district):
    """A post and a doctor and an admin connected, as on a working day."""
    post, doctor, admin = login(district.feldsher_a), login(district.doctor), login(district.admin)
    sockets = [socketio.test_client(app, flask_test_client=client.http)
               for client in (post, doctor, admin)]
    yield post, doctor, sockets
    for sock in sockets:
        sock.disconnect()


def flush_positions(app):
    from telemed.extensions import db
    from telemed.realtime.notifier import notifier

    with app.app_context():
        notifier.positions.flush()
        db.session.remove()


def _create_and_claim_cost(app, post, doctor, monkeypatch):
    """(statements, emits) of one HTTP creation, then of its claim, with everyone connected."""
    with recording_statements(app) as created_sql, counting_emits(monkeypatch) as created_emits:
        created = post.post("/consultations", json=consultation_body(priority="routine", vitals={}))
    assert created.status_code == 201
    with recording_statements(app) as claimed_sql, counting_emits(monkeypatch) as claimed_emits:
        claimed = doctor.post(f"/consultations/{created.get_json()['id']}/accept")
    assert claimed.status_code == 200
    return (len(created_sql), sorted(e for e, _ in created_emits),
            len(claimed_sql), sorted(e for e, _ in claimed_emits))


def test_statements_and_emits_per_change_do_not_grow_with_the_queue(
        app, district, live_world, monkeypatch):
    post, doctor, _sockets = live_world
    # The wait-estimate inputs are cached for seconds; keep them cached through both measurements
    # so a slow machine cannot make one of them pay for a refresh the other did not.
    from telemed.services import queue

    monkeypatch.setattr(queue._medians, "_ttl_s", 600)
    monkeypatch.setattr(queue._availability, "_ttl_s", 600)
    with app.app_context():  # read once here: nothing before the first creation has needed them
        queue._medians.get()
        queue._availability.get()
    empty = _create_and_claim_cost(app, post, doctor, monkeypatch)
    others = add_facilities(app, district, 30)
    add_waiting_requests(app, district.feldsher_b, others, LONG_QUEUE)
    flush_positions(app)  # as the sweep does: the posts of the bulk-made queue have their places
    # The new request joins the tail, so no other post's place moves; claiming it moves none either.
    long = _create_and_claim_cost(app, post, doctor, monkeypatch)
    assert long == empty
    created_sql, created_emits, claimed_sql, claimed_emits = long
    # On SQLite: BEGIN, the login; BEGIN IMMEDIATE, the INSERTs of the request and its event (a
    # repeat is refused by the unique key, not looked up first); BEGIN, the notifier's load and the
    # request's place; BEGIN, the queue's places for queue:positions (sent at once in tests).
    assert created_sql <= 10, created_sql
    assert claimed_sql <= 12, claimed_sql
    assert created_emits == ["consultation:update", "queue:positions", "queue:upsert"]
    assert claimed_emits == ["consultation:update", "queue:remove"]  # nobody behind it moved


def test_a_creation_counts_its_place_without_reading_the_whole_queue(
        app, district, live_world, monkeypatch):
    from telemed.realtime.notifier import notifier
    from telemed.services import queue

    post, _doctor, _sockets = live_world
    add_waiting_requests(app, district.feldsher_b, add_facilities(app, district, 30), LONG_QUEUE)
    whole_reads = []
    read_whole = queue.waiting_rows
    monkeypatch.setattr(queue, "waiting_rows", lambda: whole_reads.append(1) or read_whole())
    # queue:positions (sent at once in tests, once a second in a server) does read it: not here.
    monkeypatch.setattr(notifier.positions, "queue_changed", lambda: None)
    created = post.post("/consultations", json=consultation_body(priority="emergency", vitals={}))
    assert created.status_code == 201
    assert created.get_json()["queue_position"] == 1  # ahead of the 300 routine ones
    assert whole_reads == []


def _doctor_connect_statements(app, doctor) -> tuple[int, int]:
    """(statements, waiting requests in the snapshot) of one doctor's connection, its row not yet
    written (in a server that comes a moment later, with the others opened meanwhile)."""
    from telemed.services import presence

    with recording_statements(app) as connected:
        sock = socketio.test_client(app, flask_test_client=doctor.http)
    snapshot, = [e["args"][0] for e in sock.get_received() if e["name"] == "queue:snapshot"]
    sock.disconnect()
    with app.app_context():
        presence.write_pending_connections()
    return len(connected), len(snapshot["waiting"])


def test_a_doctor_connecting_costs_the_same_statements_whatever_the_queue(
        app, login, district, monkeypatch):
    from telemed.realtime import handlers
    from telemed.services import queue

    monkeypatch.setattr(queue._medians, "_ttl_s", 600)  # no refresh of the estimate's inputs mid-way
    monkeypatch.setattr(queue._availability, "_ttl_s", 600)
    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # written by the test
    doctor = login(district.doctor)
    empty, none_waiting = _doctor_connect_statements(app, doctor)
    add_waiting_requests(app, district.feldsher_b, add_facilities(app, district, 30), LONG_QUEUE)
    with app.app_context():  # the estimate's inputs, read once (the queue's places are read anew)
        queue._medians.get()
        queue._availability.get()
    long, all_waiting = _doctor_connect_statements(app, doctor)
    assert (none_waiting, all_waiting) == (0, LONG_QUEUE)
    assert long == empty + 1  # the places of the waiting ones, in one statement
    # (BEGIN on SQLite); the login and its user; then the first snapshot, read as for many
    # connections at once: which specialties require a certificate (a general doctor's own are
    # not read), the waiting requests, the active ones, the statuses chosen. Nothing is written yet.
    assert empty <= 6, empty


def test_connections_opened_in_one_turn_read_their_first_snapshots_together(
        app, login, district, password_hash, monkeypatch):
    """A district back after an outage connects at once: the first snapshots of every connection
    waiting for the loop's next turn, doctors' and posts', are read in the statements of one."""
    from telemed.realtime import handlers
    from telemed.services import queue

    add_waiting_requests(app, district.feldsher_a, [district.post_a, district.post_b], 5)
    monkeypatch.setattr(queue._medians, "_ttl_s", 600)  # no refresh of the estimates mid-way
    monkeypatch.setattr(queue._availability, "_ttl_s", 600)
    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # written by nobody
    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)  # the turn: below
    with app.app_context():  # the estimate's inputs, read once (the queue's places are read anew)
        queue._medians.get()
        queue._availability.get()
    costs = []
    for doctors, posts in ((1, [district.feldsher_a]), (12, [district.feldsher_a, district.feldsher_b])):
        clients = [ApiClient(app, username) for _id, username
                   in add_doctors(app, district, password_hash, doctors, prefix=f"turn{doctors}-")]
        clients += [login(post) for post in posts]
        sockets = [socketio.test_client(app, flask_test_client=client.http) for client in clients]
        assert [sock.get_received() for sock in sockets] == [[]] * len(sockets)  # not yet
        with app.app_context(), recording_statements(app) as statements:
            handlers.connections_admitted.run()
        received = [sock.get_received() for sock in sockets]
        for sock in sockets:
            sock.disconnect()
        assert [[event["name"] for event in got] for got in received] == (
            [["queue:snapshot"]] * doctors + [["consultations:snapshot"]] * len(posts))
        assert all(len(got[0]["args"][0]["waiting"]) == 5 for got in received[:doctors])
        items = [got[0]["args"][0]["items"] for got in received[doctors:]]
        assert all(item["facility"]["id"] == post.facility_id for post, of_post in zip(posts, items)
                   for item in of_post)
        assert sum(map(len, items)) == (5 if len(posts) == 2 else len(items[0])) and items[0]
        costs.append(len(statements))
    assert costs[0] == costs[1]


def test_a_doctor_is_in_their_specialty_rooms_before_their_snapshot_is_read(
        app, login, district, monkeypatch):
    """A request offered between the snapshot's read and the doctor's joining its room would reach
    neither: the rooms come first, so it is in the snapshot, or reaches the room, or both."""
    from telemed.realtime import handlers
    from telemed.realtime import notifier as notifier_module

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)
    sock = socketio.test_client(app, flask_test_client=login(district.cardiologist).http)
    sid = socketio.server.manager.sid_from_eio_sid(sock.eio_sid, "/")
    assert "specialty:cardiology" not in socketio.server.manager.get_rooms(sid, "/")  # not yet
    rooms_at_read = []
    read = notifier_module.queue_snapshots

    def recording(doctors):
        rooms_at_read.append(set(socketio.server.manager.get_rooms(sid, "/")))
        return read(doctors)

    monkeypatch.setattr(notifier_module, "queue_snapshots", recording)
    with app.app_context():
        handlers.connections_admitted.run()
    received = [event["name"] for event in sock.get_received()]
    sock.disconnect()
    assert "queue:snapshot" in received
    assert len(rooms_at_read) == 1 and "specialty:cardiology" in rooms_at_read[0]


def test_a_connection_closed_before_its_first_snapshot_is_left_out(app, login, district, monkeypatch):
    from telemed.realtime import handlers
    from telemed.realtime.notifier import notifier

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)
    gone, staying = (socketio.test_client(app, flask_test_client=login(user).http)
                     for user in (district.doctor, district.doctor2))
    gone.disconnect()
    given = []
    monkeypatch.setattr(notifier, "first_snapshots", lambda connections: given.append(connections))
    with app.app_context():
        handlers.connections_admitted.run()
    staying.disconnect()
    assert [[user.id for user in connections.values()] for connections in given] == [[district.doctor2.id]]


def test_connections_whose_first_snapshots_failed_are_closed_to_reconnect(app, login, district, monkeypatch):
    from telemed.realtime import handlers
    from telemed.realtime.notifier import notifier

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)
    sockets = [socketio.test_client(app, flask_test_client=login(user).http)
               for user in (district.doctor, district.feldsher_a)]

    def database_gone(connections):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(notifier, "first_snapshots", database_gone)
    with app.app_context(), pytest.raises(ConnectionError):
        handlers.connections_admitted.run()
    assert [sock.is_connected() for sock in sockets] == [False, False]


def test_rooms_are_not_changed_for_a_connection_closed_meanwhile(app, login, district, monkeypatch):
    """A connection's row outlives it a moment (rows are written together): a doctor's new
    qualifications must still reach their open connections, the closed one skipped, not fatal."""
    from telemed.extensions import db
    from telemed.models import User
    from telemed.realtime.notifier import notifier

    sock = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    sock.get_received()
    open_sid = socketio.server.manager.sid_from_eio_sid(sock.eio_sid, "/")
    with app.app_context():
        doctor = db.session.get(User, district.doctor.id)
        notifier.follow_qualifications([(doctor, ["closed-a-moment-ago", open_sid])], local=True)
        db.session.remove()
    received = [event["name"] for event in sock.get_received()]
    sock.disconnect()
    assert received == ["queue:snapshot"]



def test_a_doctor_reconnecting_after_an_outage_only_reads(app, login, district, monkeypatch):
    """Every login of a district is over a minute old after an outage: its connect still writes
    nothing (the use is noted for the sweep), and reads what any connect reads."""
    import sqlalchemy as sa

    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import Login
    from telemed.realtime import handlers
    from telemed.services import logins

    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # written by the test
    doctor = login(district.doctor)
    fresh, _ = _doctor_connect_statements(app, doctor)
    with app.app_context():
        db.session.execute(sa.update(Login).values(seen_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    with recording_statements(app) as sent:
        sock = socketio.test_client(app, flask_test_client=doctor.http)
    assert sock.is_connected()
    sock.disconnect()
    writes = [s for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    assert writes == [] and len(sent) == fresh, sent
    with app.app_context():
        assert logins.write_pending_touches() == 1


def test_connections_opened_and_closed_together_are_written_in_the_same_statements(
        app, login, district, password_hash, monkeypatch):
    """A reconnect storm is one transaction of a few statements, not one per connection; a doctor
    shows online once written, a post's connection as a row, one closed before it was written
    never as anything."""
    from telemed.extensions import db
    from telemed.models import PresenceConnection
    from telemed.realtime import handlers
    from telemed.services import presence

    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # written by the test
    doctors = [ApiClient(app, username) for _, username in add_doctors(app, district, password_hash, 40)]
    post = login(district.feldsher_a)

    def write_storm(clients):
        sockets = [socketio.test_client(app, flask_test_client=client.http) for client in clients]
        sockets[-1].disconnect()  # gone before it was ever written
        with app.app_context():
            with recording_statements(app) as statements:
                written = presence.write_pending_connections()
            statuses = {d["user_id"]: d["status"] for d in presence.doctors_on_duty()}
            rows = db.session.query(PresenceConnection).count()
            db.session.remove()
        for sock in sockets[:-1]:
            sock.disconnect()
        with app.app_context():
            presence.write_pending_connections()
            db.session.remove()
        return len(statements), written, statuses, rows

    few = write_storm([post, doctors[0], doctors[1]])
    many = write_storm([post, *doctors])
    # For 2 or 40: BEGIN IMMEDIATE on SQLite, the INSERT of the rows, the UPDATE bringing doctors
    # online, the read of who has a presence row and the INSERT of those who never connected
    # before, the read of logins ended meanwhile; then (BEGIN) the queue's places, as doctors
    # available moved (sent at once in tests).
    assert few[0] == many[0] <= 8, (few[0], many[0])
    # The post's and the doctors' rows; the last doctor's connection closed before it was written
    # cost nothing and never showed them online.
    assert (few[1], few[3], many[1], many[3]) == (2, 2, 40, 40)
    assert sorted(few[2].values()).count("available") == 1
    assert sorted(many[2].values()).count("available") == 39


def test_queue_positions_reach_only_the_facilities_whose_numbers_changed(
        app, login, district, monkeypatch):
    far, near, idle = add_facilities(app, district, 3)
    first, = add_waiting_requests(app, district.feldsher_b, [far], 1, age_s=900)
    add_waiting_requests(app, district.feldsher_b, [near], 2, age_s=600)
    flush_positions(app)
    listeners = {}
    for facility in (far, near, idle):
        client = login(district.feldsher_b)  # the same nurse, moved between posts for the test
        with app.app_context():
            from telemed.extensions import db
            from telemed.models import User

            db.session.get(User, district.feldsher_b.id).facility_id = facility.id
            db.session.commit()
        listeners[facility.id] = socketio.test_client(app, flask_test_client=client.http)
        listeners[facility.id].get_received()

    doctor = login(district.doctor)
    # Claiming the head of the queue moves the two requests behind it, at `near`, up one place.
    with counting_emits(monkeypatch) as emitted:
        assert doctor.post(f"/consultations/{first}/accept").status_code == 200
    position_rooms = [rooms for event, rooms in emitted if event == "queue:positions"]
    assert position_rooms == [f"facility:{near.id}"]
    received = [e for e in listeners[near.id].get_received() if e["name"] == "queue:positions"]
    assert [item["queue_position"] for item in received[0]["args"][0]["items"]] == [1, 2]
    # `far` had its only waiting request taken: it hears of that through consultation:update,
    # and `idle` hears nothing at all.
    assert [e["name"] for e in listeners[idle.id].get_received()] == []
    for sock in listeners.values():
        sock.disconnect()


def test_queue_positions_are_coalesced_under_a_burst(app, login, district, monkeypatch):
    monkeypatch.setattr(app.config["TELEMED"], "positions_interval_s", 0.3)
    post = login(district.feldsher_a)
    listener = socketio.test_client(app, flask_test_client=post.http)
    listener.get_received()
    for _ in range(5):
        assert post.post("/consultations", json=consultation_body(vitals={})).status_code == 201
    socketio.sleep(1.0)
    positions = [e["args"][0] for e in listener.get_received() if e["name"] == "queue:positions"]
    # Five changes inside one window: one event (two if the window closed mid-burst), with all five.
    assert 1 <= len(positions) <= 2
    assert [i["queue_position"] for i in positions[-1]["items"]] == [1, 2, 3, 4, 5]
    listener.disconnect()


def test_a_client_over_its_event_limit_is_refused_and_others_are_served(
        app, login, district, monkeypatch):
    monkeypatch.setattr(app.config["TELEMED"], "socket_rate_limit", "10 per 10 seconds")
    monkeypatch.setattr(app.config["TELEMED"], "socket_sync_rate_limit", "3 per 10 seconds")
    flooder = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    neighbour = socketio.test_client(app, flask_test_client=login(district.doctor2).http)
    syncs = [flooder.emit("queue:sync", {}, callback=True) for _ in range(6)]
    assert [a["ok"] for a in syncs] == [True] * 3 + [False] * 3
    assert syncs[-1]["error"]["code"] == "rate_limited"
    presence = [flooder.emit("presence:set", {"status": "away"}, callback=True) for _ in range(10)]
    assert sum(a["ok"] for a in presence) == 4          # 10 events in all, 6 of them already used
    assert {a["error"]["code"] for a in presence if not a["ok"]} == {"rate_limited"}
    assert neighbour.emit("queue:sync", {}, callback=True) == {"ok": True}
    flooder.disconnect()
    neighbour.disconnect()


def test_creation_and_chat_over_http_are_rate_limited_per_user(app, login, district, monkeypatch):
    monkeypatch.setattr(app.config["TELEMED"], "write_rate_limit", "3 per minute")
    post, other_post = login(district.feldsher_a), login(district.feldsher_b)
    answers = [post.post("/consultations", json=consultation_body()) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[-1].get_json()["error"]["code"] == "rate_limited"
    # Another post (behind the same village NAT, in the test the same address) is not slowed.
    assert other_post.post("/consultations", json=consultation_body()).status_code == 201


def _dead_process_leaves(app, district, password_hash, count):
    """`count` available doctors whose only connections belonged to a process that died."""
    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import Presence, PresenceConnection

    long_ago = utcnow() - timedelta(minutes=10)
    ids = [doctor_id for doctor_id, _ in add_doctors(app, district, password_hash, count,
                                                      prefix=f"shift{count}-")]
    with app.app_context():
        for doctor_id in ids:
            db.session.add(Presence(user_id=doctor_id, status="available", chosen_status="available"))
            db.session.add(PresenceConnection(sid=f"dead-{doctor_id}", user_id=doctor_id,
                                              server_id="dead-process", seen_at=long_ago))
        db.session.commit()
        db.session.remove()
    return ids


def test_presence_expiry_after_a_crash_is_set_based(app, district, password_hash, monkeypatch):
    from telemed.extensions import db
    from telemed.services import presence, queue

    monkeypatch.setattr(queue._medians, "_ttl_s", 600)  # as in the test above: no refresh mid-way
    with app.app_context():
        queue.QueueState.now()  # warms the cached estimate inputs
        presence.heartbeat_and_expire(stale_after_s=30)  # the process's first beat writes its row
        db.session.remove()
    costs = []
    for count in (2, 100):
        doctors = _dead_process_leaves(app, district, password_hash, count)
        with recording_statements(app) as statements, counting_emits(monkeypatch) as emitted:
            with app.app_context():
                gone = presence.heartbeat_and_expire(stale_after_s=30)
                db.session.remove()
        assert gone == doctors                       # every one of them is offline now
        costs.append(len(statements))
        assert [e for e, _ in emitted].count("presence:update") == count
    assert costs[0] == costs[1]                      # the same statements for 2 or 100


def test_the_heartbeat_is_one_row_a_process_however_many_connections_it_holds(app, district):
    """A sweep pass rewrote every connection row of its process (a district's 2,200); now it
    refreshes its process's one row. A connection lives while its server's heartbeat is fresh or
    its own row is new; the rows of a process whose heartbeat went stale, or that never wrote one,
    go."""
    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import PresenceConnection, PresenceServer
    from telemed.services import presence
    from telemed.services.presence import SERVER_ID

    now, long_ago = utcnow(), utcnow() - timedelta(minutes=10)
    with app.app_context():
        db.session.add_all([PresenceServer(server_id=SERVER_ID, seen_at=now - timedelta(seconds=5)),
                            PresenceServer(server_id="other-live", seen_at=now),
                            PresenceServer(server_id="stale", seen_at=long_ago)])
        for server_id, count, written in ((SERVER_ID, 50, long_ago), ("other-live", 3, long_ago),
                                          ("stale", 3, long_ago), ("never-beat", 3, long_ago),
                                          ("starting", 2, now)):
            db.session.add_all([PresenceConnection(sid=f"{server_id}-{i}", user_id=district.doctor.id,
                                                   server_id=server_id, seen_at=written)
                                for i in range(count)])
        db.session.commit()
        db.session.remove()
    with recording_statements(app) as statements, app.app_context():
        presence.heartbeat_and_expire(stale_after_s=30)
        db.session.remove()
    with app.app_context():
        servers = set(db.session.scalars(sa.select(PresenceServer.server_id)))
        left = db.session.execute(sa.select(PresenceConnection.server_id, sa.func.count())
                                  .group_by(PresenceConnection.server_id)).all()
    assert not [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE PRESENCE_CONNECTIONS")]
    assert servers == {SERVER_ID, "other-live"}
    assert dict(left) == {SERVER_ID: 50, "other-live": 3, "starting": 2}


def test_after_the_database_was_away_no_live_process_loses_its_connections(app, district):
    """The database away for longer than the stale interval leaves every heartbeat stale, the
    sweeping process's own included. The first process back must not take the others for dead:
    it expires nothing until it has itself beaten twice in time. A process that never beats again
    is expired then."""
    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import Presence, PresenceConnection, PresenceServer
    from telemed.services import presence
    from telemed.services.presence import SERVER_ID

    before_outage = utcnow() - timedelta(minutes=2)
    with app.app_context():
        db.session.add(Presence(user_id=district.doctor.id, status="available", chosen_status="available"))
        for server_id, user_id in ((SERVER_ID, district.doctor2.id), ("other-live", district.doctor.id),
                                   ("died-meanwhile", district.cardiologist.id)):
            db.session.add(PresenceServer(server_id=server_id, seen_at=before_outage))
            db.session.add(PresenceConnection(sid=f"{server_id}-1", user_id=user_id, server_id=server_id,
                                              seen_at=before_outage))
        db.session.commit()

        def connections():
            db.session.remove()
            return set(db.session.scalars(sa.select(PresenceConnection.server_id)))

        assert presence.heartbeat_and_expire(stale_after_s=30) == []  # first back: judges nobody
        assert connections() == {SERVER_ID, "other-live", "died-meanwhile"}
        db.session.execute(sa.update(PresenceServer).where(PresenceServer.server_id == "other-live")
                           .values(seen_at=utcnow()))  # the other live process beats meanwhile
        db.session.commit()
        gone = presence.heartbeat_and_expire(stale_after_s=30)
        assert connections() == {SERVER_ID, "other-live"}
        assert district.doctor.id not in gone
        assert db.session.get(Presence, district.doctor.id).status == "available"
        db.session.remove()


def test_a_process_taken_for_dead_writes_back_the_connections_it_still_holds(app, login, district,
                                                                           monkeypatch):
    """A process silent past the stale interval (its loop stalled, or its link to the database was
    down) is taken for dead by the others: they remove its connections and show its doctors
    offline. Its doctors' pages are still connected to it, so at its next beat their rows come
    back and the doctors are available again; a connection closed meanwhile (another doctor's, or
    one of the first doctor's two tabs) stays gone."""
    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import Presence, PresenceConnection, PresenceServer
    from telemed.services import presence
    from telemed.services.presence import SERVER_ID

    doctor, doctor2 = login(district.doctor), login(district.doctor2)
    doctor_socket = socketio.test_client(app, flask_test_client=doctor.http)
    doctor_second_tab = socketio.test_client(app, flask_test_client=doctor.http)
    doctor2_socket = socketio.test_client(app, flask_test_client=doctor2.http)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PresenceConnection)) == 3
        presence.heartbeat_and_expire(stale_after_s=30)  # this process beats
        silent_since = utcnow() - timedelta(minutes=2)
        db.session.execute(sa.update(PresenceServer).values(seen_at=silent_since))
        db.session.execute(sa.update(PresenceConnection).values(seen_at=silent_since))
        db.session.add(PresenceServer(server_id="other-live", seen_at=utcnow()))
        db.session.commit()
        # The other process's sweep: this one's heartbeat is stale, so its connections go.
        monkeypatch.setattr(presence, "SERVER_ID", "other-live")
        gone = presence.heartbeat_and_expire(stale_after_s=30)
        monkeypatch.setattr(presence, "SERVER_ID", SERVER_ID)
        assert sorted(gone) == sorted([district.doctor.id, district.doctor2.id])
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PresenceConnection)) == 0
        db.session.remove()
    doctor2_socket.disconnect()  # closed while this process was taken for dead
    doctor_second_tab.disconnect()

    doctor_socket.get_received()
    with app.app_context():
        assert presence.heartbeat_and_expire(stale_after_s=30) == []
        rows = db.session.execute(sa.select(PresenceConnection.user_id, PresenceConnection.server_id)).all()
        statuses = dict(db.session.execute(sa.select(Presence.user_id, Presence.status)).all())
        db.session.remove()
    assert rows == [(district.doctor.id, SERVER_ID)]
    assert statuses[district.doctor.id] == "available"
    assert statuses[district.doctor2.id] == "offline"
    told = [packet["args"][0] for packet in doctor_socket.get_received() if packet["name"] == "presence:update"]
    assert told == [{"user_id": district.doctor.id, "status": "available"}]
    doctor_socket.disconnect()


def test_a_connection_that_keeps_flooding_after_refusals_is_cut_off(app, login, district, monkeypatch):
    monkeypatch.setattr(app.config["TELEMED"], "socket_rate_limit", "5 per 10 seconds")
    flooder = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    neighbour = socketio.test_client(app, flask_test_client=login(district.doctor2).http)
    answers = []
    for _ in range(40):
        if not flooder.is_connected():
            break
        answers.append(flooder.emit("presence:set", {"status": "away"}, callback=True))
    # Five served, five refused as rate_limited, then the connection is closed.
    assert [a["ok"] for a in answers[:5]] == [True] * 5
    assert {a["error"]["code"] for a in answers[5:] if a} == {"rate_limited"}
    assert not flooder.is_connected()
    assert len(answers) <= 11
    assert neighbour.emit("queue:sync", {}, callback=True) == {"ok": True}
    neighbour.disconnect()


def test_a_closed_connection_costs_a_few_statements_whoever_it_was(app, login, district, monkeypatch):
    """Disconnects come in storms (a tower going down): each is its row deleted and, for a doctor's
    last tab, one conditional UPDATE; the doctor stays available while another tab is open."""
    from telemed.extensions import db
    from telemed.services import presence

    post, doctor, admin = login(district.feldsher_a), login(district.doctor), login(district.admin)
    watcher = socketio.test_client(app, flask_test_client=admin.http)
    post_sock = socketio.test_client(app, flask_test_client=post.http)
    tabs = [socketio.test_client(app, flask_test_client=doctor.http) for _ in range(2)]
    watcher.get_received()

    def close(sock):
        with recording_statements(app) as statements, counting_emits(monkeypatch) as emitted:
            sock.disconnect()
        return len(statements), [(event, rooms) for event, rooms in emitted if event == "presence:update"]

    def seen_as():
        with app.app_context():
            status = presence.status_of(district.doctor.id)
            db.session.remove()
        return status

    post_cost, post_told = close(post_sock)
    first_cost, first_told = close(tabs[0])
    assert seen_as() == "available" and post_told == first_told == []
    last_cost, last_told = close(tabs[1])
    assert seen_as() == "offline" and len(last_told) == 1
    assert {"user_id": district.doctor.id, "status": "offline"} in [
        e["args"][0] for e in watcher.get_received() if e["name"] == "presence:update"]
    # BEGIN IMMEDIATE on SQLite, DELETE ... RETURNING, UPDATE ... RETURNING (matching nothing for a
    # post or a doctor's other tab)
    assert post_cost <= 3 and first_cost <= 3, (post_cost, first_cost)
    watcher.disconnect()


def test_a_connection_reads_its_session_cookie_once_and_its_login_on_every_event(
        app, login, district, monkeypatch):
    """The cookie of a connection cannot change, so its signature is checked at connect only; the
    login it names is still read on every event, so one ended behind the socket's back (no
    session:ended reached it) is refused at the next event."""
    import sqlalchemy as sa
    from flask.sessions import SecureCookieSessionInterface

    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import Login

    opened = []
    cookie_session = SecureCookieSessionInterface.open_session

    def open_session(interface, flask_app, request):
        opened.append(request.path)
        return cookie_session(interface, flask_app, request)

    monkeypatch.setattr(SecureCookieSessionInterface, "open_session", open_session)
    doctor = login(district.doctor)
    opened.clear()
    sock = socketio.test_client(app, flask_test_client=doctor.http)
    acks = [sock.emit("presence:set", {"status": status}, callback=True) for status in ("away", "available") * 3]
    assert all(ack["ok"] for ack in acks), acks
    assert len(opened) == 1, opened
    with app.app_context():
        db.session.execute(sa.update(Login).values(ended_at=utcnow(), end_reason="logout"))
        db.session.commit()
    refused = sock.emit("presence:set", {"status": "away"}, callback=True)
    assert refused["ok"] is False and refused["error"]["code"] == "unauthenticated", refused


def _resync_world(app, district, password_hash, count: int) -> list[int]:
    """`count` general doctors more, plus a general and paediatrics one and a cardiologist: three
    different sets of specialties."""
    ids = [doctor_id for doctor_id, _ in add_doctors(app, district, password_hash, count,
                                                      prefix=f"resync{count}-")]
    return ids + [district.doctor2.id, district.cardiologist.id]


def test_resyncing_doctors_costs_the_same_statements_for_2_or_20(app, district, password_hash, monkeypatch):
    """A new day or a message-queue outage sends every connected doctor of a process a snapshot:
    the waiting queue is read once per set of specialties, not once per doctor."""
    from telemed.extensions import db
    from telemed.models import User
    from telemed.realtime.notifier import notifier
    from telemed.services import queue

    add_waiting_requests(app, district.feldsher_a, [district.post_a, district.post_b], 30)
    monkeypatch.setattr(queue._medians, "_ttl_s", 600)  # no refresh of the estimates mid-way
    monkeypatch.setattr(queue._availability, "_ttl_s", 600)
    costs = []
    for count in (2, 20):
        ids = _resync_world(app, district, password_hash, count)
        with app.app_context():
            doctors = [(db.session.get(User, doctor_id), []) for doctor_id in ids]
            notifier.follow_qualifications(doctors, local=True)  # warms the cached estimate inputs
            with recording_statements(app) as statements, counting_emits(monkeypatch) as emitted:
                notifier.follow_qualifications(doctors, local=True)
            db.session.remove()
        costs.append(len(statements))
        assert emitted == [("queue:snapshot", f"user:{doctor_id}") for doctor_id in ids]
    assert costs[0] == costs[1]


def test_snapshots_read_together_are_those_read_one_at_a_time(app, district, password_hash):
    from telemed.extensions import db
    from telemed.models import CertificationType, SpecialtyRequirement, User
    from telemed.services.certifications import qualified_specialties
    from telemed.services.consultations import accept
    from telemed.services.presence import set_status
    from telemed.services.snapshots import queue_snapshot, queue_snapshots

    add_waiting_requests(app, district.feldsher_a, [district.post_a, district.post_b], 6)
    add_waiting_requests(app, district.feldsher_a, [district.post_a], 2, priority="urgent")
    ids = _resync_world(app, district, password_hash, 3)
    with app.app_context():
        # Cardiology asks for a certificate the cardiologist does not hold; one doctor holds a
        # request and chose to be away.
        cardio = CertificationType(code="CARDIO-T", name="Cardiology test", validity_months=24)
        db.session.add(cardio)
        db.session.flush()
        db.session.add(SpecialtyRequirement(specialty="cardiology", type_id=cardio.id))
        db.session.commit()
        first = db.session.get(User, ids[0])
        waiting = queue_snapshot(first)["waiting"]
        accept(first, uuid.UUID(waiting[0]["id"]))
        set_status(db.session.get(User, ids[1]), "away")
        db.session.remove()
    with app.app_context():
        users = [db.session.get(User, doctor_id) for doctor_id in ids]
        one_at_a_time = {user.id: queue_snapshot(user) for user in users}
        qualified = {user.id: qualified_specialties(user) for user in users}
        together = queue_snapshots([(user, qualified[user.id]) for user in users])
    assert together == one_at_a_time
    assert one_at_a_time[ids[0]]["active"] and one_at_a_time[ids[1]]["presence"] == "away"
    assert qualified[district.cardiologist.id] == []  # holds no CARDIO-T
    assert qualified[district.doctor2.id] == ["general", "pediatrics"]


def test_a_refused_connection_still_in_its_connect_handler_is_looked_at_again(app, monkeypatch):
    """Under the threading async mode a turn may run before a connect handler has returned: a
    connection refused then cannot be closed yet, so it waits for the next turn, and is closed then."""
    from telemed.realtime import handlers
    from telemed.realtime.notifier import notifier

    asked, turned_away = [], []
    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: asked.append(True))
    monkeypatch.setattr(notifier, "turn_away", turned_away.append)
    manager = socketio.server.manager
    sid = manager.pre_connect("an-engine-io-session", "/")
    handlers._awaiting_admission.add(sid, handlers._Opening("no-such-login", 1, {handlers.LOCALE_KEY: "en"}))
    try:
        with app.app_context():
            assert handlers.connections_admitted.run() == {sid}
            assert (asked, turned_away) == ([True], [[]])     # not closed while connecting: again soon
            manager.connect(sid, "/")                          # its handler returned
            assert handlers.connections_admitted.run() == {sid}
        assert turned_away == [[], [sid]]
    finally:
        manager.disconnect(sid, "/", ignore_queue=True)


def test_a_doctors_tabs_opened_in_one_turn_are_all_admitted(app, district, monkeypatch):
    """Three tabs of one browser (one login) and another device of the same doctor (a second
    login) connect in the same turn: each connection gets its snapshot; none is closed."""
    from telemed.realtime import handlers

    monkeypatch.setattr(handlers.connections_admitted, "soon", lambda: None)  # the turn: below
    browser, phone = ApiClient(app, district.doctor.username), ApiClient(app, district.doctor.username)
    tabs = [socketio.test_client(app, flask_test_client=client.http) for client in (browser,) * 3 + (phone,)]
    with app.app_context():
        handlers.connections_admitted.run()
    received = [[event["name"] for event in tab.get_received()] for tab in tabs]
    assert [tab.is_connected() for tab in tabs] == [True] * 4
    for tab in tabs:
        tab.disconnect()
    assert [names.count("queue:snapshot") for names in received] == [1] * 4
