"""Typed SQLAlchemy models, one module per aggregate."""
from telemed.models.audit import AuditEntry
from telemed.models.certification import Certification, CertificationType, SpecialtyRequirement
from telemed.models.consultation import Attachment, Consultation, ConsultationEvent, Message, Outcome
from telemed.models.staff import District, Facility, Login, Presence, PresenceConnection, PresenceServer, User

__all__ = [
    "Attachment", "AuditEntry", "Certification", "CertificationType", "Consultation", "ConsultationEvent", "District", "Facility", "Login", "Message",
    "Outcome", "Presence", "PresenceConnection", "PresenceServer", "SpecialtyRequirement", "User",
]
