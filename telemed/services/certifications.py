"""Certification records: status on a date, add, correct, revoke, roster import, requirements."""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError

from telemed.db import district_today, utcnow, write_transaction
from telemed.errors import Conflict, NotFound, ValidationFailed
from telemed.extensions import db
from telemed.models import Certification, CertificationType, SpecialtyRequirement, User
from telemed.services import audit, events
from telemed.services.events import QualificationsChanged

EXPIRING_DAYS = 90
# Statuses by rank: a person's status for a type is the best (lowest) of their records'.
STATUSES = ("valid", "expiring", "expired", "revoked", "none")
RANK = {status: rank for rank, status in enumerate(STATUSES)}

STANDARD_TYPES = [
    ("BLS", "Basic Life Support", 24, ["feldsher", "nurse", "midwife", "doctor"]),
    ("ACLS", "Advanced Cardiovascular Life Support", 24, []),
    ("PALS", "Pediatric Advanced Life Support", 24, []),
    ("CARDIO", "Cardiology training (National Cardiology Center)", 60, []),
]


def ensure_standard_types() -> None:
    """Create the standard types of DESIGN.md that are missing (the first migration seeds them)."""
    existing = set(db.session.scalars(select(CertificationType.code)))
    missing = [row for row in STANDARD_TYPES if row[0] not in existing]
    if missing:
        with write_transaction(db.session) as session:
            for code, name, months, required in missing:
                session.add(CertificationType(code=code, name=name, validity_months=months,
                                              required_for=required))


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def status_rank_sql(day: date):
    """SQL: the rank (see STATUSES) of each certification row on `day`."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)
    return case(
        (and_(Certification.revoked_at.is_not(None), Certification.revoked_at < end_of_day),
         RANK["revoked"]),
        (Certification.issued_on > day, RANK["none"]),
        (Certification.expires_on < day, RANK["expired"]),
        (Certification.expires_on <= day + timedelta(days=EXPIRING_DAYS), RANK["expiring"]),
        else_=RANK["valid"],
    )


def status_on(certification: Certification, day: date) -> str:
    """One record's status on a date (the same rules as status_rank_sql)."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)
    if certification.revoked_at is not None and certification.revoked_at < end_of_day:
        return "revoked"
    if certification.issued_on > day:
        return "none"
    if certification.expires_on < day:
        return "expired"
    if certification.expires_on <= day + timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return "valid"


def is_current(status: str) -> bool:
    """Whether a status means the person holds a valid certificate (expiring ones still are)."""
    return status in ("valid", "expiring")


# ---------------------------------------------------------------------------- reading


def list_certifications(filters: dict, scope_user: User | None = None):
    """Records matching the filters (user, facility, profession, type, status on a date)."""
    day = filters.get("as_of") or district_today()
    rank = status_rank_sql(day)
    query = (select(Certification, rank.label("rank"))
             .join(User, User.id == Certification.user_id)
             .join(CertificationType, CertificationType.id == Certification.type_id))
    conditions = []
    if scope_user is not None:
        conditions.append(Certification.user_id == scope_user.id)
    if filters.get("user_id") is not None:
        conditions.append(Certification.user_id == filters["user_id"])
    if filters.get("facility_id") is not None:
        conditions.append(User.facility_id == filters["facility_id"])
    if filters.get("profession"):
        conditions.append(User.profession == filters["profession"])
    if filters.get("type"):
        conditions.append(CertificationType.code == filters["type"])
    if filters.get("status"):
        conditions.append(rank == RANK[filters["status"]])
    total = db.session.scalar(select(func.count()).select_from(
        query.where(*conditions).subquery()))
    rows = db.session.execute(
        query.where(*conditions)
        .order_by(Certification.expires_on, Certification.id)
        .limit(filters.get("limit", 50)).offset(filters.get("offset", 0))
    ).all()
    return [(certification, STATUSES[row_rank]) for certification, row_rank in rows], total, day


def current_holdings(user_id: int, day: date | None = None) -> list[dict]:
    """A person's best status per type they have any record of, on a date."""
    day = day or district_today()
    rank = func.min(status_rank_sql(day))
    rows = db.session.execute(
        select(CertificationType.code, CertificationType.name, rank,
               func.max(Certification.expires_on))
        .join(Certification, Certification.type_id == CertificationType.id)
        .where(Certification.user_id == user_id)
        .group_by(CertificationType.code, CertificationType.name)
        .order_by(CertificationType.code)
    ).all()
    return [{"code": code, "name": name, "status": STATUSES[best], "expires_on": expires}
            for code, name, best, expires in rows]


# Read on every connect of a doctor and claim of a specialty's request: built once.
_REQUIREMENTS = select(SpecialtyRequirement.specialty, SpecialtyRequirement.type_id)


def qualified_specialties(doctor: User, day: date | None = None) -> list[str]:
    """The doctor's specialties they may take now: those whose required type they hold validly."""
    return qualified_specialties_of([doctor], day)[doctor.id]


