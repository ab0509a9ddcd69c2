"""Full snapshots sent on every connect, so a client that was away misses nothing."""
from __future__ import annotations

from telemed.models import User
from telemed.services import presence
from telemed.services.consultations import (
    active_consultations_of,
    doctor_queue,
    offered_queue,
    open_consultations,
)
from telemed.services.messages import doctor_message_counts
from telemed.services.representation import consultation_list_payload


def queue_snapshot(doctor: User, qualified: list[str] | None = None) -> dict:
    """DESIGN.md's `queue:snapshot`: the doctor's offered waiting queue and their active ones."""
    doctor_id = doctor.id
    waiting, active = doctor_queue(doctor, qualified)
    return _queue_snapshot(consultation_list_payload(waiting), active,
                           presence.chosen_status_of(doctor_id))


def queue_snapshots(doctors: list[tuple[User, list[str]]]) -> dict[int, dict]:
    """`queue:snapshot` for many doctors, each with the specialties they qualify for (a new day, a
    message-queue outage): the waiting queue is read and shaped once per distinct set of
    specialties, and the active ones and chosen statuses of all of them in one statement each,
    so the statements do not grow with the number of doctors."""
    offered = {key: consultation_list_payload(offered_queue(list(key)))
               for key in {tuple(sorted(qualified)) for _doctor, qualified in doctors}}
    ids = [doctor.id for doctor, _qualified in doctors]
    active, statuses = active_consultations_of(ids), presence.chosen_statuses_of(ids)
    return {doctor.id: _queue_snapshot(offered[tuple(sorted(qualified))], active[doctor.id],
                                       statuses[doctor.id])
            for doctor, qualified in doctors}


def _queue_snapshot(waiting: list[dict], active: list, status: str) -> dict:
    return {"waiting": waiting, "active": consultation_list_payload(active), "presence": status}


def consultations_snapshot(facility_id: int | None) -> dict:
    """DESIGN.md's `consultations:snapshot`: the post's open consultations (every post's, for
    administrators), each with how many messages the doctor wrote (`doctor_messages`), from which
    the post's page counts the unread ones."""
    if facility_id is not None:
        return consultations_snapshots([facility_id])[facility_id]
    return {"items": _with_doctor_messages(open_consultations())}


def consultations_snapshots(facility_ids: list[int]) -> dict[int, dict]:
    """`consultations:snapshot` for each of these posts, all read in the statements of one (posts
    reconnecting together after an outage)."""
    consultations = open_consultations(facility_ids)
    snapshots: dict[int, dict] = {facility_id: {"items": []} for facility_id in facility_ids}
    for consultation, item in zip(consultations, _with_doctor_messages(consultations)):
        snapshots[consultation.facility_id]["items"].append(item)
    return snapshots


def _with_doctor_messages(consultations: list) -> list[dict]:
    written = doctor_message_counts([c.id for c in consultations])
    # Copies: the shaped payloads are shared with every other event of this request.
    items = consultation_list_payload(consultations)
    return [{**item, "doctor_messages": written.get(consultation.id, 0)}
            for item, consultation in zip(items, consultations)]
