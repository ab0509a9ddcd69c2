"""Coverage report at national scale against a hand-written SQL GROUP BY, in the same run.

Generates 5,000 facilities, 25,000 staff and 100,000 certifications (about Kazakhstan's 6,000
villages), then times `coverage_report` and a baseline query that computes the same grouped counts
with plain SQL. Usage:

    .venv/bin/python bench/coverage_bench.py [--database-url URL] [--repeat 5]

Without --database-url it runs on a fresh SQLite file and, when it answers, on PostgreSQL
(a database `telemed_bench` next to TELEMED_BENCH_POSTGRES, default postgres@127.0.0.1/postgres).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FACILITIES, STAFF, CERTIFICATIONS = 5000, 25000, 100000
AS_OF = date(2026, 6, 1)
PROFESSIONS = ["nurse"] * 6 + ["feldsher"] * 2 + ["midwife", "doctor"]
BASELINE = """
SELECT t.code, u.profession, u.facility_id, COALESCE(b.rank, 4) AS rank, COUNT(*) AS people
FROM users u CROSS JOIN certification_types t
LEFT JOIN (
    SELECT user_id, type_id, MIN(CASE
        WHEN revoked_at IS NOT NULL AND revoked_at < :end_of_day THEN 3
        WHEN issued_on > :day THEN 4
        WHEN expires_on < :day THEN 2
        WHEN expires_on <= :expiring THEN 1
        ELSE 0 END) AS rank
    FROM certifications GROUP BY user_id, type_id
) b ON b.user_id = u.id AND b.type_id = t.id
WHERE u.active = :true AND u.role <> 'admin'
GROUP BY t.code, u.profession, u.facility_id, COALESCE(b.rank, 4)
"""


def populate(app) -> None:
    """Bulk-insert the national-scale data set (deterministic)."""
    from telemed.extensions import db
    from telemed.models import Certification, CertificationType, District, Facility, User
    from telemed.services.certifications import add_months, ensure_standard_types

    rng = random.Random(6000)
    with app.app_context():
        ensure_standard_types()
        engine = db.engine
        types = {t.code: (t.id, t.validity_months) for t in db.session.scalars(sa.select(CertificationType))}
        now = datetime.now(timezone.utc)
        with engine.begin() as conn:
            conn.execute(sa.insert(District), [{"id": i + 1, "name": f"District {i + 1}",
                                                "region": f"Region {i // 12 + 1}"} for i in range(170)])
            conn.execute(sa.insert(Facility), [{"id": i + 1, "name": f"Post {i + 1}",
                                                "kind": "fap" if i % 10 else "medical_post",
                                                "village": f"Village {i + 1}", "district_id": i % 170 + 1,
                                                "active": True, "created_at": now}
                                               for i in range(FACILITIES)])
            users = []
            for i in range(STAFF):
                profession = PROFESSIONS[i % len(PROFESSIONS)]
                users.append({"id": i + 1, "username": f"u{i + 1}", "full_name": f"Staff {i + 1}",
                              "role": "doctor" if profession == "doctor" else "feldsher",
                              "profession": profession, "facility_id": rng.randrange(FACILITIES) + 1,
                              "specialties": ["general"] if profession == "doctor" else [],
                              "password_hash": "!", "active": True, "locale": "en",
                              "created_at": now})
            conn.execute(sa.insert(User), users)
            certs, seen = [], set()
            codes = ["BLS"] * 5 + ["CARDIO", "ACLS", "PALS"]
            while len(certs) < CERTIFICATIONS:
                user_id, code = rng.randrange(STAFF) + 1, rng.choice(codes)
                issued = date(2020, 1, 1) + timedelta(days=rng.randrange(2300))
                if (user_id, code, issued) in seen:
                    continue
                seen.add((user_id, code, issued))
                type_id, months = types[code]
                certs.append({"user_id": user_id, "type_id": type_id, "issued_on": issued,
                              "expires_on": add_months(issued, months),
                              "revoked_at": now if rng.random() < 0.01 else None,
                              "created_at": now, "updated_at": now})
            for start in range(0, len(certs), 10000):
                conn.execute(sa.insert(Certification), certs[start:start + 10000])
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def run(database_url: str, repeat: int) -> dict:
    from flask_migrate import upgrade

    from telemed import create_app
    from telemed.extensions import db
    from telemed.services.coverage import coverage_report

    instance = tempfile.mkdtemp(prefix="telemed-bench-")
    app = create_app({"database_url": database_url, "instance_path": instance,
                      "secret_key": "bench", "async_mode": "threading"})
    with app.app_context():
        upgrade()
    started = time.perf_counter()
    populate(app)
    load_s = time.perf_counter() - started
    end_of_day = datetime.combine(AS_OF + timedelta(days=1), dtime(0), tzinfo=timezone.utc)
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
        params = {"day": AS_OF, "expiring": AS_OF + timedelta(days=90), "true": True,
                  "end_of_day": end_of_day.replace(tzinfo=None).isoformat(sep=" ") if sqlite else end_of_day}
        if sqlite:
            params.update(day=AS_OF.isoformat(), expiring=(AS_OF + timedelta(days=90)).isoformat(), true=1)

        def baseline():
            rows = db.session.execute(sa.text(BASELINE), params).all()
            db.session.rollback()
            return rows

        def report():
            result = coverage_report(AS_OF)
            db.session.rollback()
            return result

        baseline()  # warm caches for both
        report()
        base_best, base_median, rows = best_of(baseline, repeat)
        report_best, report_median, result = best_of(report, repeat)
        # Same figures from both: total people counted per type.
        by_type = {}
        for code, _profession, _facility, _rank, people in rows:
            by_type[code] = by_type.get(code, 0) + people
        assert all(by_type[t["code"]] == result["staff"]["total"] for t in result["types"])
        dialect = db.engine.dialect.name
    return {"database": dialect, "load_s": load_s, "baseline_best_s": base_best,
            "baseline_median_s": base_median, "report_best_s": report_best,
            "report_median_s": report_median, "ratio": report_best / base_best,
            "facilities_in_report": len(result["facilities"])}


def postgres_url() -> str | None:
    admin_url = os.environ.get("TELEMED_BENCH_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    try:
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS telemed_bench"))
            conn.execute(sa.text("CREATE DATABASE telemed_bench"))
        engine.dispose()
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL skipped: {exc.__class__.__name__}", file=sys.stderr)
        return None
    return admin_url.rsplit("/", 1)[0] + "/telemed_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    urls = [args.database_url] if args.database_url else [
        f"sqlite:///{tempfile.mkdtemp(prefix='telemed-bench-')}/bench.db"] + [u for u in [postgres_url()] if u]
    print(f"coverage report, {FACILITIES} facilities, {STAFF} staff, {CERTIFICATIONS} certifications,"
          f" as of {AS_OF}, best of {args.repeat}")
    print("| database | baseline GROUP BY (best / median) | coverage_report (best / median) | ratio | load |")
    print("|---|---|---|---|---|")
    for url in urls:
        r = run(url, args.repeat)
        print(f"| {r['database']} | {r['baseline_best_s'] * 1000:.0f} / {r['baseline_median_s'] * 1000:.0f} ms "
              f"| {r['report_best_s'] * 1000:.0f} / {r['report_median_s'] * 1000:.0f} ms "
              f"| {r['ratio']:.2f}x | {r['load_s']:.1f} s |")


if __name__ == "__main__":
    main()
