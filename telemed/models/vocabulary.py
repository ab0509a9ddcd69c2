"""The closed vocabularies of DESIGN.md, in one place for models, schemas and templates."""

ROLES = ("feldsher", "doctor", "admin")
PROFESSIONS = ("feldsher", "nurse", "midwife", "doctor", "other")
SPECIALTIES = (
    "general", "cardiology", "pediatrics", "obstetrics", "neurology", "surgery", "infectious",
)
FACILITY_KINDS = ("fap", "medical_post", "outpatient_clinic", "district_hospital")

# Most urgent first: the index is the sort rank of the queue.
PRIORITIES = ("emergency", "urgent", "routine")
STATUSES = ("waiting", "active", "closed", "cancelled")
OPEN_STATUSES = ("waiting", "active")
SEXES = ("male", "female", "unknown")
AVPU = ("A", "V", "P", "U")
DISPOSITIONS = (
    "advice_given", "treated_on_site", "referred_planned", "referred_urgent",
    "ambulance_called", "hospitalized", "died", "other",
)
PRESENCE_STATUSES = ("available", "away", "offline")
ATTACHMENT_TYPES = ("image/jpeg", "image/png", "application/pdf")

# Event kinds written to consultation_events.
EVENT_KINDS = (
    "created", "accepted", "released", "transferred", "escalated", "cancelled", "closed",
    "follow_up_done",
)


def raise_priority(priority: str, steps: int) -> str:
    """The priority `steps` levels more urgent, never beyond emergency."""
    index = max(PRIORITIES.index(priority) - steps, 0)
    return PRIORITIES[index]


def most_urgent(*priorities: str) -> str:
    """The most urgent of the given priorities."""
    return min(priorities, key=PRIORITIES.index)
