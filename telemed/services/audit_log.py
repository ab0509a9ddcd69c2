"""Reading the audit trail: who read or changed what, filterable and exportable."""
from __future__ import annotations

import csv
import io
from typing import Iterator

from sqlalchemy import func, select

from telemed.extensions import db
from telemed.models import AuditEntry, User

CSV_COLUMNS = ["at", "actor_id", "actor", "action", "object_type", "object_id", "ip", "detail"]


def _conditions(filters: dict) -> list:
    conditions = []
    for key in ("actor_id", "action", "object_type", "object_id"):
        if filters.get(key) is not None:
            conditions.append(getattr(AuditEntry, key) == filters[key])
    if filters.get("start"):
        conditions.append(AuditEntry.at >= filters["start"])
    if filters.get("end"):
        conditions.append(AuditEntry.at < filters["end"])
    return conditions


def search(filters: dict) -> tuple[list[tuple[AuditEntry, str | None]], int]:
    """Audit entries matching the filters, newest first, with the actor's name."""
    conditions = _conditions(filters)
    total = db.session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    rows = db.session.execute(
        select(AuditEntry, User.full_name).outerjoin(User, User.id == AuditEntry.actor_id)
        .where(*conditions).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(filters.get("limit", 50)).offset(filters.get("offset", 0))
    ).all()
    return rows, total


def to_csv(filters: dict) -> Iterator[str]:
    """Every matching entry as CSV, oldest first, written in batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    query = (select(AuditEntry, User.full_name).outerjoin(User, User.id == AuditEntry.actor_id)
             .where(*_conditions(filters)).order_by(AuditEntry.at, AuditEntry.id)
             .execution_options(yield_per=1000))
    for count, (entry, actor) in enumerate(db.session.execute(query), start=1):
        writer.writerow([entry.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                         entry.actor_id or "", actor or "", entry.action, entry.object_type or "",
                         entry.object_id or "", entry.ip or "", entry.detail or {}])
        db.session.expunge(entry)
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
