"""The client manager keeps python-socketio's room table exactly as the library's own would, and a
disconnect touches only the leaving connection's rooms."""
import itertools
import random

import socketio

from telemed.realtime.manager import Manager, RedisManager, client_manager


def _managers():
    stock, indexed = socketio.Manager(), Manager()
    for manager in (stock, indexed):
        server = socketio.Server(client_manager=manager, async_mode="threading")
        # The same ids from both, so that their room tables can be compared as they are.
        ids = itertools.count(1)
        server.eio.generate_id = lambda ids=ids: f"sid{next(ids)}"
        manager.initialize()
    return stock, indexed


def _tables(manager):
    return {ns: {room: dict(members) for room, members in rooms.items()}
            for ns, rooms in manager.rooms.items()}


def test_the_room_table_is_the_librarys_after_any_sequence_of_operations():
    stock, indexed = _managers()
    rng = random.Random(8)
    rooms = ["doctors", "admins"] + [f"facility:{i}" for i in range(5)] + [f"user:{i}" for i in range(5)]
    connected: list[tuple[str, str]] = []
    for step in range(3000):
        action = rng.random()
        if action < 0.25 or not connected:
            namespace = rng.choice(["/", "/", "/other"])
            eio_sid = f"eio{step}"
            sids = {m.connect(eio_sid, namespace) for m in (stock, indexed)}
            assert len(sids) == 1  # the same ids, so the two tables can be compared as they are
            connected.append((sids.pop(), namespace))
        elif action < 0.6:
            sid, namespace = rng.choice(connected)
            room = rng.choice(rooms)
            for manager in (stock, indexed):
                manager.enter_room(sid, namespace, room)
        elif action < 0.75:
            sid, namespace = rng.choice(connected)
            room = rng.choice(rooms)
            for manager in (stock, indexed):
                manager.leave_room(sid, namespace, room)
        elif action < 0.8:
            room = rng.choice(rooms)
            namespace = rng.choice(["/", "/other"])
            for manager in (stock, indexed):
                manager.close_room(room, namespace)
        else:
            sid, namespace = connected.pop(rng.randrange(len(connected)))
            for manager in (stock, indexed):
                manager.disconnect(sid, namespace)
        if step % 100 == 0:
            assert _tables(indexed) == _tables(stock)
            for sid, namespace in connected:
                assert sorted(indexed.get_rooms(sid, namespace)) == sorted(stock.get_rooms(sid, namespace))
    assert _tables(indexed) == _tables(stock)
    for sid, namespace in list(connected):
        for manager in (stock, indexed):
            manager.disconnect(sid, namespace)
    assert _tables(indexed) == _tables(stock) == {}
    assert indexed._rooms_of == {}  # nothing left behind for connections that are gone


class _CountingRooms(dict):
    """A namespace's rooms that count how often the whole table is copied or walked."""

    walks = 0

    def copy(self):
        _CountingRooms.walks += 1
        return super().copy()

    def items(self):
        _CountingRooms.walks += 1
        return super().items()


def test_a_disconnect_does_not_walk_every_room_of_the_process():
    stock, indexed = _managers()
    for manager in (stock, indexed):
        sids = [manager.connect(f"eio{i}", "/") for i in range(300)]
        for i, sid in enumerate(sids):
            manager.enter_room(sid, "/", f"user:{i}")
            manager.enter_room(sid, "/", "doctors")
        manager.rooms["/"] = _CountingRooms(manager.rooms["/"])
        _CountingRooms.walks = 0
        manager.disconnect(sids[0], "/")
        manager.walks = _CountingRooms.walks
        assert "user:0" not in manager.rooms["/"] and sids[0] not in manager.rooms["/"]["doctors"]
    assert stock.walks > 0      # the library's disconnect copies the table: the test can tell
    assert indexed.walks == 0


def test_the_manager_follows_the_message_queue_setting():
    assert type(client_manager(None)) is Manager
    assert type(client_manager("redis://127.0.0.1:6379/0")) is RedisManager
