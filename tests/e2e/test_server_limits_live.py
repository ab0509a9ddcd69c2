"""The served process protects itself: slow clients are dropped, blocking work leaves the loop."""
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.live import LiveServer

pytestmark = pytest.mark.e2e
READ_TIMEOUT_S = 2
HEADER_DEADLINE_S = 4


@pytest.fixture(scope="module")
def strict_server(app, database_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    server = LiveServer(database_url, root / "instance", root / "serve.log",
                        TELEMED_READ_TIMEOUT_S=str(READ_TIMEOUT_S),
                        TELEMED_HEADER_DEADLINE_S=str(HEADER_DEADLINE_S),
                        TELEMED_TRUSTED_PROXIES="1").start()
    yield server
    server.stop()


def _closed_by_server(conn: socket.socket, within_s: float) -> bool:
    """True when the server closes the connection (EOF or reset) before `within_s` seconds."""
    conn.settimeout(within_s)
    try:
        return conn.recv(1024) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_a_slowloris_connection_is_closed_after_the_read_timeout(strict_server):
    host, port = "127.0.0.1", strict_server.port
    slow = [socket.create_connection((host, port)) for _ in range(50)]
    for conn in slow:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and then nothing more
    # While they hang, everyone else is served.
    assert requests.get(f"{strict_server.url}/healthz", timeout=5).status_code == 200
    started = time.monotonic()
    assert all(_closed_by_server(conn, READ_TIMEOUT_S * 5) for conn in slow)
    assert time.monotonic() - started < READ_TIMEOUT_S * 5
    for conn in slow:
        conn.close()
    # A silent connection that never sent a byte is dropped the same way.
    idle = socket.create_connection((host, port))
    assert _closed_by_server(idle, READ_TIMEOUT_S * 5)
    idle.close()


def test_a_burst_of_connections_waits_in_the_kernel_while_the_server_is_busy(strict_server):
    """Phones reconnecting all at once are queued until the server accepts them, not dropped to
    wait for TCP's retry (eventlet's own backlog of 50 took only the first 51 here)."""
    burst = 300
    strict_server.process.send_signal(signal.SIGSTOP)  # busy: nothing is accepted meanwhile
    pending = []
    try:
        for _ in range(burst):
            conn = socket.socket()
            conn.setblocking(False)
            conn.connect_ex(("127.0.0.1", strict_server.port))
            pending.append(conn)
        waiting = selectors.DefaultSelector()
        for conn in pending:
            waiting.register(conn, selectors.EVENT_WRITE)
        handshaken = 0
        deadline = time.monotonic() + 0.8  # TCP retries a dropped SYN after one second
        while time.monotonic() < deadline and handshaken < burst:
            for key, _ in waiting.select(timeout=0.1):
                waiting.unregister(key.fileobj)
                handshaken += key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    finally:
        strict_server.process.send_signal(signal.SIGCONT)
        for conn in pending:
            conn.close()
    assert handshaken == burst
    assert requests.get(f"{strict_server.url}/healthz", timeout=5).status_code == 200


def test_headers_trickled_slower_than_the_deadline_are_cut_off(strict_server):
    # Each line comes well within the read timeout, so only the header deadline can stop it.
    conn = socket.create_connection(("127.0.0.1", strict_server.port))
    conn.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    closed = False
    for n in range(int(HEADER_DEADLINE_S * 4)):
        time.sleep(READ_TIMEOUT_S / 2)
        try:
            conn.sendall(f"X-Trickle-{n}: 1\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if _closed_by_server(conn, 0.01):
            closed = True
            break
    conn.close()
    assert closed
    assert HEADER_DEADLINE_S <= time.monotonic() - started < HEADER_DEADLINE_S + 3 * READ_TIMEOUT_S


def test_blocking_work_runs_in_a_real_thread_under_eventlet():
    # As `telemed serve` runs: monkey-patched first, then the adapter hands work to a real thread,
    # so the green threads serving other connections keep running while it hashes.
    printed = _printed_under_eventlet(
        "import threading\n"
        "from eventlet.patcher import original\n"
        "real = original('threading')\n"
        "from telemed.concurrency import run_blocking\n"
        "here = real.get_ident()\n"
        "there = run_blocking(real.get_ident)\n"
        "ticks = []\n"
        "def tick():\n"
        "    for _ in range(5):\n"
        "        ticks.append(1); eventlet.sleep(0.01)\n"
        "g = eventlet.spawn(tick)\n"
        "from telemed.services.auth import _hasher\n"
        "run_blocking(_hasher.hash, 'x' * 20)\n"
        "g.wait()\n"
        "print(here != there, len(ticks))\n"
    )
    assert printed == ["True", "5"]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_blocking_work_yields_the_cores_to_the_loop_and_leaves_the_server_at_its_priority():
    # A burst of logins must not take CPU from the loop serving every doctor and post: the pool
    # thread hashing runs ten nice steps below the server, which itself stays where it was.
    printed = _printed_under_eventlet(
        "import os\n"
        "from telemed.concurrency import run_blocking\n"
        "def nice(): return os.getpriority(os.PRIO_PROCESS, 0)\n"
        "print(nice(), run_blocking(nice), run_blocking(nice), nice())\n"
    )
    server, worker, again, server_after = map(int, printed)
    assert worker == again == min(19, server + 10)
    assert server_after == server


def _printed_under_eventlet(script: str) -> list[str]:
    """What `script` prints in a fresh interpreter monkey-patched first, as `telemed serve` is."""
    result = subprocess.run([sys.executable, "-c", "import eventlet; eventlet.monkey_patch()\n" + script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_without_eventlet_blocking_work_runs_inline():
    import threading

    from telemed.concurrency import run_blocking

    assert run_blocking(threading.get_ident) == threading.get_ident()


def test_behind_one_trusted_proxy_the_client_address_comes_from_its_header(app, strict_server, district):
    import sqlalchemy as sa

    from telemed.extensions import db
    from telemed.models import AuditEntry

    for forwarded in ("203.0.113.7", "198.51.100.1, 203.0.113.8"):
        answer = requests.post(f"{strict_server.url}/api/v1/session", timeout=10,
                               json={"username": "doctor_g", "password": "wrong password"},
                               headers={"X-Forwarded-For": forwarded})
        assert answer.status_code == 401
    with app.app_context():
        addresses = db.session.scalars(sa.select(AuditEntry.ip)
                                       .where(AuditEntry.action == "login_failed")
                                       .order_by(AuditEntry.id)).all()
    # One proxy trusted: its own entry (the last) is the client; what the client wrote before it
    # is not believed.
    assert addresses == ["203.0.113.7", "203.0.113.8"]
