"""Shared machinery of the dispatch bench (bench/dispatch_bench.py), measured from outside.

- servers: `telemed serve` (the code under test, chosen by PYTHONPATH) and bench/baseline_app.py,
  each in its own process on a fresh database, with its CPU time and memory read from /proc;
- a world: districts, a hub, posts with one feldsher each and doctors, written through telemed's
  own models by `python bench/harness.py seed` (a separate short process, so the bench itself
  never imports the code under test), and HTTP logins kept as cookie + CSRF token;
- clients: many real python-socketio clients in a few worker processes (`python bench/harness.py
  worker`), each worker an eventlet process holding hundreds of clients as green threads, so the
  2-core client side stays cheap; the baseline measured with the same clients shows what the
  client side costs. Every arrival is timed with CLOCK_MONOTONIC, which all processes of the
  machine share, so a server's send and a client's receipt compare directly;
- timing: percentiles, load average, server CPU and RSS.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BIN = Path(sys.executable).parent
PASSWORD = "bench-password-2026"
SECRET_KEY = "dispatch-bench-secret"
POSTGRES_ADMIN = os.environ.get("TELEMED_BENCH_POSTGRES",
                                "postgresql://postgres@127.0.0.1:5432/postgres")


# ---------------------------------------------------------------------------------------------
# the machine


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def now() -> float:
    return time.monotonic()


def die_with_parent() -> None:
    """preexec_fn for every child: SIGTERM it when the bench process dies, however it dies, so
    no server, client worker or proxy outlives a killed run (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def proc_memory_mb(pid: int) -> dict:
    """Resident set size now and at its peak (VmRSS, VmHWM), in MiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out["rss_mb" if line.startswith("VmRSS") else "peak_rss_mb"] = round(
                    int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def percentile(values, q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def summary(values_s) -> dict:
    """n, p50, p99, max and mean of durations given in seconds, reported in milliseconds."""
    values = [v for v in values_s if v is not None]
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {"n": len(values), "p50_ms": ms(percentile(values, 50)), "p99_ms": ms(percentile(values, 99)),
            "max_ms": ms(max(values)), "mean_ms": ms(sum(values) / len(values))}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 2)


# ---------------------------------------------------------------------------------------------
# the code under test and its databases


class Code:
    """Which telemed is measured: a source tree put first on PYTHONPATH (default: this checkout)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path or REPO).resolve()

    def env(self) -> dict:
        return {"PYTHONPATH": str(self.path)}

    def describe(self) -> dict:
        info = {"path": str(self.path)}
        marker = self.path / ".bench-commit"
        try:
            info["commit"] = subprocess.run(["git", "-C", str(self.path), "rev-parse", "HEAD"],
                                            capture_output=True, text=True, check=True).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(self.path), "status", "--porcelain", "--", "telemed", "migrations"],
                capture_output=True, text=True, check=True).stdout.strip()
            info["uncommitted_changes_in_telemed"] = bool(dirty)
        except (subprocess.CalledProcessError, OSError):
            if marker.exists():
                info["commit"] = marker.read_text().strip()
                info["uncommitted_changes_in_telemed"] = False
                info["note"] = "an exported tree (git archive) of that commit"
        return info


def sqlalchemy_url(url: str) -> str:
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain):]
    return url


def fresh_database(kind: str, name: str, run_dir: Path) -> str:
    """An empty database: a new SQLite file in run_dir, or a recreated PostgreSQL database."""
    if kind == "sqlite":
        path = run_dir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(POSTGRES_ADMIN), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sqlalchemy_url(POSTGRES_ADMIN).rsplit("/", 1)[0] + f"/{name}"


def postgres_available() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(sqlalchemy_url(POSTGRES_ADMIN))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


def telemed_env(code: Code, database_url: str, instance: Path, **extra) -> dict:
    env = {**os.environ, **code.env(),
           "TELEMED_DATABASE_URL": database_url,
           "TELEMED_INSTANCE_PATH": str(instance),
           "TELEMED_SECRET_KEY": SECRET_KEY,
           "TELEMED_ASYNC_MODE": "eventlet"}
    env.pop("TELEMED_MESSAGE_QUEUE", None)
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def migrate(code: Code, database_url: str, instance: Path, log: Path) -> None:
    """`telemed db upgrade`, exactly as a deployment does."""
    with open(log, "ab") as out:
        subprocess.run([str(BIN / "telemed"), "db", "upgrade"], check=True, stdout=out,
                       stderr=subprocess.STDOUT, env=telemed_env(code, database_url, instance))


