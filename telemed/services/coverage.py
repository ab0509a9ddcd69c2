"""Coverage: who holds a valid certification, where the gaps are, what lapses next.

Every figure of the report comes from one SQL aggregation (GROUP BY over staff x type with each
person's best status and last expiry); Python only folds the grouped rows, never loops over people
or records.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import Integer, String, and_, case, cast, func, literal, null, or_, select, true, union_all

from telemed.extensions import db
from telemed.models import Certification, CertificationType, Facility, User
from telemed.services.certifications import RANK, STATUSES, add_months, status_rank_sql

FORECAST_MONTHS = (3, 6, 12)
LAPSE_BUCKETS = (30, 60, 90)


def _staff_conditions(district_id: int | None) -> list:
    """Active medical staff (administrators are not counted), optionally of one district."""
    conditions = [User.active.is_(True), User.role != "admin"]
    if district_id is not None:
        conditions.append(User.facility_id.in_(
            select(Facility.id).where(Facility.district_id == district_id)))
    return conditions


def _not_revoked_by(day: date):
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)
    return or_(Certification.revoked_at.is_(None), Certification.revoked_at >= end_of_day)


def _best_status(day: date):
    """Subquery: per person and type, the best status rank on `day` and the last expiry of the
    records they held then (what is left if nobody renews)."""
    held_then = and_(Certification.issued_on <= day, _not_revoked_by(day))
    return (select(Certification.user_id, Certification.type_id,
                   func.min(status_rank_sql(day)).label("rank"),
                   func.max(case((held_then, Certification.expires_on))).label("last_expiry"))
            .group_by(Certification.user_id, Certification.type_id).subquery())


def _held_until(last_expiry, day: date):
    return func.sum(case((last_expiry >= day, 1), else_=0))


def status_counts(as_of: date, district_id: int | None = None) -> tuple[list, list]:
    """One aggregation over staff x type with each person's best status and last expiry.

    Returns rows per (type, profession, status rank) with people, how many still hold the type at
    each forecast date and how many lapse within 30/60/90 days; and rows per (type, facility) with
    the people holding it. Both come from the same materialised per-person table, read once.
    """
    best = _best_status(as_of)
    staff_best = (
        select(CertificationType.code, User.profession, User.facility_id,
               func.coalesce(best.c.rank, RANK["none"]).label("rank"), best.c.last_expiry)
        .select_from(User)
        .join(CertificationType, true())
        .outerjoin(best, and_(best.c.user_id == User.id, best.c.type_id == CertificationType.id))
        .where(*_staff_conditions(district_id))
    ).cte("staff_best").prefix_with("MATERIALIZED")
    held = staff_best.c.rank <= RANK["expiring"]
    forecast_days = [add_months(as_of, months) for months in FORECAST_MONTHS]
    lapse_days = [as_of + timedelta(days=days) for days in LAPSE_BUCKETS]
    no_int = cast(null(), Integer)
    by_profession = (
        select(literal("profession").label("grain"), staff_best.c.code, staff_best.c.profession,
               no_int.label("facility_id"), staff_best.c.rank, func.count().label("people"),
               *[func.sum(case((staff_best.c.last_expiry >= day, 1), else_=0)) for day in forecast_days],
               *[func.sum(case((and_(held, staff_best.c.last_expiry <= day), 1), else_=0))
                 for day in lapse_days])
        .group_by(staff_best.c.code, staff_best.c.profession, staff_best.c.rank)
    )
    by_facility = (
        select(literal("facility").label("grain"), staff_best.c.code,
               cast(null(), String).label("profession"), staff_best.c.facility_id,
               no_int.label("rank"), func.count().label("people"),
               *[no_int for _ in forecast_days], *[no_int for _ in lapse_days])
        .where(held)
        .group_by(staff_best.c.code, staff_best.c.facility_id)
    )
    # Core, not ORM, execution: plain grouped rows, no entities to build.
    rows = db.session.connection().execute(union_all(by_profession, by_facility)).all()
    return ([r[1:] for r in rows if r[0] == "profession"],
            [(r[1], r[3], r[5]) for r in rows if r[0] == "facility"])


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 2) if whole else 0.0


def _is_held(rank: int) -> bool:
    return rank <= RANK["expiring"]


def coverage_report(as_of: date, district_id: int | None = None) -> dict:
    """DESIGN.md's coverage report, plus lapse counts and a forecast, from one aggregate query."""
    types = db.session.scalars(select(CertificationType).order_by(CertificationType.code)).all()
    staff_rows = db.session.connection().execute(
        select(User.profession, User.facility_id, func.count())
        .where(*_staff_conditions(district_id)).group_by(User.profession, User.facility_id)
    ).all()
    by_profession: dict[str, int] = defaultdict(int)
    facility_staff: dict[int, int] = defaultdict(int)
    facility_professions: dict[int, set] = defaultdict(set)
    for profession, facility_id, people in staff_rows:
        by_profession[profession] += people
        facility_staff[facility_id] += people
        facility_professions[facility_id].add(profession)
    total = sum(by_profession.values())

    summary = {t.code: dict.fromkeys(("valid", "expiring", "expired", "revoked", "none"), 0)
               for t in types}
    profession_held = {t.code: defaultdict(lambda: [0, 0]) for t in types}
    facility_held: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    forecast_held = {months: defaultdict(int) for months in FORECAST_MONTHS}
    lapses = {days: defaultdict(int) for days in LAPSE_BUCKETS}
    forecast_width = len(FORECAST_MONTHS)
    profession_rows, facility_rows = status_counts(as_of, district_id)
    for code, facility_id, people in facility_rows:
        facility_held[facility_id][code] = people
    for row in profession_rows:
        code, profession, _facility, rank, people = row[:5]
        status = STATUSES[rank]
        if rank <= RANK["expiring"]:
            future, lapsing_within = row[5:5 + forecast_width], row[5 + forecast_width:]
            summary[code]["valid"] += people
            profession_held[code][profession][0] += people
            for months, count in zip(FORECAST_MONTHS, future):
                forecast_held[months][code] += count or 0
            for days, count in zip(LAPSE_BUCKETS, lapsing_within):
                lapses[days][code] += count or 0
        else:
            summary[code][status] += people
        if status == "expiring":
            summary[code]["expiring"] += people
            profession_held[code][profession][1] += people

    type_entries = []
    for cert_type in types:
        professions = {}
        for profession, staff in sorted(by_profession.items()):
            valid, expiring = profession_held[cert_type.code].get(profession, [0, 0])
            professions[profession] = {"staff": staff, "valid": valid, "expiring": expiring,
                                       "coverage": _ratio(valid, staff)}
        type_entries.append({"code": cert_type.code, "name": cert_type.name,
                             "required_for": cert_type.required_for, **summary[cert_type.code],
                             "by_profession": professions})

    names = dict(db.session.execute(select(Facility.id, Facility.name)).all())
    facilities = []
    for facility_id, staff in facility_staff.items():
        held = facility_held.get(facility_id, {})
        # A type is required at a facility when someone's profession there must hold it.
        entry_types = {t.code: {"valid": held.get(t.code, 0),
                                "coverage": _ratio(held.get(t.code, 0), staff),
                                "required": bool(set(t.required_for or ()) & facility_professions[facility_id])}
                       for t in types}
        gap_codes = [code for code, entry in entry_types.items() if entry["required"] and entry["valid"] == 0]
        facilities.append({"id": facility_id, "name": names.get(facility_id, "—"), "staff": staff,
                           "types": entry_types, "gap_types": gap_codes,
                           "gaps": [_("no valid %(code)s", code=code) for code in gap_codes]})
    facilities.sort(key=lambda f: (-len(f["gaps"]), f["name"]))

    return {
        "as_of": as_of.isoformat(),
        "district_id": district_id,
        "staff": {"total": total, "by_profession": dict(sorted(by_profession.items()))},
        "types": type_entries,
        "facilities": facilities,
        "lapsing": {str(days): {code: n for code, n in sorted(per_type.items()) if n}
                    for days, per_type in lapses.items()},
        "forecast": [{"months": months, "as_of": add_months(as_of, months).isoformat(),
                      "types": {code: {"valid": n, "coverage": _ratio(n, total)}
                                for code, n in sorted(forecast_held[months].items())}}
                     for months in FORECAST_MONTHS],
    }


