"""Per-connection rate limits on client events (DESIGN.md: over the limit the ack is `rate_limited`).

A connection lives in exactly one server process, so its counters live in that process's memory
(the `limits` library's moving window). Every event counts against TELEMED_SOCKET_RATE_LIMIT;
`queue:sync`, which rebuilds a whole snapshot, also against TELEMED_SOCKET_SYNC_RATE_LIMIT.
A connection that goes on sending after as many refusals again as its limit allows events is
flooding, not retrying: it is disconnected, so what it has queued is dropped unread (a real page
reconnects and gets a fresh snapshot).
"""
from __future__ import annotations

from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

_limiter = MovingWindowRateLimiter(MemoryStorage())
EXPENSIVE_EVENTS = {"queue:sync"}


@lru_cache(maxsize=32)
def _parsed(rate: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(rate))


def allow(sid: str, event: str) -> bool:
    """Count one event of this connection; False when it is over a limit (and is refused)."""
    settings = current_app.config["TELEMED"]
    checks = [("event", settings.socket_rate_limit)]
    if event in EXPENSIVE_EVENTS:
        checks.append((event, settings.socket_sync_rate_limit))
    return all(_limiter.hit(item, sid, bucket)
               for bucket, rate in checks for item in _parsed(rate))


def flooding(sid: str) -> bool:
    """Count one refusal of this connection; True once it has been refused too often to be a page."""
    rate = current_app.config["TELEMED"].socket_rate_limit
    return not all(_limiter.hit(item, sid, "refused") for item in _parsed(rate))