def seed_world(code: Code, database_url: str, instance: Path, doctors: int, posts: int,
               log: Path) -> dict:
    """Create the bench district through telemed's models (in a child process); its ids."""
    with open(log, "ab") as err:
        out = subprocess.run(
            [sys.executable, str(BENCH / "harness.py"), "seed", "--doctors", str(doctors),
             "--posts", str(posts)],
            check=True, stdout=subprocess.PIPE, stderr=err,
            env=telemed_env(code, database_url, instance))
    return json.loads(out.stdout)


def _seed_main(doctors: int, posts: int) -> None:
    """Child process: one district, one hub with `doctors` general doctors, `posts` posts with a
    feldsher each; all share one argon2 hash of PASSWORD made by telemed itself."""
    from telemed import create_app
    from telemed.extensions import db
    from telemed.models import District, Facility, User
    from telemed.services.auth import hash_password

    app = create_app({"async_mode": "threading"})
    with app.app_context():
        password_hash = hash_password(PASSWORD)
        district = District(name="Bench District", region="Bench Region")
        hub = Facility(name="Bench District Hospital", kind="district_hospital", village="Centre",
                       district=district)
        db.session.add_all([district, hub])
        facilities = [Facility(name=f"Bench Post {i:04d}", kind="fap", village=f"Village {i:04d}",
                               district=district) for i in range(posts)]
        db.session.add_all(facilities)
        db.session.flush()
        doctor_rows = [User(username=f"bench_doc{i:04d}", full_name=f"Doctor {i:04d}", role="doctor",
                            profession="doctor", facility_id=hub.id, specialties=["general"],
                            password_hash=password_hash) for i in range(doctors)]
        post_rows = [User(username=f"bench_post{i:04d}", full_name=f"Feldsher {i:04d}", role="feldsher",
                          profession="feldsher", facility_id=f.id, specialties=[],
                          password_hash=password_hash) for i, f in enumerate(facilities)]
        db.session.add_all(doctor_rows + post_rows)
        db.session.commit()
        world = {
            "hub_id": hub.id,
            "doctors": [{"username": u.username, "id": u.id, "role": "doctor", "facility_id": hub.id}
                        for u in doctor_rows],
            "posts": [{"username": u.username, "id": u.id, "role": "feldsher", "facility_id": u.facility_id}
                      for u in post_rows],
        }
    print(json.dumps(world))


def consultation_body(n: int = 0) -> dict:
    """A routine, general request as a post sends it (NEWS2 1: stays routine)."""
    import uuid

    return {"client_key": str(uuid.uuid4()),
            "patient": {"age_years": 40 + n % 50, "sex": "female" if n % 2 else "male"},
            "complaint": "Chest pain for two hours, radiating to the left arm, with sweating and "
                         "shortness of breath on exertion; took nitroglycerin once without relief.",
            "vitals": {"sbp": 150, "dbp": 95, "hr": 96, "rr": 18, "spo2": 96, "temp_c": 36.8},
            "priority": "routine", "specialty": "general"}


def _sqlcount_main(world_path: str, samples: int, post_index: int, leave_one: bool) -> None:
    """Child process, in-process measurement (issue 8's "SQL statements per created
    consultation"): one post logs in with the Flask test client and creates (then cancels)
    consultations while a before_cursor_execute listener counts each request's statements. The
    first creation is a warm-up and not counted; with leave_one, one more stays waiting (the
    parent copies it in SQL to make the long queue)."""
    import sqlalchemy as sa

    from telemed import create_app
    from telemed.extensions import db

    post = json.loads(Path(world_path).read_text())["posts"][post_index]
    app = create_app({"async_mode": "threading"})
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    # No app context is held around the requests (flask-wtf keeps the CSRF token in `g`).
    client = app.test_client()
    r = client.post("/api/v1/session", json={"username": post["username"], "password": PASSWORD})
    if r.status_code != 200:
        raise RuntimeError(f"login answered {r.status_code}: {r.get_data(as_text=True)[:300]}")
    headers = {"X-CSRFToken": r.get_json()["csrf_token"]}

    def create(n):
        statements.clear()
        r = client.post("/api/v1/consultations", json=consultation_body(n), headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"create answered {r.status_code}: {r.get_data(as_text=True)[:300]}")
        return len(statements), list(statements), r.get_json()["id"]

    def cancel(cid):
        r = client.post(f"/api/v1/consultations/{cid}/cancel", json={"reason": "bench"}, headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"cancel answered {r.status_code}: {r.get_data(as_text=True)[:300]}")

    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    out = {"counts": [], "data_counts": []}
    for i in range(samples + 1):
        n, text, cid = create(i)
        if i:
            out["counts"].append(n)
            out["data_counts"].append(sum(1 for t in text if not t.lstrip().upper().startswith(control)))
            out.setdefault("statements", text)
        cancel(cid)
    if leave_one:
        out["template_id"] = create(samples + 1)[2]
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# server processes


