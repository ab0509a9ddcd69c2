"""Blocking or CPU-heavy work (password hashing, large files) kept off the event loop.

With the eventlet server every request and every socket shares one OS thread: an argon2 hash
(tens of milliseconds, by design) would stall every other connection meanwhile. Under eventlet the
work runs in eventlet's pool of real threads (argon2 and file I/O release the GIL); in any other
async mode it runs inline. This module and `telemed/__main__.py` are the only ones that know
eventlet, so the async mode stays one setting (TELEMED_ASYNC_MODE).
"""
from __future__ import annotations

import sys
from typing import Callable, TypeVar

T = TypeVar("T")


def _under_eventlet() -> bool:
    patcher = getattr(sys.modules.get("eventlet"), "patcher", None)
    return patcher is not None and patcher.is_monkey_patched("thread")


def run_blocking(work: Callable[..., T], *args, **kwargs) -> T:
    """`work(*args, **kwargs)` in a real thread when serving under eventlet, inline otherwise."""
    if _under_eventlet():
        from eventlet import tpool

        return tpool.execute(work, *args, **kwargs)
    return work(*args, **kwargs)
