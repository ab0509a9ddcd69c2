"""The dispatch bench's baseline: the least a Flask-SocketIO server must do for the same work.

A minimal Flask-SocketIO app under eventlet, on the same kind of database as the telemed it is
compared with (SQLite file or PostgreSQL, psycopg2 greened with psycogreen exactly as `telemed
serve` does), with no login, no validation, no audit and no queue logic:

- `POST /create` `{"facility_id": F, "payload": {...}}` inserts one row and emits the payload
  (a consultation as telemed sends it, captured from telemed in the same run, so the bytes on the
  wire are the same size) as `queue:upsert` to the room `doctors` and as `consultation:update` to
  `facility:F` — the "raw fan-out" of issue 8;
- `POST /claim/<id>` `{"doctor_id": D}` runs the bare conditional UPDATE of DESIGN.md
  (`UPDATE ... SET status='active', doctor_id=:d WHERE id=:id AND status='waiting'`), 200 for the
  one that changed the row, 409 for the others; the Socket.IO event `claim` `{"id": ...}` runs the
  same UPDATE for the user the connection named and acknowledges `{"ok": true}` or
  `{"ok": false, "error": {"code": "conflict"}}`. The winner sends what DESIGN.md asks of any
  server on a claim, as telemed does: `queue:remove` `{"id", "reason": "accepted"}` to `doctors`
  and the claimed consultation (its creation payload, now active) as `consultation:update` to the
  post's room and the doctor's own;
- `GET /healthz` answers after `SELECT 1`;
- a Socket.IO connection names its user in the `auth` payload (`{"user": 7, "role": "doctor"}` or
  `{"user": 9, "role": "feldsher", "facility": 3}`), joins `user:<id>` and `doctors` or
  `facility:<id>`, and gets an empty `queue:snapshot` / `consultations:snapshot` at once.

Run by bench/dispatch_bench.py:

    python bench/baseline_app.py --port 5100 --database-url sqlite:////tmp/x/baseline.db \
        [--message-queue redis://127.0.0.1:6379/5]
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--message-queue", default=None)
    parser.add_argument("--channel", default="telemed-bench-baseline",
                        help="the message queue channel (never telemed's own)")
    args = parser.parse_args()

    import eventlet

    eventlet.monkey_patch()
    postgres = args.database_url.startswith(("postgresql", "postgres:"))
    if postgres:
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()

    import json
    import uuid
    from datetime import datetime

    import sqlalchemy as sa
    from flask import Flask, jsonify, request
    from flask_socketio import ConnectionRefusedError, SocketIO, join_room

    url = args.database_url
    if url.startswith("postgres://") or url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    if postgres:
        engine = sa.create_engine(url, pool_pre_ping=True)
    else:
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # the same SQLite settings as telemed
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    metadata = sa.MetaData()
    table = sa.Table(
        "bench_consultations", metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("facility_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("doctor_id", sa.Integer),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    metadata.create_all(engine)

    app = Flask("baseline")
    socketio = SocketIO(app, async_mode="eventlet", message_queue=args.message_queue, channel=args.channel,
                        ping_interval=10, ping_timeout=20)

    @app.get("/healthz")
    def healthz():
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return jsonify({"status": "ok", "pid": os.getpid()})

    @app.post("/create")
    def create():
        body = request.get_json()
        facility_id = int(body["facility_id"])
        payload = dict(body["payload"])
        payload["id"] = str(uuid.uuid4())
        payload["status"] = "waiting"
        with engine.begin() as conn:
            conn.execute(table.insert().values(
                id=payload["id"], facility_id=facility_id, status="waiting",
                payload=json.dumps(payload), created_at=datetime.now(UTC)))
        socketio.emit("queue:upsert", payload, to="doctors")
        socketio.emit("consultation:update", payload, to=f"facility:{facility_id}")
        return jsonify(payload), 201

    users: dict[str, int] = {}  # sid -> the user it connected as

    def bare_claim(cid: str, doctor_id: int) -> dict | None:
        """The claimed consultation, told to the doctors and the post; None for a lost race."""
        with engine.begin() as conn:
            won = conn.execute(sa.text(
                "UPDATE bench_consultations SET status='active', doctor_id=:d "
                "WHERE id=:id AND status='waiting' RETURNING facility_id, payload"),
                {"d": doctor_id, "id": cid}).one_or_none()
        if won is None:
            return None
        payload = {**json.loads(won.payload), "status": "active", "doctor_id": doctor_id}
        socketio.emit("queue:remove", {"id": cid, "reason": "accepted"}, to="doctors")
        socketio.emit("consultation:update", payload, to=[f"facility:{won.facility_id}", f"user:{doctor_id}"])
        return payload

    @app.post("/claim/<cid>")
    def claim(cid):
        doctor_id = int(request.get_json()["doctor_id"])
        payload = bare_claim(cid, doctor_id)
        if payload is not None:
            return jsonify(payload)
        return jsonify({"error": {"code": "conflict"}}), 409

    @socketio.on("connect")
    def on_connect(auth=None):
        if not isinstance(auth, dict) or "user" not in auth:
            raise ConnectionRefusedError("unauthenticated")
        users[request.sid] = int(auth["user"])
        join_room(f"user:{int(auth['user'])}")
        if auth.get("role") == "doctor":
            join_room("doctors")
            socketio.emit("queue:snapshot", {"waiting": [], "active": []}, to=request.sid)
        else:
            join_room(f"facility:{int(auth['facility'])}")
            socketio.emit("consultations:snapshot", {"items": []}, to=request.sid)

    @socketio.on("claim")
    def on_claim(data):
        payload = bare_claim(str(data["id"]), users[request.sid])
        if payload is not None:
            return {"ok": True, "consultation": payload}
        return {"ok": False, "error": {"code": "conflict"}}

    @socketio.on("disconnect")
    def on_disconnect(reason=None):
        users.pop(request.sid, None)

    print(f"baseline listening on {args.host}:{args.port} ({engine.dialect.name})", file=sys.stderr,
          flush=True)
    # eventlet.wsgi directly (what socketio.run does), with a listen backlog and a connection limit
    # that never make the reference the bottleneck: 2,200 sockets, 200 connecting at once.
    import eventlet.wsgi

    listener = eventlet.listen((args.host, args.port), backlog=2048)
    eventlet.wsgi.server(listener, app, log_output=False, max_size=20000)


if __name__ == "__main__":
    main()
