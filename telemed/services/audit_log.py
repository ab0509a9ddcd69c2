"""Reading the audit trail: who read or changed what, filterable and exportable."""
from __future__ import annotations

import json
from typing import Iterator

from sqlalchemy import String, cast, func, select

from telemed.db import LIKE_ESCAPE, containing, rows_read_apart
from telemed.extensions import db
from telemed.models import AuditEntry, User
from telemed.services import csv_export

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
    if filters.get("detail"):
        # The detail's JSON text contains the words (a refused path, an error code, a field name).
        conditions.append(func.lower(cast(AuditEntry.detail, String))
                          .like(containing(filters["detail"].lower()), escape=LIKE_ESCAPE))
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
    """Every matching entry as CSV, oldest first, written in batches (the detail as JSON text)."""
    query = (select(AuditEntry, User.full_name).outerjoin(User, User.id == AuditEntry.actor_id)
             .where(*_conditions(filters)).order_by(AuditEntry.at, AuditEntry.id)
             .execution_options(yield_per=1000))

    # A download: read outside the pool (db.rows_read_apart), each entry let go once written.
    return csv_export.stream(CSV_COLUMNS, (
        [entry.at.isoformat(timespec="seconds").replace("+00:00", "Z"), entry.actor_id or "", actor or "",
         entry.action, entry.object_type or "", entry.object_id or "", entry.ip or "",
         json.dumps(entry.detail or {}, ensure_ascii=False, sort_keys=True)]
        for entry, actor in rows_read_apart(db.session, db.engine, query, forget=(0,))
    ))
