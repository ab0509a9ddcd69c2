"""The post's request form as a plain HTML form: it works without (or before) the script."""
import re
import uuid

import pytest

from tests.helpers import ApiClient, page_csrf_token, row_counts


def form(http, **fields) -> dict:
    """The form a browser would send from /post, with a fresh client key and this page's token."""
    values = {"csrf_token": page_csrf_token(http, "/post"), "client_key": str(uuid.uuid4()),
              "age_years": "58", "sex": "male", "complaint": "Crushing chest pain at rest",
              "priority": "urgent", "specialty": "general", "temp_c": "38,4", "sbp": "150",
              "dbp": "95"}
    values.update(fields)
    return values


def test_the_form_opens_the_request_and_shows_it_with_nothing_in_the_url(app, district):
    post = ApiClient(app, "feldsher_a")
    sent = form(post.http, on_oxygen="on", avpu="A")
    answer = post.http.post("/post", data=sent)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert re.fullmatch(r"/consultations/[0-9a-f-]{36}", location)
    stored = post.get("/consultations").get_json()["items"]
    assert len(stored) == 1 and location.endswith(stored[0]["id"])
    assert stored[0]["vitals"] == {"temp_c": 38.4, "sbp": 150, "dbp": 95, "avpu": "A",
                                   "on_oxygen": True}
    assert stored[0]["patient"]["sex"] == "male" and stored[0]["priority"] == "urgent"
    # Sent twice (a double tap, or the browser resending): one request.
    again = post.http.post("/post", data=sent)
    assert again.status_code == 303 and again.headers["Location"] == location
    assert post.get("/consultations").get_json()["total"] == 1


@pytest.mark.parametrize("change, field, label", [
    ({"sex": ""}, "patient.sex", "Sex"),                           # no silent default
    ({"complaint": "   "}, "complaint", "Complaint"),
    ({"temp_c": "38,4,1"}, "vitals.temp_c", "Temperature"),
    ({"spo2": "120"}, "vitals.spo2", "SpO₂"),
    ({"age_years": "forty"}, "patient.age_years", "Age (years)"),
])
def test_a_refused_form_comes_back_filled_with_the_reason_and_writes_nothing(
        app, district, change, field, label):
    post = ApiClient(app, "feldsher_a")
    before = row_counts(app)
    sent = form(post.http, **change)
    answer = post.http.post("/post", data=sent)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert f"<li>{label}:" in page
    assert "Crushing chest pain at rest" in page or change.get("complaint")
    assert f'value="{sent["client_key"]}"' in page  # the resend keeps its key
    assert row_counts(app) == before


def test_only_a_logged_in_post_may_send_the_form(app, district):
    assert app.test_client().post("/post", data={}).status_code in (302, 400, 401)  # CSRF or login
    doctor = ApiClient(app, "doctor_g")
    token = page_csrf_token(doctor.http, "/doctor")
    assert doctor.http.post("/post", data={"csrf_token": token}).status_code == 403
    post = ApiClient(app, "feldsher_a")
    assert post.http.post("/post", data={"complaint": "no token"}).status_code == 400


def test_the_page_carries_the_servers_own_limits_for_its_checks(app, district):
    import json

    from telemed.schemas.consultation import VitalsSchema

    page = ApiClient(app, "feldsher_a").http.get("/post").get_data(as_text=True)
    rules = json.loads(page.split('<script id="form-rules" type="application/json">', 1)[1].split("</script>", 1)[0])
    spo2 = next(v for v in VitalsSchema().fields["spo2"].validators)
    assert rules["spo2"] == {"path": "vitals.spo2", "min": spo2.min, "max": spo2.max}  # not required
    assert rules["sex"]["required"] and rules["complaint"]["required"]
    assert rules["complaint"]["maxlength"] == 2000
