"""How telemed runs under its async mode: blocking work off the event loop, and the limits of the
eventlet WSGI server.

With the eventlet server every request and every socket shares one OS thread: an argon2 hash
(tens of milliseconds, by design) would stall every other connection meanwhile. Under eventlet
such work runs in eventlet's pool of real threads (argon2 and file I/O release the GIL), at most
`cpu_count - 1` at once so the loop keeps a core, and at a lower scheduling priority so that the
loop, the database and everything else on a small server come first when the cores are contended;
in any other async mode it runs inline. This module and `telemed/__main__.py` are the only ones
that know eventlet, so the async mode stays one setting (TELEMED_ASYNC_MODE).
"""
from __future__ import annotations

import functools
import os
import socket
import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
# How much lower the pool's threads run than the process (nice values, 0-19). A login's hash
# waiting a few milliseconds more is unseen; the loop waiting stalls every doctor and post.
_BACKGROUND_NICENESS = 10
# Read on import, in the thread that starts the server, before any pool thread is lowered.
_PROCESS_NICENESS = os.getpriority(os.PRIO_PROCESS, 0) if sys.platform == "linux" else 0
_slots: threading.BoundedSemaphore | None = None


def _under_eventlet() -> bool:
    patcher = getattr(sys.modules.get("eventlet"), "patcher", None)
    return patcher is not None and patcher.is_monkey_patched("thread")


def _blocking_slots() -> threading.BoundedSemaphore:
    # Created on first use, after monkey patching: a green semaphore, so waiters yield the loop.
    global _slots
    if _slots is None:
        _slots = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
    return _slots


def run_blocking(work: Callable[..., T], *args, **kwargs) -> T:
    """`work(*args, **kwargs)` in a real thread when serving under eventlet, inline otherwise."""
    if not _under_eventlet():
        return work(*args, **kwargs)
    from eventlet import tpool

    with _blocking_slots():
        return tpool.execute(_in_background, work, *args, **kwargs)


def _in_background(work: Callable[..., T], *args, **kwargs) -> T:
    """`work(*args, **kwargs)` after lowering the priority of the thread running it."""
    _lower_this_threads_priority()
    return work(*args, **kwargs)


def _lower_this_threads_priority() -> None:
    # On Linux the nice value belongs to each thread, and PRIO_PROCESS with 0 names the calling
    # thread only (setpriority(2), "BUGS"); elsewhere it would lower the whole server, so it is
    # left alone. Lowering needs no privilege, and a pool thread, once lowered, stays so.
    if sys.platform != "linux":
        return
    wanted = min(19, _PROCESS_NICENESS + _BACKGROUND_NICENESS)
    if os.getpriority(os.PRIO_PROCESS, 0) < wanted:
        os.setpriority(os.PRIO_PROCESS, 0, wanted)


def server_options(async_mode: str, max_connections: int, read_timeout_s: int,
                   header_deadline_s: int) -> dict:
    """Keyword arguments for `socketio.run` that bound what slow or many clients can hold."""
    if async_mode != "eventlet":
        return {}
    import eventlet
    import eventlet.wsgi

    class DeadlineProtocol(eventlet.wsgi.HttpProtocol):
        """A request's headers must arrive within the deadline, however slowly they trickle:
        a slowloris sending one header line every few seconds never trips the read timeout."""

        def parse_request(self):
            try:
                with eventlet.Timeout(header_deadline_s):
                    return super().parse_request()
            except eventlet.Timeout:
                self.close_connection = 1
                return False

    _deepen_listen_backlog(eventlet, max_connections)
    # At most this many connections at once (eventlet's default, 1,024, is fewer than one
    # district's doctors and posts); a client that sends nothing for read_timeout_s is dropped.
    # Socket.IO pings every 10 s, so live websockets always have traffic well within it.
    return {"max_size": max_connections, "socket_timeout": read_timeout_s,
            "protocol": DeadlineProtocol}


def _deepen_listen_backlog(eventlet, backlog: int) -> None:
    """socketio.run opens its socket with `eventlet.listen` and eventlet's default backlog of 50
    handshakes not yet accepted. When a district's phones reconnect at once (a restart, a cell
    tower back up) the kernel drops every SYN beyond it, and each of those clients waits for TCP to
    retry after 1, 3, 7 s. The socket it opens gets a backlog as deep as the connection limit (the
    kernel caps it at net.core.somaxconn; docs/deploy.md)."""
    listen = getattr(eventlet.listen, "__wrapped__", eventlet.listen)

    @functools.wraps(listen)
    def deep_listen(address, family=socket.AF_INET, backlog=backlog, **kwargs):
        return listen(address, family, backlog=backlog, **kwargs)

    eventlet.listen = deep_listen
