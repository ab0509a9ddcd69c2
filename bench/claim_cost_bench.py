"""What one losing claim costs the server, in-process, against the bare conditional UPDATE.

Scenario c of the dispatch bench races 100 claims on one event loop, so its p50 is about fifty
requests' worth of work. This bench shows what one of them is: through the Flask test client (no
network, no event loop), on one SQLite file, it times

- the baseline: a minimal Flask app answering `POST /claim/<id>` with the bare conditional UPDATE
  of DESIGN.md, refused (0 rows), as in bench/baseline_app.py;
- the login check alone, which every request and socket event must make (DESIGN.md, revocable
  sessions): `services.logins.user_of` called in an application context, no request around it;
- telemed's losing `POST /api/v1/consultations/<id>/accept` (409): the login check, CSRF, the rate
  limiter, the light read of the consultation and a translated refusal;
- the floor under both: the bare app's `GET /healthz` without a database, and telemed's `GET /healthz`
  (one `SELECT 1`), anonymous and with a login's cookie, which pass through every extension a
  request meets (rate limiter, security headers, CSRF, cookie session, compression);
- the same two over Socket.IO, as the doctor's page claims: the baseline's `claim` event running the
  bare UPDATE, and telemed's losing `consultation:accept` (the login check on the event, the
  per-connection rate limit, the light read, a translated refusal in the acknowledgement).

Each is repeated `--requests` times, the kinds alternated `--repeat` times. Usage:

    .venv/bin/python bench/claim_cost_bench.py [--requests 2000] [--repeat 3]

Results go to bench/results/claim-cost.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Flask, jsonify, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance import provenance  # noqa: E402  (bench/, the script's own folder)

from telemed import create_app  # noqa: E402
from telemed.config import Settings  # noqa: E402
from telemed.services.demo import DEMO_PASSWORDS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "claim-cost.md"
LIMITLESS = "1000000 per minute"


def _telemed(root: Path):
    """A migrated telemed with the demo district, a request already claimed by doctor1, and
    doctor2's logged-in client; (app, client, CSRF header, consultation id)."""
    from flask_migrate import upgrade

    from telemed.services.demo import load_demo_district

    settings = Settings.from_env(
        instance_path=root / "instance", database_url=f"sqlite:///{root / 'telemed.db'}",
        secret_key="bench", async_mode="threading", login_rate_limit=LIMITLESS,
        login_account_rate_limit=LIMITLESS, write_rate_limit=LIMITLESS, socket_rate_limit=LIMITLESS,
        message_queue=None)
    app = create_app(settings)
    with app.app_context():
        upgrade()
        load_demo_district()

    def logged_in(username: str, role: str):
        client = app.test_client()
        answer = client.post("/api/v1/session", json={"username": username, "password": DEMO_PASSWORDS[role]})
        assert answer.status_code == 200, answer.get_json()
        return client, {"X-CSRFToken": answer.get_json()["csrf_token"]}

    post, post_csrf = logged_in("feldsher1", "feldsher")
    created = post.post("/api/v1/consultations", headers=post_csrf, json={
        "client_key": str(uuid.uuid4()), "patient": {"age_years": 54, "sex": "male"},
        "complaint": "Pressing chest pain", "priority": "urgent", "specialty": "general",
        "vitals": {"sbp": 150, "dbp": 90, "hr": 104, "rr": 20, "spo2": 96, "temp_c": 36.8}})
    consultation_id = created.get_json()["id"]
    winner, winner_csrf = logged_in("doctor1", "doctor")
    assert winner.post(f"/api/v1/consultations/{consultation_id}/accept", json={},
                       headers=winner_csrf).status_code == 200
    loser, loser_csrf = logged_in("doctor2", "doctor")
    return app, loser, loser_csrf, consultation_id


