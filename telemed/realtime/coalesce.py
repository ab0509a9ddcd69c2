"""Work asked for often and done at most once per interval, in a background task of its own."""
from __future__ import annotations

import threading
import time
from typing import Callable

from flask import Flask, current_app

from telemed.extensions import db, socketio


class Coalesced:
    """Runs `work` in an application context soon after `soon()`: at once when the interval is 0
    (tests), else once for every request made within one interval of the last run."""

    def __init__(self, work: Callable[[], object], interval_s: Callable[[Flask], float], name: str):
        self._work = work
        self._interval_s = interval_s
        self._name = name
        self._lock = threading.Lock()
        self._scheduled = False
        self._last_run = 0.0

    def soon(self):
        """Ask for a run; a run already scheduled covers this request. What the work returned when
        it ran at once (interval 0), else None."""
        app = current_app._get_current_object()
        interval = self._interval_s(app)
        if interval <= 0:
            return self.run()
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        delay = max(0.0, self._last_run + interval - time.monotonic())
        socketio.start_background_task(self._run_later, app, delay)
        return None

    def run(self):
        """Do the work now (the caller's application context); what it returns."""
        self._last_run = time.monotonic()
        return self._work()

    def _run_later(self, app: Flask, delay: float) -> None:
        socketio.sleep(delay)
        with self._lock:
            self._scheduled = False
        with app.app_context():
            try:
                self.run()
            except Exception:  # the next request or the sweep runs it again
                app.logger.exception("%s failed", self._name)
                db.session.rollback()
            finally:
                db.session.remove()
