"""Domain events: what a service changed, recorded in its unit of work, handed on after commit.

A service calls `record(session, event)` inside its write transaction. When that transaction
commits, `telemed.db.write_transaction` hands the events it collected, in order and all at once, to
every subscriber (the Socket.IO notifier subscribes when the app is built); a rollback drops them.
So no client ever hears of a change that did not happen, and services never know who listens.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "telemed_pending_events"
_subscribers: list[Callable[[list], None]] = []


@dataclass(frozen=True)
class ConsultationChanged:
    """A consultation moved or changed; `left_queue_reason` when it left the waiting queue."""

    consultation_id: uuid.UUID
    previous_doctor_id: int | None = None
    left_queue_reason: str | None = None


@dataclass(frozen=True)
class MessageSent:
    """A chat message (or an attachment with its message) was posted."""

    message_id: uuid.UUID
    consultation_id: uuid.UUID


@dataclass(frozen=True)
class PresenceChanged:
    """The presence others see for a doctor changed."""

    user_id: int
    status: str


@dataclass(frozen=True)
class SessionEnded:
    """A login ended: its open connections, on whichever server process, must be closed."""

    login_id: str
    connection_sids: tuple[str, ...] = ()


@dataclass(frozen=True)
class QualificationsChanged:
    """What these doctors may take may have changed (their specialties or certificates): their
    open connections must follow it into and out of the specialty rooms."""

    user_ids: tuple[int, ...]


def record(session: Session, event) -> None:
    """Note an event in the session's unit of work; published only if it commits."""
    session.info.setdefault(_PENDING, []).append(event)


def subscribe(handler: Callable[[list], None]) -> None:
    """Have `handler(events)` called with each committed transaction's events."""
    if handler not in _subscribers:
        _subscribers.append(handler)


def discard(session: Session) -> None:
    """Forget the events of a transaction that rolled back."""
    session.info.pop(_PENDING, None)


def publish_committed(session: Session) -> None:
    """Hand a just-committed transaction's events to every subscriber."""
    events = session.info.pop(_PENDING, None)
    if events:
        publish(events)


def publish(events: Iterable) -> None:
    """Hand events to every subscriber; a failing subscriber is logged, never undoes the commit."""
    events = list(events)
    for handler in list(_subscribers):
        try:
            handler(events)
        except Exception:  # the change is committed; a lost notification is healed by snapshots
            log.exception("event subscriber %r failed", handler)
