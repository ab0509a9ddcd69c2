"""Full snapshots sent on every connect, so a client that was away misses nothing."""
from __future__ import annotations

from telemed.models import User
from telemed.services import presence
from telemed.services.consultations import doctor_queue, facility_open_consultations
from telemed.services.messages import doctor_message_counts
from telemed.services.representation import consultation_list_payload


def queue_snapshot(doctor: User, qualified: list[str] | None = None,
                   chosen_status: str | None = None) -> dict:
    """DESIGN.md's `queue:snapshot`: the doctor's offered waiting queue and their active ones."""
    doctor_id = doctor.id
    waiting, active = doctor_queue(doctor, qualified)
    return {"waiting": consultation_list_payload(waiting),
            "active": consultation_list_payload(active),
            "presence": chosen_status or presence.chosen_status_of(doctor_id)}


def post_snapshot(facility_id: int) -> dict:
    """DESIGN.md's `consultations:snapshot`: the post's open consultations, each with how many
    messages the doctor wrote (`doctor_messages`), from which the page counts the unread ones."""
    consultations = facility_open_consultations(facility_id)
    written = doctor_message_counts([c.id for c in consultations])
    items = consultation_list_payload(consultations)
    for item, consultation in zip(items, consultations):
        item["doctor_messages"] = written.get(consultation.id, 0)
    return {"items": items}
