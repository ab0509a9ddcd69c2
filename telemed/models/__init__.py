"""Typed SQLAlchemy models, one module per aggregate."""
from telemed.models.audit import AuditEntry
from telemed.models.consultation import Consultation, ConsultationEvent, Message, Outcome
from telemed.models.staff import District, Facility, Presence, User

__all__ = [
    "AuditEntry", "Consultation", "ConsultationEvent", "District", "Facility", "Message",
    "Outcome", "Presence", "User",
]
