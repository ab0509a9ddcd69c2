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

import socketio


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


class RedisManager(IndexedRooms, socketio.RedisManager):
    """Several processes: events between them through Redis."""


def client_manager(message_queue: str | None, channel: str = "flask-socketio"):
    """The manager for these settings: Redis when a message queue is configured (the settings
    accept only a Redis URL), else in memory."""
    if not message_queue:
        return Manager()
    return RedisManager(message_queue, channel=channel)
