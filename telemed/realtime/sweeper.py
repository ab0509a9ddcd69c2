"""The background sweep of a serving process: presence heartbeat, escalation, grace requeue,
and SQLite's checkpoints."""
from __future__ import annotations

from datetime import date

from flask import Flask

from telemed.concurrency import run_blocking
from telemed.db import checkpoint_wal, district_today, leave_checkpoints_to_sweep
from telemed.extensions import db, socketio


def sweep_once(app: Flask, last_day: date | None = None) -> date | None:
    """One pass: write what this process noted, then escalate, requeue and heal positions; on the
    district's first pass of a new day (after `last_day`), move this process's doctors into the
    specialty rooms their certificates allow today; last, checkpoint SQLite's write-ahead log off
    the event loop. The day it ran on (`last_day` if it failed)."""
    from telemed.realtime.notifier import notifier
    from telemed.services import logins, presence
    from telemed.services.routing import sweep

    with app.app_context():
        try:
            # Anything a failed write of connections gave back, before the heartbeat counts them.
            presence.write_pending_connections()
            logins.write_pending_touches()
            sweep()
            # Heals any place or estimate a post missed (a killed process, a moved median).
            notifier.positions.flush()
            # A listener that heard not even three passes' heartbeats is cut off from Redis.
            notifier.watch_message_queue(3 * app.config["TELEMED"].sweep_interval_s)
            today = district_today()
            if last_day is not None and today != last_day:
                # A certificate that lapsed at midnight (or starts today) changed no row.
                notifier.follow_qualifications(presence.doctor_connections(this_process=True))
            run_blocking(checkpoint_wal, db.engine)
            return today
        except Exception:  # a failed pass must not stop the next one
            app.logger.exception("sweep failed")
            db.session.rollback()
            return last_day
        finally:
            db.session.remove()


def run_forever(app: Flask) -> None:
    """Sweep every TELEMED_SWEEP_INTERVAL_S seconds until the process ends; never dies on an error."""
    interval = app.config["TELEMED"].sweep_interval_s
    with app.app_context():
        day = district_today()  # what its connects saw: a midnight before the first pass counts
    while True:
        socketio.sleep(interval)
        day = sweep_once(app, day)


def start(app: Flask):
    """Start the sweep as a Socket.IO background task (a green thread under eventlet); from now on
    it, not the commits of requests, checkpoints SQLite's write-ahead log."""
    with app.app_context():
        leave_checkpoints_to_sweep(db.engine)
    return socketio.start_background_task(run_forever, app)
