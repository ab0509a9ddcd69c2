"""Dispatch bench (issue 8): telemed's real-time core against a minimal Flask-SocketIO baseline.

Everything is measured from outside: `telemed serve` (whatever code is checked out, or --code DIR)
and bench/baseline_app.py run as separate processes on a fresh database; real python-socketio
clients (in a few eventlet worker processes, bench/harness.py) and plain HTTP drive them; baseline
and telemed alternate within one run (ABAB) wherever both do the same work. Scenarios, each with its
issue-8 target:

  a  HTTP create p50/p99 at 0 vs 300 waiting, and the growing-queue curve   at 300 <= 1.3 x at 0
  b  create -> queue:upsert at every one of 200 doctors (first and all)     p99 <= 2 x raw fan-out
  c  100 racing claims of one request, exactly one winner                   p50 <= 2 x bare UPDATE
  d  sustained creations, 200 doctors + 2,000 posts on one process          >= 30/s, p99 < 250 ms
  e  200 doctors connecting until all have queue:snapshot (and after an outage) <= 2 x raw connecting
  f  /healthz while 300 requests escalate in one sweep                      p99 < 200 ms
  g  /healthz while 20 logins / 80 wrong-password logins run                p99 < 100 ms
  h  1,100 slowloris connections: /healthz answers, slow ones timed out
  i  one client floods 1,000 queue:sync and 2,000 message:send              rate_limited; others unharmed
  j  HTTP create with 100,000 closed consultations in history vs none        <= 1.3 x
  k  SQL statements per created consultation at 0 and 200 waiting            constant, <= 12
  l  b and c through nginx in front of two processes, PostgreSQL + Redis    as b and c

Usage:

    .venv/bin/python bench/dispatch_bench.py [--quick] [--database sqlite|postgresql|both]
        [--scenarios a,b,...] [--code DIR] [size options, see --help]

Results: bench/results/dispatch-<database>.json and .md (with the load average, date and commit).
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h

# Settings every telemed server of the bench gets: logins are not what most scenarios measure,
# and one doctor wins many claim races.
BENCH_ENV = {"TELEMED_LOGIN_RATE_LIMIT": "1000000 per minute", "TELEMED_MAX_ACTIVE_PER_DOCTOR": "1000000"}

SIZES = {
    # name: (full, quick, help)
    "doctors": (200, 20, "doctors connected (b, c, d, e, f)"),
    "posts": (2000, 100, "posts connected in d"),
    "racers": (100, 10, "doctors racing for one request (c)"),
    "waiting": (300, 30, "waiting requests for the long queue (a)"),
    "samples": (20, 5, "HTTP creations timed per condition (a, j)"),
    "creations": (20, 5, "creations timed per round (b)"),
    "races": (5, 2, "claim races per round (c)"),
    "rounds": (2, 1, "ABAB rounds: each target measured this many times (b, c, e)"),
    "rate_seconds": (10, 2, "seconds per rate step (d)"),
    "drain_s": (30, 10, "seconds to wait for deliveries after a rate step (d)"),
    "escalations": (300, 30, "requests escalated in one sweep (f)"),
    "escalation_timeout": (150, 60, "seconds to wait for every escalation (f)"),
    "logins": (20, 2, "simultaneous correct logins (g)"),
    "bad_logins": (80, 8, "simultaneous wrong-password logins (g)"),
    "slowloris": (1100, 110, "slow connections (h)"),
    "slow_hold_s": (60, 8, "seconds the slow connections are held (h)"),
    "slow_drip_s": (10, 3, "seconds between the header lines a slow client sends (h)"),
    "flood_sync": (1000, 100, "queue:sync events from one client (i)"),
    "flood_messages": (2000, 200, "message:send events from one client (i)"),
    "flood_waiting": (50, 5, "waiting requests during the flood (i)"),
    "history": (100000, 10000, "closed consultations in history (j)"),
    "sql_waiting": (200, 20, "waiting requests when counting SQL (k)"),
}
RATES = ("10,20,30,40", "10,30")
SCENARIOS = "abcdefghijkl"
SESSIONS: dict[str, dict] = {}  # username -> account with cookie, shared by the databases of one run


def stamp() -> str:
    return time.strftime("%H:%M:%S")


class Target:
    """One side of a comparison: telemed or the baseline, reached at `url` (maybe through nginx)."""

    def __init__(self, name: str, url: str, servers: list, bench: Bench, route: bool = False):
        self.name, self.url, self.servers, self.bench, self.route = name, url, servers, bench, route
        self.telemed = name.startswith("telemed")

    def route_cookie(self) -> str | None:
        return f"telemed_route={uuid.uuid4().hex}" if self.route else None

    def spec(self, account: h.Account, cid: str | None = None) -> dict:
        cid = cid or account.username
        route = self.route_cookie()
        if self.telemed:
            cookie = account.cookie + (f"; {route}" if route else "")
            return {"cid": cid, "role": account.role, "headers": {"Cookie": cookie}}
        spec = {"cid": cid, "role": account.role, "auth": account.auth()}
        if route:
            spec["headers"] = {"Cookie": route}
        return spec

    def create(self, session, post: h.Account, n: int = 0) -> dict:
        """Open one request from `post`; status, id, send and answer times."""
        if self.telemed:
            headers = {**post.headers(self.route_cookie()), "Content-Type": "application/json"}
            body = json.dumps(h.consultation_body(n))
            path = "/api/v1/consultations"
        else:
            headers = {"Content-Type": "application/json"}
            if self.route:
                headers["Cookie"] = self.route_cookie()
            body = json.dumps({"facility_id": post.facility_id, "payload": self.bench.template})
            path = "/create"
        t0 = h.now()
        try:
            r = session.post(self.url + path, data=body, headers=headers, timeout=(10, 120))
        except Exception as exc:  # noqa: BLE001 - counted as a failure
            return {"status": None, "id": None, "t0": t0, "t1": h.now(), "error": str(exc)[:200]}
        t1 = h.now()
        cid = None
        if r.status_code in (200, 201):
            cid = r.json().get("id")
        return {"status": r.status_code, "id": cid, "t0": t0, "t1": t1,
                "error": None if cid else r.text[:200]}

    def cancel(self, session, post: h.Account, cid: str) -> int | None:
        if not self.telemed:
            return None
        headers = {**post.headers(self.route_cookie()), "Content-Type": "application/json"}
        r = session.post(f"{self.url}/api/v1/consultations/{cid}/cancel", data='{"reason": "bench"}',
                         headers=headers, timeout=(10, 120))
        return r.status_code

    def claim_request(self, doctor: h.Account, cid: str) -> bytes:
        """The raw HTTP request one doctor sends to claim `cid`."""
        host = urlsplit(self.url).netloc
        route = self.route_cookie()
        if self.telemed:
            body = b"{}"
            cookie = doctor.cookie + (f"; {route}" if route else "")
            head = (f"POST /api/v1/consultations/{cid}/accept HTTP/1.1\r\nHost: {host}\r\n"
                    f"Cookie: {cookie}\r\nX-CSRFToken: {doctor.csrf}\r\n")
        else:
            body = json.dumps({"doctor_id": doctor.id}).encode()
            head = f"POST /claim/{cid} HTTP/1.1\r\nHost: {host}\r\n"
            if route:
                head += f"Cookie: {route}\r\n"
        head += (f"User-Agent: {h.USER_AGENT}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def cpu_s(self) -> float:
        return sum(s.cpu_s() or 0 for s in self.servers)


# ---------------------------------------------------------------------------------------------
# raw HTTP: claim races and health probes


def _response_complete(buf: bytes) -> bool:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = buf[:end].decode("latin-1").lower()
    body = buf[end + 4:]
    for line in head.split("\r\n")[1:]:
        if line.startswith("content-length:"):
            return len(body) >= int(line.split(":", 1)[1])
        if line.startswith("transfer-encoding:") and "chunked" in line:
            return body.endswith(b"0\r\n\r\n")
    return False


def _status(buf: bytes) -> int | None:
    try:
        return int(buf.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def raw_race(url: str, requests_: list[bytes], timeout: float = 120) -> list[dict]:
    """Open one keep-alive connection per request, then send them all back to back from one
    thread and collect the answers: the tightest barrier a client can make."""
    parts = urlsplit(url)
    address = (parts.hostname, parts.port or 80)
    socks = []
    for _ in requests_:
        s = socket.create_connection(address, timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    time.sleep(0.2)  # let the server accept every connection before the race starts
    selector = selectors.DefaultSelector()
    results = [{"status": None, "t_send": None, "t_done": None} for _ in requests_]
    buffers = [b""] * len(requests_)
    for i, (s, request) in enumerate(zip(socks, requests_)):
        s.setblocking(False)
        s.send(request)
        results[i]["t_send"] = h.now()
        selector.register(s, selectors.EVENT_READ, i)
    pending = len(socks)
    deadline = h.now() + timeout
    while pending and h.now() < deadline:
        for key, _mask in selector.select(timeout=1):
            i = key.data
            try:
                data = key.fileobj.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            t = h.now()
            if data:
                buffers[i] += data
            if not data or _response_complete(buffers[i]):
                results[i]["t_done"] = t
                results[i]["status"] = _status(buffers[i])
                selector.unregister(key.fileobj)
                pending -= 1
    for s in socks:
        s.close()
    return results


def raw_get(url: str, path: str, timeout: float) -> int | None:
    """A fresh connection, one GET, the status (None on any failure)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
            buf = b""
            while not _response_complete(buf):
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            return _status(buf)
    except OSError:
        return None


