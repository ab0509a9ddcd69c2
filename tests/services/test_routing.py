"""Escalation, presence, the grace requeue and the wait a post is shown (services and sockets)."""
import multiprocessing
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telemed.extensions import db, socketio
from telemed.services import queue
from tests.helpers import add_waiting_requests, consultation_body, recording_statements


def backdate(app, consultation_id, seconds, column="queued_at"):
    from telemed.db import utcnow
    from telemed.models import Consultation

    with app.app_context():
        db.session.execute(sa.update(Consultation).where(Consultation.id == uuid.UUID(consultation_id))
                           .values({column: utcnow() - timedelta(seconds=seconds)}))
        db.session.commit()


def sweep(app):
    from telemed.services.routing import sweep as run

    with app.app_context():
        result = run()
        db.session.remove()
        return result


def event_kinds(app, consultation_id):
    from telemed.models import ConsultationEvent

    with app.app_context():
        return [e.kind for e in db.session.scalars(
            sa.select(ConsultationEvent).where(ConsultationEvent.consultation_id == uuid.UUID(consultation_id))
            .order_by(ConsultationEvent.id))]


@pytest.fixture
def short_thresholds(app):
    settings = app.config["TELEMED"]
    saved = (settings.escalation_emergency_s, settings.escalation_urgent_s,
             settings.escalation_routine_s, settings.doctor_grace_s)
    settings.escalation_emergency_s, settings.escalation_urgent_s = 10, 60
    settings.escalation_routine_s, settings.doctor_grace_s = 600, 30
    yield settings
    (settings.escalation_emergency_s, settings.escalation_urgent_s,
     settings.escalation_routine_s, settings.doctor_grace_s) = saved


def test_escalation_steps_raise_priority_and_offer_to_everyone(app, login, district, short_thresholds):
    feldsher, general = login(district.feldsher_a), login(district.doctor)
    created = feldsher.post("/consultations", json=consultation_body(
        priority="routine", specialty="cardiology", vitals={})).get_json()
    assert general.get(f"/consultations/{created['id']}").status_code == 404

    backdate(app, created["id"], 599)
    assert sweep(app).escalated == []          # not yet: 599 s < 600 s
    backdate(app, created["id"], 601)
    assert sweep(app).escalated == [uuid.UUID(created["id"])]
    first = feldsher.get(f"/consultations/{created['id']}").get_json()
    assert (first["escalation_level"], first["effective_priority"]) == (1, "urgent")
    assert first["priority"] == "routine"
    assert general.get(f"/consultations/{created['id']}").status_code == 200  # offered to all now
    assert general.post(f"/consultations/{created['id']}/accept").status_code == 200
    general.post(f"/consultations/{created['id']}/release", json={"reason": "wrong patient"})

    assert sweep(app).escalated == []          # the next step is measured afresh
    backdate(app, created["id"], 61)           # urgent now: 60 s to the next step
    sweep(app)
    second = feldsher.get(f"/consultations/{created['id']}").get_json()
    assert (second["escalation_level"], second["effective_priority"]) == (2, "emergency")
    backdate(app, created["id"], 10_000)
    assert sweep(app).escalated == []          # at most two steps
    assert event_kinds(app, created["id"]).count("escalated") == 2


def test_escalation_is_pushed_to_every_doctor_and_the_admins(app, login, district, short_thresholds):
    feldsher = login(district.feldsher_a)
    general = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    admin = socketio.test_client(app, flask_test_client=login(district.admin).http)
    created = feldsher.post("/consultations", json=consultation_body(
        priority="emergency", specialty="cardiology")).get_json()
    assert not [e for e in general.get_received() if e["name"] == "queue:upsert"]
    admin.get_received()
    backdate(app, created["id"], 11)
    sweep(app)
    offers = [e["args"][0] for e in general.get_received() if e["name"] == "queue:upsert"]
    assert [(o["id"], o["escalation_level"]) for o in offers] == [(created["id"], 1)]
    seen = [e["args"][0] for e in admin.get_received() if e["name"] == "consultation:update"]
    assert seen[-1]["escalation_level"] == 1
    general.disconnect()
    admin.disconnect()


