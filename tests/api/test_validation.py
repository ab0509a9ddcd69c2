"""Bad input: every field checked at the edge, a specific error, nothing written."""
import json
import uuid
from datetime import date

import pytest

from telemed.services.clinical_codes import parse_iin
from tests.helpers import (
    ApiClient,
    close_body,
    consultation_body,
    make_iin,
    page_csrf_token,
    row_counts,
    run_own_app,
)


def years_ago(years: int) -> date:
    today = date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28)) if today.day > 1 else \
        today.replace(year=today.year - years)


def test_iin_checksum_known_examples():
    iin = make_iin(date(1985, 3, 14), "male")
    assert parse_iin(iin) == (date(1985, 3, 14), "male")
    broken = iin[:-1] + str((int(iin[-1]) + 1) % 10)
    with pytest.raises(ValueError):
        parse_iin(broken)
    with pytest.raises(ValueError):
        parse_iin("12345")


def patient(**fields):
    base = {"sex": "male"}
    base.update(fields)
    return base


AGE_54 = years_ago(54)
BAD_BODIES = [
    ("vitals.hr", {"vitals": {"hr": 400}}),
    ("vitals.spo2", {"vitals": {"spo2": 101}}),
    ("vitals.temp_c", {"vitals": {"temp_c": 50.5}}),
    ("vitals.sbp", {"vitals": {"sbp": "high"}}),
    ("vitals.avpu", {"vitals": {"avpu": "X"}}),
    ("vitals.dbp", {"vitals": {"sbp": 90, "dbp": 120}}),
    ("vitals.pulse", {"vitals": {"pulse": 80}}),
    ("vitals.on_oxygen", {"vitals": {"on_oxygen": "yes"}}),
    ("priority", {"priority": "asap"}),
    ("specialty", {"specialty": "dermatology"}),
    ("complaint", {"complaint": "   "}),
    ("complaint", {"complaint": "x" * 2001}),
    ("client_key", {"client_key": "not-a-uuid"}),
    ("patient.age_years", {"patient": patient(age_years=131)}),
    ("patient.age_years", {"patient": patient(age_years=-1)}),
    ("patient.age_years", {"patient": patient()}),
    ("patient.age_years", {"patient": patient(age_years=3, age_months=4)}),
    ("patient.sex", {"patient": {"age_years": 30, "sex": "x"}}),
    ("patient.iin", {"patient": patient(age_years=54, iin="12345678901")}),
    ("patient.iin", {"patient": patient(age_years=54,
                                        iin=make_iin(AGE_54, "male")[:-1] + "0"
                                        if not make_iin(AGE_54, "male").endswith("0")
                                        else make_iin(AGE_54, "male")[:-1] + "1")}),
    ("patient.iin", {"patient": patient(age_years=30, iin=make_iin(AGE_54, "male"))}),
    ("patient.iin", {"patient": {"age_years": 54, "sex": "female", "iin": make_iin(AGE_54, "male")}}),
    ("nonsense", {"nonsense": 1}),
]


@pytest.mark.parametrize("field, change", BAD_BODIES, ids=[f for f, _ in BAD_BODIES])
def test_bad_consultation_is_422_naming_the_field_and_writes_nothing(app, login, district, field, change):
    feldsher = login(district.feldsher_a)
    before = row_counts(app)
    response = feldsher.post("/consultations", json=consultation_body(**change))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    assert error["message"]
    assert row_counts(app) == before


def test_iin_that_agrees_is_accepted_and_age_can_come_from_it(login, district):
    feldsher = login(district.feldsher_a)
    iin = make_iin(AGE_54, "male")
    agreed = feldsher.post("/consultations", json=consultation_body(
        patient={"age_years": 54, "sex": "male", "iin": iin}))
    assert agreed.status_code == 201, agreed.get_json()
    derived = feldsher.post("/consultations", json=consultation_body(
        patient={"sex": "unknown", "iin": iin}))
    assert derived.status_code == 201, derived.get_json()
    assert derived.get_json()["patient"]["age_years"] == 54


def test_infant_age_in_months(login, district):
    response = login(district.feldsher_a).post("/consultations", json=consultation_body(
        patient={"age_months": 7, "sex": "female"}))
    assert response.status_code == 201
    assert response.get_json()["patient"] == {"age_years": None, "age_months": 7, "sex": "female",
                                              "iin": None, "ref": None}