def _lapsing_query(as_of: date, within_days: int, district_id: int | None):
    """People whose last valid record of a type ends within the window (nobody renewed)."""
    last = (select(Certification.user_id, Certification.type_id,
                   func.max(Certification.expires_on).label("expires_on"))
            .where(Certification.issued_on <= as_of, _not_revoked_by(as_of))
            .group_by(Certification.user_id, Certification.type_id).subquery())
    return (select(User, CertificationType.code, last.c.expires_on)
            .join(last, last.c.user_id == User.id)
            .join(CertificationType, CertificationType.id == last.c.type_id)
            .where(last.c.expires_on >= as_of,
                   last.c.expires_on <= as_of + timedelta(days=within_days),
                   *_staff_conditions(district_id))
            .order_by(last.c.expires_on, User.full_name))


def lapsing(as_of: date, within_days: int = 90, district_id: int | None = None) -> list[dict]:
    """Who lapses next: person, post, type and date, soonest first."""
    rows = db.session.execute(_lapsing_query(as_of, within_days, district_id)).all()
    return [{"user_id": user.id, "username": user.username, "full_name": user.full_name,
             "profession": user.profession,
             "facility": {"id": user.facility_id, "name": user.facility.name if user.facility else None},
             "type": code, "expires_on": expires_on.isoformat(),
             "days_left": (expires_on - as_of).days} for user, code, expires_on in rows]


def training_needs(as_of: date, district_id: int | None = None) -> list[dict]:
    """Who to send to training next: required types not held, or lapsing within 90 days."""
    best = _best_status(as_of)
    last = (select(Certification.user_id, Certification.type_id,
                   func.max(Certification.expires_on).label("expires_on"))
            .where(Certification.revoked_at.is_(None))
            .group_by(Certification.user_id, Certification.type_id).subquery())
    rank = func.coalesce(best.c.rank, RANK["none"])
    rows = db.session.execute(
        select(User, Facility.name, CertificationType.code, CertificationType.required_for, rank,
               last.c.expires_on)
        .join(Facility, Facility.id == User.facility_id, isouter=True)
        .join(CertificationType, true())
        .outerjoin(best, and_(best.c.user_id == User.id, best.c.type_id == CertificationType.id))
        .outerjoin(last, and_(last.c.user_id == User.id, last.c.type_id == CertificationType.id))
        .where(*_staff_conditions(district_id), rank >= RANK["expiring"])
        .order_by(rank.desc(), last.c.expires_on, User.full_name)
    ).all()
    needs = []
    for user, facility_name, code, required_for, row_rank, expires_on in rows:
        if user.profession not in (required_for or ()):
            continue
        needs.append({"username": user.username, "full_name": user.full_name,
                      "profession": user.profession, "facility": facility_name, "type": code,
                      "status": STATUSES[row_rank],
                      "expires_on": expires_on.isoformat() if expires_on else ""})
    return needs
