"""The one place that emits Socket.IO events: it subscribes to committed domain events.

`handle` receives all the events of one committed transaction at once. Every consultation they name
is loaded in one statement and its payload is built once whatever the number of recipients; a
waiting one's place is counted in SQL, or the whole queue read once when a batch has several.
Queue places then go out as small, coalesced `queue:positions` events to the facilities whose
numbers changed (realtime/positions.py). Nothing here reads more than one row per waiting request,
and that only for a batch.
"""
from __future__ import annotations

from flask import Flask, g
from socketio import PubSubManager
from sqlalchemy import select

from telemed.db import end_read_transaction
from telemed.extensions import db, socketio
from telemed.models import Consultation, Message, User
from telemed.realtime.positions import PositionsBroadcaster
from telemed.realtime.rooms import (
    ADMINS_ROOM,
    DOCTORS_ROOM,
    consultation_rooms,
    facility_room,
    login_room,
    offer_rooms,
    specialty_rooms,
    user_room,
)
from telemed.services import events, presence, queue
from telemed.services.certifications import qualified_specialties_of
from telemed.services.events import (
    ConsultationChanged,
    MessageSent,
    PresenceChanged,
    QualificationsChanged,
    SessionEnded,
)
from telemed.services.queue import QueueState
from telemed.services.representation import consultation_payload, message_payload
from telemed.services.snapshots import consultations_snapshot, consultations_snapshots, queue_snapshots

# A sweep escalating hundreds at once is published in slices, letting every other green thread
# (a health check, a doctor's claim) run between them: consultations loaded and shaped per slice,
# and emits between yields (each emit to the doctors' room queues one packet per connection).
LOAD_SLICE = 25
EMITS_PER_YIELD = 5


