"""Several server processes behind one Redis message queue: an event raised in one process
reaches clients connected to another."""
import time

import pytest

from tests.helpers import consultation_body
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_servers(app, database_url, redis_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("mq")
    servers = [LiveServer(database_url, root / "instance", root / f"serve{i}.log",
                          TELEMED_MESSAGE_QUEUE=redis_url).start() for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


def test_events_cross_processes_through_redis(two_servers, district):
    first, second = two_servers
    post = first.session("feldsher_a")
    post_sock = post.socket()
    doctor = second.session("doctor_g")
    doctor_sock = doctor.socket()
    admin_sock = first.session("admin_z").socket()
    try:
        doctor_sock.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body()).json()      # process 1
        assert doctor_sock.wait_for("queue:upsert")["id"] == created["id"]           # seen on 2
        assert doctor_sock.call("consultation:accept", {"id": created["id"]})["ok"]  # process 2
        taken = post_sock.wait_for("consultation:update",                            # seen on 1
                                   lambda c: c["id"] == created["id"] and c["status"] == "active")
        assert taken["doctor"]["id"] == district.doctor.id
        assert doctor_sock.call("presence:set", {"status": "away"})["ok"]           # process 2
        assert admin_sock.wait_for("presence:update") == {"user_id": district.doctor.id,
                                                          "status": "away"}         # seen on 1
    finally:
        for sock in (post_sock, doctor_sock, admin_sock):
            sock.close()


def test_logout_on_one_process_closes_that_logins_sockets_on_the_other(two_servers, district):
    first, second = two_servers
    doctor = first.session("doctor_g")
    # The same browser session's socket, held by the other process (a proxy could route it there).
    doctor.server = second
    remote_sock = doctor.socket()
    doctor.server = first
    colleague_sock = second.session("doctor_h").socket()
    try:
        remote_sock.wait_for("queue:snapshot")
        assert doctor.http.delete(f"{first.url}/api/v1/session",
                                  headers={"X-CSRFToken": doctor.csrf_token}, timeout=10).status_code == 204
        assert remote_sock.wait_for("session:ended") == {}
        deadline = time.monotonic() + 10
        while remote_sock.client.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not remote_sock.client.connected
        assert colleague_sock.client.connected          # nobody else's connection is touched
    finally:
        remote_sock.close()
        colleague_sock.close()


def test_a_specialty_given_on_one_process_moves_the_doctors_socket_on_the_other(app, two_servers, district):
    from telemed.extensions import db
    from telemed.models import PresenceConnection

    first, second = two_servers
    doctor_sock = second.session("doctor_g").socket()  # general only, held by process 2
    post = first.session("feldsher_a")
    admin = first.session("admin_z")
    try:
        doctor_sock.wait_for("queue:snapshot")
        deadline = time.monotonic() + 10
        with app.app_context():  # its connection row is written a moment after it opened
            while not db.session.scalar(db.select(db.func.count()).select_from(PresenceConnection)
                                        .where(PresenceConnection.user_id == district.doctor.id)):
                assert time.monotonic() < deadline, "the doctor's connection was never written"
                db.session.rollback()
                time.sleep(0.05)
        given = admin.http.patch(f"{first.url}/api/v1/users/{district.doctor.id}",   # process 1
                                 json={"specialties": ["general", "pediatrics"]},
                                 headers={"X-CSRFToken": admin.csrf_token}, timeout=10)
        assert given.status_code == 200
        doctor_sock.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body(specialty="pediatrics")).json()
        assert doctor_sock.wait_for("queue:upsert")["id"] == created["id"]          # seen on 2
    finally:
        doctor_sock.close()


def offered_within(sock, consultation_id: str, timeout: float) -> bool:
    """Whether the doctor's page shows the request within `timeout`: offered as it happened, or in
    the snapshot a resync sends."""
    import queue

    deadline = time.monotonic() + timeout
    while True:
        try:
            event, data = sock.events.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            return False
        if event == "queue:upsert" and data["id"] == consultation_id:
            return True
        if event == "queue:snapshot" and consultation_id in [c["id"] for c in data["waiting"]]:
            return True


@pytest.fixture
def servers_behind_a_flaky_queue(app, database_url, redis_url, tmp_path):
    """Two processes, each reaching Redis through a proxy of its own that can fail:
    ([proxy, proxy], [server, server]). The sweep (heartbeats and the listener's watch) runs
    every second."""
    from urllib.parse import urlsplit

    from tests.e2e.tcp_proxy import TcpProxy

    target = urlsplit(redis_url)
    proxies = [TcpProxy(target.hostname, target.port) for _ in range(2)]
    servers = [LiveServer(database_url, tmp_path / "instance", tmp_path / f"serve{i}.log",
                          TELEMED_MESSAGE_QUEUE=proxy.url(), TELEMED_SWEEP_INTERVAL_S="1").start()
               for i, proxy in enumerate(proxies)]
    yield proxies, servers
    for server in servers:
        server.stop()
    for proxy in proxies:
        proxy.close()


@pytest.mark.parametrize("fault", ["freeze", "cut"])
@pytest.mark.parametrize("where", ["redis", "first process's link"])
def test_a_message_queue_failing_delays_no_request_and_loses_no_offer(
        servers_behind_a_flaky_queue, district, fault, where):
    """Redis stops answering (`freeze`: the connections stay open and silent, as when its host is
    gone) or goes down (`cut`), for every process or only on the first one's link. A post on the
    first process is answered at once all the same, and the doctor on the second process is shown
    the request once Redis is back: through Redis if it got there, else in the snapshot the resync
    sends (the second process's listener missed it, or the first could not publish it)."""
    proxies, (first, second) = servers_behind_a_flaky_queue
    failing = proxies if where == "redis" else proxies[:1]
    post = first.session("feldsher_a")
    doctor_sock = second.session("doctor_g").socket()
    try:
        doctor_sock.wait_for("queue:snapshot")
        for proxy in failing:
            getattr(proxy, fault)()
        started = time.monotonic()
        created = post.post("/consultations", json=consultation_body())
        answered_in = time.monotonic() - started
        assert created.status_code == 201
        assert answered_in < 3, f"the post waited {answered_in:.1f} s for the message queue"
        time.sleep(4)  # longer than the listeners' watch allows silence (3 sweeps of 1 s)
        for proxy in failing:
            proxy.restore()
        assert offered_within(doctor_sock, created.json()["id"], timeout=20)
    finally:
        for proxy in failing:
            proxy.restore()
        doctor_sock.close()