class ServerProcess:
    """A server in a subprocess; knows its URL, pid, CPU time and memory."""

    name = "server"

    def __init__(self, command: list[str], env: dict, log: Path, port: int):
        self.command, self.env, self.log, self.port = command, env, log, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        import requests

        out = open(self.log, "ab")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent)
        deadline = now() + timeout
        while now() < deadline:
            if self.process.poll() is not None:
                lines = [x for x in self.tail().splitlines() if x.strip()]
                raise RuntimeError(f"{self.name} exited with status {self.process.returncode}: "
                                   + " / ".join(lines[-2:]) + f" (log: {self.log})")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /healthz in {timeout}s: {self.tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_s(self) -> float | None:
        return proc_cpu_s(self.pid)

    def memory(self) -> dict:
        return proc_memory_mb(self.pid)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class TelemedServer(ServerProcess):
    name = "telemed"

    def __init__(self, code: Code, database_url: str, instance: Path, log: Path, port: int | None = None,
                 **env):
        port = port or free_port()
        super().__init__([str(BIN / "telemed"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                         telemed_env(code, database_url, instance, **env), log, port)


class BaselineServer(ServerProcess):
    name = "baseline"

    def __init__(self, database_url: str, log: Path, port: int | None = None,
                 message_queue: str | None = None):
        port = port or free_port()
        command = [sys.executable, str(BENCH / "baseline_app.py"), "--port", str(port),
                   "--database-url", database_url]
        if message_queue:
            command += ["--message-queue", message_queue]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        super().__init__(command, env, log, port)


class CpuWindow:
    """CPU % of one process between start() and stop() (100 % = one core)."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.cpu0 = self.t0 = None

    def start(self) -> CpuWindow:
        self.cpu0, self.t0 = self.server.cpu_s(), now()
        return self

    def stop(self) -> float | None:
        cpu1, t1 = self.server.cpu_s(), now()
        if self.cpu0 is None or cpu1 is None:
            return None
        return round((cpu1 - self.cpu0) / (t1 - self.t0) * 100, 1)


# ---------------------------------------------------------------------------------------------
# HTTP


# What every simulated browser sends as its User-Agent, over requests and raw HTTP alike. A browser
# keeps one; a raw claim without the one its login was made with would look to Flask-Login's
# session protection like a cookie moved to another browser, and have it re-sign the session
# cookie on every answer (a cost no real doctor's browser causes: it would store the new cookie).
USER_AGENT = "telemed-bench (a doctor's or post's browser)"


def http_session(pool: int = 16):
    """A requests session that sends only the headers it is given (no cookie jar)."""
    import requests
    from requests.adapters import HTTPAdapter

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    s.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
    s.mount("http://", adapter)
    return s


class Account:
    """A seeded user and, once logged in, the session cookie and CSRF token."""

    def __init__(self, row: dict):
        self.username = row["username"]
        self.id = row["id"]
        self.role = row["role"]
        self.facility_id = row["facility_id"]
        self.cookie = row.get("cookie")
        self.csrf = row.get("csrf")

    def to_dict(self) -> dict:
        return {"username": self.username, "id": self.id, "role": self.role,
                "facility_id": self.facility_id, "cookie": self.cookie, "csrf": self.csrf}

    def headers(self, extra_cookie: str | None = None) -> dict:
        cookie = self.cookie if not extra_cookie else f"{self.cookie}; {extra_cookie}"
        return {"Cookie": cookie, "X-CSRFToken": self.csrf or ""}

    def auth(self) -> dict:
        """What the baseline takes instead of a login."""
        return {"user": self.id, "role": self.role, "facility": self.facility_id}


def log_in(session, base_url: str, username: str, password: str = PASSWORD, timeout: float = 120):
    """POST /api/v1/session; (status, cookie header, csrf token, elapsed seconds)."""
    t0 = now()
    response = session.post(f"{base_url}/api/v1/session", json={"username": username, "password": password},
                            timeout=timeout)
    elapsed = now() - t0
    cookie = "; ".join(f"{c.name}={c.value}" for c in response.cookies)
    csrf = None
    if response.status_code == 200:
        csrf = response.json().get("csrf_token")
    return response.status_code, cookie, csrf, elapsed


def log_in_all(base_url: str | list[str], accounts: list[Account], concurrency: int = 8,
               progress=None) -> float:
    """Log every account in (through the API, like a browser), spread over one or more server
    processes of the same database; the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    sessions = [http_session() for _ in range(concurrency)]
    t0 = now()

    def one(index_account):
        index, account = index_account
        status, cookie, csrf, _ = log_in(sessions[index % concurrency], urls[index % len(urls)],
                                         account.username)
        if status != 200:
            raise RuntimeError(f"login of {account.username} answered {status}")
        account.cookie, account.csrf = cookie, csrf
        return index

    with ThreadPoolExecutor(concurrency) as pool:
        for done in pool.map(one, enumerate(accounts)):
            if progress and done % 500 == 499:
                progress(f"  {done + 1} logins")
    return now() - t0


def sessions_still_valid(base_url: str, accounts: list[Account]) -> bool:
    s = http_session()
    for account in accounts:
        r = s.get(f"{base_url}/api/v1/session", headers={"Cookie": account.cookie}, timeout=30)
        if r.status_code != 200:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Socket.IO clients in worker processes


class ClientPool:
    """Real python-socketio clients spread over `workers` eventlet worker processes.

    The coordinator talks to each worker over a local TCP socket, one JSON line per command and
    one per answer. Workers time every event they receive (CLOCK_MONOTONIC) and keep, per event
    name and consultation id, how many clients received it and the first and last arrival.
    """

    def __init__(self, workers: int = 4, log: Path | None = None):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(workers)
        port = self.listener.getsockname()[1]
        out = open(log, "ab") if log else subprocess.DEVNULL
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.procs = [subprocess.Popen([sys.executable, str(BENCH / "harness.py"), "worker",
                                        "--port", str(port), "--index", str(i)],
                                       stdout=out, stderr=subprocess.STDOUT, env=env,
                                       preexec_fn=die_with_parent)
                      for i in range(workers)]
        self.channels = []
        self.listener.settimeout(60)
        for _ in range(workers):
            conn, _addr = self.listener.accept()
            conn.settimeout(None)
            self.channels.append(conn.makefile("rwb"))
        # which worker holds which client, and each client's role
        self.placement: dict[str, tuple[int, str]] = {}

    @property
    def workers(self) -> int:
        return len(self.channels)

    def _send(self, index: int, command: dict) -> None:
        channel = self.channels[index]
        channel.write(json.dumps(command).encode() + b"\n")
        channel.flush()

    def _receive(self, index: int) -> dict:
        line = self.channels[index].readline()
        if not line:
            raise RuntimeError(f"client worker {index} died (see the bench log)")
        answer = json.loads(line)
        if "exception" in answer:
            raise RuntimeError(f"client worker {index}: {answer['exception']}")
        return answer

    def broadcast(self, commands: list[dict | None]) -> list[dict | None]:
        """Send one command to each worker (None: nothing) and wait for all answers."""
        for i, command in enumerate(commands):
            if command is not None:
                self._send(i, command)
        return [self._receive(i) if command is not None else None for i, command in enumerate(commands)]

    def all(self, command: dict) -> list[dict]:
        return self.broadcast([command] * self.workers)

    def connect(self, url: str, specs: list[dict], timeout: float = 120,
                snapshot_events=("queue:snapshot", "consultations:snapshot"), concurrency: int = 1000):
        """Connect clients (spec: cid, role, headers or auth) all at once; per-client timings.

        Answers (t_command, results) where each result has cid, ok, t_start, t_connected,
        t_snapshot (monotonic seconds) and error.
        """
        per_worker: list[list[dict]] = [[] for _ in range(self.workers)]
        for n, spec in enumerate(specs):
            w = n % self.workers
            per_worker[w].append(spec)
            self.placement[spec["cid"]] = (w, spec["role"])
        t_command = now()
        answers = self.broadcast([
            {"op": "connect", "url": url, "clients": batch, "timeout": timeout,
             "snapshot_events": list(snapshot_events), "concurrency": concurrency} if batch else None
            for batch in per_worker])
        results = [r for a in answers if a for r in a["results"]]
        for r in results:  # only connected clients are waited for
            if not r["ok"]:
                self.placement.pop(r["cid"], None)
        return t_command, results

    def role_counts(self, role: str) -> list[int]:
        counts = [0] * self.workers
        for w, r in self.placement.values():
            if r == role:
                counts[w] += 1
        return counts

    def wait(self, event: str, key, role: str = "doctor", timeout: float = 30) -> dict:
        """Until every connected client of `role` has received (event, key), or timeout."""
        expected = self.role_counts(role)
        answers = self.broadcast([{"op": "wait", "event": event, "key": key, "n": n, "timeout": timeout}
                                  if n else None for n in expected])
        return merge_arrivals([a for a in answers if a])

    def take(self, events: list[str] | None = None, clear: bool = True) -> dict:
        """Every recorded (event, key) -> [n, first, last], merged over workers; then forgotten
        unless clear is False."""
        answers = self.all({"op": "take", "events": events, "clear": clear})
        merged: dict = {}
        counts: dict = {}
        for a in answers:
            for event, keys in a["arrivals"].items():
                for key, (n, first, last) in keys.items():
                    cur = merged.setdefault(event, {}).setdefault(key, [0, first, last])
                    cur[0] += n
                    cur[1] = min(cur[1], first)
                    cur[2] = max(cur[2], last)
            for event, n in a["counts"].items():
                counts[event] = counts.get(event, 0) + n
        return {"arrivals": merged, "counts": counts,
                "disconnected": sum(a["disconnected"] for a in answers),
                "connected": sum(a["connected"] for a in answers)}

    def call_at_once(self, event: str, payloads: dict[str, dict], timeout: float = 120) -> list[dict]:
        """Every listed client (cid -> payload) emits `event` at once and waits for its ack; per
        client: cid, t_send, t_done (monotonic seconds, None without an ack) and the ack."""
        per_worker: list[list[dict]] = [[] for _ in range(self.workers)]
        for cid, payload in payloads.items():
            per_worker[self.placement[cid][0]].append({"cid": cid, "payload": payload})
        answers = self.broadcast([{"op": "call", "event": event, "calls": calls, "timeout": timeout}
                                  if calls else None for calls in per_worker])
        return [r for a in answers if a for r in a["results"]]

    def disconnect_all(self) -> None:
        self.all({"op": "disconnect"})
        self.placement.clear()

    def close(self) -> None:
        try:
            self.all({"op": "exit"})
        except Exception:  # noqa: BLE001
            pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.listener.close()


def merge_arrivals(answers: list[dict]) -> dict:
    n = sum(a["n"] for a in answers)
    firsts = [a["first"] for a in answers if a["first"] is not None]
    lasts = [a["last"] for a in answers if a["last"] is not None]
    return {"n": n, "first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None}


def _worker_main(port: int, index: int) -> None:
    """A client worker: an eventlet process with many socketio.Client objects as green threads."""
    import eventlet

    eventlet.monkey_patch()
    import logging

    import engineio.client
    import eventlet.greenpool
    import socketio

    logging.basicConfig(level=logging.WARNING)
    # Two client-side costs that would otherwise make the clients the bottleneck at a few
    # thousand deliveries a second (profiled: ~0.55 ms and a green thread per 1 KB frame):
    # websocket-client's pure-Python UTF-8 check of every text frame (skipped below, the server's
    # frames are JSON it encoded itself) and one new thread per received message (handled inline:
    # the handlers here only take a timestamp).
    deliver = engineio.client.Client._trigger_event

    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return deliver(self, event, *args, **kwargs)

    engineio.client.Client._trigger_event = _trigger_event
    clients: dict[str, socketio.Client] = {}
    # (event, key) -> {cid: first arrival}; events counted by name
    arrivals: dict[tuple, dict] = {}
    counts: dict[str, int] = {}
    snapshots: dict[str, float] = {}
    snapshot_events: set[str] = set()
    disconnected: set[str] = set()

    def record(cid, event, data):
        t = time.monotonic()
        counts[event] = counts.get(event, 0) + 1
        if event in snapshot_events and cid not in snapshots:
            snapshots[cid] = t
        key = data.get("id") if isinstance(data, dict) else None
        seen = arrivals.setdefault((event, key), {})
        if cid not in seen:
            seen[cid] = t

    def make_client(cid):
        client = socketio.Client(reconnection=False, handle_sigint=False,
                                 websocket_extra_options={"skip_utf8_validation": True})
        client.on("*", lambda event, *args: record(cid, event, args[0] if args else None))
        client.on("disconnect", lambda *args: disconnected.add(cid))
        return client

    def connect(url, spec, timeout):
        cid = spec["cid"]
        client = make_client(cid)
        t0 = time.monotonic()
        try:
            client.connect(url, headers=dict(spec.get("headers") or {}), auth=spec.get("auth"),
                           transports=["websocket"], wait_timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return {"cid": cid, "ok": False, "t_start": t0, "t_connected": None, "t_snapshot": None,
                    "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        clients[cid] = client
        disconnected.discard(cid)
        return {"cid": cid, "ok": True, "t_start": t0, "t_connected": time.monotonic(), "t_snapshot": None,
                "error": None}

    sock = socket.create_connection(("127.0.0.1", port))
    channel = sock.makefile("rwb")

    def answer(payload):
        channel.write(json.dumps(payload).encode() + b"\n")
        channel.flush()

    for line in channel:
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "connect":
                snapshot_events.clear()
                snapshot_events.update(command["snapshot_events"])
                pool = eventlet.greenpool.GreenPool(command.get("concurrency", 1000))
                specs = command["clients"]
                url, timeout = command["url"], command["timeout"]
                results = list(pool.imap(lambda s, u=url, t=timeout: connect(u, s, t), specs))
                deadline = time.monotonic() + command["timeout"]
                while time.monotonic() < deadline and any(
                        r["ok"] and r["cid"] not in snapshots and r["cid"] not in disconnected for r in results):
                    eventlet.sleep(0.005)
                for r in results:
                    r["t_snapshot"] = snapshots.get(r["cid"])
                answer({"results": results})
            elif op == "wait":
                key = (command["event"], command["key"])
                deadline = time.monotonic() + command["timeout"]
                while len(arrivals.get(key, ())) < command["n"] and time.monotonic() < deadline:
                    eventlet.sleep(0.002)
                times = list(arrivals.get(key, {}).values())
                answer({"n": len(times), "first": min(times) if times else None,
                        "last": max(times) if times else None})
            elif op == "call":
                event, timeout = command["event"], command["timeout"]

                def call(spec, event=event, timeout=timeout):
                    t_send = time.monotonic()
                    try:
                        ack = clients[spec["cid"]].call(event, spec["payload"], timeout=timeout)
                    except Exception as exc:  # noqa: BLE001 - reported, not raised
                        return {"cid": spec["cid"], "t_send": t_send, "t_done": None,
                                "ack": None, "error": f"{exc.__class__.__name__}: {exc}"[:200]}
                    return {"cid": spec["cid"], "t_send": t_send, "t_done": time.monotonic(), "ack": ack}

                # Green threads started back to back: each sends as soon as it first runs.
                pool = eventlet.greenpool.GreenPool(len(command["calls"]) or 1)
                answer({"results": list(pool.imap(call, command["calls"]))})
            elif op == "take":
                wanted = command.get("events")
                out: dict = {}
                for (event, key), seen in list(arrivals.items()):
                    if wanted is None or event in wanted:
                        times = seen.values()
                        out.setdefault(event, {})[str(key)] = [len(seen), min(times), max(times)]
                answer({"arrivals": out, "counts": dict(counts), "disconnected": len(disconnected),
                        "connected": sum(1 for c in clients.values() if c.connected)})
                if command.get("clear", True):
                    arrivals.clear()
                    counts.clear()
            elif op == "disconnect":
                pool = eventlet.greenpool.GreenPool(200)

                def close(client):
                    try:
                        client.disconnect()
                    except Exception:  # noqa: BLE001
                        pass

                list(pool.imap(close, list(clients.values())))
                clients.clear()
                snapshots.clear()
                arrivals.clear()
                counts.clear()
                disconnected.clear()
                answer({"ok": True})
            elif op == "exit":
                answer({"ok": True})
                break
            else:
                answer({"exception": f"unknown op {op}"})
        except Exception as exc:  # noqa: BLE001 - the coordinator reports it
            answer({"exception": f"{exc.__class__.__name__}: {exc}"})
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# nginx in front of several processes


def render_nginx(run_dir: Path, listen_port: int, upstream_ports: list[int]) -> tuple[Path, str]:
    """An nginx configuration for the two-process topology; (nginx.conf path, which template).

    Uses the project's deploy/nginx/telemed.conf and nginx.conf.template when they exist (sticky
    `telemed_route` cookie, websocket forwarding), otherwise a minimal config of the same shape.
    """
    prefix = run_dir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    for sub in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"):
        (prefix / sub).mkdir(exist_ok=True)
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=2 fail_timeout=10s;" for p in upstream_ports)
    site_template = REPO / "deploy" / "nginx" / "telemed.conf"
    main_template = REPO / "deploy" / "nginx" / "nginx.conf.template"
    if site_template.exists() and main_template.exists():
        source = "deploy/nginx/telemed.conf"
        lines = []
        for line in site_template.read_text().splitlines():
            if line.lstrip().startswith("#"):
                lines.append(line)
            elif "{{UPSTREAM_SERVERS}}" in line:
                lines.append(servers)
            else:
                lines.append(line.replace("{{LISTEN}}", f"127.0.0.1:{listen_port}")
                             .replace("{{LOG_DIR}}", str(prefix)))
        site = "\n".join(lines) + "\n"
        main = "\n".join(
            line if line.lstrip().startswith("#") else
            line.replace("{{PREFIX}}", str(prefix)).replace("{{SITE}}", str(prefix / "telemed.conf"))
            for line in main_template.read_text().splitlines()) + "\n"
        # thousands of bench sockets through one proxy: more connections per worker than a default
        main = main.replace("worker_connections 1024;", "worker_connections 16384;")
    else:
        source = "bench's minimal config (deploy/nginx/telemed.conf not found)"
        site = f"""
map $cookie_telemed_route $telemed_route_key {{ "" $request_id; default $cookie_telemed_route; }}
map $http_upgrade $telemed_connection_upgrade {{ default upgrade; "" close; }}
upstream telemed {{
    hash $telemed_route_key consistent;
{servers}
}}
server {{
    listen 127.0.0.1:{listen_port};
    access_log {prefix}/telemed.access.log;
    add_header Set-Cookie "telemed_route=$telemed_route_key; Path=/" always;
    proxy_http_version 1.1;
    location /socket.io/ {{
        proxy_pass http://telemed;
        proxy_set_header Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $telemed_connection_upgrade;
        proxy_read_timeout 120s;
        proxy_buffering off;
    }}
    location / {{
        proxy_pass http://telemed;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
}}
"""
        main = f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    include {prefix}/telemed.conf;
}}
"""
    (prefix / "telemed.conf").write_text(site)
    (prefix / "nginx.conf").write_text(main)
    return prefix / "nginx.conf", source


@contextmanager
def nginx(run_dir: Path, upstream_ports: list[int]):
    """nginx in the foreground in front of upstream_ports; yields (base URL, config source)."""
    import requests

    port = free_port()
    conf, source = render_nginx(run_dir, port, upstream_ports)
    prefix = conf.parent
    binary = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "nginx"
    log = open(prefix / "stdout.log", "ab")
    process = subprocess.Popen([binary, "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(conf),
                                "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = now() + 20
        while now() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text()[-2000:]}")
            try:
                requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield url, source
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--index", type=int, default=0)
    s = sub.add_parser("seed")
    s.add_argument("--doctors", type=int, required=True)
    s.add_argument("--posts", type=int, required=True)
    q = sub.add_parser("sqlcount")
    q.add_argument("--world", required=True)
    q.add_argument("--samples", type=int, default=3)
    q.add_argument("--post-index", type=int, default=0)
    q.add_argument("--leave-one", action="store_true")
    args = parser.parse_args()
    if args.command == "worker":
        raise_fd_limit()
        _worker_main(args.port, args.index)
    elif args.command == "seed":
        _seed_main(args.doctors, args.posts)
    elif args.command == "sqlcount":
        _sqlcount_main(args.world, args.samples, args.post_index, args.leave_one)
