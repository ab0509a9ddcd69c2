"""Every route has a rule: a new route that forgets to say who may call it fails here.

Walks Flask's URL map: every API route either is on the short public list or refuses an anonymous
caller with 401, and refuses every logged-in role it is not meant for with 403; every page except
the login page, the health check and static files sends an anonymous visitor to the login page.
"""
import uuid

import pytest

from tests.helpers import ApiClient, consultation_body

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
        value = ids["uuid"] if type(converter).__name__ == "UUIDConverter" else ids["int"]
        for token in (f"<uuid:{name}>", f"<int:{name}>", f"<path:{name}>", f"<{name}>"):
            path = path.replace(token, str(value))
    return path


@pytest.fixture
def ids(login, district):
    created = login(district.feldsher_a).post("/consultations", json=consultation_body()).get_json()
    return {"uuid": uuid.UUID(created["id"]), "int": district.doctor.id}


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