class Notifier:
    """Turns committed domain events into Socket.IO events for the right rooms."""

    def __init__(self, server=socketio):
        self._server = server
        self.positions = PositionsBroadcaster(self._emit)

    def init_app(self, app: Flask) -> None:
        """Subscribe to committed domain events, pick the positions store for this app, and have
        the message queue (if any) ask for a resync when events may have been missed."""
        self.positions.configure(app)
        events.subscribe(self.handle)
        self._app = app
        manager = self._server.server.manager
        if hasattr(manager, "on_missed_events"):
            manager.on_missed_events = self._resync_this_process

    def _emit(self, event: str, payload, rooms: list[str] | str, local: bool = False) -> None:
        # `local`: to this process's connections only, not through the message queue.
        self._server.emit(event, payload, to=rooms, ignore_queue=local)

    def watch_message_queue(self, silence_limit_s: float) -> None:
        """With a message queue: heartbeat, and reconnect a listener silent for too long."""
        watch = getattr(self._server.server.manager, "watch", None)
        if watch is not None:
            watch(silence_limit_s)

    def _resync_this_process(self) -> None:
        """Every connection of this process gets its snapshot again, as after a reconnect: events
        published by other processes while the message queue was away never reached it. The
        administrators' pages, which get no snapshot on connect, get every post's open
        consultations, and read their overview again."""
        with self._app.app_context():
            try:
                self.follow_qualifications(presence.doctor_connections(this_process=True), local=True)
                posts = consultations_snapshots(presence.facilities_connected(this_process=True))
                for facility_id, snapshot in posts.items():
                    self._emit("consultations:snapshot", snapshot, facility_room(facility_id), local=True)
                    self._server.sleep(0)
                self._emit("consultations:snapshot", consultations_snapshot(None), ADMINS_ROOM, local=True)
            except Exception:  # the listener that called this must go on listening
                self._app.logger.exception("resync after the message queue came back failed")
            finally:
                db.session.remove()

    def handle(self, committed: list) -> None:
        """Publish one committed transaction's events."""
        changes = [e for e in committed if isinstance(e, ConsultationChanged)]
        if changes:
            self._consultations_changed(changes)
        for event in committed:
            if isinstance(event, MessageSent):
                self._message_sent(event)
            elif isinstance(event, PresenceChanged):
                self._presence_changed(event)
            elif isinstance(event, SessionEnded):
                self._session_ended(event)
            elif isinstance(event, QualificationsChanged):
                self.follow_qualifications(presence.doctor_connections(event.user_ids))

    def _consultations_changed(self, changes: list[ConsultationChanged]) -> None:
        queue = QueueState.now()
        # Held for the rest of the request: the service and the view use these same objects (the
        # session's identity map holds them only weakly) instead of loading them again.
        published = g.telemed_published = {}
        queue_moved = False
        # In slices (LOAD_SLICE, EMITS_PER_YIELD); a single change is one slice.
        for first in range(0, len(changes), LOAD_SLICE):
            part = changes[first:first + LOAD_SLICE]
            if first:
                self._server.sleep(0)
            ids = list(dict.fromkeys(change.consultation_id for change in part))
            published.update((c.id, c) for c in db.session.scalars(
                select(Consultation).where(Consultation.id.in_(ids))
                .execution_options(populate_existing=True)
            ).unique())
            queue.expect([published[i] for i in ids if i in published])
            outgoing = []
            for change in part:
                consultation = published.get(change.consultation_id)
                if consultation is None:
                    continue
                payload = consultation_payload(consultation, queue)
                outgoing.append(("consultation:update", payload,
                                 consultation_rooms(consultation, change.previous_doctor_id)))
                if consultation.status == "waiting":
                    outgoing.append(("queue:upsert", payload, offer_rooms(consultation)))
                    queue_moved = True
                elif change.left_queue_reason is not None:
                    outgoing.append(("queue:remove", {"id": str(consultation.id),
                                                      "reason": change.left_queue_reason}, DOCTORS_ROOM))
                    queue_moved = True
            end_read_transaction(db.session)  # no pooled connection is held during the fan-out
            for sent, (event, payload, rooms) in enumerate(outgoing, start=1):
                self._emit(event, payload, rooms)
                if sent % EMITS_PER_YIELD == 0:
                    self._server.sleep(0)
        if queue_moved:
            self.positions.queue_changed()

    def _message_sent(self, event: MessageSent) -> None:
        message = db.session.get(Message, event.message_id)
        consultation = db.session.get(Consultation, event.consultation_id)
        rooms = consultation_rooms(consultation)
        rooms.remove(ADMINS_ROOM)  # a chat is for its participants only
        self._emit("message:new", message_payload(message), rooms)

    def _presence_changed(self, event: PresenceChanged) -> None:
        # To the administrators and to the doctor's own tabs; other doctors' pages do not show
        # colleagues' presence, and telling every doctor of every connect is O(doctors²).
        self._emit("presence:update", {"user_id": event.user_id, "status": event.status},
                   [ADMINS_ROOM, user_room(event.user_id)])
        queue.availability_changed()
        self.positions.queue_changed()  # doctors available and expected waits moved

    def _session_ended(self, event: SessionEnded) -> None:
        self._emit("session:ended", {}, login_room(event.login_id))
        for sid in event.connection_sids:
            # With a message queue, a connection held by another process is closed by that one.
            self._server.server.disconnect(sid, namespace="/")

    def turn_away(self, sids: list[str]) -> None:
        """Tell connections of this process whose login had ended before they were admitted that
        their session ended, and close them (the page goes to the login screen)."""
        if not sids:
            return
        self._emit("session:ended", {}, sids, local=True)
        for sid in sids:
            self._server.server.disconnect(sid, namespace="/", ignore_queue=True)

    def first_snapshots(self, connections: dict[str, User]) -> None:
        """The first snapshot of connections just opened on this process (sid -> its user), read
        together: a district back after an outage connects at once, and each connection reading
        its own would cost the database a round of statements per phone."""
        doctors: dict[int, tuple[User, list[str]]] = {}
        posts: dict[int, list[str]] = {}
        for sid, user in connections.items():
            if user.role == "doctor":
                doctors.setdefault(user.id, (user, []))[1].append(sid)
            elif user.role == "feldsher" and user.facility_id is not None:
                posts.setdefault(user.facility_id, []).append(sid)
        post_snapshots = consultations_snapshots(list(posts)) if posts else {}
        self.follow_qualifications(list(doctors.values()), local=True, to_connections=True)
        end_read_transaction(db.session)  # no pooled connection held while emitting
        for facility_id, sids in posts.items():
            self._emit("consultations:snapshot", post_snapshots[facility_id], sids, local=True)

    def follow_qualifications(self, doctors: list[tuple[User, list[str]]], local: bool = False,
                              to_connections: bool = False) -> None:
        """Move each doctor's open connections, on whichever process holds them, into the specialty
        rooms they qualify for now and out of the others, and send each doctor a new
        `queue:snapshot`: requests newly offered to them appear, those no longer offered go. With
        `to_connections`, the snapshot goes to the connections given, not every one of the doctor."""
        if not doctors:
            return
        # Into the rooms first, the snapshots read after: a request offered in between reaches the
        # doctor through the room, or is in the snapshot, or both (never neither).
        qualified = qualified_specialties_of([doctor for doctor, _sids in doctors])
        for doctor, sids in doctors:
            joined, left = specialty_rooms(qualified[doctor.id])
            for sid in self._reachable(sids):
                for room in joined:
                    self._server.server.enter_room(sid, room, namespace="/")
                for room in left:
                    self._server.server.leave_room(sid, room, namespace="/")
        # Read together: a new day or an outage resyncs every doctor of a process at once, and one
        # doctor after another would read and shape the whole waiting queue for each of them.
        snapshots = queue_snapshots([(doctor, qualified[doctor.id]) for doctor, _sids in doctors])
        end_read_transaction(db.session)  # no pooled connection held while emitting
        for doctor, sids in doctors:
            to = sids if to_connections else user_room(doctor.id)
            self._emit("queue:snapshot", snapshots[doctor.id], to, local=local)
            self._server.sleep(0)  # a new day moves every doctor: let the others run between them

    def _reachable(self, sids: list[str]) -> list[str]:
        """The connections whose rooms can still be changed: open (or opening) on this process, or,
        with a message queue, perhaps held by another process, whose manager checks for itself. One
        closed meanwhile (its row is removed a moment later) has no rooms left to enter."""
        manager = self._server.server.manager
        if isinstance(manager, PubSubManager):
            return sids
        return [sid for sid in sids if manager.is_connected(sid, "/") or manager.is_pre_connected(sid, "/")]

    def snapshot(self, event: str, payload: dict, sid: str) -> None:
        """Send a full snapshot to one connection (on connect and on queue:sync)."""
        self._emit(event, payload, sid)


notifier = Notifier()