class HealthProbe:
    """GET /healthz on a fixed clock (every `interval` s, each on a new connection, from a pool of
    threads so a stalled server cannot slow the clock down); each latency is measured from the
    probe's scheduled time, so a freeze shows in every probe it delays."""

    def __init__(self, url: str, interval: float = 0.02, timeout: float = 30, threads: int = 64):
        self.url, self.interval, self.timeout = url, interval, timeout
        self.samples: list[tuple[float, float, bool]] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(threads)
        self._thread = threading.Thread(target=self._clock, daemon=True)

    def start(self) -> HealthProbe:
        self._thread.start()
        return self

    def _clock(self) -> None:
        t = h.now()
        while not self._stop.is_set():
            t += self.interval
            delay = t - h.now()
            if delay > 0:
                time.sleep(delay)
            self._pool.submit(self._probe, t)

    def _probe(self, scheduled: float) -> None:
        status = raw_get(self.url, "/healthz", self.timeout)
        self.samples.append((scheduled, h.now() - scheduled, status == 200))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def window(self, t0: float, t1: float) -> dict:
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        out = h.summary([lat for _, lat, _ok in inside])
        out["failed"] = sum(1 for _, _, ok in inside if not ok)
        return out


# ---------------------------------------------------------------------------------------------
# SQL done from outside (reset, backdate, history, counts)


def _engine(url: str):
    import sqlalchemy as sa

    return sa.create_engine(h.sqlalchemy_url(url))


def _reflect(engine):
    import sqlalchemy as sa

    metadata = sa.MetaData()
    metadata.reflect(engine)
    return metadata


def _dependents(metadata, table_name: str = "consultations") -> list:
    """Tables referencing `table_name`, transitively, children before parents, then the table."""
    order = []
    for table in reversed(metadata.sorted_tables):
        refs = {fk.column.table.name for fk in table.foreign_keys}
        if table.name == table_name or refs & ({table_name} | {t.name for t in order}):
            order.append(table)
    out = [t for t in order if t.name != table_name]
    return out + [metadata.tables[table_name]]


def reset_consultations(url: str) -> None:
    """Delete every consultation and everything hanging off one (no server may be running)."""
    engine = _engine(url)
    metadata = _reflect(engine)
    with engine.begin() as conn:
        for table in _dependents(metadata):
            conn.execute(table.delete())
    engine.dispose()


def count_escalated(engine, ids: list[str]) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT COUNT(*) FROM consultations WHERE status = 'waiting' AND escalation_level > 0")).scalar()


def backdate_waiting(url: str, seconds: float) -> int:
    """Move every timestamp of the waiting requests `seconds` into the past (as if that much time
    had gone by for them: created_at, queued_at, ... whatever the schema has)."""
    import sqlalchemy as sa

    engine = _engine(url)
    table = _reflect(engine).tables["consultations"]
    stamps = [c for c in table.columns if isinstance(c.type, (sa.DateTime, sa.TIMESTAMP))
              or c.type.__class__.__name__.upper() in ("DATETIME", "TIMESTAMP")]
    pk = list(table.primary_key.columns)[0]
    delta = timedelta(seconds=seconds)
    with engine.begin() as conn:
        rows = conn.execute(sa.select(pk, *stamps).where(table.c.status == "waiting")).all()
        for row in rows:
            values = {c.name: row._mapping[c.name] - delta for c in stamps if row._mapping[c.name] is not None}
            conn.execute(table.update().where(pk == row._mapping[pk.name]).values(**values))
    engine.dispose()
    return len(rows)


def age_open_logins(url: str, seconds: float) -> int:
    """Move `seen_at` of every open login `seconds` into the past, as if its browser had been away
    that long (a district back after an outage)."""
    import sqlalchemy as sa

    engine = _engine(url)
    table = _reflect(engine).tables["logins"]
    delta = timedelta(seconds=seconds)
    with engine.begin() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.seen_at).where(table.c.ended_at.is_(None))).all()
        conn.execute(table.update().where(table.c.id == sa.bindparam("login_id"))
                     .values(seen_at=sa.bindparam("seen")),
                     [{"login_id": row.id, "seen": row.seen_at - delta} for row in rows])
    engine.dispose()
    return len(rows)


def _uuid_like(value) -> bool:
    if isinstance(value, uuid.UUID):
        return True
    if isinstance(value, str) and len(value) in (32, 36):
        try:
            uuid.UUID(value)
            return True
        except ValueError:
            return False
    return False


def _new_like(value):
    """A fresh unique value of the same shape (UUID object, 32- or 36-character UUID text)."""
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if _uuid_like(value):
        return str(uuid.uuid4()) if len(value) == 36 else uuid.uuid4().hex
    return value


def clone_consultations(url: str, template_id: str, posts: list, count: int, log,
                        shift_s: tuple[int, int] = (3600, 365 * 86400)) -> dict:
    """Clone one consultation (and its rows in every table that references it) `count` times,
    each from the next post (dicts or Accounts with id and facility_id) and with every timestamp
    moved a random shift_s seconds into the past: a year of closed history from a closed one, or
    a waiting queue from a waiting one."""
    import sqlalchemy as sa

    engine = _engine(url)
    metadata = _reflect(engine)
    table = metadata.tables["consultations"]
    pk = list(table.primary_key.columns)[0]
    children = [t for t in metadata.sorted_tables
                if any(fk.column.table.name == "consultations" for fk in t.foreign_keys)]
    with engine.connect() as conn:
        row = None
        for candidate in (template_id, uuid.UUID(template_id), uuid.UUID(template_id).hex):
            try:
                row = conn.execute(sa.select(table).where(pk == candidate)).mappings().first()
            except Exception:  # noqa: BLE001 - type mismatch of the probe
                conn.rollback()
                row = None
            if row:
                break
        if row is None:
            raise RuntimeError(f"template consultation {template_id} not found")
        template = dict(row)
        child_rows = {}
        for child in children:
            fk_cols = [fk.parent for fk in child.foreign_keys if fk.column.table.name == "consultations"]
            rows = conn.execute(sa.select(child).where(fk_cols[0] == template[pk.name])).mappings().all()
            child_rows[child.name] = (child, fk_cols[0].name, [dict(r) for r in rows])
    rng = random.Random(8)
    stamp_cols = [k for k, v in template.items() if isinstance(v, datetime)]
    unique_like = [k for k, v in template.items() if k != pk.name and _uuid_like(v)]
    fk_names = {fk.parent.name for fk in table.foreign_keys}
    t0 = h.now()
    inserted = {"consultations": 0}
    batch = 2000
    with engine.begin() as conn:
        for start in range(0, count, batch):
            rows, kids = [], {name: [] for name in child_rows}
            for n in range(start, min(start + batch, count)):
                post = posts[n % len(posts)]
                shift = timedelta(seconds=rng.randrange(*shift_s))
                new = dict(template)
                new[pk.name] = _new_like(template[pk.name])
                for k in unique_like:
                    if k not in fk_names:
                        new[k] = _new_like(template[k])
                for k in stamp_cols:
                    new[k] = template[k] - shift
                if "facility_id" in new:
                    new["facility_id"] = post["facility_id"] if isinstance(post, dict) else post.facility_id
                if "requester_id" in new:
                    new["requester_id"] = post["id"] if isinstance(post, dict) else post.id
                rows.append(new)
                for name, (child, fk_name, crow_list) in child_rows.items():
                    for crow in crow_list:
                        c = dict(crow)
                        for col in child.primary_key.columns:
                            if col.autoincrement is True or (col.autoincrement == "auto" and
                                                             isinstance(c.get(col.name), int)):
                                c.pop(col.name, None)
                            else:
                                c[col.name] = _new_like(c[col.name])
                        for k, v in list(c.items()):
                            if isinstance(v, datetime):
                                c[k] = v - shift
                            elif k != fk_name and k not in {fk.parent.name for fk in child.foreign_keys} \
                                    and _uuid_like(v):
                                c[k] = _new_like(v)
                        c[fk_name] = new[pk.name]
                        kids[name].append(c)
            conn.execute(table.insert(), rows)
            inserted["consultations"] += len(rows)
            for name, items in kids.items():
                if items:
                    conn.execute(child_rows[name][0].insert(), items)
                    inserted[name] = inserted.get(name, 0) + len(items)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    inserted["seconds"] = round(h.now() - t0, 1)
    log(f"  cloned: {inserted}")
    return inserted


