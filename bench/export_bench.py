"""Streaming exports of 100,000 consultations: time and peak Python memory, against building the
same CSV in memory in the same run. Usage: .venv/bin/python bench/export_bench.py [--database-url URL]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONSULTATIONS = 100_000


def populate(app) -> tuple[datetime, datetime]:
    """100,000 closed consultations over a year, with outcomes and accept events."""
    from telemed.extensions import db
    from telemed.models import Consultation, ConsultationEvent, District, Facility, Outcome, User

    rng = random.Random(100_000)
    start = datetime(2025, 6, 1, tzinfo=timezone.utc)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.insert(District), [{"id": 1, "name": "Bench", "region": "Bench"}])
        conn.execute(sa.insert(Facility), [{"id": i, "name": f"Post {i}", "kind": "fap", "village": f"V{i}",
                                            "district_id": 1, "active": True, "created_at": start}
                                           for i in range(1, 201)])
        conn.execute(sa.insert(User), [{"id": i, "username": f"u{i}", "full_name": f"Staff {i}",
                                        "role": "doctor" if i <= 40 else "feldsher",
                                        "profession": "doctor" if i <= 40 else "feldsher",
                                        "facility_id": i % 200 + 1, "specialties": ["general"] if i <= 40 else [],
                                        "password_hash": "!", "active": True, "locale": "en", "created_at": start}
                                       for i in range(1, 441)])
        for _ in range(CONSULTATIONS // 5000):
            consultations, outcomes, events = [], [], []
            for _row in range(5000):
                cid = uuid.uuid4()
                created = start + timedelta(seconds=rng.randrange(365 * 86400))
                accepted = created + timedelta(seconds=rng.randrange(30, 900))
                closed = accepted + timedelta(seconds=rng.randrange(300, 2400))
                priority = rng.choice(["emergency", "urgent", "routine"])
                consultations.append({
                    "id": cid, "client_key": uuid.uuid4(), "facility_id": rng.randrange(200) + 1,
                    "requester_id": rng.randrange(41, 441), "doctor_id": rng.randrange(1, 41),
                    "patient_age_years": rng.randrange(16, 90), "patient_age_months": None,
                    "patient_sex": rng.choice(["male", "female"]), "patient_iin": None, "patient_ref": None,
                    "complaint": "Chest pain, shortness of breath", "vitals": {"hr": rng.randrange(50, 140), "sbp": rng.randrange(90, 190)},
                    "priority": priority, "effective_priority": priority, "specialty": "general",
                    "status": "closed", "escalation_level": 0, "news2": None, "created_at": created,
                    "queued_at": created, "accepted_at": accepted, "closed_at": closed,
                    "updated_at": closed, "escalated_at": None, "cancelled_at": None})
                outcomes.append({"consultation_id": cid, "doctor_id": 1, "disposition": "advice_given",
                                 "icd10": ["I20.0"], "recommendation": "Rest, review in a week",
                                 "follow_up_on": None, "created_at": closed})
                events.append({"consultation_id": cid, "actor_id": 1, "kind": "accepted", "payload": {},
                               "created_at": accepted})
            conn.execute(sa.insert(Consultation), consultations)
            conn.execute(sa.insert(Outcome), outcomes)
            conn.execute(sa.insert(ConsultationEvent), events)
    return start, start + timedelta(days=366)


def measure(fn) -> tuple[float, float, int]:
    """Seconds, peak traced Python memory in MiB, and bytes produced."""
    tracemalloc.start()
    started = time.perf_counter()
    produced = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from flask_migrate import upgrade

    from telemed import create_app
    from telemed.extensions import db
    from telemed.services.exports import consultations_csv, fhir_bundle

    folder = tempfile.mkdtemp(prefix="telemed-export-bench-")
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    app = create_app({"database_url": url, "instance_path": folder, "secret_key": "bench",
                      "async_mode": "threading"})
    with app.app_context():
        upgrade()
    start, end = populate(app)
    with app.app_context():
        def streamed_csv():
            size = sum(len(chunk) for chunk in consultations_csv(start, end))
            db.session.remove()
            return size

        def streamed_fhir():
            size = sum(len(chunk) for chunk in fhir_bundle(start, end))
            db.session.remove()
            return size

        def csv_in_memory():  # the baseline: every chunk kept, then joined
            text = "".join(list(consultations_csv(start, end)))
            db.session.remove()
            return len(text)

        results = [("CSV, streamed", measure(streamed_csv)),
                   ("CSV, built in memory (baseline)", measure(csv_in_memory)),
                   ("FHIR Bundle, streamed", measure(streamed_fhir))]
        dialect = db.engine.dialect.name
    print(f"{CONSULTATIONS} consultations on {dialect}; peak Python memory by tracemalloc")
    print("| export | time | peak memory | size |")
    print("|---|---|---|---|")
    for name, (seconds, peak, size) in results:
        print(f"| {name} | {seconds:.1f} s | {peak:.1f} MiB | {size / 2**20:.1f} MiB |")


if __name__ == "__main__":
    main()
