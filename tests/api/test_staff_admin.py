"""Staff and facility management by administrators: add, edit, deactivate, never delete."""
import pytest

from tests.helpers import ApiClient, row_counts


def test_admin_creates_edits_and_deactivates_staff(app, login, district):
    admin = login(district.admin)
    created = admin.post("/users", json={
        "username": "nurse_new", "full_name": "Asel Nurse", "role": "feldsher",
        "profession": "nurse", "facility_id": district.post_a.id, "password": "long-enough-pw"})
    assert created.status_code == 201, created.get_json()
    user_id = created.get_json()["id"]
    assert ApiClient(app, None).http.post("/api/v1/session", json={
        "username": "nurse_new", "password": "long-enough-pw"}).status_code == 200
    listing = admin.get("/users?q=asel").get_json()
    assert [u["username"] for u in listing["items"]] == ["nurse_new"]
    moved = admin.http.patch(f"/api/v1/users/{user_id}", json={"facility_id": district.post_b.id},
                             headers={"X-CSRFToken": admin.csrf_token})
    assert moved.get_json()["facility"]["id"] == district.post_b.id
    off = admin.http.patch(f"/api/v1/users/{user_id}", json={"active": False},
                           headers={"X-CSRFToken": admin.csrf_token})
    assert off.get_json()["active"] is False
    assert admin.get(f"/users/{user_id}").status_code == 200  # history stays
    assert admin.get("/users?active=false").get_json()["total"] == 1
    assert app.test_client().post("/api/v1/session", json={
        "username": "nurse_new", "password": "long-enough-pw"}).status_code == 401


