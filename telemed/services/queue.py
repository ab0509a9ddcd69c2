"""The waiting queue as posts see it: places, doctors available and expected waits.

One request's place is counted in SQL (one COUNT over the waiting ones ahead of it); when many
places are needed (a snapshot, a sweep, `queue:positions`) the whole queue is read in one
statement, a few small columns per waiting request. The inputs of the wait estimate change slowly,
so they are cached per process for a few seconds instead of being recomputed for every payload:
the recent median time to accept per priority (from an index on `effective_priority,
accepted_at`) and how many available doctors hold each specialty (one row per available doctor,
never ORM objects).
"""
from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from flask import g, has_app_context
from sqlalchemy import and_, case, func, or_, select

from telemed.db import commits_so_far, utcnow
from telemed.extensions import db
from telemed.models import Consultation, Presence, User
from telemed.models.vocabulary import PRIORITIES

PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITIES)}, value=Consultation.effective_priority)
# The waiting queue's order (DESIGN.md, Routing): effective priority, then creation time.
QUEUE_ORDER = (PRIORITY_RANK, Consultation.created_at, Consultation.id)

MEDIAN_TTL_S = 30.0
AVAILABILITY_TTL_S = 2.0
MEDIAN_WINDOW_DAYS = 7
MEDIAN_SAMPLE = 50
_MEMO = "_telemed_queue_state"


@dataclass(frozen=True)
class WaitingRow:
    """What a waiting request's place and estimate depend on."""

    id: uuid.UUID
    facility_id: int
    effective_priority: str
    specialty: str
    escalation_level: int
    status: str = "waiting"


class _Cached:
    """A value recomputed at most once per `ttl_s` seconds in this process (or when invalidated)."""

    def __init__(self, ttl_s: float, compute):
        self._ttl_s, self._compute = ttl_s, compute
        self._value, self._expires = None, 0.0
        self._lock = threading.Lock()

    def get(self):
        now = time.monotonic()
        with self._lock:
            if now < self._expires:
                return self._value
        value = self._compute()
        with self._lock:
            self._value, self._expires = value, now + self._ttl_s
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._expires = 0.0


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def median_time_to_accept_s(priority: str) -> float | None:
    """The median wait before acceptance of the last requests of this priority (7 days, 50)."""
    since = utcnow() - timedelta(days=MEDIAN_WINDOW_DAYS)
    rows = db.session.execute(
        select(Consultation.queued_at, Consultation.accepted_at)
        .where(Consultation.effective_priority == priority, Consultation.accepted_at >= since)
        .order_by(Consultation.accepted_at.desc()).limit(MEDIAN_SAMPLE)
    ).all()
    return _median([(accepted - queued).total_seconds() for queued, accepted in rows])


def available_doctors_by_specialty() -> dict[str, int]:
    """How many available doctors hold each specialty, plus `*` for all of them."""
    specialties = db.session.scalars(
        select(User.specialties).join(Presence, Presence.user_id == User.id)
        .where(Presence.status == "available", User.active, User.role == "doctor")
    ).all()
    counts: dict[str, int] = {"*": len(specialties)}
    for held in specialties:
        for specialty in held or ():
            counts[specialty] = counts.get(specialty, 0) + 1
    return counts


_medians = _Cached(MEDIAN_TTL_S, lambda: {p: median_time_to_accept_s(p) for p in PRIORITIES})
_availability = _Cached(AVAILABILITY_TTL_S, available_doctors_by_specialty)


def availability_changed() -> None:
    """A doctor's presence changed in this process: count available doctors afresh next time."""
    _availability.invalidate()


def forget_cached() -> None:
    """Drop every cached input (tests, and after bulk changes)."""
    _medians.invalidate()
    _availability.invalidate()


def places_ahead(consultation) -> int:
    """How many waiting requests come before this one, in one COUNT: for a single payload, far
    cheaper than reading the whole queue into Python (the queue's order, DESIGN.md, Routing)."""
    higher = PRIORITIES[:PRIORITIES.index(consultation.effective_priority)]
    earlier = or_(Consultation.created_at < consultation.created_at,
                  and_(Consultation.created_at == consultation.created_at,
                       Consultation.id < consultation.id))
    return db.session.scalar(
        select(func.count()).select_from(Consultation).where(
            Consultation.status == "waiting",
            or_(Consultation.effective_priority.in_(higher),
                and_(Consultation.effective_priority == consultation.effective_priority, earlier)))
    )


