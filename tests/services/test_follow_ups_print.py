"""Follow-ups due at the post, marked done; the printable one-page summary."""
import re
from datetime import date, timedelta

import sqlalchemy as sa

from tests.helpers import ApiClient, close_body, consultation_body, row_counts


def closed_with_follow_up(app, login, district, days_from_now):
    from telemed.db import district_today
    from telemed.extensions import db
    from telemed.models import Outcome

    with app.app_context():  # "today" is the district's (from 19:00 UTC Almaty is a day ahead)
        today = district_today()
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    c = feldsher.post("/consultations", json=consultation_body()).get_json()
    doctor.post(f"/consultations/{c['id']}/accept")
    doctor.post(f"/consultations/{c['id']}/close", json=close_body(
        follow_up_on=(today + timedelta(days=max(days_from_now, 0))).isoformat()))
    if days_from_now < 0:  # a follow-up that was set in the past is now overdue
        import uuid
        with app.app_context():
            db.session.execute(sa.update(Outcome).where(Outcome.consultation_id == uuid.UUID(c["id"]))
                               .values(follow_up_on=today + timedelta(days=days_from_now)))
            db.session.commit()
    return c["id"]


def test_post_sees_due_and_overdue_follow_ups_and_marks_them_done(app, login, district):
    overdue = closed_with_follow_up(app, login, district, -2)
    today = closed_with_follow_up(app, login, district, 0)
    later = closed_with_follow_up(app, login, district, 5)
    post = login(district.feldsher_a)
    ids = lambda due: [c["id"] for c in post.get(f"/follow-ups?due={due}").get_json()["items"]]  # noqa: E731
    assert ids("overdue") == [overdue] and ids("today") == [today] and ids("upcoming") == [later]
    assert login(district.feldsher_b).get("/follow-ups").get_json()["total"] == 0
    done = post.post(f"/consultations/{overdue}/follow-up", json={"reason": "Patient seen, better"})
    assert done.status_code == 200 and done.get_json()["outcome"]["follow_up_done_at"]
    assert ids("overdue") == []
    events = post.get(f"/consultations/{overdue}").get_json()["events"]
    assert events[-1]["kind"] == "follow_up_done" and events[-1]["payload"]["note"] == "Patient seen, better"
    before = row_counts(app)
    assert post.post(f"/consultations/{overdue}/follow-up", json={}).status_code == 409
    assert login(district.doctor).post(f"/consultations/{today}/follow-up", json={}).status_code == 403
    assert login(district.feldsher_b).post(f"/consultations/{today}/follow-up", json={}).status_code == 404
    assert post.get("/follow-ups?due=someday").status_code == 422
    assert row_counts(app) == before


def test_print_summary_has_everything_for_the_journal(app, login, district):
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    c = feldsher.post("/consultations", json=consultation_body(patient={"age_years": 61, "sex": "female"})).get_json()
    doctor.post(f"/consultations/{c['id']}/accept")
    doctor.post(f"/consultations/{c['id']}/close", json=close_body(icd10=["I21.9"], disposition="hospitalized"))
    page = ApiClient(app, "feldsher_a").http.get(f"/consultations/{c['id']}/print")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("Acute myocardial infarction, unspecified", "I21.9", "Hospitalized", "Doctor_G",
                 "Pressing chest pain", "61", "Female", "NEWS2"):
        assert text in html, text
    assert re.search(r"/static/css/print\.[0-9a-f]{12}\.css", html)  # its own stylesheet
    assert ApiClient(app, "feldsher_b").http.get(f"/consultations/{c['id']}/print").status_code == 404


def test_today_is_the_districts_day_not_the_servers(app, monkeypatch):
    from datetime import datetime, timezone

    from telemed import db as clock

    # 23:30 UTC on 31 May is already 1 June in Almaty (UTC+5): the district's "today".
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 5, 31, 23, 30, tzinfo=timezone.utc))
    with app.app_context():
        assert clock.district_today() == date(2026, 6, 1)
        monkeypatch.setattr(app.config["TELEMED"], "timezone", "UTC")
        assert clock.district_today() == date(2026, 5, 31)


def test_an_iin_age_is_checked_on_the_districts_date(app, login, district, monkeypatch):
    from datetime import datetime, timezone

    from telemed import db as clock

    # Born 1 June 1990 (IIN 900601...): at 23:30 UTC on 31 May 2026 the patient is 36 in Almaty.
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 5, 31, 23, 30, tzinfo=timezone.utc))
    from telemed.services.clinical_codes import iin_check_digit

    stem = next(f"9006013{n:04d}" for n in range(10000) if iin_check_digit(f"9006013{n:04d}") < 10)
    iin = stem + str(iin_check_digit(stem))
    body = consultation_body(patient={"age_years": 36, "sex": "male", "iin": iin})
    answer = login(district.feldsher_a).post("/consultations", json=body)
    assert answer.status_code == 201, answer.get_json()

