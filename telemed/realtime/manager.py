"""The Socket.IO client manager: python-socketio's, with each connection's rooms indexed.

python-socketio finds the rooms a connection leaves on disconnect by copying and scanning every
room of the process (`BaseManager.basic_disconnect`, python-socketio 5.x). Every connection has
rooms of its own (its sid, its user, its login), so with 2,000 posts connected each disconnect
scans some 8,000 rooms, and 2,000 posts dropping at once (a cell tower going down) froze the
event loop for seconds. Here each connection's rooms are kept beside the library's table, so a
disconnect costs that connection's own few rooms. tests/realtime/test_manager.py replays the same
operations on the library's manager and on this one and compares the room tables, so an upgrade
that changes the library's bookkeeping fails there.
"""
from __future__ import annotations

import time
from typing import Callable

import redis
import socketio
from redis.backoff import NoBackoff
from redis.retry import Retry


class IndexedRooms:
    """Mixin for a python-socketio manager: the rooms of each (namespace, sid), kept current."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rooms_of: dict[tuple[str, str], set] = {}

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        """Enter a room, and note it against the connection."""
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room):
        """Leave a room, and forget it for the connection."""
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs):
        """What the library's disconnect does, leaving only the connection's own rooms."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid, namespace):
        """The rooms a connection is in (its sid room included, as the library answers)."""
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]


class Manager(IndexedRooms, socketio.Manager):
    """One process: rooms in memory."""


# A PUBLISH that Redis has not answered within this long is given up (and logged), so the request
# whose change it carries answers meanwhile; redis-py alone would retry for a minute or more.
PUBLISH_TIMEOUT_S = 1.0
# After a failed PUBLISH, the next ones are dropped at once for this long rather than each waiting
# out the timeout; what was dropped is made good by a resync (below).
PUBLISH_PAUSE_S = 2.0
# The listener subscribes again at most this long after a failure (python-socketio waits up to
# 60 s), so a Redis that is back serves the processes again within seconds.
RESUBSCRIBE_MAX_WAIT_S = 2.0
# Told to every process after this one could not publish: its clients may have missed an event.
RESYNC = "telemed_resync"
# Published by each process's sweep, so that a listener that hears nothing at all is known to be
# cut off from Redis rather than merely idle.
HEARTBEAT = "telemed_heartbeat"


class RedisManager(IndexedRooms, socketio.RedisManager):
    """Several processes: events between them through Redis, and what a Redis outage costs made good.

    python-socketio delivers an event to this process's clients directly and to the others through
    Redis, so while Redis is away the other processes' clients miss it. Two guards here:
    publishing gives up within PUBLISH_TIMEOUT_S (no request waits for a Redis that stopped
    answering), and every event that may have been missed is followed by a full resync: when this
    process's listener hears messages again after a failure (it missed what the others published
    meanwhile; a connection on which it heard nothing, not even the sweep's heartbeats, for too
    long counts as failed: a host that stopped answering leaves it open and silent), and, through
    a RESYNC message to every other process, when this process publishes again after dropping
    some. `on_missed_events` (set by the notifier)
    sends every connection of this process its snapshot again, as a reconnect would."""

    def __init__(self, url: str, channel: str):
        # No retries inside redis-py: a listener that lost its connection must come back through
        # `_redis_listen_with_retries`, which knows it may have missed events.
        super().__init__(url, channel=channel, redis_options={"retry": Retry(NoBackoff(), 0)})
        self.on_missed_events: Callable[[], None] = lambda: None
        self._publisher = None
        self._paused_until = 0.0
        self._dropped = False
        self._heard_at = time.monotonic()
        self._silence_limit_s: float | None = None  # until the sweep's first watch

    def _publish(self, data) -> None:
        if time.monotonic() < self._paused_until:
            self._dropped = True
            return
        try:
            if self._publisher is None:
                self._publisher = redis.Redis.from_url(
                    self.redis_url, socket_timeout=PUBLISH_TIMEOUT_S,
                    socket_connect_timeout=PUBLISH_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
            self._publisher.publish(self.channel, self.json.dumps(data))
            if self._dropped:
                self._dropped = False
                self._publisher.publish(self.channel, self.json.dumps(
                    {"method": RESYNC, "host_id": self.host_id}))
        except redis.RedisError as exc:
            self._dropped = True
            self._paused_until = time.monotonic() + PUBLISH_PAUSE_S
            self._get_logger().error("message queue: could not publish (%s); other processes' "
                                     "clients will be sent their snapshots again", exc)

    def watch(self, silence_limit_s: float) -> None:
        """Publish a heartbeat every process's listener hears (the sweep calls this each pass): a
        listener that hears nothing for `silence_limit_s`, not even heartbeats, is cut off."""
        self._silence_limit_s = silence_limit_s
        self._publish({"method": HEARTBEAT, "host_id": self.host_id})

    def _redis_listen_with_retries(self):
        # python-socketio's loop (5.x), but reading with a timeout instead of blocking for good (a
        # silent connection is given up), waiting at most RESUBSCRIBE_MAX_WAIT_S between attempts,
        # and resyncing once messages flow again after a failure.
        retry_sleep, missed = 0.5, False
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                self._heard_at = time.monotonic()
                while True:
                    message = self.pubsub.get_message(timeout=1.0)
                    now = time.monotonic()
                    if message is None:
                        if self._silence_limit_s and now - self._heard_at > self._silence_limit_s:
                            raise redis.ConnectionError(f"nothing heard for {now - self._heard_at:.0f} s")
                        continue
                    self._heard_at, retry_sleep = now, 0.5
                    if missed:  # the subscription is live again: what was missed is sent anew
                        missed = False
                        self.on_missed_events()
                    yield message
            except Exception as exc:
                self._get_logger().error("message queue: cannot receive (%s); retrying in %.1f s",
                                         exc, retry_sleep)
                missed = True
                try:
                    if getattr(self, "pubsub", None) is not None:
                        self.pubsub.close()
                except (redis.RedisError, OSError):
                    pass  # broken already; the next attempt makes a new one
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, RESUBSCRIBE_MAX_WAIT_S)

    def _listen(self):
        for data in super()._listen():
            text = data.decode() if isinstance(data, bytes) else data
            if RESYNC in text or HEARTBEAT in text:  # cheap test first: most messages are events
                message = self.json.loads(text)
                if message.get("method") == HEARTBEAT:
                    continue
                if message.get("method") == RESYNC:
                    if message.get("host_id") != self.host_id:
                        self.on_missed_events()
                    continue
            yield data


def client_manager(message_queue: str | None, channel: str = "flask-socketio"):
    """The manager for these settings: Redis when a message queue is configured (the settings
    accept only a Redis URL), else in memory."""
    if not message_queue:
        return Manager()
    return RedisManager(message_queue, channel=channel)
