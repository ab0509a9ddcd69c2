"""Full snapshots sent on every connect, so a client that was away misses nothing."""
from __future__ import annotations

from telemed.models import User
from telemed.services import presence
from telemed.services.certifications import qualified_specialties
from telemed.services.consultations import doctors_queues, facility_open_consultations
from telemed.services.messages import doctor_message_counts
from telemed.services.queue import QueueState
from telemed.services.representation import consultation_list_payload


def queue_snapshot(doctor: User, qualified: list[str] | None = None) -> dict:
    """DESIGN.md's `queue:snapshot`: the doctor's offered waiting queue and their active ones."""
    if qualified is None:
        qualified = qualified_specialties(doctor)
    return queue_snapshots({doctor.id: qualified})[doctor.id]


def queue_snapshots(qualified_by_doctor: dict[int, list[str]]) -> dict[int, dict]:
    """`queue:snapshot` of several doctors (id: qualified specialties) at once: the same statements
    for one doctor or a district's, and each consultation shaped once for all of them."""
    queues = doctors_queues(qualified_by_doctor)
    chosen = presence.chosen_statuses(list(qualified_by_doctor))
    state = QueueState.now()
    return {doctor_id: {"waiting": consultation_list_payload(waiting, state),
                        "active": consultation_list_payload(active, state),
                        "presence": chosen[doctor_id]}
            for doctor_id, (waiting, active) in queues.items()}


def post_snapshot(user: User) -> dict:
    """DESIGN.md's `consultations:snapshot`: the post's open consultations, each with how many
    messages the doctor wrote (`doctor_messages`), from which the page counts the unread ones."""
    consultations = facility_open_consultations(user.facility_id)
    written = doctor_message_counts([c.id for c in consultations])
    items = consultation_list_payload(consultations)
    for item, consultation in zip(items, consultations):
        item["doctor_messages"] = written.get(consultation.id, 0)
    return {"items": items}