def _login_check(app, client):
    """A function running the login check of `client`'s session, as each request runs it."""
    from flask import session

    from telemed.extensions import db
    from telemed.models import Login, User
    from telemed.services import logins
    from telemed.sessions import LOGIN_KEY

    with client.session_transaction() as cookie_session:
        login_id = cookie_session[LOGIN_KEY]
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).join(Login, Login.user_id == User.id)
                                    .where(Login.id == login_id))

    def check():
        with app.test_request_context():
            session[LOGIN_KEY] = login_id
            found = logins.user_of(login_id, user_id)
            db.session.remove()
        # Shaped as an answer, so the timing loop checks it like the others: 200 found, 401 not.
        return SimpleNamespace(status_code=200 if found is not None else 401)

    return check


def _bare(root: Path):
    """The baseline's claim route and `claim` event on its own SQLite file, its one row already
    taken; (HTTP test client, Socket.IO test client)."""
    from flask_socketio import SocketIO

    engine = sa.create_engine(f"sqlite:///{root / 'bare.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE claims (id TEXT PRIMARY KEY, status TEXT, doctor_id INT)"))
        conn.execute(sa.text("INSERT INTO claims VALUES ('taken', 'active', 1)"))
    app = Flask("bare")

    socketio = SocketIO(app, async_mode="threading")

    def update(cid: str, doctor_id: int) -> bool:
        with engine.begin() as conn:
            return conn.execute(sa.text(
                "UPDATE claims SET status='active', doctor_id=:d WHERE id=:id AND status='waiting'"),
                {"d": doctor_id, "id": cid}).rowcount == 1

    @app.get("/healthz")
    def healthz():  # no database: what Flask and the test client cost on their own
        return jsonify({"status": "ok"})

    @app.post("/claim/<cid>")
    def claim(cid):
        if update(cid, int(request.get_json()["doctor_id"])):
            return jsonify({"id": cid})
        return jsonify({"error": {"code": "conflict"}}), 409

    @socketio.on("claim")
    def claim_event(data):
        if update(data["id"], int(data["doctor_id"])):
            return {"ok": True, "id": data["id"]}
        return {"ok": False, "error": {"code": "conflict"}}

    http = app.test_client()
    return http, socketio.test_client(app, flask_test_client=http)


def _acked(emit):
    """A Socket.IO call shaped as an answer for the timing loop: 200 if acknowledged ok, else 409."""
    def send():
        ack = emit()
        return SimpleNamespace(status_code=200 if ack["ok"] else 409 if ack["error"]["code"] == "conflict" else 500)
    return send


def _per_request_s(send, expected_status: int, requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        status = send().status_code
        assert status == expected_status, status
    return (time.perf_counter() - start) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="claim-cost-"))
    try:
        runs, load_start, load_end = _measure(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _report(runs, load_start, load_end, args)


def _measure(root: Path, args) -> tuple[dict[str, list[float]], tuple, tuple]:
    from telemed.extensions import socketio

    app, doctor, csrf, consultation_id = _telemed(root)
    bare, bare_socket = _bare(root)
    # Each event handler first lets the other green threads run (`socketio.sleep(0)`): under
    # eventlet a switch to the hub, but in the threading mode of this bench a real `time.sleep(0)`
    # that hands the CPU to the OS scheduler (0.27 ms an event in a cProfile run). Made the no-op it
    # is on an idle hub, so the figures are telemed's work and not the scheduler's.
    socketio.sleep = lambda seconds=0: None
    doctor_socket = socketio.test_client(app, flask_test_client=doctor)
    anonymous = app.test_client()
    kinds = {
        "bare": (lambda: bare.post("/claim/taken", json={"doctor_id": 2}), 409),
        "bare floor": (lambda: bare.get("/healthz"), 200),
        "telemed floor": (lambda: anonymous.get("/healthz"), 200),
        "telemed floor logged in": (lambda: doctor.get("/healthz"), 200),
        "login check": (_login_check(app, doctor), 200),
        "claim": (lambda: doctor.post(f"/api/v1/consultations/{consultation_id}/accept", json={},
                                      headers=csrf), 409),
        "bare socket": (_acked(lambda: bare_socket.emit("claim", {"id": "taken", "doctor_id": 2},
                                                        callback=True)), 409),
        "socket claim": (_acked(lambda: doctor_socket.emit("consultation:accept", {"id": consultation_id},
                                                           callback=True)), 409),
    }
    for send, status in kinds.values():  # warm-up: caches, compiled statements
        _per_request_s(send, status, 200)
    load_start = os.getloadavg()
    runs: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.repeat):  # alternated, so a change in the machine's load hits them all
        for kind, (send, status) in kinds.items():
            runs[kind].append(_per_request_s(send, status, args.requests))
    return runs, load_start, os.getloadavg()


