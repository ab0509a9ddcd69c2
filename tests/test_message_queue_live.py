"""Several server processes behind one Redis message queue: an event raised in one process
reaches clients connected to another."""
import pytest
import redis

from tests.conftest import IN_CI, consultation_body
from tests.live import LiveServer

pytestmark = pytest.mark.e2e
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def redis_url():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc}); start redis-server")
    return REDIS_URL


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