def test_bad_staff_changes_are_refused_and_write_nothing(app, login, district):
    admin = login(district.admin)
    before = row_counts(app)
    cases = [
        {"username": "x", "full_name": "X", "role": "admin", "profession": "other", "password": "long-enough-pw"},
        {"username": "doc_new", "full_name": "Doc", "role": "doctor", "profession": "doctor", "password": "long-enough-pw"},
        {"username": "post_new", "full_name": "P", "role": "feldsher", "profession": "nurse", "facility_id": 99999,
         "password": "long-enough-pw"},
        {"username": "feldsher_a", "full_name": "Dup", "role": "admin", "profession": "other", "password": "long-enough-pw"},
    ]
    fields = ["username", "specialties", "facility_id", "username"]
    for body, field in zip(cases, fields):
        response = admin.post("/users", json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["error"]["fields"]
    self_off = admin.http.patch(f"/api/v1/users/{district.admin.id}", json={"active": False},
                                headers={"X-CSRFToken": admin.csrf_token})
    assert self_off.status_code == 403
    empty = admin.http.patch(f"/api/v1/users/{district.feldsher_a.id}", json={},
                             headers={"X-CSRFToken": admin.csrf_token})
    assert empty.status_code == 422
    assert row_counts(app) == before


def test_facilities_are_added_renamed_and_deactivated(app, login, district):
    admin = login(district.admin)
    created = admin.post("/facilities", json={"name": "Koshy Post", "kind": "fap", "village": "Koshy",
                                              "district_id": district.post_a.district_id})
    assert created.status_code == 201
    facility_id = created.get_json()["id"]
    renamed = admin.http.patch(f"/api/v1/facilities/{facility_id}", json={"name": "Kosshy Post", "active": False},
                               headers={"X-CSRFToken": admin.csrf_token})
    assert renamed.get_json() | {"id": 0} == {"id": 0, "name": "Kosshy Post", "kind": "fap", "village": "Koshy",
                                              "district_id": district.post_a.district_id, "active": False}
    assert admin.post("/facilities", json={"name": "X", "kind": "castle", "village": "Y",
                                           "district_id": 1}).status_code == 422
    assert admin.post("/facilities", json={"name": "X", "kind": "fap", "village": "Y",
                                           "district_id": 999}).status_code == 422
    assert login(district.feldsher_a).post("/facilities", json={}).status_code == 403


def test_lapse_notice_on_every_page(app, login, district):
    from datetime import date, timedelta

    admin = login(district.admin)
    soon = date.today() - timedelta(days=720)  # a 24-month BLS issued ~2 years ago ends soon
    assert admin.post("/certifications", json={"user_id": district.feldsher_a.id, "type": "BLS",
                                               "issued_on": soon.isoformat()}).status_code == 201
    page = ApiClient(app, "feldsher_a").http.get("/post").get_data(as_text=True)
    assert 'id="certification-notice"' in page and "Your BLS certificate lapses on" in page
    other = ApiClient(app, "feldsher_b").http.get("/post").get_data(as_text=True)
    assert 'id="certification-notice"' not in other


@pytest.mark.parametrize("password", ["1234567890", "qwertyuiop1", "password123", "doctor_new1"])
def test_a_guessable_password_is_refused_naming_the_field(app, district, password):
    admin = ApiClient(app, "admin_z")
    before = row_counts(app)
    answer = admin.post("/users", json={
        "username": "doctor_new", "full_name": "Doctor New", "role": "doctor",
        "profession": "doctor", "facility_id": district.hub.id, "specialties": ["general"],
        "password": password})
    assert answer.status_code == 422
    assert "password" in answer.get_json()["error"]["fields"]
    assert row_counts(app) == before


def test_the_last_administrator_cannot_be_demoted_or_deactivated(app, district):
    from telemed.extensions import db
    from telemed.models import User

    with app.app_context():
        db.session.add(User(username="admin_y", full_name="Admin Y", role="admin", profession="other",
                            facility_id=district.hub.id, specialties=[],
                            password_hash=db.session.get(User, district.admin.id).password_hash))
        db.session.commit()
        second = db.session.scalar(db.select(User.id).where(User.username == "admin_y"))
    admin = ApiClient(app, "admin_z")
    assert admin.http.patch(f"/api/v1/users/{second}", json={"role": "doctor",
                            "specialties": ["general"]},
                            headers={"X-CSRFToken": admin.csrf_token}).status_code == 200
    # Now admin_z is the only one left: nobody may take that away, themselves included.
    other = ApiClient(app, "admin_z")
    refused = other.http.patch(f"/api/v1/users/{district.admin.id}", json={"role": "doctor",
                               "specialties": ["general"]},
                               headers={"X-CSRFToken": other.csrf_token})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "conflict"


def test_a_long_passphrase_is_taken(app, district):
    admin = ApiClient(app, "admin_z")
    answer = admin.post("/users", json={
        "username": "doctor_long", "full_name": "Doctor Long", "role": "doctor",
        "profession": "doctor", "facility_id": district.hub.id, "specialties": ["general"],
        "password": "steppe wind over the Ishim river at dawn, " * 4})
    assert answer.status_code == 201, answer.get_json()


def test_facilities_are_listed_a_page_at_a_time(login, district):
    admin = login(district.admin)
    everything = admin.get("/facilities").get_json()
    assert everything["total"] == 3 and [f["name"] for f in everything["items"]] == [
        "District Hospital", "Post A", "Post B"]  # by name
    second = admin.get("/facilities?limit=2&offset=2").get_json()
    assert (second["total"], [f["name"] for f in second["items"]]) == (3, ["Post B"])
    assert admin.get("/facilities?limit=501").status_code == 422
    assert login(district.feldsher_a).get("/facilities?limit=1").get_json()["total"] == 3  # read: logged in


def test_a_staff_search_reads_percent_and_underscore_as_letters(login, district):
    admin = login(district.admin)
    assert [u["username"] for u in admin.get("/users?q=doctor_").get_json()["items"]] == ["doctor_g", "doctor_h"]
    assert admin.get("/users?q=doctor%25").get_json()["total"] == 0   # "doctor%" is nobody's name
    assert admin.get("/users?q=_").get_json()["total"] == 5           # every username with an underscore