def test_a_sweep_with_nothing_due_only_reads(app, district):
    """Most passes find nothing to escalate: they must not take SQLite's write lock (every few
    seconds from every process) for UPDATEs that change nothing."""
    from telemed.services.routing import escalate_overdue

    add_waiting_requests(app, district.feldsher_a, [district.post_a], 5, priority="urgent", age_s=5)
    with app.app_context():
        with recording_statements(app) as quiet:
            assert escalate_overdue() == []
        db.session.remove()
    add_waiting_requests(app, district.feldsher_a, [district.post_a], 2, priority="urgent", age_s=3600)
    with app.app_context():
        with recording_statements(app) as due:
            assert len(escalate_overdue()) == 2
        db.session.remove()
    writes = ("UPDATE", "INSERT", "BEGIN IMMEDIATE")
    assert [s for s in quiet if s.lstrip().upper().startswith(writes)] == []
    assert len([s for s in quiet if s.lstrip().upper().startswith("SELECT")]) == 1
    assert any(s.lstrip().upper().startswith("UPDATE") for s in due)


def _sweep_in_own_process(database_url, instance_path, barrier, results):
    from telemed import create_app
    from telemed.config import Settings
    from telemed.services.routing import escalate_overdue

    app = create_app(Settings.from_env(database_url=database_url, instance_path=instance_path,
                                       secret_key="sweep", async_mode="threading", testing=True,
                                       escalation_urgent_s=60))
    with app.app_context():
        barrier.wait()
        results.put(len(escalate_overdue()))


def test_two_processes_sweeping_at_once_escalate_once(app, district, database_url, settings):
    due = 300
    created = add_waiting_requests(app, district.feldsher_a, [district.post_a, district.post_b], due,
                                   priority="urgent", age_s=120)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_sweep_in_own_process,
                           args=(database_url, str(settings.instance_path), barrier, results))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert results.get(timeout=5) + results.get(timeout=5) == due  # each step taken by one of them
    from telemed.models import Consultation, ConsultationEvent

    with app.app_context():
        per_request = db.session.execute(
            sa.select(ConsultationEvent.consultation_id, sa.func.count())
            .where(ConsultationEvent.kind == "escalated").group_by(ConsultationEvent.consultation_id)
        ).all()
        levels = db.session.scalars(sa.select(Consultation.escalation_level)
                                    .where(Consultation.id.in_(created))).all()
    assert len(per_request) == due and {n for _, n in per_request} == {1}
    assert set(levels) == {1}


def test_presence_follows_connections_and_stale_ones_expire(app, login, district):
    from telemed.db import utcnow
    from telemed.models import Presence, PresenceConnection

    doctor_api = login(district.doctor)
    watcher = socketio.test_client(app, flask_test_client=login(district.admin).http)
    sock = socketio.test_client(app, flask_test_client=doctor_api.http)
    status = lambda: doctor_api.get("/presence").get_json()  # noqa: E731
    mine = [d for d in status()["items"] if d["user_id"] == district.doctor.id][0]
    assert mine["status"] == "available"
    assert sock.emit("presence:set", {"status": "away"}, callback=True)["status"] == "away"
    sock.disconnect()
    assert [d for d in status()["items"] if d["user_id"] == district.doctor.id][0]["status"] == "offline"

    # A connection left behind by a server that died: it goes stale and the sweep of a process
    # that has been beating (its first pass judges nobody) removes it.
    sweep(app)
    with app.app_context():
        db.session.add(PresenceConnection(sid="ghost", user_id=district.doctor2.id,
                                          server_id="dead-server",
                                          connected_at=utcnow() - timedelta(minutes=5),
                                          seen_at=utcnow() - timedelta(minutes=5)))
        db.session.merge(Presence(user_id=district.doctor2.id, status="available",
                                  chosen_status="available", offline_since=None))
        db.session.commit()
    watcher.get_received()
    assert sweep(app).went_offline == [district.doctor2.id]
    updates = [e["args"][0] for e in watcher.get_received() if e["name"] == "presence:update"]
    assert {"user_id": district.doctor2.id, "status": "offline"} in updates
    watcher.disconnect()


