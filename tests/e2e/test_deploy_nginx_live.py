"""The deployment of docs/deploy.md, for real: two `telemed serve` processes sharing the test
database and one Redis message queue, behind nginx running deploy/nginx/telemed.conf.

Every client talks to nginx's port only. A client is pinned to a process the way a browser is, by
its `telemed_route` cookie: nginx hashes the cookie's value to choose the process. Which process a
value leads to is found by trial (tests/e2e/nginx_proxy.py, `NginxProxy.routes`): a probe request
`/healthz?route-probe=<token>` is sent through nginx with a candidate value, and nginx's own access
log says which upstream address served it. That is the proxy's own record, so it cannot be fooled
by anything telemed does, and nothing is added to telemed to make it visible; it also lets each test
check afterwards, from the same log, that the requests it meant to pin really went where intended.

What this proves: events cross processes (Redis) for clients behind the proxy, over websockets and
over long-polling (which only works when the proxy keeps a client's polls on one process); one
claim wins when doctors on different processes race through the proxy; a logout handled by one
process cuts that login's socket on another; and when a process dies without warning, nginx moves
its clients to the survivor, which has every request (they live in the database) and lets a doctor
claim them.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers import add_doctors, claim_outcome, consultation_body, race
from tests.live import LiveServer

pytestmark = pytest.mark.e2e
RATELIMIT_URL = "redis://127.0.0.1:6379/1"
RACERS = 12


class Cluster:
    """Two processes behind nginx, and one route cookie value leading to each."""

    def __init__(self, servers, proxy, routes):
        self.servers, self.proxy, self.routes = servers, proxy, routes
        self.a, self.b = servers
        self.route_a, self.route_b = routes


@pytest.fixture(scope="module")
def cluster(app, database_url, redis_url, tmp_path_factory):
    from tests.e2e.nginx_proxy import NginxProxy, require_nginx

    nginx = require_nginx()
    root = tmp_path_factory.mktemp("deploy")
    # The environment of docs/deploy.md, step 5 (the secret key is LiveServer's, the same for both).
    servers = [LiveServer(database_url, root / "instance", root / f"serve{i}.log",
                          TELEMED_MESSAGE_QUEUE=redis_url, TELEMED_RATELIMIT_STORAGE_URL=RATELIMIT_URL,
                          TELEMED_TRUSTED_PROXIES="1")
               for i in range(2)]
    proxy = None
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # both start at once
            list(pool.map(lambda s: s.start(), servers))
        proxy = NginxProxy(servers, nginx=nginx, keep_logs_in=root).start()
        yield Cluster(servers, proxy, proxy.routes())
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.stop()


def wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def close_all(*sockets):
    for sock in sockets:
        sock.close()


def test_nginx_sets_the_route_cookie_once_and_keeps_a_browser_on_one_process(cluster):
    browser = requests.Session()
    first = browser.get(f"{cluster.proxy.url}/healthz", timeout=5)
    set_cookie = first.headers["Set-Cookie"]
    assert set_cookie.startswith("telemed_route=")
    for attribute in ("Path=/", "Max-Age=31536000", "HttpOnly", "SameSite=Lax"):
        assert attribute in set_cookie
    route = browser.cookies["telemed_route"]
    again = [browser.get(f"{cluster.proxy.url}/healthz", params={"n": n}, timeout=5)
             for n in range(5)]
    assert all("Set-Cookie" not in r.headers for r in again)  # only when the cookie is absent
    served = cluster.proxy.entries(lambda e: e["route"] == route, at_least=6)
    assert len(served) == 6
    assert len(cluster.proxy.ports(served)) == 1


def test_request_posted_on_one_process_reaches_a_doctor_on_the_other_over_websocket(cluster,
                                                                                  district):
    proxy = cluster.proxy
    since = proxy.mark()
    post = proxy.session("feldsher_a", cluster.route_a)
    doctor = proxy.session("doctor_g", cluster.route_b)
    sock = doctor.socket(transports=["websocket"])
    try:
        assert sock.client.transport() == "websocket"
        sock.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body()).json()
        assert sock.wait_for("queue:upsert", lambda c: c["id"] == created["id"])["priority"]
    finally:
        sock.close()
    # The request was created by process A; the websocket was held by process B.
    creations = proxy.entries(
        lambda e: e["request"].startswith("POST /api/v1/consultations "), since)
    assert proxy.ports(creations) == {cluster.a.port}
    websockets = proxy.entries(
        lambda e: "transport=websocket" in e["request"] and e["route"] == cluster.route_b, since)
    assert websockets and {e["status"] for e in websockets} == {"101"}
    assert proxy.ports(websockets) == {cluster.b.port}


def test_long_polling_through_nginx_stays_on_one_process(cluster, district):
    proxy = cluster.proxy
    since = proxy.mark()
    post = proxy.session("feldsher_a", cluster.route_b)
    doctor = proxy.session("doctor_g", cluster.route_a)
    sock = doctor.socket(transports=["polling"])
    try:
        assert sock.client.transport() == "polling"
        sock.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body()).json()
        assert sock.wait_for("queue:upsert", lambda c: c["id"] == created["id"])
        # The session is still alive on its process: an event and its answer go through.
        assert sock.call("queue:sync", {})["ok"]
        before_close = proxy.mark()
    finally:
        sock.close()

    def mine(entry):
        return "transport=polling" in entry["request"] and entry["route"] == cluster.route_a

    polls = [e for e in proxy.log_entries(since)[:before_close - since] if mine(e)]
    assert len(polls) >= 3  # the handshake, the connect packet, polls and posts
    # No "unknown session" 400, which a poll reaching the other process would get. (After the
    # client closes, a poll already on its way may get one from its own process: not counted.)
    assert {e["status"] for e in polls} == {"200"}
    assert proxy.ports(proxy.entries(mine, since)) == {cluster.a.port}


@pytest.fixture
def racing_doctors(app, district, password_hash):
    return [name for _, name in add_doctors(app, district, password_hash, RACERS)]


def test_claim_race_across_both_processes_through_nginx(app, cluster, racing_doctors):
    routes = cluster.routes
    sessions = race([lambda i=i, name=name: cluster.proxy.session(name, routes[i % 2])
                     for i, name in enumerate(racing_doctors)])
    post = cluster.proxy.session("feldsher_a", cluster.route_a)
    created = post.post("/consultations", json=consultation_body()).json()
    path = f"/consultations/{created['id']}/accept"
    responses = race([lambda s=s: s.post(path) for s in sessions])
    assert sorted(r.status_code for r in responses) == [200] + [409] * (RACERS - 1)
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"conflict"}
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert claim_outcome(app, created["id"]) == ("active", winner["doctor"]["id"], 1)
    # The claims really were split between the two processes.
    claims = cluster.proxy.entries(lambda e: f"{path} " in e["request"], at_least=RACERS)
    assert len(claims) == RACERS
    assert cluster.proxy.ports(claims) == {cluster.a.port, cluster.b.port}


def test_logout_on_one_process_cuts_that_logins_socket_on_the_other(cluster, district):
    since = cluster.proxy.mark()
    doctor = cluster.proxy.session("doctor_g", cluster.route_a)
    other_device = cluster.proxy.session("doctor_g", cluster.route_b)
    on_b = doctor.socket(route=cluster.route_b)            # the same login, held by process B
    untouched = other_device.socket(route=cluster.route_b)  # another login of the same doctor
    try:
        on_b.wait_for("queue:snapshot")
        untouched.wait_for("queue:snapshot")
        assert doctor.delete("/session").status_code == 204  # handled by process A
        assert on_b.wait_for("session:ended", timeout=5) == {}
        wait_until(lambda: not on_b.client.connected, 5,
                   "the logged-out login's socket on the other process is still connected")
        assert untouched.client.connected
        assert untouched.call("queue:sync", {})["ok"]
    finally:
        close_all(on_b, untouched)
    # Both sockets were held by B, the logout was handled by A.
    proxy = cluster.proxy
    sockets = proxy.entries(
        lambda e: "/socket.io/" in e["request"] and e["route"] == cluster.route_b, since)
    assert proxy.ports(sockets) == {cluster.b.port}
    logouts = proxy.entries(lambda e: e["request"].startswith("DELETE /api/v1/session "), since)
    assert proxy.ports(logouts) == {cluster.a.port}


def test_a_killed_process_loses_nothing(app, cluster, district):
    """Keep last: it kills process A (and starts it again afterwards)."""
    proxy, a, b = cluster.proxy, cluster.a, cluster.b
    post = proxy.session("feldsher_a", cluster.route_a)
    doctor = proxy.session("doctor_g", cluster.route_a)
    sock = doctor.socket(reconnection=True)
    try:
        sock.wait_for("queue:snapshot")
        created = post.post("/consultations", json=consultation_body()).json()
        assert created["status"] == "waiting"
        since = proxy.mark()
        a.kill()
        sock.clear()
        # The doctor's socket was cut with A; it reconnects through nginx, which sends it to B,
        # and B's snapshot has the request A took in just before it died.
        reached = sock.wait_for(
            "queue:snapshot", lambda s: created["id"] in {c["id"] for c in s["waiting"]}, timeout=15)
        assert reached["waiting"]
        wait_until(lambda: sock.client.connected, 5, "the doctor did not reconnect")
        accept = f"/consultations/{created['id']}/accept"
        claimed = doctor.post(accept)
        assert claimed.status_code == 200, claimed.text
        seen = post.get(f"/consultations/{created['id']}")
        assert seen.status_code == 200 and seen.json()["status"] == "active"
        assert claim_outcome(app, created["id"])[2] == 1
        # nginx tried A for this route, found it dead, and went on to B.
        after = proxy.log_entries(since)
        assert any(e["upstreams"] == [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"] for e in after)
        assert proxy.ports(proxy.entries(lambda e: f"{accept} " in e["request"], since)) == {b.port}
    finally:
        sock.close()
        a.start()
