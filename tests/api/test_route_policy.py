"""Every route has a rule: a new route that forgets to say who may call it fails here.

Walks Flask's URL map: every API route either is on the short public list or refuses an anonymous
caller with 401, and refuses every logged-in role it is not meant for with 403; every page except
the login page, the health check and static files sends an anonymous visitor to the login page;
and every route naming an object answers 404 to a caller of an allowed role outside its scope.
"""
import io
import uuid

import pytest

from tests.helpers import ApiClient, close_body, consultation_body, png_bytes

PUBLIC_API = {("POST", "/api/v1/session"), ("GET", "/api/v1/openapi.json")}
PUBLIC_PAGES = {"/login", "/healthz", "/static/<path:filename>"}
ROLES = {"feldsher": "feldsher_a", "doctor": "doctor_g", "admin": "admin_z"}


def _routes(app, prefix_api: bool):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") != prefix_api:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule, app.view_functions[rule.endpoint]


def _fill(rule, ids) -> str:
    """The rule's path with real values: a consultation's id for uuids, a user's id otherwise."""
    path = rule.rule
    for name, converter in rule._converters.items():
        if name == "attachment_id":
            value = ids["attachment_id"]
        else:
            value = ids["uuid"] if type(converter).__name__ == "UUIDConverter" else ids["int"]
        for token in (f"<uuid:{name}>", f"<int:{name}>", f"<path:{name}>", f"<{name}>"):
            path = path.replace(token, str(value))
    return path


@pytest.fixture
def ids(login, district):
    """A cardiology consultation of post A held by the cardiologist, a photo sent in it, and the
    general doctor's id (another user's)."""
    feldsher = login(district.feldsher_a)
    created = feldsher.post("/consultations", json=consultation_body(specialty="cardiology")).get_json()
    claim = login(district.cardiologist).post(f"/consultations/{created['id']}/accept")
    assert claim.status_code == 200
    sent = feldsher.http.post(
        f"/api/v1/consultations/{created['id']}/attachments",
        data={"file": (io.BytesIO(png_bytes()), "ecg.png"), "client_key": str(uuid.uuid4())},
        content_type="multipart/form-data", headers={"X-CSRFToken": feldsher.csrf_token})
    assert sent.status_code == 201, sent.get_json()
    return {"uuid": uuid.UUID(created["id"]), "int": district.doctor.id,
            "attachment_id": uuid.UUID(sent.get_json()["attachment"]["id"])}


def test_every_api_route_is_public_by_name_or_needs_a_login(app, district, ids):
    anonymous = ApiClient(app)
    for method, rule, view in _routes(app, prefix_api=True):
        if (method, rule.rule) in PUBLIC_API:
            continue
        assert hasattr(view, "required_roles"), f"{method} {rule.rule} declares no roles"
        answer = anonymous.http.open(_fill(rule, ids), method=method, json={})
        assert answer.status_code == 401, (method, rule.rule, answer.status_code)
        assert answer.get_json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_api_route_refuses_the_roles_it_is_not_for(app, district, ids, role):
    client = ApiClient(app, ROLES[role])
    checked = 0
    for method, rule, view in _routes(app, prefix_api=True):
        allowed = getattr(view, "required_roles", None)
        if not allowed or role in allowed:
            continue
        answer = client.http.open(_fill(rule, ids), method=method, json={},
                                  headers={"X-CSRFToken": client.csrf_token})
        assert answer.status_code == 403, (role, method, rule.rule, answer.status_code)
        assert answer.get_json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked > 0


def test_every_page_but_the_public_ones_sends_a_stranger_to_log_in(app, district, ids):
    anonymous = ApiClient(app)
    for method, rule, _view in _routes(app, prefix_api=False):
        if rule.rule in PUBLIC_PAGES:
            continue
        answer = anonymous.http.open(_fill(rule, ids), method=method)
        if method == "POST":
            assert answer.status_code in (302, 400, 401), (rule.rule, answer.status_code)
        else:
            assert answer.status_code == 302 and "/login" in answer.headers["Location"], rule.rule


# A body each action would accept from someone in scope, so only the scope can refuse it. A new
# action missing here is sent `{}`; if it validates before checking scope, this test says so.
VALID_BODIES = {
    "release": {"reason": "Needs a cardiologist"},
    "transfer": {"specialty": "cardiology", "reason": "ST elevation"},
    "cancel": {"reason": "The patient went to the district hospital"},
    "close": close_body(),
    "messages": {"body": "Blood pressure now 140/85", "client_key": str(uuid.uuid4())},
    "follow-up": {"reason": "Seen at home, feeling better"},
}
# Who is outside the consultation's scope in each role: another post's feldsher; a doctor it was
# never offered to (not a cardiologist, not escalated). An administrator's scope is everything.
OUTSIDERS = {"feldsher": "feldsher_b", "doctor": "doctor_h"}


def _outsider_request(client, method, rule, ids):
    path, action = _fill(rule, ids), rule.rule.rsplit("/", 1)[-1]
    headers = {"X-CSRFToken": client.csrf_token}
    if action == "attachments":
        form = {"file": (io.BytesIO(png_bytes()), "ecg.png"), "client_key": str(uuid.uuid4())}
        return client.http.open(path, method=method, data=form, content_type="multipart/form-data",
                                headers=headers)
    body = VALID_BODIES.get(action, {}) if method != "GET" else None
    return client.http.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("role", sorted(OUTSIDERS))
def test_every_route_naming_an_object_answers_404_outside_the_callers_scope(app, district, ids, role):
    client = ApiClient(app, OUTSIDERS[role])
    checked = []
    for method, rule, view in _routes(app, prefix_api=True):
        allowed = getattr(view, "required_roles", None)
        if not rule.arguments or (allowed and role not in allowed):
            continue
        answer = _outsider_request(client, method, rule, ids)
        assert answer.status_code == 404, (role, method, rule.rule, answer.get_json())
        assert answer.get_json()["error"]["code"] == "not_found"
        checked.append(rule.rule)
    for _method, rule, _view in _routes(app, prefix_api=False):
        if rule.arguments and rule.rule not in PUBLIC_PAGES and "<uuid:" in rule.rule:
            assert client.http.get(_fill(rule, ids)).status_code == 404, (role, rule.rule)
            checked.append(rule.rule)
    assert "/api/v1/consultations/<uuid:consultation_id>" in checked
    assert "/consultations/<uuid:consultation_id>/print" in checked
