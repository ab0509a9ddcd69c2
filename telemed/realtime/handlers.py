"""Socket.IO handlers: authenticate, validate, call one service, acknowledge."""
from __future__ import annotations

import threading
from functools import wraps
from typing import NamedTuple

from flask import current_app, has_request_context, request, session
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, disconnect, join_room, leave_room
from marshmallow import Schema

from telemed.errors import DATABASE_OUTAGES, RateLimited, ServiceError, Unauthenticated, database_unavailable
from telemed.extensions import db, socketio
from telemed.locales import browser_locale, user_locale
from telemed.realtime import limits
from telemed.realtime.coalesce import Coalesced
from telemed.realtime.notifier import notifier
from telemed.realtime.rooms import login_room, rooms_for, specialty_rooms
from telemed.schemas.common import validated
from telemed.schemas.consultation import ConsultationIdSchema
from telemed.schemas.message import SocketMessageSchema
from telemed.schemas.staff import PresenceSchema
from telemed.services import audit, consultations, logins, messages, presence
from telemed.services.certifications import qualified_specialties
from telemed.services.policy import require_role
from telemed.services.representation import consultation_payload, message_payload
from telemed.services.snapshots import consultations_snapshot, queue_snapshot
from telemed.sessions import cookie_login

LOCALE_KEY = "telemed_socket_locale"
# Connections opened and closed within one interval are written together (services/presence.py).
connections_written = Coalesced(presence.write_pending_connections,
                                lambda app: app.config["TELEMED"].connections_write_interval_s,
                                "writing connections")
class _Opening(NamedTuple):
    """A connection accepted and not yet admitted: the login its cookie names, unchecked, and its
    own copy of the session (where its language is kept)."""
    login_id: str
    user_id: int
    session: dict


class _AwaitingAdmission:
    """Connections accepted and not yet admitted, by sid: those opened while the loop was busy are
    admitted together at its next turn (at once when connections are written at once, as in
    tests). A lone connection waits for nothing. Locked: under the threading async mode a connect
    may note itself while a run takes the others."""

    def __init__(self):
        self._lock = threading.Lock()
        self._openings: dict[str, _Opening] = {}

    def add(self, sid: str, opening: _Opening) -> None:
        with self._lock:
            self._openings[sid] = opening

    def discard(self, sid: str) -> None:
        with self._lock:
            self._openings.pop(sid, None)

    def take(self) -> dict[str, _Opening]:
        """Every connection noted so far; one noted while these are admitted waits for the next run."""
        with self._lock:
            taken, self._openings = self._openings, {}
            return taken


_awaiting_admission = _AwaitingAdmission()
# Coalesced runs at once after a quiet spell, then at most once per interval: this one only keeps
# the runs of a storm a loop turn apart.
ADMISSION_INTERVAL_S = 0.001


def _admit_connections() -> set[str]:
    """Admit the connections noted since the last run: their logins checked in one statement (as
    every request's is), then those still open join their rooms, are noted as connected, and get
    their first snapshots, read together; those whose login has ended are told so and closed. A
    district back after an outage connects at once, and a round of statements per phone would
    queue them all behind the database. The sids refused."""
    openings = _awaiting_admission.take()
    try:
        users = logins.users_of({opening.login_id: opening.user_id for opening in openings.values()})
        # Out of the session, each once (a doctor's tabs and devices share one loaded user): their
        # columns are all the snapshots read, and a commit meanwhile would cost a reload each.
        for user in {id(user): user for user in users.values()}.values():
            db.session.expunge(user)
        # The read may have let other green threads run: a connection closed meanwhile is left out
        # (its close was noted, and a connection noted after it would outlive it).
        manager = socketio.server.manager
        still_open = {sid: opening for sid, opening in openings.items()
                      if manager.is_connected(sid, "/") or manager.is_pre_connected(sid, "/")}
        admitted, refused = {}, set()
        for sid, opening in still_open.items():
            user = users.get(opening.login_id)
            if user is None:
                refused.add(sid)
                continue
            for room in [*rooms_for(user), login_room(opening.login_id)]:
                socketio.server.enter_room(sid, room, namespace="/")
            opening.session[LOCALE_KEY] = user_locale(user, opening.session[LOCALE_KEY])
            presence.connected(user, sid, opening.login_id)
            admitted[sid] = user
        connections_written.soon()
        notifier.first_snapshots(admitted)
    except Exception:
        # A page without its snapshot would show an empty or stale queue as if current: closed,
        # it reconnects (with its back-off) and reads again, as when a connect handler failed.
        for sid in openings:
            socketio.server.disconnect(sid, namespace="/")
        raise
    # One still in its connect handler cannot be closed yet: refused by that handler when this run
    # is in it (admitted at once); otherwise (the threading async mode, its handler not yet
    # returned) looked at again at the next turn.
    own = request.sid if has_request_context() else None
    connecting = {sid for sid in refused if sid != own and manager.is_pre_connected(sid, "/")}
    for sid in connecting:
        _awaiting_admission.add(sid, openings[sid])
    if connecting:
        connections_admitted.soon()
    notifier.turn_away([sid for sid in refused - connecting if sid != own])
    return refused


