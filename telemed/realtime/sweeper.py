"""The background sweep of a serving process: presence heartbeat, escalation, grace requeue."""
from __future__ import annotations

from flask import Flask

from telemed.extensions import db, socketio


def sweep_once(app: Flask) -> None:
    """One pass: write what this process noted, then escalate, requeue and heal positions."""
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
        except Exception:  # a failed pass must not stop the next one
            app.logger.exception("sweep failed")
            db.session.rollback()
        finally:
            db.session.remove()


def run_forever(app: Flask) -> None:
    """Sweep every TELEMED_SWEEP_INTERVAL_S seconds until the process ends; never dies on an error."""
    interval = app.config["TELEMED"].sweep_interval_s
    while True:
        socketio.sleep(interval)
        sweep_once(app)


def start(app: Flask):
    """Start the sweep as a Socket.IO background task (a green thread under eventlet)."""
    return socketio.start_background_task(run_forever, app)
