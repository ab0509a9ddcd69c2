"""Russian, Kazakh and English: the user's own choice, then the browser's, then the default."""
import dataclasses

import pytest

from tests.helpers import PASSWORD, ApiClient, consultation_body, page_csrf_token

# A few words each page must show in each language (from the catalogues).
LOGIN_TITLE = {"ru": "Войти", "kk": "Кіру", "en": "Log in"}


def title_of(html: str) -> str:
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0].strip()


@pytest.mark.parametrize("accept, expected", [("ru-RU,ru;q=0.9", "ru"), ("kk", "kk"),
                                              ("en-US,en;q=0.8", "en"), ("de", "en")])
def test_the_browsers_language_is_used_when_the_user_chose_none(app, district, accept, expected):
    page = app.test_client().get("/login", headers={"Accept-Language": accept})
    html = page.get_data(as_text=True)
    assert f'<html lang="{expected}">' in html
    assert title_of(html) == LOGIN_TITLE[expected]


def test_the_default_is_russian(app, settings, district, monkeypatch):
    # The suite runs with English as its default; here, the real one (a second app would rebind
    # the Socket.IO extension, so the setting is swapped on this one).
    monkeypatch.setitem(app.config, "TELEMED", dataclasses.replace(settings, default_locale="ru"))
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "ru")
    html = app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="ru">' in html and title_of(html) == LOGIN_TITLE["ru"]


def test_a_language_chosen_on_the_login_page_is_kept_for_the_account(app, district):
    browser = app.test_client()
    page = browser.get("/login?lang=kk", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert title_of(page) == LOGIN_TITLE["kk"]
    token = page_csrf_token(browser, "/login?lang=kk")
    answer = browser.post("/login?lang=kk", data={"username": "feldsher_a", "password": "x" * 12,
                                                  "csrf_token": token},
                          headers={"Accept-Language": "ru"})
    assert answer.status_code == 401
    assert title_of(answer.get_data(as_text=True)) == LOGIN_TITLE["kk"]  # refused, still Kazakh
    answer = browser.post("/login?lang=kk", data={"username": "feldsher_a", "password": PASSWORD,
                                                  "csrf_token": token})
    assert answer.status_code == 302
    me = ApiClient(app, "feldsher_a").get("/session").get_json()["user"]
    assert me["locale"] == "kk"
    post = browser.get("/post", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="kk">' in post  # the account's choice wins over the browser's


def test_the_language_is_chosen_and_cleared_on_the_own_page(app, district):
    person = ApiClient(app, "doctor_g")
    token = page_csrf_token(person.http, "/me")
    assert person.http.post("/me/language", data={"locale": "ru", "csrf_token": token}).status_code == 303
    assert '<html lang="ru">' in person.http.get("/me", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert person.http.post("/me/language", data={"locale": "fr", "csrf_token": token}).status_code == 400
    assert person.http.post("/me/language", data={"locale": "", "csrf_token": token}).status_code == 303
    assert '<html lang="en">' in person.http.get("/me", headers={"Accept-Language": "en"}).get_data(as_text=True)


@pytest.mark.parametrize("locale", ["ru", "kk"])
def test_server_errors_come_in_the_users_language(app, district, locale):
    feldsher = ApiClient(app, "feldsher_a")
    answer = feldsher.post("/consultations", json=consultation_body(priority="soon", complaint=""),
                           headers={"Accept-Language": locale})
    error = answer.get_json()["error"]
    english = ApiClient(app, "feldsher_a").post(
        "/consultations", json=consultation_body(priority="soon", complaint=""),
        headers={"Accept-Language": "en"}).get_json()["error"]
    assert answer.status_code == 422 and set(error["fields"]) == set(english["fields"])
    assert error["message"] != english["message"]
    for field in error["fields"]:  # telemed's own messages and marshmallow's alike
        assert error["fields"][field] != english["fields"][field], field


def test_every_message_a_script_asks_for_is_in_its_pages_labels(app):
    """A key a script asks for (`msg("key")`) that its pages' labels file lacks is shown raw; the
    administrator's own words reach only the administrator's pages."""
    import re
    from pathlib import Path

    from telemed.web.labels import labels_for_js

    with app.test_request_context():
        staff_words, admin_words = labels_for_js(False)["messages"], labels_for_js(True)["messages"]
    scripts = Path(__file__).resolve().parents[2] / "static" / "js"
    missing = []
    for script in scripts.glob("*.js"):
        offered = admin_words if script.name.startswith("admin") else staff_words
        for key in re.findall(r'\bmsg\("(\w+)"\)', script.read_text()):
            if key not in offered:
                missing.append(f"{script.name}: {key}")
    assert missing == []
    assert set(staff_words) < set(admin_words)