connections_admitted = Coalesced(
    _admit_connections,
    lambda app: ADMISSION_INTERVAL_S if app.config["TELEMED"].connections_write_interval_s > 0 else 0,
    "admitting connections")


def _send_snapshot(qualified: list[str] | None = None) -> None:
    user = current_user
    if user.role == "doctor":
        notifier.snapshot("queue:snapshot", queue_snapshot(user, qualified), request.sid)
    elif user.role == "feldsher":
        notifier.snapshot("consultations:snapshot", consultations_snapshot(user.facility_id),
                          request.sid)


# Every client event and the roles that may send it (DESIGN.md, Real-time); tests walk it.
CLIENT_EVENTS: dict[str, tuple[str, ...]] = {}


def action(event: str, roles: tuple[str, ...], schema: Schema | None = None):
    """Register a client event: rate-limit it per connection, refuse it when logged out or sent by
    a role not listed, validate the payload, call the handler, and acknowledge with `{"ok": ...}`."""
    CLIENT_EVENTS[event] = roles

    def decorator(handler):
        @wraps(handler)
        def wrapper(payload=None):
            # Events run in the reading green thread (async_handlers off): let the others run
            # between two events of one connection, however fast its frames arrive.
            socketio.sleep(0)
            if not limits.allow(request.sid, event):
                # Refused before any work, without even loading the user (the language was noted
                # at connect): a flooding client costs a counter, nothing else.
                if limits.flooding(request.sid):
                    disconnect()
                with force_locale(session.get(LOCALE_KEY)):
                    message = _("Too many events from this connection; wait a moment.")
                return {"ok": False, "error": RateLimited(message).to_dict()}
            try:
                if not current_user.is_authenticated:
                    raise Unauthenticated(_("Log in first."))
                require_role(current_user, *roles)
                data = validated(schema, payload if payload is not None else {}) if schema else {}
                return {"ok": True, **(handler(data) or {})}
            except ServiceError as error:
                db.session.rollback()
                audit.record_refusal(current_user, error, f"socket {event}")
                return {"ok": False, "error": error.to_dict()}
            except DATABASE_OUTAGES as error:
                # As over HTTP (errorhandlers.py): a busy or absent database, not a bug; the
                # page tries again.
                db.session.remove()
                current_app.logger.warning("database unavailable on socket %s: %s", event,
                                           error.__class__.__name__)
                with force_locale(session.get(LOCALE_KEY)):
                    return {"ok": False, "error": database_unavailable().to_dict()}
            except Exception:
                db.session.rollback()
                current_app.logger.exception("socket event %s failed", event)
                return {"ok": False, "error": {"code": "internal_error",
                                               "message": _("Something went wrong on the server.")}}
        socketio.on(event)(wrapper)
        return wrapper
    return decorator


@socketio.on("connect")
def on_connect(auth=None):
    """Refuse a connection without a login; note the others, admitted together at the loop's next
    turn (`_admit_connections`), which checks their logins and sends their first snapshots."""
    login = cookie_login()
    if login is None:
        raise ConnectionRefusedError("unauthenticated")
    # This connection's own copy of the session; the user's own choice replaces it on admission.
    session[LOCALE_KEY] = browser_locale()
    _awaiting_admission.add(request.sid, _Opening(*login, session._get_current_object()))
    refused = connections_admitted.soon()
    if refused and request.sid in refused:
        raise ConnectionRefusedError("unauthenticated")


@socketio.on("disconnect")
def on_disconnect(reason=None):
    """A connection closed, however it closed: forget it; a doctor's presence may turn offline."""
    presence.disconnected(request.sid)
    limits.forget(request.sid)
    _awaiting_admission.discard(request.sid)
    connections_written.soon()


@action("consultation:accept", ("doctor",), ConsultationIdSchema())
def on_accept(data):
    """consultation:accept — claim a waiting consultation."""
    return {"consultation": consultation_payload(consultations.accept(current_user, data["id"]))}


@action("message:send", ("feldsher", "doctor"), SocketMessageSchema())
def on_message_send(data):
    """message:send — post a chat message (idempotent by client_key)."""
    message, created = messages.send_message(
        current_user, data["consultation_id"], data["body"], data["client_key"]
    )
    return {"message": message_payload(message), "created": created}


@action("presence:set", ("doctor",), PresenceSchema())
def on_presence_set(data):
    """presence:set — choose available or away."""
    return {"status": presence.set_status(current_user, data["status"])}


@action("queue:sync", ("feldsher", "doctor", "admin"))
def on_queue_sync(data):
    """queue:sync — send the snapshot again; a doctor's specialty rooms follow it."""
    specialties = None
    if current_user.role == "doctor":
        specialties = qualified_specialties(current_user)
        joined, left = specialty_rooms(specialties)
        for room in joined:
            join_room(room)
        for room in left:
            leave_room(room)
    _send_snapshot(specialties)
    return {}
