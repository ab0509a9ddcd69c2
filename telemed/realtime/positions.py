"""`queue:positions`: small, coalesced updates of waiting requests' places, per facility.

A queue change marks the positions dirty; at most once per `positions_interval_s` the queue is read
once and each facility whose numbers differ from what it was last sent gets one event with its own
waiting requests. What was last sent is shared by every server process (a Redis hash when a message
queue is configured), so a process never skips a change because another one sent older numbers.
The sweep also calls `flush`, which heals anything missed (a process killed mid-way, a cached
estimate that moved).
"""
from __future__ import annotations

import json

from flask import Flask

from telemed.realtime.coalesce import Coalesced
from telemed.realtime.rooms import facility_room
from telemed.services.queue import QueueState

REDIS_KEY = "telemed:queue_positions:last_sent"


class MemoryStore:
    """What each facility was last sent, for a single server process."""

    def __init__(self):
        self._sent: dict[str, str] = {}

    def get_all(self) -> dict[str, str]:
        return dict(self._sent)

    def update(self, changed: dict[str, str], removed: list[str]) -> None:
        self._sent.update(changed)
        for key in removed:
            self._sent.pop(key, None)


class RedisStore:
    """What each facility was last sent, shared by every process through Redis."""

    def __init__(self, url: str):
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)

    def get_all(self) -> dict[str, str]:
        return self._redis.hgetall(REDIS_KEY)

    def update(self, changed: dict[str, str], removed: list[str]) -> None:
        pipe = self._redis.pipeline()
        if changed:
            pipe.hset(REDIS_KEY, mapping=changed)
        if removed:
            pipe.hdel(REDIS_KEY, *removed)
        pipe.execute()


class PositionsBroadcaster:
    """Decides when to send `queue:positions` and to which facility rooms."""

    def __init__(self, emit):
        self._emit = emit
        self._store = None
        self._coalesced = Coalesced(self._send_changed,
                                    lambda app: app.config["TELEMED"].positions_interval_s,
                                    "queue:positions flush")

    def configure(self, app: Flask) -> None:
        """Choose the shared store for this app's settings."""
        queue_url = app.config["TELEMED"].message_queue
        self._store = RedisStore(queue_url) if queue_url else MemoryStore()

    def queue_changed(self) -> None:
        """The waiting queue or the doctors available changed: send positions soon (coalesced)."""
        self._coalesced.soon()

    def flush(self) -> list[int]:
        """Read the queue once; send each facility whose numbers changed. Returns those facilities."""
        return self._coalesced.run()

    def _send_changed(self) -> list[int]:
        current = {str(facility): json.dumps(items, sort_keys=True)
                   for facility, items in QueueState.now().position_items().items()}
        previous = self._store.get_all()
        changed = {key: text for key, text in current.items() if previous.get(key) != text}
        removed = [key for key in previous if key not in current]
        for key, text in changed.items():
            self._emit("queue:positions", {"items": json.loads(text)}, facility_room(key))
        # A post left with nothing waiting needs no positions: each request that left the queue
        # was announced to it by its own consultation:update.
        self._store.update(changed, removed)
        return sorted(int(key) for key in changed)