def qualified_specialties_of(doctors: list[User], day: date | None = None) -> dict[int, list[str]]:
    """Each doctor's specialties they may take now, for any number of doctors in two statements
    at most: the requirements, then the certificates of those whose specialties ask for one."""
    required: dict[str, set[int]] = {}
    for specialty, type_id in db.session.execute(_REQUIREMENTS):
        required.setdefault(specialty, set()).add(type_id)
    held: dict[int, set[int]] = {doctor.id: set() for doctor in doctors}
    asking = [doctor.id for doctor in doctors if set(doctor.specialties or []) & required.keys()]
    if asking:  # nobody else's certificates matter: nothing they hold asks for one
        day = day or district_today()
        for user_id, type_id in db.session.execute(
            select(Certification.user_id, Certification.type_id).where(
                Certification.user_id.in_(asking),
                status_rank_sql(day) <= RANK["expiring"],
            )
        ):
            held[user_id].add(type_id)
    return {doctor.id: [s for s in doctor.specialties or [] if required.get(s, set()) <= held[doctor.id]]
            for doctor in doctors}


# ---------------------------------------------------------------------------- writing


def _type_by_code(code: str) -> CertificationType | None:
    return db.session.scalar(select(CertificationType).where(CertificationType.code == code))


def _resolve(data: dict) -> tuple[User, CertificationType, date]:
    errors: dict[str, list[str]] = {}
    user = db.session.get(User, data["user_id"])
    if user is None:
        errors["user_id"] = [_("No such staff member.")]
    cert_type = _type_by_code(data["type"])
    if cert_type is None:
        errors["type"] = [_("No such certification type.")]
    if errors:
        raise ValidationFailed(_("The certification was not recorded."), errors)
    expires_on = data.get("expires_on") or add_months(data["issued_on"], cert_type.validity_months)
    if expires_on <= data["issued_on"]:
        raise ValidationFailed(_("The certification was not recorded."),
                               {"expires_on": [_("The expiry must be after the issue date.")]})
    return user, cert_type, expires_on


def create_certification(actor: User, data: dict) -> Certification:
    """Record a certification; the expiry follows from the type unless given."""
    user, cert_type, expires_on = _resolve(data)
    certification = Certification(user_id=user.id, type_id=cert_type.id,
                                  issued_on=data["issued_on"], expires_on=expires_on,
                                  issuer=data.get("issuer"), number=data.get("number"))
    try:
        with write_transaction(db.session) as session:
            session.add(certification)
            session.flush()
            audit.record(session, actor, "certification_created", object_type="certification",
                         object_id=certification.id)
            events.record(session, QualificationsChanged((user.id,)))
    except IntegrityError as exc:
        raise Conflict(_("This person already has a %(code)s issued on that day.",
                         code=cert_type.code)) from exc
    return certification


def correct_certification(actor: User, certification_id: int, changes: dict) -> Certification:
    """Correct a record's dates, issuer or number; the change is audited."""
    certification = db.session.get(Certification, certification_id)
    if certification is None:
        raise NotFound(_("No such certification."))
    issued_on = changes.get("issued_on", certification.issued_on)
    expires_on = changes.get("expires_on", certification.expires_on)
    if expires_on <= issued_on:
        raise ValidationFailed(_("The certification was not changed."),
                               {"expires_on": [_("The expiry must be after the issue date.")]})
    before = {k: str(getattr(certification, k)) for k in changes}
    try:
        with write_transaction(db.session) as session:
            certification = session.get(Certification, certification_id)
            for key, value in changes.items():
                setattr(certification, key, value)
            audit.record(session, actor, "certification_corrected", object_type="certification",
                         object_id=certification_id, before=before,
                         after={k: str(v) for k, v in changes.items()})
            events.record(session, QualificationsChanged((certification.user_id,)))
    except IntegrityError as exc:
        raise Conflict(_("Another record of this person and type has that issue date.")) from exc
    return certification


def revoke_certification(actor: User, certification_id: int, reason: str | None) -> Certification:
    """Revoke a record (never delete it: the history stays)."""
    with write_transaction(db.session) as session:
        certification = session.get(Certification, certification_id)
        if certification is None:
            raise NotFound(_("No such certification."))
        if certification.revoked_at is not None:
            raise Conflict(_("This certification is already revoked."))
        certification.revoked_at = utcnow()
        certification.revoked_reason = reason
        audit.record(session, actor, "certification_revoked", object_type="certification",
                     object_id=certification_id, reason=reason)
        events.record(session, QualificationsChanged((certification.user_id,)))
    return certification


def create_type(actor: User, data: dict) -> CertificationType:
    """Add a certification type, with the professions it is required for."""
    cert_type = CertificationType(code=data["code"], name=data["name"],
                                  validity_months=data["validity_months"],
                                  required_for=sorted(set(data.get("required_for") or [])))
    try:
        with write_transaction(db.session) as session:
            session.add(cert_type)
            session.flush()
            audit.record(session, actor, "certification_type_created",
                         object_type="certification_type", object_id=cert_type.id)
    except IntegrityError as exc:
        raise ValidationFailed(_("The type was not created."),
                               {"code": [_("This code is taken.")]}) from exc
    return cert_type


