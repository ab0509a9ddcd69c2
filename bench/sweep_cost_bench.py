"""What one sweep pass costs with a district's connections on the process, step by step, in-process.

Every `TELEMED_SWEEP_INTERVAL_S` each process sweeps (telemed/realtime/sweeper.py). On PostgreSQL
its statements wait on the database without holding the event loop, but they share the machine
and the database with the requests of that moment, so a costly pass shows in the tail of the
creations around it (dispatch bench b and d). With `--connections` rows of this process in
`presence_connections` (200 doctors and 2,000 posts by default), this times, `--passes` times each:

- the heartbeat and expiry (`presence.heartbeat_and_expire`): one row a process;
- the baseline: what the heartbeat was until session 14, one UPDATE of every connection row of
  the process, in a write transaction of its own;
- escalation and the release of offline doctors' consultations (nothing due), and the positions
  flush (nothing changed): the rest of a quiet pass.

On SQLite, and on PostgreSQL when `--postgresql URL` answers. Usage:

    .venv/bin/python bench/sweep_cost_bench.py [--connections 2200] [--passes 10]
        [--postgresql postgresql+psycopg2://postgres@127.0.0.1:5432/bench_sql]

Results go to bench/results/sweep-cost.md. The PostgreSQL database named is emptied first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance import provenance  # noqa: E402  (bench/, the script's own folder)

from telemed import create_app  # noqa: E402
from telemed.config import Settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "sweep-cost.md"


def _app(url: str, root: Path):
    """A migrated telemed with the demo district on `url` (emptied first if PostgreSQL)."""
    from flask_migrate import upgrade

    from telemed.services.demo import load_demo_district

    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    app = create_app(Settings.from_env(database_url=url, secret_key="bench", async_mode="threading",
                                       message_queue=None, instance_path=root / "instance"))
    with app.app_context():
        upgrade()
        load_demo_district()
    return app


def _connect(app, count: int) -> None:
    """`count` connection rows of this process, spread over the district's staff."""
    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import PresenceConnection, User
    from telemed.services.presence import SERVER_ID

    with app.app_context():
        users = db.session.scalars(sa.select(User.id).where(User.role != "admin")).all()
        now = utcnow()
        db.session.execute(sa.insert(PresenceConnection), [
            dict(sid=f"bench-{i}", user_id=users[i % len(users)], server_id=SERVER_ID, connected_at=now,
                 seen_at=now) for i in range(count)])
        db.session.commit()
        db.session.remove()


def _steps(app) -> dict:
    from telemed.db import utcnow, write_transaction
    from telemed.extensions import db
    from telemed.models import PresenceConnection
    from telemed.realtime.notifier import notifier
    from telemed.services import presence
    from telemed.services.presence import SERVER_ID
    from telemed.services.routing import escalate_overdue, release_offline_doctors

    stale_s = app.config["TELEMED"].connection_stale_s

    def every_row_rewritten():
        with write_transaction(db.session) as session:
            session.execute(sa.update(PresenceConnection).where(PresenceConnection.server_id == SERVER_ID)
                            .values(seen_at=utcnow()))

    return {
        "heartbeat and expiry (one row a process)": lambda: presence.heartbeat_and_expire(stale_s),
        "baseline: every connection row rewritten (the heartbeat until session 14)": every_row_rewritten,
        "escalation, nothing due": escalate_overdue,
        "release of offline doctors' consultations, none": release_offline_doctors,
        "positions flush, nothing changed": notifier.positions.flush,
    }


def measure(url: str, connections: int, passes: int) -> dict[str, list[float]]:
    """Milliseconds per run of each step, `passes` rounds, the steps alternated within a round."""
    from telemed.extensions import db

    with tempfile.TemporaryDirectory() as root:
        if url == "sqlite":
            url = f"sqlite:///{Path(root) / 'telemed.db'}"
        app = _app(url, Path(root))
        _connect(app, connections)
        times: dict[str, list[float]] = {}
        with app.app_context():
            steps = _steps(app)
            for step in steps.values():  # warm: first beat writes its row, caches fill
                step()
                db.session.remove()
            for _ in range(passes):
                for name, step in steps.items():
                    started = time.perf_counter()
                    step()
                    db.session.remove()
                    times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        with app.app_context():
            db.engine.dispose()
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2200)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--postgresql", default=os.environ.get(
        "BENCH_SWEEP_POSTGRESQL", "postgresql+psycopg2://postgres@127.0.0.1:5432/bench_sql"))
    args = parser.parse_args()
    load_start = os.getloadavg()
    results = {"SQLite": measure("sqlite", args.connections, args.passes)}
    try:
        results["PostgreSQL"] = measure(args.postgresql, args.connections, args.passes)
    except sa.exc.OperationalError as error:
        print(f"PostgreSQL skipped: {error.__class__.__name__}")
    load_end = os.getloadavg()
    lines = ["# One sweep pass, step by step, with a district's connections on the process", "",
             provenance("sweep_cost_bench.py", f"{args.connections} connection rows of this process, "
                        "in-process (no event loop)", load_start, load_end), "",
             f"{args.passes} rounds, the steps alternated within each; median and slowest, in ms.", "",
             "| database | step | median (ms) | slowest (ms) | x baseline (median) |", "|---|---|---|---|---|"]
    for database, times in results.items():
        baseline = statistics.median(next(v for k, v in times.items() if k.startswith("baseline")))
        for name, values in times.items():
            median = statistics.median(values)
            lines.append(f"| {database} | {name} | {median:.2f} | {max(values):.2f} | {median / baseline:.2f} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
