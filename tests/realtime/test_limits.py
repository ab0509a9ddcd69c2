"""Per-connection event limits: a moving window per connection, counted without any sweep over
the other connections, and forgotten when the connection closes."""
import threading

from telemed.extensions import socketio
from telemed.realtime import limits


def test_a_full_window_refuses_until_its_oldest_event_leaves_it(app, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(limits, "monotonic", lambda: clock[0])
    monkeypatch.setattr(app.config["TELEMED"], "socket_rate_limit", "3 per 10 seconds")
    with app.app_context():
        answers = []
        for _ in range(3):
            answers.append(limits.allow("sid-a", "presence:set"))
            clock[0] += 1.0
        assert answers == [True, True, True]             # at 1000, 1001 and 1002
        assert not limits.allow("sid-a", "presence:set")  # 1003: full
        assert limits.allow("sid-b", "presence:set")      # another connection counts on its own
        clock[0] = 1009.5
        assert not limits.allow("sid-a", "presence:set")  # refusals were not counted; still full
        clock[0] = 1010.0                                # the event of 1000 has left the window
        assert limits.allow("sid-a", "presence:set")
        assert not limits.allow("sid-a", "presence:set")
    limits.forget("sid-a")
    limits.forget("sid-b")


def test_counting_starts_no_background_sweep(app):
    """The `limits` library's memory storage starts a timer that walks every key every 10 ms."""
    def timers():  # only timer threads: other tests' servers may start or end threads meanwhile
        return {t for t in threading.enumerate() if isinstance(t, threading.Timer)}

    before = timers()
    with app.app_context():
        for n in range(2000):
            limits.allow(f"sid-{n}", "queue:sync")
            limits.flooding(f"sid-{n}")
    assert timers() <= before
    for n in range(2000):
        limits.forget(f"sid-{n}")


def test_a_closed_connection_leaves_no_counters(app, login, district):
    doctor = socketio.test_client(app, flask_test_client=login(district.doctor).http)
    sid = doctor.eio_sid and socketio.server.manager.sid_from_eio_sid(doctor.eio_sid, "/")
    assert doctor.emit("queue:sync", {}, callback=True)["ok"]
    assert sid in limits._windows
    doctor.disconnect()
    assert sid not in limits._windows
