"""Append-only audit of patient-data access, logins and refusals."""
from __future__ import annotations

from sqlalchemy.orm import Session

from telemed.db import write_transaction
from telemed.errors import Forbidden, NotFound, ServiceError, Unauthenticated
from telemed.extensions import db
from telemed.models import AuditEntry, User


def record(session: Session, actor: User | None, action: str, *, object_type: str | None = None,
           object_id=None, ip: str | None = None, **detail) -> None:
    """Add one audit row to the session; the caller's transaction commits it."""
    session.add(AuditEntry(
        actor_id=actor.id if actor is not None and getattr(actor, "id", None) else None,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=ip,
        detail=detail,
    ))


def record_refusal(actor: User | None, error: ServiceError, where: str, ip: str | None = None) -> None:
    """Audit a refused access (401, 403, 404) in its own transaction, after the refusal rolled back."""
    if error.audited or not isinstance(error, (Unauthenticated, Forbidden, NotFound)):
        return
    db.session.rollback()
    with write_transaction(db.session) as session:
        record(session, actor if actor is not None and actor.is_authenticated else None,
               "access_refused", ip=ip, where=where[:200], code=error.code)