def test_grace_requeues_an_offline_doctors_consultations_and_tells_the_post(
        app, login, district, short_thresholds):
    from telemed.db import utcnow
    from telemed.models import Presence

    feldsher = login(district.feldsher_a)
    post_sock = socketio.test_client(app, flask_test_client=feldsher.http)
    doctor_api = login(district.doctor)
    doctor_sock = socketio.test_client(app, flask_test_client=doctor_api.http)
    created = feldsher.post("/consultations", json=consultation_body()).get_json()
    assert doctor_sock.emit("consultation:accept", {"id": created["id"]}, callback=True)["ok"]
    doctor_sock.disconnect()
    sweep(app)  # within the grace period: nothing moves
    assert feldsher.get(f"/consultations/{created['id']}").get_json()["status"] == "active"

    with app.app_context():
        db.session.execute(sa.update(Presence).where(Presence.user_id == district.doctor.id)
                           .values(offline_since=utcnow() - timedelta(seconds=31)))
        db.session.commit()
    post_sock.get_received()
    assert sweep(app).released == [uuid.UUID(created["id"])]
    detail = feldsher.get(f"/consultations/{created['id']}").get_json()
    assert detail["status"] == "waiting" and detail["doctor"] is None
    assert detail["events"][-1]["kind"] == "released"
    assert detail["events"][-1]["payload"]["reason"] == "doctor_offline"
    told = [e["args"][0] for e in post_sock.get_received() if e["name"] == "consultation:update"]
    assert any(c["id"] == created["id"] and c["status"] == "waiting" for c in told)
    post_sock.disconnect()


def test_a_doctor_back_within_grace_keeps_the_consultation(app, login, district, short_thresholds):
    feldsher = login(district.feldsher_a)
    doctor_api = login(district.doctor)
    first = socketio.test_client(app, flask_test_client=doctor_api.http)
    created = feldsher.post("/consultations", json=consultation_body()).get_json()
    first.emit("consultation:accept", {"id": created["id"]}, callback=True)
    first.disconnect()
    again = socketio.test_client(app, flask_test_client=doctor_api.http)
    snapshot = [e["args"][0] for e in again.get_received() if e["name"] == "queue:snapshot"][0]
    assert [c["id"] for c in snapshot["active"]] == [created["id"]]
    short_thresholds.doctor_grace_s = 0
    assert sweep(app).released == []
    again.disconnect()


def test_a_doctors_snapshot_has_their_active_ones_by_claim_and_the_offered_queue_in_order(
        app, login, district):
    from telemed.services.snapshots import queue_snapshot

    feldsher, doctor, other = login(district.feldsher_a), login(district.doctor), login(district.doctor2)
    first, second, theirs, routine, emergency = (
        feldsher.post("/consultations", json=consultation_body(priority=p)).get_json()["id"]
        for p in ("routine", "routine", "routine", "routine", "emergency"))
    for client, consultation_id in ((doctor, second), (doctor, first), (other, theirs)):
        assert client.post(f"/consultations/{consultation_id}/accept").status_code == 200
    backdate(app, second, 60, column="accepted_at")  # claimed first, though created after
    with app.app_context():
        from telemed.models import User

        snapshot = queue_snapshot(db.session.get(User, district.doctor.id))
        db.session.remove()
    assert [c["id"] for c in snapshot["active"]] == [second, first]  # another doctor's not shown
    assert [c["id"] for c in snapshot["waiting"]] == [emergency, routine]