def test_malformed_json_is_400(app, login, district):
    feldsher = login(district.feldsher_a)
    before = row_counts(app)
    response = feldsher.post("/consultations", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    array = feldsher.post("/consultations", json=[1, 2])
    assert array.status_code == 400
    form = feldsher.post("/consultations", data={"a": "b"})
    assert form.status_code == 400
    assert row_counts(app) == before


def test_body_over_one_megabyte_is_413(app, login, district):
    feldsher = login(district.feldsher_a)
    before = row_counts(app)
    huge = consultation_body(complaint="x" * (1024 * 1024 + 10))
    response = feldsher.post("/consultations", json=huge)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert row_counts(app) == before


@pytest.mark.parametrize("change, field", [
    ({"icd10": ["ZZ9.99"]}, "icd10"),
    ({"icd10": ["I20-I25"]}, "icd10"),  # a block, not a code
    ({"icd10": []}, "icd10"),
    ({"disposition": "sent_home"}, "disposition"),
    ({"recommendation": ""}, "recommendation"),
    ({"follow_up_on": "2001-01-01"}, "follow_up_on"),
    ({"follow_up_on": "31/12/2026"}, "follow_up_on"),
])
def test_bad_outcome_is_422_and_consultation_stays_active(app, login, district, change, field):
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    created = feldsher.post("/consultations", json=consultation_body()).get_json()
    doctor.post(f"/consultations/{created['id']}/accept")
    before = row_counts(app)
    response = doctor.post(f"/consultations/{created['id']}/close", json=close_body(**change))
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert row_counts(app) == before
    assert feldsher.get(f"/consultations/{created['id']}").get_json()["status"] == "active"


def test_unknown_and_malformed_ids_are_404(login, district):
    doctor = login(district.doctor)
    assert doctor.get(f"/consultations/{uuid.uuid4()}").status_code == 404
    assert doctor.post(f"/consultations/{uuid.uuid4()}/accept").status_code == 404
    assert doctor.get("/consultations/not-a-uuid").status_code == 404
    assert doctor.get("/no-such-endpoint").get_json()["error"]["code"] == "not_found"


def test_empty_message_and_unknown_fields_are_422(login, district):
    feldsher = login(district.feldsher_a)
    created = feldsher.post("/consultations", json=consultation_body()).get_json()
    empty = feldsher.post(f"/consultations/{created['id']}/messages",
                          json={"body": "  ", "client_key": str(uuid.uuid4())})
    assert empty.status_code == 422 and "body" in empty.get_json()["error"]["fields"]
    long = feldsher.post(f"/consultations/{created['id']}/messages",
                         json={"body": "x" * 4001, "client_key": str(uuid.uuid4())})
    assert long.status_code == 422


def test_icd10_search_by_code_and_words(login, district):
    client = login(district.doctor)
    by_code = client.get("/icd10?q=I21.9").get_json()["items"]
    assert by_code[0] == {"code": "I21.9", "title": "Acute myocardial infarction, unspecified"}
    by_words = client.get("/icd10?q=myocardial infarction").get_json()["items"]
    assert "I21" in [item["code"] for item in by_words]
    assert client.get("/icd10").status_code == 422


HUGE = str(2**63 + 1)


@pytest.mark.parametrize("path", [
    f"/consultations?facility_id={HUGE}", f"/consultations?offset={HUGE}",
    f"/consultations?limit={HUGE}", f"/users?facility_id={HUGE}", f"/certifications?user_id={HUGE}",
    f"/reports/coverage?district_id={HUGE}", f"/audit?actor_id={HUGE}",
])
def test_an_integer_beyond_the_database_is_a_422_naming_it(app, login, district, path):
    answer = login(district.admin).get(path)
    assert answer.status_code == 422, answer.get_data(as_text=True)[:300]
    field = path.split("?")[1].split("=")[0]
    assert field in answer.get_json()["error"]["fields"]


@pytest.mark.parametrize("method, path", [
    ("get", f"/users/{HUGE}"), ("patch", f"/users/{HUGE}"), ("patch", f"/facilities/{HUGE}"),
    ("patch", f"/certifications/{HUGE}"), ("delete", f"/certifications/{HUGE}"),
])
def test_an_id_beyond_the_database_in_a_path_is_a_404(app, login, district, method, path):
    before = row_counts(app)
    client = login(district.admin)
    answer = getattr(client.http, method)(f"/api/v1{path}", json={"active": False},
                                          headers={"X-CSRFToken": client.csrf_token})
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"
    assert row_counts(app) == before


NAMELESS_PART = b"--B\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--B--\r\n"


@pytest.mark.parametrize("path", ["/api/v1/session", "/api/v1/consultations",
                                  "/api/v1/certifications/import"])
def test_a_multipart_part_without_a_name_is_refused_for_anyone(app, login, district, path):
    # Anonymous callers of a route that needs a login hear 401 first; nobody ever gets a 500.
    for client, expected in ((ApiClient(app), {400, 401}), (login(district.admin), {400})):
        before = row_counts(app)
        answer = client.http.post(path, data=NAMELESS_PART,
                                  headers={"Content-Type": "multipart/form-data; boundary=B",
                                           **client._headers()})
        assert answer.status_code in expected
        assert answer.get_json()["error"]["code"] in {"bad_request", "unauthenticated"}
        assert row_counts(app) == before


def test_an_unexpected_failure_is_a_500_in_the_error_shape(app, login, district, monkeypatch):
    from telemed.services import staff

    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(staff, "list_districts", broken)
    answer = login(district.admin).get("/districts")
    assert answer.status_code == 500
    assert answer.get_json()["error"]["code"] == "internal_error"
    assert "a bug" not in answer.get_data(as_text=True)


def test_a_pool_timeout_is_a_503_to_retry_not_a_500(app, login, district, monkeypatch, caplog):
    """Every pooled connection busy past the pool's timeout: the caller hears `unavailable` in its
    language with Retry-After, nothing is written and no traceback is logged as a bug."""
    import sqlalchemy as sa

    from telemed.services import logins

    client = login(district.feldsher_a)
    before = row_counts(app)

    def exhausted(*_args):
        raise sa.exc.TimeoutError("QueuePool limit of size 10 overflow 0 reached")

    monkeypatch.setattr(logins, "user_of", exhausted)
    for language, words in (("ru", "база данных"), ("kk", "дерекқор"), ("en", "database")):
        answer = client.http.post("/api/v1/consultations", json=consultation_body(),
                                  headers={**client._headers(), "Accept-Language": language})
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        error = answer.get_json()["error"]
        assert error["code"] == "unavailable" and words in error["message"].lower(), error
    page = client.http.get("/", headers={"Accept-Language": "en"})
    assert page.status_code == 503 and "database is not answering" in page.get_data(as_text=True)
    assert row_counts(app) == before
    assert not [r for r in caplog.records if r.exc_info], "an outage is logged as a bug"


def test_a_database_that_does_not_answer_is_a_503_for_api_and_pages(tmp_path):
    # A real refused connection (nothing listens on port 9): logging in needs the database.
    probe = (
        "import json\n"
        "from telemed import create_app\n"
        "app = create_app({'database_url': 'postgresql://telemed@127.0.0.1:9/telemed',"
        " 'secret_key': 'k', 'default_locale': 'ru'})\n"
        "client = app.test_client()\n"
        "api = client.post('/api/v1/session', json={'username': 'doctor1', 'password': 'x' * 12})\n"
        "page = client.get('/login')\n"
        "token = page.get_data(as_text=True).split('name=\"csrf_token\" value=\"')[1].split('\"')[0]\n"
        "form = client.post('/login', data={'username': 'doctor1', 'password': 'x' * 12,"
        " 'csrf_token': token})\n"
        "print(json.dumps([api.status_code, api.headers.get('Retry-After'), api.get_json(),"
        " form.status_code, form.mimetype]))\n"
    )
    result = run_own_app(probe, tmp_path)
    api_status, retry_after, body, form_status, form_type = json.loads(result.stdout)
    assert (api_status, retry_after, body["error"]["code"]) == (503, "5", "unavailable")
    assert "база данных" in body["error"]["message"]
    assert (form_status, form_type) == (503, "text/html")
    assert "Traceback" not in result.stderr


def test_contract_details_401_before_csrf_allow_on_405_unrouted_404_not_audited(app, login, district):
    from telemed.extensions import db
    from telemed.models import AuditEntry

    anonymous = ApiClient(app).http.post("/api/v1/consultations", json=consultation_body())
    assert anonymous.status_code == 401                      # not 400 for a missing CSRF token
    wrong_method = login(district.admin).http.put("/api/v1/districts")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "GET, HEAD, OPTIONS"
    with app.app_context():
        before = db.session.scalar(db.select(db.func.count()).select_from(AuditEntry))
    assert ApiClient(app).http.get("/favicon.ico").status_code == 404
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AuditEntry)) == before


