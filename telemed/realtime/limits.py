"""Per-connection rate limits on client events (DESIGN.md: over the limit the ack is `rate_limited`).

A connection lives in exactly one server process, so its counters live in that process's memory,
beside the connection: for each limit, the times of its events still inside the limit's window (a
moving window, as the `limits` library counts one; that library parses the settings). Counting an
event looks at that connection's own times only, and they go when the connection closes.

The `limits` library's in-memory storage is not used here: it drops old entries with a timer that
walks every key of every connection, every 10 ms while events arrive, on the event loop (5 ms a
pass under eventlet once 2,200 connections have sent an event; docs/decisions.md).

Every event counts against TELEMED_SOCKET_RATE_LIMIT; `queue:sync`, which rebuilds a whole
snapshot, also against TELEMED_SOCKET_SYNC_RATE_LIMIT. A connection that goes on sending after as
many refusals again as its limit allows events is flooding, not retrying: it is disconnected, so
what it has queued is dropped unread (a real page reconnects and gets a fresh snapshot).
"""
from __future__ import annotations

from collections import deque
from functools import lru_cache
from time import monotonic

from flask import current_app
from limits import RateLimitItem, parse_many

EXPENSIVE_EVENTS = {"queue:sync"}
# sid -> (bucket, limit) -> monotonic times of the events counted within the limit's window.
# A connection's events run one after another (async_handlers off), so only its own handler
# touches its entry; adding and dropping entries are single dict operations.
_windows: dict[str, dict[tuple[str, RateLimitItem], deque[float]]] = {}


@lru_cache(maxsize=32)
def _parsed(rate: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(rate))


def _hit(sid: str, bucket: str, limit: RateLimitItem) -> bool:
    """Count one event against `limit` unless the window is full (a refused event is not counted)."""
    times = _windows.setdefault(sid, {}).setdefault((bucket, limit), deque())
    now = monotonic()
    horizon = now - limit.get_expiry()
    while times and times[0] <= horizon:
        times.popleft()
    if len(times) >= limit.amount:
        return False
    times.append(now)
    return True


def allow(sid: str, event: str) -> bool:
    """Count one event of this connection; False when it is over a limit (and is refused)."""
    settings = current_app.config["TELEMED"]
    checks = [("event", settings.socket_rate_limit)]
    if event in EXPENSIVE_EVENTS:
        checks.append((event, settings.socket_sync_rate_limit))
    return all(_hit(sid, bucket, limit) for bucket, rate in checks for limit in _parsed(rate))


def flooding(sid: str) -> bool:
    """Count one refusal of this connection; True once it has been refused too often to be a page."""
    rate = current_app.config["TELEMED"].socket_rate_limit
    return not all(_hit(sid, "refused", limit) for limit in _parsed(rate))


def forget(sid: str) -> None:
    """Drop a closed connection's counters."""
    _windows.pop(sid, None)
