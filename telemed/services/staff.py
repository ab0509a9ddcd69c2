"""Staff accounts and facilities, managed by administrators (deactivate, never delete)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from telemed.db import LIKE_ESCAPE, containing, end_read_transaction, write_transaction
from telemed.errors import Conflict, Forbidden, NotFound, ValidationFailed
from telemed.extensions import db
from telemed.models import District, Facility, User
from telemed.services import audit, events, logins
from telemed.services.auth import hash_password
from telemed.services.events import QualificationsChanged
from telemed.services.policy import may_read_user


def _check_account(role: str, facility_id, specialties) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if role == "feldsher" and facility_id is None:
        errors["facility_id"] = [_("Post staff must belong to a facility.")]
    if role == "doctor" and not specialties:
        errors["specialties"] = [_("A doctor needs at least one specialty.")]
    if role != "doctor" and specialties:
        errors["specialties"] = [_("Only doctors have specialties.")]
    if facility_id is not None and db.session.get(Facility, facility_id) is None:
        errors["facility_id"] = [_("No such facility.")]
    return errors


def create_user(data: dict, actor: User | None = None) -> User:
    """Create a staff account from validated data (UserCreateSchema)."""
    role, facility_id = data["role"], data.get("facility_id")
    errors = _check_account(role, facility_id, data.get("specialties"))
    if errors:
        raise ValidationFailed(_("The account was not created."), errors)
    end_read_transaction(db.session)  # no pooled connection held while hashing
    user = User(
        username=data["username"].lower(), full_name=data["full_name"], role=role,
        profession=data["profession"], facility_id=facility_id,
        specialties=data.get("specialties") or [], locale=data.get("locale"),
        password_hash=hash_password(data["password"]), active=True,
    )
    try:
        with write_transaction(db.session) as session:
            session.add(user)
            session.flush()
            audit.record(session, actor, "user_created", object_type="user", object_id=user.id)
    except IntegrityError as exc:
        raise ValidationFailed(
            _("The account was not created."), {"username": [_("This username is taken.")]}
        ) from exc
    return user


def get_user(viewer: User, user_id: int) -> User:
    """A staff account: admins read anyone, others only themselves (404 otherwise)."""
    user = db.session.get(User, user_id)
    if user is None or not may_read_user(viewer, user_id):
        raise NotFound(_("No such staff member."))
    return user


def list_users(filters: dict) -> tuple[list[User], int]:
    """Staff matching the filters, by name."""
    conditions = []
    for key in ("role", "profession", "facility_id", "active"):
        if filters.get(key) is not None:
            conditions.append(getattr(User, key) == filters[key])
    if filters.get("q"):
        pattern = containing(filters["q"].lower())
        conditions.append(or_(func.lower(User.full_name).like(pattern, escape=LIKE_ESCAPE),
                              User.username.like(pattern, escape=LIKE_ESCAPE)))
    total = db.session.scalar(select(func.count()).select_from(User).where(*conditions))
    users = db.session.scalars(select(User).where(*conditions).order_by(User.full_name, User.id)
                               .limit(filters.get("limit", 50)).offset(filters.get("offset", 0))).all()
    return users, total


def update_user(actor: User, user_id: int, changes: dict, keep_login: str | None = None) -> User:
    """Change an account (deactivate with active=false; a new password is hashed). Deactivation,
    a new password, or a new role or facility ends the account's logins at once (but
    `keep_login`, the actor's own, when they change their own password)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such staff member."))
    if user.id == actor.id and changes.get("active") is False:
        raise Forbidden(_("You cannot deactivate your own account."))
    losing_admin = user.role == "admin" and user.active and (
        changes.get("active") is False or changes.get("role", "admin") != "admin")
    if losing_admin and not db.session.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.active, User.id != user.id)):
        raise Conflict(_("This is the last active administrator; make another one first."))
    role = changes.get("role", user.role)
    facility_id = changes.get("facility_id", user.facility_id)
    specialties = changes.get("specialties", user.specialties if role == "doctor" else [])
    errors = _check_account(role, facility_id, specialties)
    if errors:
        raise ValidationFailed(_("The account was not changed."), errors)
    changed = {key: value for key, value in changes.items()
               if key == "password" or getattr(user, key) != value}
    end_reason = logins.reason_to_end(changed)
    end_read_transaction(db.session)  # no pooled connection held while hashing
    new_hash = hash_password(changes["password"]) if "password" in changes else None
    with write_transaction(db.session) as session:
        user = session.get(User, user_id)
        for key, value in changes.items():
            if key == "password":
                user.password_hash = new_hash
            else:
                setattr(user, key, value)
        if role != "doctor":
            user.specialties = []
        audit.record(session, actor, "user_changed", object_type="user", object_id=user_id,
                     fields=sorted(changes))
        if end_reason:
            logins.end_in(session, end_reason, user_id=user_id,
                          keep=keep_login if user_id == actor.id else None)
        elif "specialties" in changed:
            events.record(session, QualificationsChanged((user_id,)))
    return user


def choose_locale(user: User, locale: str | None) -> None:
    """The language a person chose for themself (None: the browser's, then the default)."""
    with write_transaction(db.session) as session:
        session.execute(update(User).where(User.id == user.id).values(locale=locale)
                        .execution_options(synchronize_session=False))
        audit.record(session, user, "user_updated", object_type="user", object_id=user.id,
                     fields=["locale"])


def check_facility(facility_id: int | None) -> None:
    """A filter naming a facility must name one that exists (422 otherwise)."""
    if facility_id is not None and db.session.get(Facility, facility_id) is None:
        raise ValidationFailed(_("No such facility."), {"facility_id": [_("No such facility.")]})


def list_districts() -> list[District]:
    """Every district, by name."""
    return db.session.scalars(select(District).order_by(District.name)).all()


def list_facilities(limit: int = 50, offset: int = 0) -> tuple[list[Facility], int]:
    """One page of the facilities, by name, and how many there are."""
    total = db.session.scalar(select(func.count()).select_from(Facility))
    rows = db.session.scalars(select(Facility).order_by(Facility.name, Facility.id).limit(limit).offset(offset)).all()
    return rows, total


def create_facility(actor: User, data: dict) -> Facility:
    """Add a facility to a district."""
    if db.session.get(District, data["district_id"]) is None:
        raise ValidationFailed(_("The facility was not created."),
                               {"district_id": [_("No such district.")]})
    facility = Facility(**data, active=True)
    with write_transaction(db.session) as session:
        session.add(facility)
        session.flush()
        audit.record(session, actor, "facility_created", object_type="facility",
                     object_id=facility.id)
    return facility


def update_facility(actor: User, facility_id: int, changes: dict) -> Facility:
    """Change a facility (deactivate with active=false)."""
    with write_transaction(db.session) as session:
        facility = session.get(Facility, facility_id)
        if facility is None:
            raise NotFound(_("No such facility."))
        for key, value in changes.items():
            setattr(facility, key, value)
        audit.record(session, actor, "facility_changed", object_type="facility",
                     object_id=facility_id, fields=sorted(changes))
    return facility
