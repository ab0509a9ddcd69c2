"""Consultation reports: volumes, time to accept, service level, outcomes, busiest hours, and the
Erlang C staffing estimate."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from telemed.extensions import db
from telemed.models import Consultation, ConsultationEvent, Facility, Outcome, Presence, User
from telemed.models.vocabulary import DISPOSITIONS, PRIORITIES

SERVICE_LEVEL_TARGET = 0.9
REFERRALS = ("referred_planned", "referred_urgent", "hospitalized")


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share in 0..1) of the values, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _first_acceptance():
    """Subquery: when each consultation was first accepted (from the event log)."""
    return (select(ConsultationEvent.consultation_id,
                   func.min(ConsultationEvent.created_at).label("accepted_at"))
            .where(ConsultationEvent.kind == "accepted")
            .group_by(ConsultationEvent.consultation_id).subquery())


def _local(moment: datetime) -> datetime:
    """The moment in the district's time zone (TELEMED_TIMEZONE): hours of the week are local."""
    return moment.astimezone(ZoneInfo(current_app.config["TELEMED"].timezone))


def _window(start: datetime, end: datetime, facility_id: int | None) -> list:
    conditions = [Consultation.created_at >= start, Consultation.created_at < end]
    if facility_id is not None:
        conditions.append(Consultation.facility_id == facility_id)
    return conditions


def consultations_report(start: datetime, end: datetime, facility_id: int | None = None) -> dict:
    """Volumes per day and facility, time to accept by priority with the service level, outcome
    mix, referral and ambulance rates per facility, and the busiest hours, for [start, end)."""
    from telemed.services.routing import escalation_threshold_s

    first = _first_acceptance()
    rows = db.session.execute(
        select(Consultation.created_at, Consultation.priority, Consultation.facility_id,
               Facility.name, first.c.accepted_at, Outcome.disposition)
        .join(Facility, Facility.id == Consultation.facility_id)
        .outerjoin(first, first.c.consultation_id == Consultation.id)
        .outerjoin(Outcome, Outcome.consultation_id == Consultation.id)
        .where(*_window(start, end, facility_id))
    ).all()
    per_day: Counter = Counter()
    per_facility: dict[int, dict] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    dispositions: Counter = Counter()
    hours: Counter = Counter()
    for created, priority, fac_id, fac_name, accepted, disposition in rows:
        local = _local(created)
        per_day[local.date().isoformat()] += 1
        hours[(local.weekday(), local.hour)] += 1
        entry = per_facility.setdefault(fac_id, {"id": fac_id, "name": fac_name, "total": 0,
                                                 "closed": 0, "referrals": 0, "ambulance": 0})
        entry["total"] += 1
        if accepted is not None:
            waits[priority].append((accepted - created).total_seconds())
        if disposition is not None:
            dispositions[disposition] += 1
            entry["closed"] += 1
            entry["referrals"] += disposition in REFERRALS
            entry["ambulance"] += disposition == "ambulance_called"
    for entry in per_facility.values():
        entry["referral_rate"] = round(entry["referrals"] / entry["closed"], 3) if entry["closed"] else None
        entry["ambulance_rate"] = round(entry["ambulance"] / entry["closed"], 3) if entry["closed"] else None
    time_to_accept = {}
    for priority in PRIORITIES:
        values, threshold = waits.get(priority, []), escalation_threshold_s(priority)
        time_to_accept[priority] = {
            "accepted": len(values),
            "p50_s": percentile(values, 0.5),
            "p90_s": percentile(values, 0.9),
            "threshold_s": threshold,
            "within_threshold": (round(sum(v <= threshold for v in values) / len(values), 3)
                                 if values else None),
        }
    return {
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
        "facility_id": facility_id,
        "total": len(rows),
        "per_day": [{"date": d, "count": n} for d, n in sorted(per_day.items())],
        "per_facility": sorted(per_facility.values(), key=lambda e: -e["total"]),
        "time_to_accept": time_to_accept,
        "outcomes": {d: dispositions.get(d, 0) for d in DISPOSITIONS},
        "busiest_hours": [{"weekday": w, "hour": h, "count": n}
                          for (w, h), n in hours.most_common(10)],
    }


# ---------------------------------------------------------------------------- Erlang C


def erlang_c(servers: int, traffic: float) -> float:
    """Probability that a request has to wait, with `servers` doctors and `traffic` Erlangs
    (arrival rate x mean handling time). 1.0 when the doctors cannot keep up (servers <= traffic).

    Computed through the Erlang B recursion, B(0) = 1, B(n) = A.B(n-1) / (n + A.B(n-1)), then
    C = N.B / (N - A.(1 - B)), which avoids the factorials of the textbook form.
    """
    if traffic <= 0:
        return 0.0
    if servers <= traffic:
        return 1.0
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return servers * blocking / (servers - traffic * (1 - blocking))


def service_level(servers: int, traffic: float, handling_s: float, answer_within_s: float) -> float:
    """Share of requests taken within `answer_within_s`: 1 - C(N, A) . e^(-(N - A) t / h)."""
    if traffic <= 0:
        return 1.0
    if servers <= traffic:
        return 0.0
    return 1 - erlang_c(servers, traffic) * math.exp(-(servers - traffic) * answer_within_s / handling_s)


def doctors_needed(traffic: float, handling_s: float, answer_within_s: float,
                   target: float = SERVICE_LEVEL_TARGET) -> int:
    """The fewest doctors that take `target` of requests within the time (at least one)."""
    servers = max(1, math.floor(traffic) + 1)
    while service_level(servers, traffic, handling_s, answer_within_s) < target:
        servers += 1
    return servers


def staffing_estimate(start: datetime, end: datetime) -> dict:
    """Per hour of the week: observed emergency arrivals and handling time, and the doctors needed
    to take 90 % of emergencies within the emergency escalation threshold (Erlang C)."""
    threshold = current_app.config["TELEMED"].escalation_emergency_s
    first = _first_acceptance()
    rows = db.session.execute(
        select(Consultation.created_at, first.c.accepted_at, Consultation.closed_at)
        .outerjoin(first, first.c.consultation_id == Consultation.id)
        .where(*_window(start, end, None), Consultation.priority == "emergency")
    ).all()
    weeks = max((end - start) / timedelta(days=7), 1 / 168)
    arrivals: Counter = Counter()
    handling = []
    for created, accepted, closed in rows:
        local = _local(created)
        arrivals[(local.weekday(), local.hour)] += 1
        if accepted is not None and closed is not None and closed > accepted:
            handling.append((closed - accepted).total_seconds())
    mean_handling = sum(handling) / len(handling) if handling else None
    slots = []
    for weekday in range(7):
        for hour in range(24):
            per_hour = arrivals.get((weekday, hour), 0) / weeks
            traffic = per_hour * mean_handling / 3600 if mean_handling else 0.0
            slots.append({
                "weekday": weekday, "hour": hour, "arrivals_per_hour": round(per_hour, 3),
                "traffic_erlangs": round(traffic, 3),
                "doctors_needed": doctors_needed(traffic, mean_handling, threshold) if traffic else 0,
            })
    on_duty = db.session.scalar(
        select(func.count()).select_from(Presence).join(User, User.id == Presence.user_id)
        .where(Presence.status == "available", User.active))
    return {"from": start.isoformat().replace("+00:00", "Z"),
            "to": end.isoformat().replace("+00:00", "Z"),
            "emergencies": len(rows), "mean_handling_s": mean_handling,
            "answer_within_s": threshold, "target": SERVICE_LEVEL_TARGET,
            "doctors_on_duty_now": on_duty, "slots": slots}