# ---------------------------------------------------------------------------- roster import


@dataclass
class ImportResult:
    created: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    rows: int = 0
    imported: bool = False
    typed: dict[int, dict[str, str]] = field(default_factory=dict)  # each bad row's cells as typed

    @property
    def ok(self) -> bool:
        return not self.errors


def _unknown_references(knows_user: bool, knows_type: bool) -> dict[str, list[str]]:
    """A roster row's errors for a username or type code that names nobody."""
    errors = {}
    if not knows_user:
        errors["username"] = [_("No staff member with this username.")]
    if not knows_type:
        errors["type"] = [_("No certification type with this code.")]
    return errors


def _add_reference_errors(row_errors: dict[int, dict], typed: dict[int, dict]) -> None:
    """Rows the schema refused are checked for unknown people and types too, so a row's every
    error is reported at once, not one per upload."""
    names = {typed[n]["username"].strip().lower() for n in row_errors}
    users = {u.username for u in db.session.scalars(select(User).where(User.username.in_(names)))}
    codes = {t.code for t in db.session.scalars(select(CertificationType))}
    for number, errors in row_errors.items():
        name, code = typed[number]["username"].strip().lower(), typed[number]["type"].strip().upper()
        # An empty cell is the schema's to name ("required"), not an unknown reference.
        for column, messages in _unknown_references(not name or name in users, not code or code in codes).items():
            errors.setdefault(column, messages)


def plan_import(rows: list[tuple[int, dict]]) -> ImportResult:
    """Check every row (already parsed by the schema) against the database; write nothing."""
    result = ImportResult()
    users = {u.username: u for u in db.session.scalars(
        select(User).where(User.username.in_({r.get("username") for _, r in rows if r.get("username")})))}
    types = {t.code: t for t in db.session.scalars(select(CertificationType))}
    seen: dict[tuple, int] = {}
    for number, row in rows:
        user, cert_type = users.get(row["username"]), types.get(row["type"])
        errors = _unknown_references(user is not None, cert_type is not None)
        if errors:
            result.errors[number] = errors
            continue
        expires_on = row.get("expires_on") or add_months(row["issued_on"], cert_type.validity_months)
        if expires_on <= row["issued_on"]:
            result.errors[number] = {"expires_on": [_("The expiry must be after the issue date.")]}
            continue
        key = (user.id, cert_type.id, row["issued_on"])
        if key in seen:
            result.errors[number] = {"issued_on": [
                _("Duplicate of row %(row)s (same person, type and issue date).", row=seen[key])]}
            continue
        seen[key] = number
        record = {"row": number, "user_id": user.id, "username": user.username,
                  "type": cert_type.code, "type_id": cert_type.id, "issued_on": row["issued_on"],
                  "expires_on": expires_on, "issuer": row.get("issuer"), "number": row.get("number")}
        existing = db.session.scalar(select(Certification).where(
            Certification.user_id == user.id, Certification.type_id == cert_type.id,
            Certification.issued_on == row["issued_on"]))
        if existing is None:
            result.created.append(record)
        elif (existing.expires_on, existing.issuer, existing.number) == (
                expires_on, record["issuer"], record["number"]):
            result.unchanged.append(record)
        else:
            result.errors[number] = {"issued_on": [_(
                "A different record of this person and type with this issue date exists "
                "(expires %(expires)s, number %(number)s).",
                expires=existing.expires_on.isoformat(), number=existing.number or "—")]}
    return result


def import_rows(actor: User, rows: list[tuple[int, dict]], filename: str) -> ImportResult:
    """Import every row or none: any error and nothing is written."""
    result = plan_import(rows)
    if not result.ok:
        return result
    with write_transaction(db.session) as session:
        for record in result.created:
            session.add(Certification(user_id=record["user_id"], type_id=record["type_id"],
                                      issued_on=record["issued_on"],
                                      expires_on=record["expires_on"], issuer=record["issuer"],
                                      number=record["number"]))
        audit.record(session, actor, "certifications_imported", object_type="import",
                     object_id=filename[:64], created=len(result.created),
                     unchanged=len(result.unchanged))
        events.record(session, QualificationsChanged(
            tuple(sorted({record["user_id"] for record in result.created}))))
    return result


def run_import(actor: User, content: bytes, filename: str, dry_run: bool) -> ImportResult:
    """Read a roster (CSV or XLSX) and import it, or only preview it; one bad row and nothing is
    written, every bad row named."""
    from telemed.services.roster import read_roster

    rows, row_errors, typed = read_roster(content)
    _add_reference_errors(row_errors, typed)
    if row_errors or dry_run:
        result = plan_import(rows)
        result.errors.update(row_errors)
    else:
        result = import_rows(actor, rows, filename)
        result.imported = result.ok
    result.rows = len(rows) + len(row_errors)
    result.typed = {number: typed[number] for number in result.errors}
    return result


def list_types() -> list[CertificationType]:
    """Every certification type, by code."""
    return db.session.scalars(select(CertificationType).order_by(CertificationType.code)).all()