# ---------------------------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(self, kind: str, args, code: h.Code, run_dir: Path):
        self.kind, self.args, self.code = kind, args, code
        self.run_dir = run_dir / kind
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / "bench.log"
        self.instance = self.run_dir / "instance"
        self.instance.mkdir(exist_ok=True)
        self.servers: list[h.ServerProcess] = []
        self.pool: h.ClientPool | None = None
        self.template: dict | None = None
        self._post_cursor = 0
        self._server_n = 0
        self.results: dict = {"database": kind, "scenarios": {}}
        self.on_progress = None  # called with the results after every scenario

    # -- plumbing --------------------------------------------------------------------------

    def say(self, message: str) -> None:
        line = f"[{stamp()}] {self.kind}: {message}"
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")

    def log_file(self, name: str) -> Path:
        self._server_n += 1
        return self.run_dir / f"{self._server_n:02d}-{name}.log"

    def telemed(self, database_url: str | None = None, check_sessions: bool = True, **env) -> h.TelemedServer:
        server = h.TelemedServer(self.code, database_url or self.url, self.instance, self.log_file("telemed"),
                                 **{**BENCH_ENV, **env})
        self.servers.append(server)
        server.start()
        if check_sessions and getattr(self, "doctors", None) and self.doctors[0].cookie:
            probe = [self.doctors[0], self.posts[0]]
            if not h.sessions_still_valid(server.url, probe):
                self.say("  sessions did not survive the restart: logging everyone in again")
                h.log_in_all(server.url, self.doctors + self.posts)
        return server

    def baseline(self, message_queue: str | None = None) -> h.BaselineServer:
        server = h.BaselineServer(self.baseline_url, self.log_file("baseline"), message_queue=message_queue)
        self.servers.append(server)
        return server.start()

    def stop(self, *servers) -> None:
        for server in servers:
            server.stop()
            if server in self.servers:
                self.servers.remove(server)

    def stop_all(self) -> None:
        self.stop(*list(self.servers))

    def next_posts(self, n: int) -> list[h.Account]:
        """The next n posts in rotation (each creation from a different post where possible)."""
        out = []
        for _ in range(n):
            out.append(self.posts[self._post_cursor % len(self.posts)])
            self._post_cursor += 1
        return out

    def settle(self, servers, quiet_pct: float = 10, max_s: float = 30) -> float:
        """Wait until the servers' CPU falls under quiet_pct % (what earlier work left is done)."""
        if not isinstance(servers, (list, tuple)):
            servers = [servers]
        t0 = h.now()
        while h.now() - t0 < max_s:
            windows = [h.CpuWindow(s).start() for s in servers]
            time.sleep(0.5)
            if all((w.stop() or 0) < quiet_pct for w in windows):
                break
        return round(h.now() - t0, 1)

    def connect(self, target: Target, accounts: list[h.Account], timeout: float = 180,
                concurrency: int = 50, retry: bool = True) -> dict:
        """Connect the accounts' clients, at most `concurrency` at once per worker; with retry,
        the ones that failed try once more (only e measures a thundering herd: all at once, no
        retry). Timings from the command."""
        t_cmd, results = self.pool.connect(target.url, [target.spec(a) for a in accounts], timeout=timeout,
                                           concurrency=concurrency)
        retried = None
        if retry and any(not r["ok"] for r in results):
            failed = {r["cid"] for r in results if not r["ok"]}
            again = [a for a in accounts if a.username in failed]
            _t, second = self.pool.connect(target.url, [target.spec(a) for a in again], timeout=timeout,
                                           concurrency=concurrency)
            retried = {"clients": len(again), "connected": sum(r["ok"] for r in second)}
            by_cid = {r["cid"]: r for r in second}
            results = [by_cid.get(r["cid"], r) for r in results]
        ok = [r for r in results if r["ok"]]
        snap = [r for r in ok if r["t_snapshot"] is not None]
        errors = sorted({r["error"] for r in results if not r["ok"]})[:3]
        out = {"clients": len(accounts), "connected": len(ok), "with_snapshot": len(snap),
               "all_snapshots_s": round(max(r["t_snapshot"] for r in snap) - t_cmd, 3)
               if len(snap) == len(accounts) else None,
               "connect_s": round(max(r["t_connected"] for r in ok) - t_cmd, 3) if ok else None,
               "per_client": h.summary([r["t_snapshot"] - r["t_start"] for r in snap]),
               "errors": errors}
        if retried:
            out["retried"] = retried
        return out

    def targets_abab(self, telemed: Target, baseline: Target):
        for _ in range(self.args.rounds):
            yield baseline
            yield telemed

    # -- setup -----------------------------------------------------------------------------

    def setup(self) -> None:
        a = self.args
        self.say(f"fresh databases, migrations, {a.doctors} doctors and posts")
        self.url = h.fresh_database(self.kind, "bench", self.run_dir)
        self.baseline_url = h.fresh_database(self.kind, "bench_baseline", self.run_dir)
        h.migrate(self.code, self.url, self.instance, self.run_dir / "migrate.log")
        posts = max(a.posts, a.waiting + 2 * a.samples + 10, a.escalations + 10)
        doctors = max(a.doctors, a.racers, 2)
        world = h.seed_world(self.code, self.url, self.instance, doctors, posts, self.run_dir / "seed.log")
        self.world = world
        self.doctors = [h.Account(r) for r in world["doctors"]]
        self.posts = [h.Account(r) for r in world["posts"]]
        server = self.telemed(check_sessions=False)
        helper = None
        accounts = self.doctors + self.posts
        self.results["setup"] = {"accounts": len(accounts)}
        # Logins cost one argon2 verification each (~0.1 s of server CPU): sessions made in an
        # earlier database of this run are tried first (same seed, same user ids), and kept only
        # if telemed accepts them here.
        if all(SESSIONS.get(x.username, {}).get("id") == x.id for x in accounts):
            for x in accounts:
                x.cookie, x.csrf = SESSIONS[x.username]["cookie"], SESSIONS[x.username]["csrf"]
            sample = random.Random(1).sample(accounts, min(10, len(accounts)))
            if h.sessions_still_valid(server.url, sample):
                self.results["setup"]["sessions"] = "reused from the previous database of this run (accepted)"
                self.say("  sessions of the previous database accepted: no new logins")
            else:
                accounts[0].cookie = None
        if accounts[0].cookie is None or "sessions" not in self.results["setup"]:
            # argon2 runs on one core per process: two processes of the same database share the work
            helper = self.telemed(check_sessions=False)
            self.say(f"logging in {len(self.doctors)} doctors and {len(self.posts)} posts over HTTP "
                     "(two telemed processes)")
            seconds = h.log_in_all([server.url, helper.url], accounts, progress=self.say)
            self.stop(helper)
            self.results["setup"].update(logins_s=round(seconds, 1), sessions="logged in over HTTP")
            self.say(f"  {seconds:.1f} s")
        for x in accounts:
            SESSIONS[x.username] = x.to_dict()
        # The payload the baseline sends: a consultation exactly as telemed sends it.
        session = h.http_session()
        post = self.next_posts(1)[0]
        target = Target("telemed", server.url, [server], self)
        created = target.create(session, post)
        if not created["id"]:
            raise RuntimeError(f"telemed refused a creation: {created}")
        self.template = session.get(f"{server.url}/api/v1/consultations/{created['id']}",
                                    headers=post.headers(), timeout=30).json()
        self.template.pop("events", None)
        target.cancel(session, post, created["id"])
        self.template["status"] = "waiting"
        self.template["cancelled_at"] = None
        self.results["setup"]["payload_bytes"] = len(json.dumps(self.template))
        self.stop(server)
        self.pool = h.ClientPool(self.args.workers, self.run_dir / "workers.log")

    def fresh_queue(self) -> None:
        reset_consultations(self.url)

    def close(self) -> None:
        self.stop_all()
        if self.pool:
            self.pool.close()

    # -- scenarios -------------------------------------------------------------------------

    def run(self, scenarios: str) -> dict:
        self.results.update({"started": datetime.now(UTC).isoformat(timespec="seconds"),
                             "load_start": h.loadavg()})
        t0 = h.now()
        try:
            self.setup()
            for letter in scenarios:
                if letter == "l" and self.kind != "postgresql":
                    continue
                fn = getattr(self, f"scenario_{letter}")
                self.say(f"scenario {letter}: {fn.__doc__.splitlines()[0]}")
                entry = {"title": fn.__doc__.splitlines()[0], "load_start": h.loadavg()}
                ts = h.now()
                try:
                    self.fresh_queue()
                    entry.update(fn())
                except Exception as exc:  # noqa: BLE001 - recorded, the next scenario runs
                    entry["error"] = f"{exc.__class__.__name__}: {exc}"
                    entry["traceback"] = traceback.format_exc()[-4000:]
                    self.say(f"  FAILED to run: {entry['error']}")
                    self.stop_all()
                    self._reset_pool()
                entry["load_end"] = h.loadavg()
                entry["elapsed_s"] = round(h.now() - ts, 1)
                self.results["scenarios"][letter] = entry
                for row in entry.get("rows", []):
                    self.say(f"  {row['what']}: {fmt_row(row)}")
                if self.on_progress:
                    self.on_progress(self.results)
        finally:
            self.close()
        self.results["load_end"] = h.loadavg()
        self.results["elapsed_s"] = round(h.now() - t0, 1)
        return self.results

    def _reset_pool(self) -> None:
        try:
            self.pool.disconnect_all()
        except Exception:  # noqa: BLE001 - a dead worker: start new ones
            try:
                self.pool.close()
            except Exception:  # noqa: BLE001
                pass
            self.pool = h.ClientPool(self.args.workers, self.run_dir / "workers.log")

    # a ---------------------------------------------------------------------------------

    def _create_and_wait(self, target: Target, session, post, event_timeout: float, n: int = 0,
                         cancel: bool = False) -> dict:
        """Create, wait until every connected doctor has the queue:upsert; optionally cancel and
        wait for the queue:remove. Timings relative to the send."""
        r = target.create(session, post, n)
        out = {"status": r["status"], "http_s": r["t1"] - r["t0"], "id": r["id"], "error": r["error"]}
        if r["id"]:
            arrived = self.pool.wait("queue:upsert", r["id"], timeout=event_timeout)
            doctors = sum(self.pool.role_counts("doctor"))
            out["first_s"] = arrived["first"] - r["t0"] if arrived["first"] else None
            out["all_s"] = arrived["last"] - r["t0"] if arrived["n"] == doctors and arrived["last"] else None
            out["received"] = arrived["n"]
            if cancel and target.telemed:
                target.cancel(session, post, r["id"])
                self.pool.wait("queue:remove", r["id"], timeout=event_timeout)
        return out

    def scenario_a(self) -> dict:
        """HTTP create answer at 0 vs N waiting (telemed only), and the growing-queue curve"""
        a = self.args
        server = self.telemed()
        target = Target("telemed", server.url, [server], self)
        posts = self.next_posts(a.waiting + 2 * a.samples)
        conn = self.connect(target, self.doctors[:a.doctors] + posts)
        session = h.http_session()
        zero, full, curve = [], [], []
        errors = 0
        for i in range(a.samples):
            r = self._create_and_wait(target, session, posts[i], 60, i, cancel=True)
            zero.append(r["http_s"] if r["id"] else None)
            errors += not r["id"]
        for k in range(a.waiting):
            r = self._create_and_wait(target, session, posts[a.samples + k], 60, k)
            curve.append((k, r["http_s"]))
            errors += not r["id"]
        for i in range(a.samples):
            r = self._create_and_wait(target, session, posts[a.samples + a.waiting + i], 60, i, cancel=True)
            full.append(r["http_s"] if r["id"] else None)
            errors += not r["id"]
        self.pool.disconnect_all()
        self.stop(server)
        at0, atn = h.summary(zero), h.summary(full)
        step = max(1, a.waiting // 6)
        buckets = [{"waiting_from": b0, "waiting_to": min(b0 + step, a.waiting) - 1,
                    **h.summary([s for k, s in curve if b0 <= k < b0 + step])}
                   for b0 in range(0, a.waiting, step)]
        r = h.ratio(atn["p50_ms"], at0["p50_ms"])
        return {"connected": conn, "at_0": at0, "at_n": atn, "curve": buckets, "errors": errors,
                "rows": [
                    row("a", "create HTTP p50/p99 at 0 waiting (ms)", tel=pp(at0), info=True),
                    row("a", f"create HTTP p50/p99 at {a.waiting} waiting (ms)", tel=pp(atn), info=True),
                    row("a", f"create HTTP p50 at {a.waiting} / at 0 waiting", tel=r, target="<= 1.3",
                        ok=r is not None and r <= 1.3 and errors == 0),
                    row("a", "growing-queue curve: create p50 by waiting (ms)", info=True,
                        tel=", ".join(f"{b['waiting_from']}+: {b['p50_ms']}" for b in buckets)),
                ]}

    # b ---------------------------------------------------------------------------------

    def run_fanout(self, telemed: Target, baseline: Target, label: str = "b") -> dict:
        a = self.args
        data = {telemed.name: {"http": [], "first": [], "all": [], "missing": 0, "errors": 0, "rounds": []},
                baseline.name: {"http": [], "first": [], "all": [], "missing": 0, "errors": 0, "rounds": []}}
        session = h.http_session()
        for target in self.targets_abab(telemed, baseline):
            posts = self.next_posts(a.creations)
            conn = self.connect(target, self.doctors[:a.doctors] + posts)
            d = data[target.name]
            d["rounds"].append({"load": h.loadavg(), "connected": conn})
            self.settle(target.servers)
            for i, post in enumerate(posts):
                r = self._create_and_wait(target, session, post, 30, i, cancel=True)
                if not r["id"]:
                    d["errors"] += 1
                    continue
                d["http"].append(r["http_s"])
                d["first"].append(r["first_s"])
                d["all"].append(r["all_s"])
                d["missing"] += r["all_s"] is None
                time.sleep(0.05)
            self.pool.disconnect_all()
            self.settle(target.servers)
        out = {}
        for name, d in data.items():
            out[name] = {"http": h.summary(d["http"]), "first_doctor": h.summary(d["first"]),
                         "all_doctors": h.summary(d["all"]), "incomplete": d["missing"],
                         "errors": d["errors"], "rounds": d["rounds"]}
        t, b = out[telemed.name], out[baseline.name]
        r99 = h.ratio(t["all_doctors"]["p99_ms"], b["all_doctors"]["p99_ms"])
        complete = t["incomplete"] == 0 and t["errors"] == 0
        rows = [
            row(label, "create -> first doctor's queue:upsert p50/p99 (ms)", tel=pp(t["first_doctor"]),
                base=pp(b["first_doctor"]), ratio=h.ratio(t["first_doctor"]["p99_ms"], b["first_doctor"]["p99_ms"]),
                info=True),
            row(label, f"create -> all {a.doctors} doctors' queue:upsert p50/p99 (ms)", tel=pp(t["all_doctors"]),
                base=pp(b["all_doctors"]), ratio=r99, target="p99 <= 2 x baseline",
                ok=r99 is not None and r99 <= 2 and complete),
            row(label, "create HTTP answer p50/p99 (ms)", tel=pp(t["http"]), base=pp(b["http"]),
                ratio=h.ratio(t["http"]["p50_ms"], b["http"]["p50_ms"]), info=True),
        ]
        if not complete:
            rows[1]["note"] = f"{t['incomplete']} creations did not reach every doctor, {t['errors']} refused"
        short = [f"{name} round {i + 1}: {r['connected']['connected']}/{r['connected']['clients']} connected"
                 for name, res in out.items() for i, r in enumerate(res["rounds"])
                 if r["connected"]["connected"] < r["connected"]["clients"]]
        if short:
            rows[1]["note"] = "; ".join(filter(None, [rows[1]["note"]] + short))
        return {"results": out, "rows": rows}

    def scenario_b(self) -> dict:
        """create -> queue:upsert at every doctor, vs the baseline's raw fan-out"""
        tel, base = self.telemed(), self.baseline()
        out = self.run_fanout(Target("telemed", tel.url, [tel], self), Target("baseline", base.url, [base], self))
        self.stop(tel, base)
        return out

    # c ---------------------------------------------------------------------------------

    def race(self, target: Target, racers: list[h.Account], cid: str, transport: str) -> list[dict]:
        """Every racer claims `cid` at once: over HTTP (raw requests on open connections, from one
        thread) or over each racer's Socket.IO connection (as the doctor's page claims), the
        acknowledgement read as 200 (won), 409 (conflict) or the error code. Per racer: status,
        t_send, t_done."""
        if transport == "http":
            return raw_race(target.url, [target.claim_request(doc, cid) for doc in racers])
        event = "consultation:accept" if target.telemed else "claim"
        answers = self.pool.call_at_once(event, {doc.username: {"id": cid} for doc in racers})

        def status(ack):
            if not isinstance(ack, dict):
                return None
            if ack.get("ok"):
                return 200
            code = (ack.get("error") or {}).get("code")
            return 409 if code == "conflict" else code

        return [{"status": status(x["ack"]), "t_send": x["t_send"], "t_done": x["t_done"]} for x in answers]

    def run_claims(self, telemed: Target, baseline: Target, label: str = "c", transport: str = "http") -> dict:
        a = self.args
        data = {name: {"claims": [], "winners": [], "races": [], "conflicts": 0, "other": {}}
                for name in (telemed.name, baseline.name)}
        session = h.http_session()
        for target in self.targets_abab(telemed, baseline):
            conn = self.connect(target, self.doctors[:a.doctors])
            d = data[target.name]
            d.setdefault("connected", []).append(f"{conn['connected']}/{conn['clients']}")
            for race in range(a.races):
                post = self.next_posts(1)[0]
                r = self._create_and_wait(target, session, post, 60, race)
                if not r["id"]:
                    d["races"].append({"error": r["error"]})
                    continue
                self.settle(target.servers, max_s=10)
                racers = self.doctors[:a.racers]
                results = self.race(target, racers, r["id"], transport)
                statuses = [x["status"] for x in results]
                lat = [x["t_done"] - x["t_send"] if x["t_done"] else None for x in results]
                winners = [lat[i] for i, s in enumerate(statuses) if s == 200]
                d["claims"].extend(lat)
                d["winners"].extend(winners)
                d["conflicts"] += statuses.count(409)
                for s in statuses:
                    if s not in (200, 409):
                        d["other"][str(s)] = d["other"].get(str(s), 0) + 1
                d["races"].append({"winners": len(winners), "conflicts": statuses.count(409),
                                   "spread_ms": h.ms(max(x["t_send"] for x in results)
                                                     - min(x["t_send"] for x in results)),
                                   "p50_ms": h.ms(h.percentile([x for x in lat if x], 50))})
                self.settle(target.servers, max_s=15)
            self.pool.disconnect_all()
            self.settle(target.servers)
        out = {}
        for name, d in data.items():
            out[name] = {"claims": h.summary(d["claims"]), "winner": h.summary(d["winners"]),
                         "races": d["races"], "conflicts": d["conflicts"], "other_statuses": d["other"],
                         "exactly_one_winner": all(r.get("winners") == 1 for r in d["races"]),
                         "doctors_connected_per_round": d.get("connected", [])}
        t, b = out[telemed.name], out[baseline.name]
        r50 = h.ratio(t["claims"]["p50_ms"], b["claims"]["p50_ms"])
        over = "" if transport == "http" else " over Socket.IO"
        rows = [
            row(label, f"{a.racers} racing claims{over}, claim p50/p99 (ms)", tel=pp(t["claims"]), base=pp(b["claims"]),
                ratio=r50, target="p50 <= 2 x bare UPDATE", ok=r50 is not None and r50 <= 2),
            row(label, f"winner's claim{over} p50 (ms)", tel=t["winner"]["p50_ms"], base=b["winner"]["p50_ms"],
                ratio=h.ratio(t["winner"]["p50_ms"], b["winner"]["p50_ms"]), info=True),
            row(label, f"exactly one winner{over} in each of {len(t['races'])} races", tel=t["exactly_one_winner"],
                base=b["exactly_one_winner"], target="yes", ok=t["exactly_one_winner"],
                note=f"other answers: {t['other_statuses']}" if t["other_statuses"] else ""),
        ]
        return {"results": out, "rows": rows}

    def scenario_c(self) -> dict:
        """racing claims of one request vs the baseline's bare conditional UPDATE, over HTTP and
        over Socket.IO"""
        tel, base = self.telemed(), self.baseline()
        telemed, baseline = Target("telemed", tel.url, [tel], self), Target("baseline", base.url, [base], self)
        http = self.run_claims(telemed, baseline)
        socket_ = self.run_claims(telemed, baseline, transport="socket")
        self.stop(tel, base)
        return {"results": {"http": http["results"], "socket": socket_["results"]},
                "rows": http["rows"] + socket_["rows"]}

    # d ---------------------------------------------------------------------------------

    def rate_step(self, target: Target, posts: list[h.Account], rate: float, seconds: float) -> dict:
        """Offer `rate` creations a second for `seconds` (open loop: on a fixed schedule, whatever
        the answers); then wait for every doctor's queue:upsert."""
        a = self.args
        n = max(1, int(rate * seconds))
        senders = posts[:n] if len(posts) >= n else [posts[i % len(posts)] for i in range(n)]
        local = threading.local()
        results: list[dict | None] = [None] * n

        def send(i: int) -> None:
            if not hasattr(local, "session"):
                local.session = h.http_session()
            results[i] = target.create(local.session, senders[i], i)

        self.pool.take()  # forget anything before the step
        load0 = h.loadavg()
        cpu = [h.CpuWindow(s).start() for s in target.servers]
        executor = ThreadPoolExecutor(256)
        start = h.now()
        for i in range(n):
            due = start + i / rate
            delay = due - h.now()
            if delay > 0:
                time.sleep(delay)
            executor.submit(send, i)
        offered_end = h.now()
        executor.shutdown(wait=True)
        answered = h.now()
        cpu_pct = sum(c.stop() or 0 for c in cpu)
        ids = {r["id"]: r for r in results if r and r["id"]}
        doctors = sum(self.pool.role_counts("doctor"))
        deadline = h.now() + a.drain_s
        while h.now() < deadline:
            seen = self.pool.take(["queue:upsert"], clear=False)["arrivals"].get("queue:upsert", {})
            if all(seen.get(i, [0])[0] >= doctors for i in ids):
                break
            time.sleep(0.25)
        taken = self.pool.take()
        seen = taken["arrivals"].get("queue:upsert", {})
        memory = {}
        for s in target.servers:
            for k, v in s.memory().items():
                memory[k] = round(memory.get(k, 0) + v, 1)
        first, all_, http, incomplete = [], [], [], 0
        for cid, r in ids.items():
            http.append(r["t1"] - r["t0"])
            n_seen, t_first, t_last = seen.get(cid, [0, None, None])
            first.append(t_first - r["t0"] if t_first else None)
            if n_seen >= doctors:
                all_.append(t_last - r["t0"])
            else:
                incomplete += 1
                all_.append(float("inf"))
        # throughput: creations answered over the time from the first send to the last answer
        # (n / ((n - 1) / rate + latency) for a server that keeps up)
        last_answer = max((r["t1"] for r in ids.values()), default=start)
        achieved = len(ids) / (last_answer - start) if ids and last_answer > start else 0.0
        all_summary = h.summary([x for x in all_ if x != float("inf")])
        p99_all = h.percentile(all_, 99)
        posts_events = {k: v for k, v in taken["counts"].items() if k != "queue:upsert"}
        return {"offered_per_s": rate, "requests": n, "created": len(ids),
                "refused": n - len(ids), "achieved_per_s": round(achieved, 1),
                "answers_done_after_s": round(answered - start, 2), "offer_s": round(offered_end - start, 2),
                "http": h.summary(http), "first_doctor": h.summary(first), "all_doctors": all_summary,
                "all_doctors_p99_ms": None if p99_all is None else ("inf" if p99_all == float("inf") else h.ms(p99_all)),
                "incomplete": incomplete, "server_cpu_pct": round(cpu_pct, 1), **memory,
                "events_received": taken["counts"], "other_events_per_creation":
                    round(sum(posts_events.values()) / max(1, len(ids)), 1),
                "load_start": load0, "load_end": h.loadavg(),
                "clients_still_connected": taken["connected"]}

    def scenario_d(self) -> dict:
        """sustained creation rates with doctors and posts connected to one process"""
        a = self.args
        rates = [float(x) for x in a.rates.split(",")]
        base = self.baseline()
        btarget = Target("baseline", base.url, [base], self)
        everyone = self.doctors[:a.doctors] + self.posts[:a.posts]
        steps = {"baseline": [], "telemed": []}
        holds = {"baseline": [], "telemed": []}
        saturated = None
        for rate in rates:
            # the baseline at this rate
            hold = self.connect(btarget, everyone, timeout=120, concurrency=50, retry=True)
            holds["baseline"].append(hold)
            self.settle(base)
            step = self.rate_step(btarget, self.next_posts(int(rate * a.rate_seconds)), rate, a.rate_seconds)
            step["connected_before"] = hold["connected"]
            steps["baseline"].append(step)
            self.say(f"  baseline {rate:g}/s: {step_line(step)}")
            self.pool.disconnect_all()
            if saturated is not None:
                steps["telemed"].append({"offered_per_s": rate, "skipped": f"saturated at {saturated:g}/s"})
                continue
            # telemed at this rate: empty queue, fresh process, everyone connected
            self.fresh_queue()
            tel = self.telemed()
            ttarget = Target("telemed", tel.url, [tel], self)
            hold = self.connect(ttarget, everyone, timeout=120, concurrency=50, retry=True)
            probe = HealthProbe(tel.url, interval=0.1).start()
            time.sleep(1)
            probe.stop()
            hold["healthz_while_held"] = probe.window(0, float("inf"))
            hold["server_memory"] = tel.memory()
            holds["telemed"].append(hold)
            self.say(f"  telemed: {hold['connected']}/{hold['clients']} connected, all snapshots after "
                     f"{hold['all_snapshots_s']} s, healthz p99 {hold['healthz_while_held']['p99_ms']} ms")
            self.settle(tel)
            step = self.rate_step(ttarget, self.next_posts(int(rate * a.rate_seconds)), rate, a.rate_seconds)
            step["connected_before"] = hold["connected"]
            steps["telemed"].append(step)
            self.say(f"  telemed {rate:g}/s: {step_line(step)}")
            self.pool.disconnect_all()
            self.stop(tel)
            if step["achieved_per_s"] < 0.9 * rate or step["incomplete"] > 0:
                saturated = rate
        self.stop(base)

        def passes(s):
            return ("skipped" not in s and s["offered_per_s"] >= 30 and s["achieved_per_s"] >= 0.95 * s["offered_per_s"]
                    and s["incomplete"] == 0 and s["refused"] == 0
                    and isinstance(s["all_doctors_p99_ms"], float) and s["all_doctors_p99_ms"] < 250)

        def p99(s):
            return s["all_doctors_p99_ms"] if isinstance(s.get("all_doctors_p99_ms"), float) else None

        rows = []
        for b, t in zip(steps["baseline"], steps["telemed"]):
            rate = b["offered_per_s"]
            bcell = f"{b['achieved_per_s']}/s, {b['all_doctors_p99_ms']} ms, {b['server_cpu_pct']} %, {b.get('rss_mb')}"
            if "skipped" in t:
                rows.append(row("d", f"{rate:g}/s offered: achieved /s, all-doctors p99 ms, CPU %, RSS MiB",
                                tel=f"not run ({t['skipped']})", base=bcell, info=True))
                continue
            rows.append(row(
                "d", f"{rate:g}/s offered: achieved /s, all-doctors p99 ms, CPU %, RSS MiB",
                tel=f"{t['achieved_per_s']}/s, {t['all_doctors_p99_ms']} ms, {t['server_cpu_pct']} %, {t.get('rss_mb')}",
                base=bcell, ratio=h.ratio(p99(t), p99(b)), info=True,
                note="; ".join(x for x in (
                    f"{t['refused']} of {t['requests']} creations not answered with 201" if t["refused"] else "",
                    f"{t['incomplete']} of {t['created']} not at every doctor within {a.drain_s} s of the end"
                    if t["incomplete"] else "",
                    f"{t['clients_still_connected']} of {t['connected_before']} clients still connected after the step"
                    if t["clients_still_connected"] < t["connected_before"] else "") if x)))
        best = max((s["offered_per_s"] for s in steps["telemed"] if passes(s)), default=None)
        held = holds["telemed"][0] if holds["telemed"] else {}
        healthz = held.get("healthz_while_held", {})
        held_ok = held.get("connected") == len(everyone) and healthz.get("n", 0) > 0 and not healthz.get("failed")
        rows.append(row("d", f"{a.doctors} doctors + {a.posts} posts held by one process, /healthz answers",
                        tel=f"{held.get('connected')}/{len(everyone)} (snapshots after {held.get('all_snapshots_s')} s), "
                            f"healthz p99 {healthz.get('p99_ms')} ms",
                        base=f"{holds['baseline'][0]['connected']}/{len(everyone)} (snapshots after "
                             f"{holds['baseline'][0]['all_snapshots_s']} s)",
                        target="all connected, /healthz answers", ok=held_ok,
                        note="; ".join(held.get("errors", []) + ([f"retried {held['retried']}"] if held.get("retried") else [])
                                       + ([f"{healthz.get('failed')} of {healthz.get('n')} /healthz probes failed"]
                                          if healthz.get("failed") else []))))
        rows.append(row("d", "highest rate >= 30/s sustained with all-doctors p99 < 250 ms",
                        tel=f"{best:g}/s" if best else "none", target=">= 30/s", ok=best is not None))
        return {"steps": steps, "holds": holds, "rows": rows}

    # e ---------------------------------------------------------------------------------

    def scenario_e(self) -> dict:
        """doctors connecting at once, until every one has its queue:snapshot; then again with every
        login unused for five minutes (a district back after an outage)"""
        a = self.args
        tel, base = self.telemed(), self.baseline()
        targets = {"telemed": Target("telemed", tel.url, [tel], self),
                   "baseline": Target("baseline", base.url, [base], self)}
        data = {"telemed": [], "baseline": [], "telemed after an outage": []}
        for aged in (False, True):
            for target in self.targets_abab(targets["telemed"], targets["baseline"]):
                self.settle(target.servers)
                name = target.name
                if aged and target.name == "telemed":
                    age_open_logins(self.url, 300)
                    name = "telemed after an outage"
                data[name].append(self.connect(target, self.doctors[:a.doctors], concurrency=1000, retry=False))
                self.pool.disconnect_all()
                self.settle(target.servers)
        self.stop(tel, base)

        def median_all(runs):
            values = [r["all_snapshots_s"] for r in runs]
            if any(v is None for v in values):
                return None
            return h.percentile(values, 50)

        b = median_all(data["baseline"])
        rows = []
        for name, label in (("telemed", ""), ("telemed after an outage", ", every login unused for 5 min")):
            t = median_all(data[name])
            r = h.ratio(t, b)
            rows.append(row("e", f"{a.doctors} doctors connecting{label}: until all have queue:snapshot "
                                 "(ms, median of rounds)",
                            tel=h.ms(t), base=h.ms(b), ratio=r, target="<= 2 x baseline",
                            ok=r is not None and r <= 2,
                            note="" if t is not None else "not every doctor got a snapshot: "
                            + "; ".join(str(x["errors"]) for x in data[name])))
        return {"runs": data, "rows": rows}

    # f ---------------------------------------------------------------------------------

    def scenario_f(self) -> dict:
        """/healthz while N waiting requests are escalated in one sweep"""
        a = self.args
        routine_s = 900
        env = {"TELEMED_ESCALATION_ROUTINE_S": routine_s, "TELEMED_SWEEP_INTERVAL_S": 1}
        # One waiting request through the API, copied in SQL to N waiting requests of N posts
        # (queued over the last two minutes), then a fresh process that finds them in its queue.
        posts = self.next_posts(a.escalations)
        tel = self.telemed(**env)
        made = Target("telemed", tel.url, [tel], self).create(h.http_session(), posts[0])
        self.stop(tel)
        if not made["id"]:
            raise RuntimeError(f"telemed refused a creation: {made}")
        t_fill = h.now()
        clone_consultations(self.url, made["id"], posts[1:], a.escalations - 1, self.say, shift_s=(1, 120))
        t_fill = h.now() - t_fill
        engine = _engine(self.url)
        import sqlalchemy as sa

        with engine.connect() as c:
            ids = [str(x) for x in c.execute(sa.text("SELECT id FROM consultations WHERE status = 'waiting'")).scalars()]
        engine.dispose()
        tel = self.telemed(**env)
        conn = self.connect(Target("telemed", tel.url, [tel], self), self.doctors[:a.doctors] + posts)
        self.settle(tel, max_s=60)
        self.pool.take()
        engine = _engine(self.url)
        probe = HealthProbe(tel.url).start()
        time.sleep(1 if a.quick else 3)
        t_back = h.now()
        backdated = backdate_waiting(self.url, routine_s + 5)
        # until every request is escalated and its queue:upsert has reached every connected doctor
        # (then 2 s more), or the timeout
        doctors = sum(self.pool.role_counts("doctor"))
        wanted = {i.replace("-", "") for i in ids}
        t_all, t_told, escalated = None, None, 0
        while h.now() - t_back < a.escalation_timeout:
            if t_all is None:
                escalated = count_escalated(engine, ids)
                if escalated >= len(ids):
                    t_all = h.now()
            elif t_told is None:
                seen = self.pool.take(["queue:upsert"], clear=False)["arrivals"].get("queue:upsert", {})
                if sum(1 for k, v in seen.items() if k.replace("-", "") in wanted and v[0] >= doctors) >= len(ids):
                    t_told = h.now()
            elif h.now() - t_told > 2:
                break
            time.sleep(0.25)
        t_end = h.now()
        probe.stop()
        engine.dispose()
        taken = self.pool.take()
        upserts = taken["arrivals"].get("queue:upsert", {})
        delivered = [v for k, v in upserts.items() if k.replace("-", "") in wanted and v[0] >= doctors]
        self.pool.disconnect_all()
        self.stop(tel)
        during = probe.window(t_back, t_end)
        before = probe.window(0, t_back)
        ok = escalated >= len(ids) and during["p99_ms"] is not None and during["p99_ms"] < 200 and not during["failed"]
        return {"connected": conn, "fill_s": round(t_fill, 1), "waiting": len(ids), "backdated": backdated,
                "escalated": escalated, "all_escalated_after_s": round(t_all - t_back, 2) if t_all else None,
                "delivered_to_every_doctor": len(delivered), "doctors_connected": doctors,
                "all_told_after_s": round(t_told - t_back, 2) if t_told else None,
                "events_received_during": taken["counts"],
                "last_delivery_after_s": round(max(v[2] for v in delivered) - t_back, 2) if delivered else None,
                "healthz_before": before, "healthz_during": during,
                "rows": [
                    row("f", f"/healthz p50/p99 while {len(ids)} requests escalate (ms)", tel=pp(during),
                        target="p99 < 200 ms", ok=ok,
                        note=f"{escalated}/{len(ids)} escalated in "
                             f"{round(t_all - t_back, 1) if t_all else '>' + str(a.escalation_timeout)} s; "
                             f"{during['failed']} probes failed; queue:upsert of {len(delivered)} reached all "
                             f"{doctors} connected doctors"
                             + (f" within {round(t_told - t_back, 1)} s" if t_told else "")
                             + f" ({conn['connected']}/{conn['clients']} clients connected)"),
                ]}

    # g ---------------------------------------------------------------------------------

    def scenario_g(self) -> dict:
        """/healthz while logins (argon2) run at once"""
        a = self.args
        tel = self.telemed()
        probe = HealthProbe(tel.url).start()
        time.sleep(2)
        phases = {}

        def burst(name, accounts, password):
            barrier = threading.Barrier(len(accounts))
            out = [None] * len(accounts)

            def one(i):
                s = h.http_session()
                s.get(f"{tel.url}/healthz", timeout=60)  # warm the connection
                barrier.wait()
                status, _c, _t, elapsed = h.log_in(s, tel.url, accounts[i].username, password)
                out[i] = (status, elapsed)

            t0 = h.now()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(accounts))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            t1 = h.now() + 0.2
            time.sleep(0.5)
            statuses = {}
            for status, _ in out:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
            phases[name] = {"logins": h.summary([e for _, e in out]), "statuses": statuses,
                            "window_s": round(t1 - t0, 2), "t0": t0, "t1": t1}

        burst("correct", self.doctors[:a.logins], h.PASSWORD)
        time.sleep(1)
        burst("wrong", self.doctors[:a.bad_logins] if a.bad_logins <= len(self.doctors)
              else [self.doctors[i % len(self.doctors)] for i in range(a.bad_logins)], "wrong password")
        time.sleep(1)
        probe.stop()
        self.stop(tel)
        idle = probe.window(0, phases["correct"]["t0"])
        rows = []
        for name, n, label in (("correct", a.logins, "logins"), ("wrong", a.bad_logins, "wrong-password logins")):
            p = phases[name]
            p["healthz"] = probe.window(p.pop("t0"), p.pop("t1"))
            ok = p["healthz"]["p99_ms"] is not None and p["healthz"]["p99_ms"] < 100 and not p["healthz"]["failed"]
            rows.append(row("g", f"/healthz p50/p99 while {n} {label} run (ms)", tel=pp(p["healthz"]),
                            target="p99 < 100 ms", ok=ok,
                            note=f"login p50 {p['logins']['p50_ms']} ms, answers {p['statuses']}"))
        return {"healthz_idle": idle, "phases": phases, "rows": rows}

    # h ---------------------------------------------------------------------------------

    def scenario_h(self) -> dict:
        """slowloris connections: /healthz keeps answering and the slow ones are timed out"""
        a = self.args
        tel = self.telemed()
        parts = urlsplit(tel.url)
        address = (parts.hostname, parts.port)
        probe = HealthProbe(tel.url, interval=0.05, timeout=10).start()
        time.sleep(1)
        t_open = h.now()
        selector = selectors.DefaultSelector()
        socks = {}
        connecting = {}
        for i in range(a.slowloris):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(address)
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            connecting[s] = i
        # connections that complete within 10 s count as opened
        write_sel = selectors.DefaultSelector()
        for s in connecting:
            write_sel.register(s, selectors.EVENT_WRITE)
        deadline = h.now() + 10
        while connecting and h.now() < deadline:
            for key, _ in write_sel.select(timeout=0.5):
                s = key.fileobj
                write_sel.unregister(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    # half send nothing after the partial request, half keep dripping header lines
                    socks[s] = {"opened": h.now(), "closed": None, "answered": False,
                                "group": "drip" if connecting[s] % 2 else "idle"}
                    selector.register(s, selectors.EVENT_READ)
                connecting.pop(s)
        not_opened = len(connecting)
        for s in list(connecting):
            s.close()
        partial = f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: slowloris-bench\r\n".encode()

        def send(s, data):
            try:
                s.send(data)
            except OSError:
                if socks[s]["closed"] is None:
                    socks[s]["closed"] = h.now()

        for s in socks:
            send(s, partial)
        t_hold = h.now()
        next_drip, drip = t_hold + a.slow_drip_s, 0
        while h.now() - t_hold < a.slow_hold_s:
            for key, _ in selector.select(timeout=0.2):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    socks[s]["answered"] = True
                else:
                    socks[s]["closed"] = h.now()
                    selector.unregister(s)
            if h.now() >= next_drip:
                drip += 1
                for s, st in socks.items():
                    if st["closed"] is None and st["group"] == "drip":
                        send(s, f"X-Slow-{drip}: {drip}\r\n".encode())
                next_drip += a.slow_drip_s
        t_end = h.now()
        probe.stop()
        for s in socks:
            s.close()
        alive = tel.alive()
        after = raw_get(tel.url, "/healthz", 10)
        self.stop(tel)
        during = probe.window(t_hold, t_end)
        opened = len(socks)
        groups = {}
        for name in ("idle", "drip"):
            members = [st for st in socks.values() if st["group"] == name]
            closed = [st["closed"] - st["opened"] for st in members if st["closed"] is not None]
            groups[name] = {"opened": len(members), "closed_by_server": len(closed),
                            "closed_after": h.summary(closed),
                            "answered_before_close": sum(st["answered"] for st in members)}
        up = alive and after == 200 and not during["failed"] and opened > 0
        timed_out = all(g["opened"] and g["closed_by_server"] >= 0.9 * g["opened"] for g in groups.values())
        idle, dripping = groups["idle"], groups["drip"]
        return {"attempted": a.slowloris, "opened": opened, "not_opened_in_10s": not_opened, "groups": groups,
                "open_s": round(t_hold - t_open, 2), "hold_s": a.slow_hold_s, "drip_s": a.slow_drip_s,
                "healthz_during": during, "server_alive": alive, "healthz_after": after,
                "rows": [
                    row("h", f"{a.slowloris} slowloris connections held {a.slow_hold_s} s: /healthz meanwhile "
                             "(p50/p99 ms, failed probes)",
                        tel=f"{pp(during)}, {during['failed']}/{during['n']} failed", target="answers throughout",
                        ok=up, note=f"{not_opened} connections not even accepted by TCP within 10 s"
                        if not_opened else ""),
                    row("h", f"slow connections closed by the server within {a.slow_hold_s} s: silent after a "
                             f"partial request / one header line every {a.slow_drip_s} s",
                        tel=f"{idle['closed_by_server']}/{idle['opened']} / {dripping['closed_by_server']}/"
                            f"{dripping['opened']}", target="slow ones timed out (>= 90 % of each)", ok=timed_out,
                        note=f"closed after p50 {idle['closed_after']['p50_ms']} / "
                             f"{dripping['closed_after']['p50_ms']} ms"),
                ]}

    # i ---------------------------------------------------------------------------------

    def scenario_i(self) -> dict:
        """one client floods queue:sync and message:send; others meanwhile"""
        import socketio

        a = self.args
        tel = self.telemed()
        target = Target("telemed", tel.url, [tel], self)
        session = h.http_session()
        for i, post in enumerate(self.next_posts(a.flood_waiting)):
            target.create(session, post, i)
        flooder_acc, victim_acc = self.doctors[0], self.doctors[1]
        mine = target.create(session, self.next_posts(1)[0])
        accept = session.post(f"{tel.url}/api/v1/consultations/{mine['id']}/accept", data="{}",
                              headers={**flooder_acc.headers(), "Content-Type": "application/json"}, timeout=60)
        others = self.connect(target, self.doctors[2:a.doctors])
        victim_upserts: dict[str, float] = {}
        victim = socketio.Client(reconnection=False)
        victim.on("queue:upsert", lambda data: victim_upserts.setdefault(data.get("id"), h.now()))
        victim.connect(tel.url, headers={"Cookie": victim_acc.cookie}, transports=["websocket"], wait_timeout=60)
        flooder = socketio.Client(reconnection=False)
        flooder.connect(tel.url, headers={"Cookie": flooder_acc.cookie}, transports=["websocket"], wait_timeout=60)
        self.settle(tel)
        probe = HealthProbe(tel.url).start()
        ticks: list[tuple[float, str]] = []
        stop = threading.Event()

        def ticker():
            s = h.http_session()
            while not stop.is_set():
                r = target.create(s, self.next_posts(1)[0])
                if r["id"]:
                    ticks.append((r["t0"], r["id"]))
                stop.wait(0.5)

        tick_thread = threading.Thread(target=ticker, daemon=True)
        tick_thread.start()
        phases = {}
        t = h.now()
        time.sleep(3 if self.args.quick else 5)
        phases["idle"] = (t, h.now())

        def flood(event, count, payload):
            nonlocal flooder
            if not flooder.connected:  # cut off by the previous flood: a flooder comes back
                flooder = socketio.Client(reconnection=False)
                flooder.connect(tel.url, headers={"Cookie": flooder_acc.cookie}, transports=["websocket"],
                                wait_timeout=60)
            acks = {"ok": 0, "rate_limited": 0}
            done = threading.Event()
            got = [0]
            expected = [count]
            lock = threading.Lock()

            def callback(answer=None, *rest):
                with lock:
                    if isinstance(answer, dict) and answer.get("ok"):
                        acks["ok"] += 1
                    else:
                        code = (answer or {}).get("error", {}).get("code", "?") if isinstance(answer, dict) else "?"
                        acks[code] = acks.get(code, 0) + 1
                    got[0] += 1
                    if got[0] >= expected[0]:
                        done.set()

            t0 = h.now()
            for n in range(count):
                try:
                    flooder.emit(event, payload(n), callback=callback)
                except socketio.exceptions.BadNamespaceError:
                    # The server closed the flooding connection: what was still to send never goes.
                    with lock:
                        acks["cut_off"] = count - n
                        expected[0] = n
                        if got[0] >= n:
                            done.set()
                    break
            t_sent = h.now()
            # The flood is over when every event is answered or the server has closed the
            # flooding connection (the rest are never answered); the phase ends 1 s later, so the
            # other doctor's figures cover the flood and its tail, not a long quiet wait.
            deadline = h.now() + max(60, count * 0.05)
            while not done.is_set() and flooder.connected and h.now() < deadline:
                done.wait(0.05)
            closed_after = round(h.now() - t0, 2) if not flooder.connected else None
            time.sleep(1)
            t1 = h.now()
            acks["no_answer"] = max(0, expected[0] - got[0])
            return {"sent": count - acks.get("cut_off", 0), "acks": acks, "send_s": round(t_sent - t0, 2),
                    "all_answered_s": round(t1 - 1 - t0, 2) if done.is_set() else None,
                    "connection_closed_by_server_after_s": closed_after}, (t0, t1)

        floods = {}
        floods["queue:sync"], phases["queue:sync"] = flood("queue:sync", a.flood_sync, lambda n: {})
        time.sleep(2)
        floods["message:send"], phases["message:send"] = flood(
            "message:send", a.flood_messages,
            lambda n: {"consultation_id": mine["id"], "body": f"flood {n}", "client_key": str(uuid.uuid4())})
        time.sleep(2)
        stop.set()
        tick_thread.join()
        probe.stop()
        time.sleep(1)
        for c in (victim, flooder):
            try:
                c.disconnect()
            except Exception:  # noqa: BLE001
                pass
        self.pool.disconnect_all()
        self.stop(tel)
        out_phases = {}
        for name, (t0, t1) in phases.items():
            lat = [victim_upserts[cid] - ts if cid in victim_upserts else None for ts, cid in ticks if t0 <= ts <= t1]
            out_phases[name] = {"healthz": probe.window(t0, t1), "victim_upsert": h.summary(lat),
                                "victim_missed": sum(1 for x in lat if x is None)}
        rows = []
        for event in ("queue:sync", "message:send"):
            f, p = floods[event], out_phases[event]
            limited = f["acks"].get("rate_limited", 0)
            ok = (limited > 0 and p["healthz"]["p99_ms"] is not None and p["healthz"]["p99_ms"] < 200
                  and not p["healthz"]["failed"] and p["victim_missed"] == 0
                  and (p["victim_upsert"]["p99_ms"] or 0) < 250)
            rows.append(row("i", f"{f['sent']} {event} from one client: refused as rate_limited; another "
                                 f"doctor's /healthz p99 and queue:upsert p99 meanwhile",
                            tel=f"{limited} rate_limited ({f['acks']}); healthz p99 {p['healthz']['p99_ms']} ms; "
                                f"upsert p99 {p['victim_upsert']['p99_ms']} ms",
                            target="rate_limited > 0; healthz p99 < 200 ms, upsert p99 < 250 ms", ok=ok,
                            note=f"idle: healthz p99 {out_phases['idle']['healthz']['p99_ms']} ms, upsert p99 "
                                 f"{out_phases['idle']['victim_upsert']['p99_ms']} ms; "
                                 + (f"the server closed the flooding connection after "
                                    f"{f['connection_closed_by_server_after_s']} s"
                                    if f["connection_closed_by_server_after_s"] is not None
                                    else f"all answered after {f['all_answered_s']} s")))
        return {"accept_status": accept.status_code, "others_connected": others["connected"],
                "floods": floods, "phases": out_phases, "rows": rows}

    # j ---------------------------------------------------------------------------------

    def scenario_j(self) -> dict:
        """HTTP create with a long history of closed consultations vs an empty history"""
        a = self.args
        tel = self.telemed()
        target = Target("telemed", tel.url, [tel], self)
        session = h.http_session()
        # a closed consultation to copy: created, accepted, closed through the API
        post, doctor = self.next_posts(1)[0], self.doctors[0]
        made = target.create(session, post)
        jh = {**doctor.headers(), "Content-Type": "application/json"}
        acc = session.post(f"{tel.url}/api/v1/consultations/{made['id']}/accept", data="{}", headers=jh, timeout=60)
        closed = session.post(f"{tel.url}/api/v1/consultations/{made['id']}/close", headers=jh, timeout=60,
                              data=json.dumps({"disposition": "advice_given", "icd10": ["I10"],
                                               "recommendation": "Continue the current treatment; recheck "
                                                                 "blood pressure in a week."}))
        if closed.status_code != 200:
            raise RuntimeError(f"could not close the template consultation: {acc.status_code} {closed.status_code} "
                               f"{closed.text[:300]}")

        def samples(server):
            t = Target("telemed", server.url, [server], self)
            posts = self.next_posts(a.samples)
            self.connect(t, self.doctors[:a.doctors] + posts)
            self.settle(server)
            out = []
            for i, p in enumerate(posts):
                r = self._create_and_wait(t, session, p, 60, i, cancel=True)
                out.append(r["http_s"] if r["id"] else None)
            self.pool.disconnect_all()
            return out

        empty = samples(tel)
        self.stop(tel)
        self.say(f"  inserting {a.history} closed consultations")
        inserted = clone_consultations(self.url, made["id"], self.posts, a.history, self.say)
        tel = self.telemed()
        full = samples(tel)
        self.stop(tel)
        e, f = h.summary(empty), h.summary(full)
        r = h.ratio(f["p50_ms"], e["p50_ms"])
        return {"empty": e, "history": f, "inserted": inserted, "rows": [
            row("j", f"create HTTP p50/p99 (ms): {a.history} closed in history vs none", tel=pp(f), base=pp(e),
                ratio=r, target="<= 1.3 x empty history", ok=r is not None and r <= 1.3,
                note="baseline column: telemed itself with an empty history")]}

    # k ---------------------------------------------------------------------------------

    def scenario_k(self) -> dict:
        """SQL statements per created consultation at 0 and N waiting (in-process, test client)"""
        a = self.args
        url = h.fresh_database(self.kind, "bench_sql", self.run_dir)
        instance = self.run_dir / "instance-sql"
        instance.mkdir(exist_ok=True)
        h.migrate(self.code, url, instance, self.run_dir / "migrate.log")
        world = h.seed_world(self.code, url, instance, 3, a.sql_waiting + 8, self.run_dir / "seed.log")
        world_path = self.run_dir / "sql-world.json"
        world_path.write_text(json.dumps(world))
        env = h.telemed_env(self.code, url, instance, **BENCH_ENV)

        def measure(post_index, leave_one=False):
            command = [sys.executable, str(h.BENCH / "harness.py"), "sqlcount", "--world", str(world_path),
                       "--samples", "3", "--post-index", str(post_index)] + (["--leave-one"] if leave_one else [])
            with open(self.run_dir / "sqlcount.log", "ab") as err:
                out = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=err, env=env, timeout=900)
            return json.loads(out.stdout)

        empty = measure(0, leave_one=True)
        # the long queue: the one left waiting, copied to N - 1 more posts (queued in the last hour)
        clone_consultations(url, empty["template_id"], world["posts"][2:], a.sql_waiting - 1, self.say,
                            shift_s=(1, 3600))
        full = measure(1)
        counts = {"at_0": empty["counts"], "at_n": full["counts"], "data_at_0": empty["data_counts"],
                  "data_at_n": full["data_counts"], "statements_at_0": empty["statements"],
                  "statements_at_n": full["statements"]}
        at0, atn = max(counts["at_0"]), max(counts["at_n"])
        d0, dn = max(counts["data_at_0"]), max(counts["data_at_n"])
        ok = dn == d0 and dn <= 12
        return {"counts": counts, "data_statements": {"at_0": d0, "at_n": dn}, "rows": [
            row("k", f"SQL statements per create at 0 / {a.sql_waiting} waiting (without BEGIN/COMMIT)",
                tel=f"{d0} / {dn}", target="constant, <= 12", ok=ok,
                note=f"with transaction control: {at0} / {atn}")]}

    # l ---------------------------------------------------------------------------------

    def scenario_l(self) -> dict:
        """b and c through nginx in front of two processes (PostgreSQL + Redis)"""
        redis_port = h.free_port()
        redis_dir = self.run_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", str(redis_dir)],
                                 stdout=open(redis_dir / "redis.log", "ab"), stderr=subprocess.STDOUT,
                                 preexec_fn=h.die_with_parent)
        try:
            time.sleep(0.5)
            queue = f"redis://127.0.0.1:{redis_port}/0"
            # docs/configuration.md: keep processes x TELEMED_DATABASE_POOL_SIZE below the server's
            # max_connections (here with 30 left for the baseline pair and others); the default
            # (10) fits a default PostgreSQL (100), a smaller server gets a smaller pool.
            import sqlalchemy as sa

            engine = _engine(self.url)
            with engine.connect() as c:
                max_connections = int(c.execute(sa.text("SHOW max_connections")).scalar())
            engine.dispose()
            pool_size = max(2, min(10, (max_connections - 30) // 2))
            tels = [self.telemed(TELEMED_MESSAGE_QUEUE=queue, TELEMED_TRUSTED_PROXIES=1,
                                 TELEMED_DATABASE_POOL_SIZE=pool_size) for _ in range(2)]
            bases = [self.baseline(message_queue=queue) for _ in range(2)]
            with h.nginx(self.run_dir / "proxy-telemed", [s.port for s in tels]) as (turl, source), \
                    h.nginx(self.run_dir / "proxy-baseline", [s.port for s in bases]) as (burl, _):
                telemed = Target("telemed", turl, tels, self, route=True)
                baseline = Target("baseline", burl, bases, self, route=True)
                fan = self.run_fanout(telemed, baseline, label="l")
                claims = self.run_claims(telemed, baseline, label="l")
            self.stop(*tels, *bases)
        finally:
            redis.terminate()
            redis.wait(timeout=10)
        spread = {}
        log = self.run_dir / "proxy-telemed" / "nginx" / "telemed.access.log"
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if "/socket.io/" in line and "upstream=" in line:
                    up = line.split("upstream=", 1)[1].split()[0]
                    spread[up] = spread.get(up, 0) + 1
        rows = [dict(r, what="via nginx, 2 processes: " + r["what"]) for r in fan["rows"] + claims["rows"]]
        for r in rows:
            r["note"] = "; ".join(filter(None, [r.get("note"), f"TELEMED_DATABASE_POOL_SIZE={pool_size} "
                                                f"(PostgreSQL max_connections {max_connections})"]))
        return {"nginx_config": source, "socketio_requests_per_process": spread, "fanout": fan["results"],
                "database_pool_size": pool_size, "postgres_max_connections": max_connections,
                "claims": claims["results"], "rows": rows}


def step_line(s: dict) -> str:
    return (f"achieved {s['achieved_per_s']}/s of {s['offered_per_s']:g}, all-doctors p99 {s['all_doctors_p99_ms']} ms, "
            f"incomplete {s['incomplete']}, cpu {s['server_cpu_pct']} %, rss {s.get('rss_mb')} MiB")


def pp(s: dict) -> str:
    return f"{s.get('p50_ms')} / {s.get('p99_ms')}"


def row(scenario, what, tel=None, base=None, ratio=None, target="", ok=None, info=False, note="") -> dict:
    return {"scenario": scenario, "what": what, "telemed": tel, "baseline": base, "ratio": ratio,
            "target": target if not info else "", "pass": None if info else bool(ok), "note": note}


def fmt_row(r: dict) -> str:
    parts = [f"telemed {r['telemed']}"]
    if r["baseline"] is not None:
        parts.append(f"baseline {r['baseline']}")
    if r["ratio"] is not None:
        parts.append(f"ratio {r['ratio']}")
    if r["pass"] is not None:
        parts.append(("PASS" if r["pass"] else "FAIL") + f" (target {r['target']})")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# reports


def machine() -> dict:
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": __import__("os").cpu_count(), "memory_gib": mem_gb, "python": platform.python_version(),
            "kernel": platform.release()}


def write_reports(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = results["database"]
    json_path = out_dir / f"dispatch-{kind}.json"
    md_path = out_dir / f"dispatch-{kind}.md"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    code = results["code"]
    lines = [
        f"# Dispatch bench on {kind}",
        "",
        *(["**Partial: the run was still going or was stopped; only the scenarios below ran.**", ""]
          if results.get("partial") else []),
        f"`bench/dispatch_bench.py{' --quick' if results['quick'] else ''}`, started {results['started']} "
        f"(UTC), {results['elapsed_s']:.0f} s; code {code.get('commit', '?')[:10]}"
        f"{' with uncommitted changes in telemed/' if code.get('uncommitted_changes_in_telemed') else ''}"
        f" ({code.get('path')}); machine {results['machine']['cpus']} CPUs, {results['machine']['memory_gib']} GiB, "
        f"Python {results['machine']['python']}.",
        f"Load average (1/5/15 min) at start {results['load_start']}, at end {results['load_end']}. "
        "Client and server share the machine; compare telemed with the baseline of the same run.",
        *([""] + [f"Scenario {letter} was measured again in a run of its own ({why})."
                  for letter, why in results["remeasured"].items()] if results.get("remeasured") else []),
        "",
        "| | what | telemed | baseline | ratio | target | result | load (1 min) start → end | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for letter, entry in results["scenarios"].items():
        load = f"{entry.get('load_start', ['?'])[0]} → {entry.get('load_end', ['?'])[0]}"
        if "error" in entry:
            lines.append(f"| {letter} | {entry['title']} | could not run | | | | ERROR | {load} | "
                         f"{cell(entry['error'][:300])} |")
            continue
        for r in entry.get("rows", []):
            result = "" if r["pass"] is None else ("pass" if r["pass"] else "**FAIL**")
            lines.append(f"| {letter} | {r['what']} | {cell(r['telemed'])} | {cell(r['baseline'])} | "
                         f"{cell(r['ratio'])} | {r['target']} | {result} | {load} | {cell(r.get('note') or '')} |")
    lines += ["", "Details (every percentile, per round and per rate step) are in "
              f"`dispatch-{kind}.json`; what each row measures is in bench/README.md.", ""]
    md_path.write_text("\n".join(lines))
    return json_path, md_path


def cell(value) -> str:
    if value is None:
        return ""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value).replace("|", "/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every size about 10x smaller (a smoke run)")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--scenarios", default=SCENARIOS, help="letters to run, e.g. abc (default: all)")
    parser.add_argument("--code", default=None, help="telemed source tree to measure (default: this checkout)")
    parser.add_argument("--out", default=str(h.BENCH / "results"), help="where the results go")
    parser.add_argument("--run-dir", default=None, help="databases and logs (default: a new temporary directory)")
    parser.add_argument("--workers", type=int, default=4, help="client worker processes")
    parser.add_argument("--rates", default=None, help="creation rates for d, per second (default 10,20,30,40)")
    for name, (full, quick, text) in SIZES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                            help=f"{text} (default {full}; --quick {quick})")
    args = parser.parse_args()
    for name, (full, quick, _text) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.rates is None:
        args.rates = RATES[1] if args.quick else RATES[0]
    h.raise_fd_limit()
    import tempfile

    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="dispatch-bench-"))
    code = h.Code(args.code)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and not h.postgres_available():
        print(f"PostgreSQL not reachable at {h.POSTGRES_ADMIN}: skipped", file=sys.stderr)
        kinds.remove("postgresql")
    print(f"dispatch bench: code {code.describe()}, run directory {run_dir}", flush=True)
    # A SIGTERM stops the servers and clients this run started and keeps what was measured.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    described = code.describe()
    for kind in kinds:
        bench = Bench(kind, args, code, run_dir)
        extra = {"code": described, "quick": args.quick, "machine": machine(),
                 "sizes": {k: getattr(args, k) for k in SIZES} | {"rates": args.rates, "workers": args.workers}}

        def progress(results, extra=extra, t0=h.now()):
            partial = {**results, **extra, "load_end": h.loadavg(), "partial": True,
                       "elapsed_s": round(h.now() - t0, 1)}
            write_reports(partial, Path(args.out))

        bench.on_progress = progress
        results = bench.run("".join(c for c in args.scenarios if c in SCENARIOS))
        results.update(extra)
        json_path, md_path = write_reports(results, Path(args.out))
        print(md_path.read_text(), flush=True)
        print(f"written {json_path} and {md_path}", flush=True)


if __name__ == "__main__":
    main()