def _report(runs: dict[str, list[float]], load_start, load_end, args) -> None:
    median = {kind: statistics.median(values) for kind, values in runs.items()}
    # (label, kind, the kind it is compared with)
    rows = (("bare conditional UPDATE over HTTP, refused (baseline)", "bare", "bare"),
            ("the bare app's `GET /healthz`, no database (Flask and the test client alone)", "bare floor",
             "bare"),
            ("telemed's `GET /healthz`, anonymous (one `SELECT 1` through every extension)", "telemed floor",
             "bare"),
            ("telemed's `GET /healthz` with a login's cookie (not checked: the view does not ask)",
             "telemed floor logged in", "bare"),
            ("telemed's login check alone (`logins.user_of`, in a bare request context)", "login check", "bare"),
            ("telemed losing claim over HTTP, 409", "claim", "bare"),
            ("bare conditional UPDATE as a Socket.IO `claim` event, refused (baseline)", "bare socket",
             "bare socket"),
            ("telemed losing `consultation:accept`, refused", "socket claim", "bare socket"))
    lines = [
        "# One losing claim, in-process: telemed against the bare conditional UPDATE",
        "",
        provenance("claim_cost_bench.py", "SQLite, Flask and Flask-SocketIO test clients (no network, no "
                   "event loop)", load_start, load_end),
        "",
        f"{args.requests} requests of each kind, the kinds alternated {args.repeat} times; the median "
        "run per kind. Each kind is compared with the bare UPDATE reached the same way.",
        "",
        "| request | per request (ms) | x baseline | runs (ms per request) |",
        "|---|---|---|---|",
    ]
    for label, kind, baseline in rows:
        lines.append(f"| {label} | {median[kind] * 1000:.3f} | {median[kind] / median[baseline]:.2f} | "
                     f"{', '.join(f'{x * 1000:.3f}' for x in runs[kind])} |")
    rest = median["claim"] - median["login check"]
    floor = median["telemed floor"] - median["bare floor"]
    lines += ["", f"Beyond its login check, a losing claim over HTTP spends {rest * 1000:.3f} ms in the "
              "request's own machinery (session cookie, CSRF, rate limiter, the light read, the translated "
              "refusal, the security headers): on its own "
              f"{rest / median['bare']:.1f} x the whole baseline request. Over Socket.IO there is no cookie, "
              "CSRF token or header to handle per event; the login check, the per-connection rate limit, the "
              "light read and the translated refusal remain (the handler's yield to other green threads is "
              "made a no-op here, as it is on an idle eventlet hub; in this bench's threading mode it would "
              "be a real `time.sleep(0)`). In the dispatch bench's race of 100 claims on "
              "one event loop, the p50 claim waits for about fifty losing claims, plus the winner's fan-out "
              "to 200 doctors (which the dispatch bench's baseline sends too).", "",
              f"The floor: telemed's anonymous `/healthz`, a `SELECT 1` through the extensions every request "
              f"passes (the rate limiter, the security headers, CSRF's check of the method, the cookie "
              f"session, compression's check), costs {floor * 1000:.3f} ms more than the bare app's "
              f"`/healthz` without a database, {floor / median['bare']:.1f} x the whole baseline claim. "
              "Before any of a claim's own work, these layers take most of a 2 x budget.", ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
