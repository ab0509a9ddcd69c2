"""Coverage on a date, the demo's published figures, gaps, lapses, forecast and routing by
certification."""
import csv
import io
from datetime import date, timedelta

import pytest

from tests.helpers import consultation_body


@pytest.fixture
def demo(app):
    from telemed.services.demo import load_demo_district

    with app.app_context():
        load_demo_district()


def demo_client(app, username, password):
    client = app.test_client()
    response = client.post("/api/v1/session", json={"username": username, "password": password})
    assert response.status_code == 200
    return client


def test_demo_reproduces_the_published_figures(app, demo):
    admin = demo_client(app, "admin", "demo-admin")
    report = admin.get("/api/v1/reports/coverage?as_of=2026-06-01").get_json()
    assert report["as_of"] == "2026-06-01"
    assert report["staff"]["total"] == 492
    types = {t["code"]: t for t in report["types"]}
    assert types["BLS"]["by_profession"]["nurse"]["valid"] == 171
    assert types["BLS"]["by_profession"]["doctor"]["valid"] == 52
    assert types["CARDIO"]["by_profession"]["nurse"]["valid"] == 40
    nurses = report["staff"]["by_profession"]["nurse"]
    assert types["BLS"]["by_profession"]["nurse"]["coverage"] == round(171 / nurses, 2)
    bls = types["BLS"]
    assert bls["valid"] + bls["expired"] + bls["revoked"] + bls["none"] == 492
    assert bls["expiring"] > 0 and bls["expired"] > 0          # real gaps to show
    gaps = [f for f in report["facilities"] if f["gaps"]]
    assert {f["name"] for f in gaps} >= {"Shubar Feldsher-Midwife Post"}
    assert report["facilities"][:len(gaps)] == gaps            # gaps first
    assert gaps[0]["gap_types"] == ["BLS"] and gaps[0]["gaps"] == ["no valid BLS"]
    # BLS is required at every post, the cardiology certificates at none: the map colours only BLS.
    shubar = next(f for f in report["facilities"] if f["name"] == "Shubar Feldsher-Midwife Post")
    assert shubar["types"]["BLS"]["required"] and not shubar["types"]["CARDIO"]["required"]


def test_coverage_counts_match_a_hand_count(app, demo):
    """The SQL aggregation against a plain per-person count of the same records."""
    from telemed.extensions import db
    from telemed.models import Certification, User
    from telemed.services.certifications import status_on

    admin = demo_client(app, "admin", "demo-admin")
    day = date(2026, 11, 22)
    report = admin.get(f"/api/v1/reports/coverage?as_of={day}").get_json()
    with app.app_context():
        best = {}
        for c in db.session.scalars(db.select(Certification)):
            status = status_on(c, day)
            rank = ["valid", "expiring", "expired", "revoked", "none"].index(status)
            key = (c.user_id, c.type.code)
            best[key] = min(best.get(key, 9), rank)
        staff = db.session.scalars(db.select(User).where(User.active, User.role != "admin")).all()
        for entry in report["types"]:
            held = sum(1 for u in staff if best.get((u.id, entry["code"]), 9) <= 1)
            expired = sum(1 for u in staff if best.get((u.id, entry["code"]), 9) == 2)
            assert (entry["valid"], entry["expired"]) == (held, expired), entry["code"]


