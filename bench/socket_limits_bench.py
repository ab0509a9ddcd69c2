"""What counting socket events costs the event loop when many connections have sent one.

Under eventlet, as `telemed serve` runs, `--connections` connections each send one event (so each
has counters), then for `--seconds` one event arrives every 5 ms from one of them in turn. Measured:
the process's CPU share over that time (the loop's busy time) and the loop's lag (a green thread
asking to sleep 1 ms, how late it wakes), for

- the baseline: the `limits` library's moving window on its `MemoryStorage`, as telemed counted
  until session 11 (its timer walks every key every 10 ms while events arrive);
- telemed: `telemed.realtime.limits`, each connection's own window.

Both count "30 per 10 seconds" per connection plus "4 per 10 seconds" for `queue:sync`, as the
settings' defaults do. Usage:

    .venv/bin/python bench/socket_limits_bench.py [--connections 200,2200] [--seconds 3]

Results go to bench/results/socket-limits.md.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance import provenance  # noqa: E402  (bench/, the script's own folder)

RESULTS = Path(__file__).resolve().parent / "results" / "socket-limits.md"
EVENT_LIMIT, SYNC_LIMIT = "30 per 10 seconds", "4 per 10 seconds"


def _library_counter():
    from limits import parse
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(MemoryStorage())
    event, sync = parse(EVENT_LIMIT), parse(SYNC_LIMIT)
    return lambda sid: limiter.hit(event, sid, "event") and limiter.hit(sync, sid, "queue:sync")


def _telemed_counter():
    from flask import Flask

    from telemed.realtime import limits

    app = Flask("bench")
    app.config["TELEMED"] = SimpleNamespace(socket_rate_limit=EVENT_LIMIT, socket_sync_rate_limit=SYNC_LIMIT)

    def count(sid: str) -> bool:
        # limits reads the settings from the current app; a handler always runs inside one (its
        # cost is counted here against telemed).
        with app.app_context():
            return limits.allow(sid, "queue:sync")
    return count


def _measure(count, connections: int, seconds: float) -> dict:
    for n in range(connections):
        count(f"sid-{n}")
    lags: list[float] = []
    done = eventlet.event.Event()

    def ticker():
        while not done.ready():
            start = time.perf_counter()
            eventlet.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    def trickle():
        n = 0
        while not done.ready():
            count(f"sid-{n % connections}")
            n += 1
            eventlet.sleep(0.005)

    eventlet.sleep(0.05)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    threads = [eventlet.spawn(ticker), eventlet.spawn(trickle)]
    eventlet.sleep(seconds)
    done.send(True)
    for thread in threads:
        thread.wait()
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    lags.sort()
    return {"cpu_pct": round(cpu * 100, 1), "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 2),
            "lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2),
            "lag_max_ms": round(lags[-1] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="200,2200")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    sizes = [int(x) for x in args.connections.split(",")]
    load_start = os.getloadavg()
    rows = []
    for connections in sizes:
        # A fresh counter per size and kind: the library's storage keeps its keys for 10 s.
        library = _measure(_library_counter(), connections, args.seconds)
        ours = _measure(_telemed_counter(), connections, args.seconds)
        rows.append((connections, library, ours))
    lines = [
        "# Counting socket events with many connections: the loop's cost",
        "",
        provenance("socket_limits_bench.py", "eventlet", load_start, os.getloadavg()),
        "",
        f"Each connection has sent one event; then one event every 5 ms for {args.seconds:g} s. CPU is the "
        "process's share of one core over that time (the event loop's busy time); lag is how late a green "
        "thread sleeping 1 ms wakes.",
        "",
        "| connections | counter | CPU % | loop lag p50 / p99 / max (ms) |",
        "|---|---|---|---|",
    ]
    for connections, library, ours in rows:
        for name, r in (("`limits` MemoryStorage, moving window (baseline)", library),
                        ("telemed.realtime.limits", ours)):
            lines.append(f"| {connections} | {name} | {r['cpu_pct']} | {r['lag_p50_ms']} / {r['lag_p99_ms']} / "
                         f"{r['lag_max_ms']} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