def test_queue_position_and_estimated_wait(app, login, district):
    from telemed.db import utcnow
    from telemed.models import Consultation

    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    post_sock = socketio.test_client(app, flask_test_client=feldsher.http)
    # history: two urgent requests accepted after 120 s and 240 s
    for wait in (120, 240):
        c = feldsher.post("/consultations", json=consultation_body(vitals={})).get_json()
        doctor.post(f"/consultations/{c['id']}/accept")
        accepted = utcnow()
        with app.app_context():
            db.session.execute(sa.update(Consultation).where(Consultation.id == uuid.UUID(c["id"]))
                               .values(queued_at=accepted - timedelta(seconds=wait),
                                       accepted_at=accepted))
            db.session.commit()
    queue.forget_cached()  # the history was rewritten behind the services' back
    first = feldsher.post("/consultations", json=consultation_body(vitals={})).get_json()
    assert first["doctors_available"] == 0 and first["estimated_wait_s"] is None  # nobody online
    doctor_sock = socketio.test_client(app, flask_test_client=login(district.doctor2).http)
    second = feldsher.post("/consultations", json=consultation_body(vitals={})).get_json()
    assert second["queue_position"] == 2 and second["doctors_available"] == 1
    assert second["estimated_wait_s"] == 180 * 2   # median 180 s, two rounds for one doctor

    post_sock.get_received()
    feldsher.post(f"/consultations/{first['id']}/cancel", json={})
    received = post_sock.get_received()
    # The request that moved up is not re-sent whole: one small queue:positions with its numbers.
    assert [c["id"] for c in (e["args"][0] for e in received if e["name"] == "consultation:update")] \
        == [first["id"]]
    positions = [e["args"][0] for e in received if e["name"] == "queue:positions"]
    assert positions == [{"items": [{"id": second["id"], "queue_position": 1,
                                     "estimated_wait_s": 180, "doctors_available": 1}]}]
    post_sock.disconnect()
    doctor_sock.disconnect()


def test_a_place_counted_alone_is_the_place_in_the_whole_queue(app, district):
    from telemed.models import Consultation

    posts = [district.post_a, district.post_b]
    for priority, count in (("routine", 4), ("emergency", 2), ("urgent", 3), ("routine", 2)):
        add_waiting_requests(app, district.feldsher_b, posts, count, priority=priority, age_s=300)
    with app.app_context():
        # Two requests of one priority made in the same instant: the id decides between them.
        tied = db.session.scalars(sa.select(Consultation).where(Consultation.effective_priority == "urgent")
                                  .limit(2)).all()
        tied[1].created_at = tied[0].created_at
        db.session.commit()
        whole = queue.QueueState()
        expected = whole.positions
        assert sorted(expected.values()) == list(range(1, 12))
        for consultation in db.session.scalars(sa.select(Consultation)):
            alone = queue.QueueState()
            assert alone.position(consultation) == expected[consultation.id]
            assert "positions" not in vars(alone)  # counted, the queue never read whole
        db.session.remove()


def test_a_failed_write_of_connections_is_done_by_the_next_one(app, login, district, monkeypatch):
    from telemed.realtime import handlers
    from telemed.services import presence

    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # written below
    sock = socketio.test_client(app, flask_test_client=login(district.doctor).http)

    def database_gone(*_args, **_kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("the database went away"))

    with app.app_context(), monkeypatch.context() as failing:
        failing.setattr(presence, "_bring_online", database_gone)
        with pytest.raises(sa.exc.OperationalError):
            presence.write_pending_connections()
        db.session.rollback()
        assert presence.status_of(district.doctor.id) == "offline"
    with app.app_context():
        assert presence.write_pending_connections() == 1
        assert presence.status_of(district.doctor.id) == "available"
        db.session.remove()
    sock.disconnect()


def test_a_doctor_choosing_away_before_their_connection_is_written_is_away(
        app, login, district, monkeypatch):
    from telemed.realtime import handlers
    from telemed.services import presence

    monkeypatch.setattr(handlers.connections_written, "soon", lambda: None)  # not written yet
    sock = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    assert sock.emit("presence:set", {"status": "away"}, callback=True)["status"] == "away"
    with app.app_context():
        assert presence.status_of(district.doctor.id) == "away"
        db.session.remove()
    sock.disconnect()