def waiting_rows() -> list[WaitingRow]:
    """The whole waiting queue in order, as small rows (one statement)."""
    return [WaitingRow(*row) for row in db.session.execute(
        select(Consultation.id, Consultation.facility_id, Consultation.effective_priority,
               Consultation.specialty, Consultation.escalation_level)
        .where(Consultation.status == "waiting").order_by(*QUEUE_ORDER)
    )]


class QueueState:
    """The queue as it stands. Each part is read the first time a payload needs it: a change that
    touches no waiting request (a claim, a close, a doctor's snapshot with an empty queue) reads
    neither the queue's places nor the inputs of the wait estimate."""

    def __init__(self):
        # Payloads already shaped from this state (services/representation.py): one committed
        # state, so a consultation's payload is built once however many times it is sent.
        self.shaped: dict = {}
        self._counted: dict = {}  # places counted one at a time, before the whole queue was read

    @classmethod
    def now(cls) -> "QueueState":
        """The queue as of the last commit: shared within one request or event (the notifier, the
        positions and the view's answer) until this session commits again."""
        marker = commits_so_far(db.session)
        memo = g.get(_MEMO) if has_app_context() else None
        if memo is not None and memo[0] == marker:
            return memo[1]
        state = cls()
        if has_app_context():
            setattr(g, _MEMO, (marker, state))
        return state

    @cached_property
    def rows(self) -> list[WaitingRow]:
        """The waiting queue in order (one statement, on first use)."""
        return waiting_rows()

    @cached_property
    def positions(self) -> dict:
        """Each waiting request's place, from 1."""
        return {row.id: place for place, row in enumerate(self.rows, start=1)}

    @cached_property
    def median_accept_s(self) -> dict:
        """The recent median time to accept, per priority (cached per process)."""
        return _medians.get()

    @cached_property
    def available(self) -> dict:
        """Available doctors per specialty, `*` for all (cached per process)."""
        return _availability.get()

    def expect(self, items) -> None:
        """Places of several of these will be asked for: read the whole queue once rather than
        count each one's place."""
        if sum(item.status == "waiting" for item in items) > 1:
            self.positions  # noqa: B018  (reads and keeps them)

    def position(self, item) -> int | None:
        """A request's place in the waiting queue; None, without reading the queue, when it is
        not waiting. A single place is counted in SQL unless the whole queue was read."""
        if item.status != "waiting":
            return None
        if "positions" in self.__dict__:
            return self.positions.get(item.id)
        if item.id not in self._counted:
            self._counted[item.id] = places_ahead(item) + 1
        return self._counted[item.id]

    def doctors_available(self, item) -> int | None:
        """Available doctors eligible for a waiting request (a Consultation or a WaitingRow)."""
        if self.position(item) is None:
            return None
        if item.specialty == "general" or item.escalation_level > 0:
            return self.available.get("*", 0)
        return self.available.get(item.specialty, 0)

    def estimated_wait_s(self, item) -> int | None:
        """Recent median time-to-accept for its priority, times the rounds of doctors ahead of it."""
        position = self.position(item)
        doctors = self.doctors_available(item)
        median = self.median_accept_s.get(item.effective_priority) if doctors else None
        if position is None or not doctors or median is None:
            return None
        return int(median * math.ceil(position / doctors))

    def position_items(self) -> dict[int, list[dict]]:
        """DESIGN.md's `queue:positions` items, grouped by facility."""
        by_facility: dict[int, list[dict]] = {}
        for row in self.rows:
            by_facility.setdefault(row.facility_id, []).append({
                "id": str(row.id), "queue_position": self.positions[row.id],
                "estimated_wait_s": self.estimated_wait_s(row),
                "doctors_available": self.doctors_available(row),
            })
        return by_facility
