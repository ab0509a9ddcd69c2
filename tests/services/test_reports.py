"""Consultation reports and the Erlang C staffing estimate."""
import math
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from telemed.services.reports import doctors_needed, erlang_c, percentile, service_level
from tests.helpers import close_body, consultation_body, row_counts


def test_erlang_c_textbook_values():
    # Two Erlangs on three servers: B(3, 2) = 4/19, so C = 3.(4/19) / (3 - 2.(15/19)) = 4/9.
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    # One server: C(1, A) = A (the M/M/1 queue's probability of waiting).
    assert erlang_c(1, 0.6) == pytest.approx(0.6)
    assert erlang_c(2, 2.0) == 1.0                       # cannot keep up
    # Service level for 4/9 waiting, N - A = 1, t = h: 1 - 4/9 . e^-1.
    assert service_level(3, 2.0, 300, 300) == pytest.approx(1 - 4 / 9 * math.exp(-1))


def test_doctors_needed_is_the_smallest_that_meets_the_target():
    traffic, handling, within = 2.0, 600.0, 60.0
    needed = doctors_needed(traffic, handling, within)
    assert service_level(needed, traffic, handling, within) >= 0.9
    assert service_level(needed - 1, traffic, handling, within) < 0.9
    assert doctors_needed(0.01, handling, within) == 1


def test_percentile_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5, 1, 3], 0.5) == 3
    assert percentile(list(range(1, 11)), 0.9) == 9


def make_history(app, login, district, specs):
    """Create, accept and close consultations, then move their times to the given ones."""
    from telemed.extensions import db
    from telemed.models import Consultation, ConsultationEvent

    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    for created_at, priority, wait_s, handle_s, disposition in specs:
        c = feldsher.post("/consultations", json=consultation_body(priority=priority, vitals={})).get_json()
        doctor.post(f"/consultations/{c['id']}/accept")
        doctor.post(f"/consultations/{c['id']}/close", json=close_body(disposition=disposition))
        cid = uuid.UUID(c["id"])
        accepted_at = created_at + timedelta(seconds=wait_s)
        closed_at = accepted_at + timedelta(seconds=handle_s)
        with app.app_context():
            db.session.execute(sa.update(Consultation).where(Consultation.id == cid).values(
                created_at=created_at, queued_at=created_at, accepted_at=accepted_at, closed_at=closed_at))
            for kind, moment in (("created", created_at), ("accepted", accepted_at), ("closed", closed_at)):
                db.session.execute(sa.update(ConsultationEvent).where(
                    ConsultationEvent.consultation_id == cid, ConsultationEvent.kind == kind).values(created_at=moment))
            db.session.commit()


def test_consultations_report(app, login, district):
    monday = datetime(2026, 11, 2, 4, 0, tzinfo=timezone.utc)  # 09:00 in Astana (UTC+5)
    make_history(app, login, district, [
        (monday, "emergency", 30, 600, "ambulance_called"),
        (monday + timedelta(minutes=10), "emergency", 90, 900, "referred_urgent"),
        (monday + timedelta(minutes=20), "emergency", 45, 300, "advice_given"),
        (monday + timedelta(days=1), "routine", 1200, 600, "advice_given"),
    ])
    admin = login(district.admin)
    report = admin.get("/reports/consultations?from=2026-11-01&to=2026-11-30").get_json()
    assert report["total"] == 4
    assert report["per_day"] == [{"date": "2026-11-02", "count": 3}, {"date": "2026-11-03", "count": 1}]
    emergency = report["time_to_accept"]["emergency"]
    assert (emergency["p50_s"], emergency["p90_s"]) == (45, 90)
    assert emergency["within_threshold"] == round(2 / 3, 3)    # 90 s is past the 60 s threshold
    assert report["time_to_accept"]["urgent"]["p50_s"] is None
    assert report["outcomes"]["advice_given"] == 2 and report["outcomes"]["ambulance_called"] == 1
    facility = report["per_facility"][0]
    assert (facility["referral_rate"], facility["ambulance_rate"]) == (0.25, 0.25)
    assert report["busiest_hours"][0] == {"weekday": 0, "hour": 9, "count": 3}
    only_b = admin.get(f"/reports/consultations?from=2026-11-01&to=2026-11-30&facility_id={district.post_b.id}")
    assert only_b.get_json()["total"] == 0


def test_staffing_estimate_for_monday_mornings(app, login, district):
    monday = datetime(2026, 11, 2, 4, 0, tzinfo=timezone.utc)
    make_history(app, login, district, [
        (monday + timedelta(minutes=m), "emergency", 20, 1800, "advice_given") for m in range(0, 60, 10)])
    report = login(district.admin).get("/reports/staffing?from=2026-11-02&to=2026-11-08").get_json()
    assert report["emergencies"] == 6 and report["mean_handling_s"] == 1800
    slot = next(s for s in report["slots"] if (s["weekday"], s["hour"]) == (0, 9))
    assert slot["arrivals_per_hour"] == 6.0 and slot["traffic_erlangs"] == 3.0
    assert slot["doctors_needed"] == doctors_needed(3.0, 1800, 60)
    assert next(s for s in report["slots"] if (s["weekday"], s["hour"]) == (0, 3))["doctors_needed"] == 0
    assert report["doctors_on_duty_now"] == 0


@pytest.mark.parametrize("query", ["from=2026-12-01&to=2026-11-01", "from=1990-01-01&to=2026-01-01",
                                   "from=yesterday", "facility_id=99999", "to=2026-02-30"])
def test_bad_report_ranges_are_422(app, login, district, query):
    admin = login(district.admin)
    before = row_counts(app)
    assert admin.get(f"/reports/consultations?{query}").status_code == 422
    assert row_counts(app) == before


def test_reports_are_for_admins(login, district):
    for who in (district.feldsher_a, district.doctor):
        assert login(who).get("/reports/consultations").status_code == 403
        assert login(who).get("/reports/staffing").status_code == 403
