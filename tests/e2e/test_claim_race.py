"""Exactly one of many concurrent claims wins: threads, Socket.IO clients, and processes."""
import multiprocessing

import pytest

from tests.helpers import add_doctors, claim_outcome, consultation_body, race

RACERS = 24


@pytest.fixture
def racing_doctors(app, district, password_hash):
    """RACERS general doctors, all eligible for the same request."""
    return add_doctors(app, district, password_hash, RACERS)


@pytest.mark.e2e
def test_http_claims_race_across_two_server_processes(app, live_server, district, racing_doctors,
                                                      database_url, tmp_path):
    from tests.live import LiveServer

    second = LiveServer(database_url, tmp_path / "instance", tmp_path / "serve2.log").start()
    try:
        servers = [live_server, second]
        sessions = [servers[i % 2].session(name) for i, (_, name) in enumerate(racing_doctors)]
        post = live_server.session("feldsher_a")
        for _ in range(2):
            created = post.post("/consultations", json=consultation_body()).json()
            path = f"/consultations/{created['id']}/accept"
            responses = race([lambda s=s, p=path: s.post(p) for s in sessions])
            codes = sorted(r.status_code for r in responses)
            assert codes == [200] + [409] * (RACERS - 1)
            losers = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
            assert set(losers) == {"conflict"}
            winner = next(r.json() for r in responses if r.status_code == 200)
            status, doctor_id, accepted_events = claim_outcome(app, created["id"])
            assert (status, doctor_id, accepted_events) == ("active", winner["doctor"]["id"], 1)
    finally:
        second.stop()


@pytest.mark.e2e
def test_socket_claims_race(app, live_server, district, racing_doctors):
    sockets = [live_server.session(name).socket() for _, name in racing_doctors[:20]]
    try:
        post = live_server.session("feldsher_a")
        created = post.post("/consultations", json=consultation_body()).json()
        acks = race([lambda s=s: s.call("consultation:accept", {"id": created["id"]}) for s in sockets])
        assert sum(1 for a in acks if a["ok"]) == 1
        assert {a["error"]["code"] for a in acks if not a["ok"]} == {"conflict"}
        assert claim_outcome(app, created["id"])[2] == 1
    finally:
        for s in sockets:
            s.close()


def _claim_in_own_process(database_url, instance_path, doctor_id, consultation_id, barrier, results):
    from telemed import create_app
    from telemed.config import Settings
    from telemed.errors import ServiceError
    from telemed.extensions import db
    from telemed.models import User
    from telemed.services.consultations import accept

    app = create_app(Settings.from_env(database_url=database_url, instance_path=instance_path,
                                       secret_key="race", async_mode="threading", testing=True))
    with app.app_context():
        doctor = db.session.get(User, doctor_id)
        db.session.commit()
        barrier.wait()
        try:
            accept(doctor, consultation_id)
            results.put("won")
        except ServiceError as error:
            results.put(error.code)


def test_service_claims_race_across_processes(app, login, district, racing_doctors, database_url,
                                              settings):
    """Separate OS processes, each with its own engine, claim the same request at once."""
    import uuid

    created = login(district.feldsher_a).post("/consultations", json=consultation_body()).get_json()
    ctx = multiprocessing.get_context("spawn")
    racers = racing_doctors[:20]
    barrier, results = ctx.Barrier(len(racers)), ctx.Queue()
    processes = [ctx.Process(target=_claim_in_own_process,
                             args=(database_url, str(settings.instance_path), doctor_id,
                                   uuid.UUID(created["id"]), barrier, results))
                 for doctor_id, _ in racers]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in racers)
    assert outcomes == ["conflict"] * (len(racers) - 1) + ["won"]
    status, doctor_id, accepted_events = claim_outcome(app, created["id"])
    assert status == "active" and doctor_id in {d for d, _ in racers} and accepted_events == 1
