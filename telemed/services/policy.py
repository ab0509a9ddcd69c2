"""Who may see and do what: the one home of telemed's authorization rules (DESIGN.md, Roles).

HTTP views, socket handlers, services and queries all ask here. What lies outside a caller's scope
is answered as if it did not exist (404, DESIGN.md's errors); a role that may never do something is
refused (403).
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import bindparam, or_

from telemed.errors import Forbidden
from telemed.models import Consultation, User
from telemed.services.certifications import qualified_specialties


def require_role(user: User, *roles: str) -> None:
    """Refuse (Forbidden) unless the user holds one of these roles."""
    if user.role not in roles:
        raise Forbidden(_("Your role may not do this."))


def visible_to(user: User):
    """SQL condition: the consultations this user may see: an administrator every one, post staff
    their facility's, a doctor the waiting ones offered to them and those they hold or held."""
    if user.role == "admin":
        return True
    if user.role == "feldsher":
        return Consultation.facility_id == user.facility_id
    if user.role == "doctor":
        return or_(Consultation.doctor_id == user.id, waiting_offered_to(user))
    return False


def offered_to(qualified: list[str]):
    """SQL condition, routing's rule: general or escalated requests go to every doctor, others to
    the doctors qualified in their specialty (holding any certification the specialty requires)."""
    return or_(Consultation.specialty == "general", Consultation.escalation_level > 0,
               Consultation.specialty.in_(qualified))


def offered_to_every_doctor(consultation: Consultation) -> bool:
    """Routing's rule for one loaded consultation: general or escalated requests reach every doctor;
    the others only the doctors qualified in their specialty (the same rule as `offered_to`)."""
    return consultation.specialty == "general" or consultation.escalation_level > 0


def waiting_offered_to(doctor: User, qualified: list[str] | None = None):
    """SQL condition: waiting consultations this doctor (qualified in these specialties, read when
    not given) is eligible for."""
    if qualified is None:
        qualified = qualified_specialties(doctor)
    return (Consultation.status == "waiting") & offered_to(qualified)


# `waiting_offered_to` with the specialties as the parameter `qualified`, for a statement built
# once and run on every connect: building and keying it anew cost more than running it.
WAITING_OFFERED_TO_QUALIFIED = (Consultation.status == "waiting") & offered_to(
    bindparam("qualified", expanding=True))


def is_participant(user: User, consultation: Consultation) -> bool:
    """Whether the user takes part in the consultation: its post's staff or the doctor holding it."""
    if user.role == "feldsher":
        return consultation.facility_id == user.facility_id
    return user.role == "doctor" and consultation.doctor_id == user.id


def may_open_attachments(user: User, consultation: Consultation) -> bool:
    """Whether the user may open the files sent in this consultation: participants and admins."""
    return user.role == "admin" or is_participant(user, consultation)


def may_read_user(viewer: User, user_id: int) -> bool:
    """Whether the viewer may read a staff account: admins anyone, others only themselves."""
    return viewer.role == "admin" or viewer.id == user_id