def test_transfer_outside_scope_is_a_404_whatever_the_body(app, login, district):
    created = login(district.feldsher_a).post("/consultations", json=consultation_body()).get_json()
    login(district.doctor).post(f"/consultations/{created['id']}/accept")
    stranger = login(district.doctor2)
    for specialty in ("general", "cardiology"):                # same or another: no hint either way
        answer = stranger.post(f"/consultations/{created['id']}/transfer",
                               json={"specialty": specialty, "reason": "not mine"})
        assert answer.status_code == 404


def test_a_nul_character_anywhere_is_a_422_not_a_database_error(app, login, district):
    # PostgreSQL refuses NUL in text outright: found by schemathesis (POST /certifications).
    admin = login(district.admin)
    before = row_counts(app)
    refused = admin.post("/certifications", json={"user_id": district.doctor.id, "type": "BLS\u0000",
                                                  "issued_on": "2025-03-01"})
    assert refused.status_code == 422 and "type" in refused.get_json()["error"]["fields"]
    nested = login(district.feldsher_a).post(
        "/consultations", json=consultation_body(patient={"age_years": 54, "sex": "male",
                                                          "ref": "A\u0000B"}))
    assert nested.status_code == 422 and "patient.ref" in nested.get_json()["error"]["fields"]
    query = admin.get("/audit?action=login%00")
    assert query.status_code == 422 and "action" in query.get_json()["error"]["fields"]
    stranger = ApiClient(app)
    login_answer = stranger.http.post("/api/v1/session",
                                      json={"username": "admin_z\u0000", "password": "x"})
    assert login_answer.status_code in (401, 422)
    form_answer = stranger.http.post("/login", data={"username": "admin_z\u0000", "password": "x",
                                                      "csrf_token": page_csrf_token(stranger.http)})
    assert form_answer.status_code == 401
    assert row_counts(app) == before