def test_lapsing_list_forecast_and_training_export(app, demo):
    admin = demo_client(app, "admin", "demo-admin")
    day = date(2026, 11, 22)
    report = admin.get(f"/api/v1/reports/coverage?as_of={day}").get_json()
    lapsing = admin.get(f"/api/v1/reports/lapsing?as_of={day}&days=90").get_json()
    assert lapsing["total"] == report["lapsing"]["90"]["BLS"] > 0
    days_left = [item["days_left"] for item in lapsing["items"]]
    assert days_left == sorted(days_left) and 0 <= days_left[0] and days_left[-1] <= 90
    assert report["lapsing"]["30"]["BLS"] <= report["lapsing"]["60"]["BLS"] <= report["lapsing"]["90"]["BLS"]
    bls_now = next(t for t in report["types"] if t["code"] == "BLS")["valid"]
    forecast = [f["types"]["BLS"]["valid"] for f in report["forecast"]]
    assert [f["months"] for f in report["forecast"]] == [3, 6, 12]
    assert bls_now >= forecast[0] >= forecast[1] >= forecast[2]     # nobody renews
    assert report["forecast"][0]["as_of"] == "2027-02-22"

    export = admin.get(f"/api/v1/exports/training.csv?as_of={day}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert rows and {r["type"] for r in rows} == {"BLS"}
    assert {r["status"] for r in rows} <= {"expiring", "expired", "revoked", "none"}
    assert all(r["profession"] in ("feldsher", "nurse", "midwife", "doctor") for r in rows)


@pytest.mark.parametrize("query", ["as_of=2026-02-30", "as_of=1850-01-01", "as_of=tomorrow",
                                   "district_id=abc"])
def test_bad_report_parameters_are_422(app, demo, query):
    admin = demo_client(app, "admin", "demo-admin")
    assert admin.get(f"/api/v1/reports/coverage?{query}").status_code == 422


def test_a_specialty_requirement_gates_routing(app, demo):
    """Cardiology requires CARDSPEC in the demo: without a valid one a cardiologist is not offered
    cardiology requests and cannot claim them."""
    from telemed.extensions import db
    from telemed.models import Certification, CertificationType, User

    post = demo_client(app, "feldsher1", "demo-feldsher")
    token = post.get("/api/v1/session").get_json()["csrf_token"]
    created = post.post("/api/v1/consultations", json=consultation_body(specialty="cardiology"),
                        headers={"X-CSRFToken": token}).get_json()
    cardiologist = demo_client(app, "cardiologist1", "demo-doctor")
    ctoken = cardiologist.get("/api/v1/session").get_json()["csrf_token"]
    assert created["id"] in [c["id"] for c in cardiologist.get("/api/v1/queue").get_json()["waiting"]]

    with app.app_context():  # the specialist certificate lapses
        user = db.session.scalar(db.select(User).where(User.username == "cardiologist1"))
        spec = db.session.scalar(db.select(CertificationType).where(CertificationType.code == "CARDSPEC"))
        for c in db.session.scalars(db.select(Certification).where(
                Certification.user_id == user.id, Certification.type_id == spec.id)):
            c.issued_on, c.expires_on = date.today() - timedelta(days=2000), date.today() - timedelta(days=1)
        db.session.commit()
    assert created["id"] not in [c["id"] for c in cardiologist.get("/api/v1/queue").get_json()["waiting"]]
    refused = cardiologist.post(f"/api/v1/consultations/{created['id']}/accept",
                                headers={"X-CSRFToken": ctoken})
    assert refused.status_code == 404  # not offered to them: outside their scope


def test_doctor_sees_requester_certifications_and_the_no_bls_flag(app, demo):
    from telemed.extensions import db
    from telemed.models import Certification, User

    post = demo_client(app, "feldsher1", "demo-feldsher")
    token = post.get("/api/v1/session").get_json()["csrf_token"]
    emergency = post.post("/api/v1/consultations", json=consultation_body(priority="emergency"),
                          headers={"X-CSRFToken": token}).get_json()
    doctor = demo_client(app, "doctor1", "demo-doctor")
    detail = doctor.get(f"/api/v1/consultations/{emergency['id']}").get_json()
    assert [h["code"] for h in detail["requester_certifications"]] == ["BLS"]
    assert detail["flags"] == []
    with app.app_context():  # feldsher1's BLS is revoked
        user = db.session.scalar(db.select(User).where(User.username == "feldsher1"))
        for c in db.session.scalars(db.select(Certification).where(Certification.user_id == user.id)):
            c.revoked_at = c.created_at
        db.session.commit()
    detail = doctor.get(f"/api/v1/consultations/{emergency['id']}").get_json()
    assert detail["requester_certifications"] == []
    assert detail["flags"] == ["requester_without_valid_bls"]
