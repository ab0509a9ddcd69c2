"""The one place that emits Socket.IO events; services call it after their transaction commits.

Rooms are joined once, on connect (`user:<id>`, `doctors`, `specialty:<code>`, `facility:<id>`,
`admins`). Events about a consultation go to its facility's room and its doctor's user room rather
than a per-consultation room: with a message queue, a room can only be joined by the process that
holds the connection, so rooms that follow a consultation from doctor to doctor cannot be kept right
across processes. See docs/decisions.md.
"""
from __future__ import annotations

from telemed.extensions import socketio
from telemed.models import Consultation, Message, User
from telemed.services.representation import (
    QueueContext, consultation_payload, message_payload, waiting_consultations,
)


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def facility_room(facility_id: int) -> str:
    return f"facility:{facility_id}"


def specialty_room(specialty: str) -> str:
    return f"specialty:{specialty}"


DOCTORS_ROOM = "doctors"
ADMINS_ROOM = "admins"


def rooms_for(user: User, specialties: list[str] = ()) -> list[str]:
    """Every room a connection of this user belongs to (a doctor's qualified specialties given)."""
    rooms = [user_room(user.id)]
    if user.role == "doctor":
        rooms.append(DOCTORS_ROOM)
        rooms.extend(specialty_room(s) for s in specialties)
    elif user.role == "feldsher" and user.facility_id is not None:
        rooms.append(facility_room(user.facility_id))
    elif user.role == "admin":
        rooms.append(ADMINS_ROOM)
    return rooms


def offer_rooms(consultation: Consultation) -> list[str]:
    """The rooms of the doctors eligible for a waiting consultation."""
    if consultation.specialty == "general" or consultation.escalation_level > 0:
        return [DOCTORS_ROOM]
    return [specialty_room(consultation.specialty)]


class Notifier:
    """Turns committed domain changes into Socket.IO events for the right rooms."""

    def __init__(self, server=socketio):
        self._server = server

    def _emit(self, event: str, payload, rooms: list[str] | str, skip_sid: str | None = None):
        self._server.emit(event, payload, to=rooms, skip_sid=skip_sid)

    def consultation_changed(
        self, consultation: Consultation, *, previous_doctor_id: int | None = None,
        left_queue_reason: str | None = None,
    ) -> None:
        """Tell the post, the doctors involved, the queue and the admins about a committed change."""
        payload = consultation_payload(consultation)
        rooms = [facility_room(consultation.facility_id), ADMINS_ROOM]
        for doctor_id in {consultation.doctor_id, previous_doctor_id} - {None}:
            rooms.append(user_room(doctor_id))
        self._emit("consultation:update", payload, rooms)
        if consultation.status == "waiting":
            self._emit("queue:upsert", payload, offer_rooms(consultation))
        elif left_queue_reason is not None:
            self._emit("queue:remove", {"id": str(consultation.id), "reason": left_queue_reason},
                       DOCTORS_ROOM)
        if consultation.status == "waiting" or left_queue_reason is not None:
            self._queue_moved(except_id=consultation.id)

    def _queue_moved(self, except_id) -> None:
        """The queue changed: tell each waiting request's post its new place and expected wait."""
        queue = QueueContext.now()
        for waiting in waiting_consultations():
            if waiting.id != except_id:
                self._emit("consultation:update", consultation_payload(waiting, queue),
                           facility_room(waiting.facility_id))

    def message_sent(self, message: Message, consultation: Consultation) -> None:
        """Deliver a chat message to the consultation's participants."""
        rooms = [facility_room(consultation.facility_id)]
        if consultation.doctor_id is not None:
            rooms.append(user_room(consultation.doctor_id))
        self._emit("message:new", message_payload(message), rooms)

    def presence_changed(self, user_id: int, status: str) -> None:
        """Tell doctors and admins that a doctor's presence changed."""
        self._emit("presence:update", {"user_id": user_id, "status": status},
                   [DOCTORS_ROOM, ADMINS_ROOM])

    def session_ended(self, login_id: str) -> None:
        """A browser session logged out: tell its pages, and cut the connections this process holds.

        With several processes each only knows its own connections; the event still reaches the
        others' pages, which go back to the login page (docs/decisions.md).
        """
        room = f"login:{login_id}"
        self._emit("session:ended", {}, room)
        server = self._server.server
        for sid, _eio_sid in list(server.manager.get_participants("/", room)):
            server.disconnect(sid, namespace="/")

    def snapshot(self, event: str, payload: dict, sid: str) -> None:
        """Send a full snapshot to one connection (on connect and on queue:sync)."""
        self._emit(event, payload, sid)


notifier = Notifier()
