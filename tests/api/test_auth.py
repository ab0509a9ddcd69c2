"""Sessions, CSRF, roles on pages, rate limits and the audit of logins and refusals."""

import sqlalchemy as sa

from tests.helpers import PASSWORD, ApiClient, consultation_body, page_csrf_token, row_counts, run_own_app


def audit_actions(app):
    from telemed.extensions import db
    from telemed.models import AuditEntry

    with app.app_context():
        return [a.action for a in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]


def test_login_returns_user_and_csrf_token(app, district):
    client = app.test_client()
    response = client.post("/api/v1/session", json={"username": "feldsher_a", "password": PASSWORD})
    assert response.status_code == 200
    data = response.get_json()
    assert data["user"]["username"] == "feldsher_a"
    assert "password_hash" not in data["user"]
    assert data["csrf_token"]
    assert client.get("/api/v1/session").get_json()["user"]["id"] == district.feldsher_a.id
    assert audit_actions(app) == ["login"]


def test_wrong_password_is_401_and_audited(app, district):
    client = app.test_client()
    response = client.post("/api/v1/session", json={"username": "feldsher_a", "password": "nope"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
    unknown = client.post("/api/v1/session", json={"username": "ghost", "password": "nope"})
    assert unknown.status_code == 401
    assert audit_actions(app) == ["login_failed", "login_failed"]


def test_no_session_is_401(app, district):
    client = ApiClient(app)
    assert client.get("/consultations").status_code == 401
    response = client.post("/consultations", json=consultation_body())
    assert response.status_code in (400, 401)  # no CSRF token either
    assert client.get("/session").get_json()["error"]["code"] == "unauthenticated"


def test_unsafe_request_without_csrf_header_is_refused_and_writes_nothing(app, login, district):
    feldsher = login(district.feldsher_a)
    before = row_counts(app)
    response = feldsher.http.post("/api/v1/consultations", json=consultation_body())
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]["message"]
    wrong = feldsher.http.post("/api/v1/consultations", json=consultation_body(),
                               headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 400
    assert row_counts(app) == before


def test_logout_ends_the_session(app, login, district):
    feldsher = login(district.feldsher_a)
    assert feldsher.delete("/session").status_code == 204
    assert feldsher.get("/consultations").status_code == 401


def test_deactivated_user_cannot_log_in_or_keep_using_a_session(app, login, district):
    from telemed.extensions import db
    from telemed.models import User

    feldsher = login(district.feldsher_a)
    with app.app_context():
        db.session.get(User, district.feldsher_a.id).active = False
        db.session.commit()
    assert feldsher.get("/consultations").status_code == 401
    again = app.test_client().post("/api/v1/session",
                                   json={"username": "feldsher_a", "password": PASSWORD})
    assert again.status_code == 401


def test_login_is_rate_limited(app, district):
    app.config["TELEMED"].login_rate_limit = "3 per minute"
    try:
        client = app.test_client()
        codes = [client.post("/api/v1/session", json={"username": "feldsher_a", "password": "x"}).status_code
                 for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        last = client.post("/api/v1/session", json={"username": "feldsher_a", "password": PASSWORD})
        assert last.get_json()["error"]["code"] == "rate_limited"
    finally:
        app.config["TELEMED"].login_rate_limit = "1000 per minute"


def test_pages_require_login_and_the_right_role(app, district):
    anonymous = app.test_client()
    assert anonymous.get("/post").status_code == 302
    assert "/login" in anonymous.get("/post").headers["Location"]
    client = ApiClient(app, "feldsher_a").http
    assert client.get("/post").status_code == 200
    assert client.get("/doctor").status_code == 403
    assert client.get("/admin").status_code == 403
    assert client.get("/").headers["Location"].endswith("/post")


def test_a_login_goes_straight_to_the_roles_own_screen(app, district):
    for username, home in (("feldsher_a", "/post"), ("doctor_g", "/doctor"), ("admin_z", "/admin")):
        client = app.test_client()
        answer = client.post("/login", data={"username": username, "password": PASSWORD,
                                             "csrf_token": page_csrf_token(client)})
        assert (answer.status_code, answer.headers["Location"]) == (302, home)


def test_login_page_form_logs_in_and_never_redirects_off_site(app, district):

    client = app.test_client()
    token = page_csrf_token(client)
    response = client.post("/login?next=https://evil.example/", data={
        "username": "doctor_g", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/doctor"  # the doctor's own screen, not another site
    assert client.get("/doctor").status_code == 200
    failed = app.test_client().post("/login", data={"username": "doctor_g", "password": "bad",
                                                    "csrf_token": token})
    assert failed.status_code in (400, 401)  # a fresh client has no session for that token


def test_refused_access_is_audited(app, login, district):
    feldsher_b = login(district.feldsher_b)
    created = login(district.feldsher_a).post("/consultations", json=consultation_body()).get_json()
    assert feldsher_b.get(f"/consultations/{created['id']}").status_code == 404
    actions = audit_actions(app)
    assert actions.count("access_refused") == 1
    login(district.feldsher_a).get(f"/consultations/{created['id']}")
    assert "consultation_read" in audit_actions(app)


def test_healthz(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_every_answer_carries_the_security_headers(app, login, district):
    pages = [ApiClient(app).http.get("/login"), login(district.doctor).http.get("/doctor")]
    api = login(district.doctor).get("/queue")
    for answer in pages:
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert answer.headers["X-Frame-Options"] == "DENY"
    for answer in pages + [api]:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
    # Headers that govern only a document are not sent with JSON (nor scripts and styles).
    assert "Content-Security-Policy" not in api.headers and "X-Frame-Options" not in api.headers


def test_production_cookies_are_secure_and_https_answers_carry_hsts(tmp_path):
    probe = (
        "from telemed import create_app\n"
        "app = create_app({'database_url': 'sqlite:///" + str(tmp_path / "p.db") + "',"
        " 'secret_key': 'k', 'production': True})\n"
        "client = app.test_client()\n"
        "answer = client.get('/login', base_url='https://telemed.example')\n"
        "print(app.config['SESSION_COOKIE_SECURE'], 'max-age' in answer.headers.get("
        "'Strict-Transport-Security', ''))\n"
    )
    assert run_own_app(probe, tmp_path).stdout.split() == ["True", "True"]


def test_guessing_one_accounts_password_locks_that_account_not_the_address(app, district, monkeypatch):
    monkeypatch.setattr(app.config["TELEMED"], "login_account_rate_limit", "5 per 15 minutes")
    guesses = [ApiClient(app).http.post("/api/v1/session", json={"username": "doctor_g",
                                                                  "password": f"guess number {n}"},
                                        environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
               for n in range(6)]
    assert [g.status_code for g in guesses] == [401] * 5 + [429]
    assert guesses[-1].get_json()["error"]["code"] == "rate_limited"
    # Even the right password waits now, through the form as through the API...
    right = ApiClient(app).http.post("/api/v1/session",
                                     json={"username": "DOCTOR_G ", "password": PASSWORD})
    assert right.status_code == 429
    browser = ApiClient(app).http
    token = page_csrf_token(browser)
    form = browser.post("/login", data={"username": "doctor_g", "password": PASSWORD,
                                        "csrf_token": token})
    assert form.status_code == 429
    # ...while a colleague behind the same village address logs in as usual.
    assert ApiClient(app).http.post("/api/v1/session", json={
        "username": "doctor_h", "password": PASSWORD}).status_code == 200
