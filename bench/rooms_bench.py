"""Disconnects with many connections held: python-socketio's manager against telemed's, same run.

Connects 200 doctors and 2,000 posts to both managers with the rooms telemed gives them (the sid
room, `user:<id>`, `login:<id>`, and `doctors` or `facility:<id>`), then disconnects them all, as
when a cell tower serving many posts goes down, and reports the time per disconnect and in all.
No network and no server: only the managers' own bookkeeping, which runs on the event loop. Usage:

    .venv/bin/python bench/rooms_bench.py [--doctors 200] [--posts 2000] [--repeat 3]

Results go to bench/results/rooms.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance import provenance  # noqa: E402  (bench/, the script's own folder)

from telemed.realtime.manager import Manager  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "rooms.md"


def _held(manager_class, doctors: int, posts: int):
    manager = manager_class()
    # A real server gives the manager what it needs of one (connection ids, the packet class).
    socketio.Server(client_manager=manager, async_mode="threading")
    manager.initialize()
    sids = []
    for i in range(doctors + posts):
        sid = manager.connect(f"eio{i}", "/")
        manager.enter_room(sid, "/", f"user:{i}")
        manager.enter_room(sid, "/", f"login:{i}")
        manager.enter_room(sid, "/", "doctors" if i < doctors else f"facility:{i}")
        sids.append(sid)
    return manager, sids


def _disconnect_all_s(manager_class, doctors: int, posts: int) -> float:
    manager, sids = _held(manager_class, doctors, posts)
    start = time.perf_counter()
    for sid in sids:
        manager.disconnect(sid, "/")
    elapsed = time.perf_counter() - start
    assert not manager.rooms, "every room is gone once everyone has left"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doctors", type=int, default=200)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load_start = os.getloadavg()
    runs = {"library": [], "telemed": []}
    for _ in range(args.repeat):  # alternated, so a change in the machine's load hits both
        runs["library"].append(_disconnect_all_s(socketio.Manager, args.doctors, args.posts))
        runs["telemed"].append(_disconnect_all_s(Manager, args.doctors, args.posts))
    load_end = os.getloadavg()
    clients = args.doctors + args.posts
    library, telemed = (statistics.median(runs[k]) for k in ("library", "telemed"))
    lines = [
        "# Disconnecting every connection: python-socketio's manager vs telemed's",
        "",
        provenance("rooms_bench.py", f"python-socketio {version('python-socketio')}", load_start, load_end),
        "",
        f"{args.doctors} doctors and {args.posts} posts held, each in its sid room, `user:`, `login:` and "
        f"`doctors` or `facility:`; then all of them disconnect. Median of {args.repeat} alternated runs.",
        "",
        "| manager | all disconnects (ms) | per disconnect (ms) | runs (ms) |",
        "|---|---|---|---|",
    ]
    for name, key, value in (("python-socketio `Manager` (baseline)", "library", library),
                             ("telemed `realtime.manager.Manager`", "telemed", telemed)):
        lines.append(f"| {name} | {value * 1000:.1f} | {value * 1000 / clients:.3f} | "
                     f"{', '.join(f'{x * 1000:.1f}' for x in runs[key])} |")
    lines += ["", f"Ratio telemed / library: {telemed / library:.4f} ({library / telemed:.0f} x faster).", ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
