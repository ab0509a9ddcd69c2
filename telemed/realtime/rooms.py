"""Socket.IO room names (DESIGN.md, Real-time) and who belongs in which.

Events about a consultation go to its facility's room and its doctor's user room rather than a
per-consultation room: with a message queue a room can only be joined by the process holding the
connection, so rooms that follow a consultation from doctor to doctor could not be kept right
across processes (docs/decisions.md).
"""
from __future__ import annotations

from telemed.models import Consultation, User
from telemed.models.vocabulary import SPECIALTIES
from telemed.services.policy import offered_to_every_doctor

DOCTORS_ROOM = "doctors"
ADMINS_ROOM = "admins"


def user_room(user_id: int) -> str:
    """Every connection of one user."""
    return f"user:{user_id}"


def facility_room(facility_id: int | str) -> str:
    """The post staff of one facility."""
    return f"facility:{facility_id}"


def specialty_room(specialty: str) -> str:
    """The doctors qualified in one specialty."""
    return f"specialty:{specialty}"


def login_room(login_id: str) -> str:
    """The connections of one login (one browser session)."""
    return f"login:{login_id}"


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


def specialty_rooms(specialties: list[str]) -> tuple[list[str], list[str]]:
    """For a doctor qualified in `specialties`: the specialty rooms to be in and those to leave."""
    joined = [specialty_room(s) for s in SPECIALTIES if s in specialties]
    left = [specialty_room(s) for s in SPECIALTIES if s not in specialties]
    return joined, left


def offer_rooms(consultation: Consultation) -> list[str]:
    """The rooms of the doctors eligible for a waiting consultation."""
    if offered_to_every_doctor(consultation):
        return [DOCTORS_ROOM]
    return [specialty_room(consultation.specialty)]


def consultation_rooms(consultation: Consultation, previous_doctor_id: int | None = None) -> list[str]:
    """Who hears of every change of a consultation: its post, its doctors, the administrators."""
    rooms = [facility_room(consultation.facility_id), ADMINS_ROOM]
    rooms.extend(user_room(d) for d in sorted({consultation.doctor_id, previous_doctor_id} - {None}))
    return rooms
