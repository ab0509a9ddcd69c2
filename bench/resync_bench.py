"""What resyncing every connected doctor of a process costs the event loop, in-process.

On the district's new day, after a message-queue outage, or when certificates of many doctors are
imported, a process sends each of its connected doctors a new `queue:snapshot`
(`Notifier.follow_qualifications`). Everything before its first emit runs without yielding the
event loop. This bench times that call for `--doctors` doctors (a third of them paediatrics as well
as general) with `--waiting` waiting requests, on one SQLite file, against the same work done one
doctor at a time in the same run (each doctor's qualifications, then their snapshot: what the call
did until session 11), with the emits of both going to no connection. Usage:

    .venv/bin/python bench/resync_bench.py [--doctors 200] [--waiting 300] [--repeat 3]

Results go to bench/results/resync.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance import provenance  # noqa: E402  (bench/, the script's own folder)

from telemed import create_app  # noqa: E402
from telemed.config import Settings  # noqa: E402
from tests.helpers import add_waiting_requests  # noqa: E402  (a long queue in one INSERT)

RESULTS = Path(__file__).resolve().parent / "results" / "resync.md"


def _world(root: Path, doctors: int, waiting: int):
    """A migrated telemed with the demo district, `doctors` more doctors and `waiting` requests;
    (app, the doctors' ids)."""
    from flask_migrate import upgrade

    from telemed.extensions import db
    from telemed.models import Facility, User
    from telemed.services.demo import load_demo_district

    app = create_app(Settings.from_env(instance_path=root / "instance", secret_key="bench",
                                       database_url=f"sqlite:///{root / 'telemed.db'}",
                                       async_mode="threading", message_queue=None))
    with app.app_context():
        upgrade()
        load_demo_district()
        hub = db.session.scalar(sa.select(Facility).where(Facility.kind == "district_hospital"))
        # Only their ids are needed (add_waiting_requests reads `.id`), kept past the commit below.
        posts = [SimpleNamespace(id=f.id) for f in db.session.scalars(
            sa.select(Facility).where(Facility.kind != "district_hospital"))]
        requester = SimpleNamespace(id=db.session.scalar(sa.select(User.id).where(User.role == "feldsher")))
        added = [User(username=f"resync{i:03d}", full_name=f"Resync {i}", role="doctor", profession="doctor",
                      facility_id=hub.id, password_hash="-",
                      specialties=["general", "pediatrics"] if i % 3 == 0 else ["general"])
                 for i in range(doctors)]
        db.session.add_all(added)
        db.session.commit()
        ids = [d.id for d in added]
        db.session.expunge_all()
    add_waiting_requests(app, requester, posts, waiting)
    return app, ids


def _time(app, ids, resync) -> float:
    from telemed.extensions import db
    from telemed.models import User

    with app.app_context():
        doctors = [(db.session.get(User, i), []) for i in ids]
        start = time.perf_counter()
        resync(doctors)
        elapsed = time.perf_counter() - start
        db.session.remove()
    return elapsed


def _one_at_a_time(doctors) -> None:
    """The baseline: each doctor's qualifications and snapshot read and sent on their own."""
    from telemed.realtime.notifier import notifier
    from telemed.realtime.rooms import user_room
    from telemed.services.certifications import qualified_specialties
    from telemed.services.snapshots import queue_snapshot

    snapshots = [(doctor.id, queue_snapshot(doctor, qualified_specialties(doctor))) for doctor, _sids in doctors]
    for doctor_id, snapshot in snapshots:  # every read first, then the emits, as the call did
        notifier._emit("queue:snapshot", snapshot, user_room(doctor_id), local=True)
        notifier._server.sleep(0)


def _together(doctors) -> None:
    from telemed.realtime.notifier import notifier

    notifier.follow_qualifications(doctors, local=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doctors", type=int, default=200)
    parser.add_argument("--waiting", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="resync-"))
    try:
        app, ids = _world(root, args.doctors, args.waiting)
        for kind in (_one_at_a_time, _together):  # warm-up: compiled statements, cached estimates
            _time(app, ids, kind)
        load_start = os.getloadavg()
        runs: dict[str, list[float]] = {"one": [], "together": []}
        for _ in range(args.repeat):  # alternated
            runs["one"].append(_time(app, ids, _one_at_a_time))
            runs["together"].append(_time(app, ids, _together))
        load_end = os.getloadavg()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    one, together = statistics.median(runs["one"]), statistics.median(runs["together"])
    lines = [
        "# Resyncing every connected doctor of a process",
        "",
        provenance("resync_bench.py", "SQLite, in-process (no event loop, emits to no connection)",
                   load_start, load_end),
        "",
        f"{args.doctors} doctors (one in three also paediatrics), {args.waiting} waiting requests; "
        f"{args.repeat} runs of each, alternated; the median.",
        "",
        "| how | time (ms) | x baseline | runs (ms) |",
        "|---|---|---|---|",
        f"| one doctor at a time: qualifications, then snapshot (baseline) | {one * 1000:.0f} | 1.00 | "
        f"{', '.join(f'{x * 1000:.0f}' for x in runs['one'])} |",
        f"| `follow_qualifications`: read together | {together * 1000:.0f} | {together / one:.2f} | "
        f"{', '.join(f'{x * 1000:.0f}' for x in runs['together'])} |",
        "",
        "The time of the whole call. In both, every read comes before the first emit: on the event loop "
        "that part runs without a yield, and no other request or event of the process is served meanwhile.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
