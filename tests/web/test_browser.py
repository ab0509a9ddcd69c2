"""The users' own view: the post and the doctor in two headless Chromium contexts."""
import os
import re
import time
from datetime import date

import pytest

from tests.helpers import PASSWORD, consultation_body, make_iin
from tests.web.browser import (
    ARTIFACTS,
    CHROMIUM_OPTIONS,
    PHONE,
    close_and_read_outcome,
    log_in,
    overflow_px,
    send_request,
    small_tap_targets,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_post_and_doctor_complete_a_consultation_in_the_browser(open_as, tmp_path):
    post = open_as("feldsher_a")
    doctor = open_as("doctor_g")
    assert post.url.endswith("/post") and doctor.url.endswith("/doctor")

    # The post opens a request.
    send_request(post, age_years="61", sex="female", complaint="Crushing chest pain since 30 minutes",
                 hr="118", sbp="92", dbp="60", priority="urgent")
    item = post.locator("#open-list li.consultation")
    item.wait_for()
    assert item.get_attribute("data-status") == "waiting"
    consultation_id = item.get_attribute("data-id")

    # It appears on the doctor's screen without a reload; the doctor takes it.
    card = doctor.locator(f"#queue li[data-id='{consultation_id}']")
    card.wait_for()
    assert "Crushing chest pain" in card.inner_text()
    card.locator("button.claim").click()
    doctor.wait_for_url(re.compile(f"/consultations/{consultation_id}$"))

    # The post's list follows by itself.
    post.wait_for_selector(f"#open-list li[data-id='{consultation_id}'][data-status=active]")
    post.click(f"#open-list li[data-id='{consultation_id}'] a")
    post.wait_for_url(re.compile(f"/consultations/{consultation_id}$"))
    post.wait_for_selector("#connection[data-state=online]")

    # Chat both ways.
    post.fill("#message-form textarea", "BP dropped to 85/55")
    post.click("#message-form button[type=submit]")
    doctor.wait_for_selector("#messages li.theirs >> text=BP dropped to 85/55")
    doctor.fill("#message-form textarea", "Lay her flat, aspirin 300 mg, ambulance called")
    doctor.click("#message-form button[type=submit]")
    post.wait_for_selector("#messages li.theirs >> text=aspirin 300 mg")

    # The doctor closes with a disposition, an ICD-10 code found by words, a recommendation;
    # the post sees the outcome at once.
    outcome = close_and_read_outcome(doctor, post, "myocardial infarction",
                                     "Transfer to the district hospital by ambulance")
    assert "Ambulance called" in outcome and "I21.9" in outcome
    assert post.is_hidden("#message-form")
    post.screenshot(path=str(tmp_path / "post-outcome.png"), full_page=True)


def test_a_refused_request_shows_the_reason_and_sends_nothing(open_as):
    post = open_as("feldsher_a")
    send_request(post, age_years="40", sex="female", complaint="Fever", spo2="120")
    error = post.locator("#form-error")
    error.wait_for(state="visible")
    assert "SpO₂:" in error.inner_text()  # the field by its name on the form
    assert post.locator("#open-list li.consultation").count() == 0


def test_an_entry_outside_the_servers_limits_is_caught_before_it_is_queued(open_as, live_server):
    post = open_as("feldsher_a", phone=True)
    post.context.set_offline(True)
    post.wait_for_selector("#connection[data-state=offline]")
    # A slip of the finger: no SpO₂ is above 100 (and the sex is not chosen).
    send_request(post, age_years="44", complaint="Short of breath at rest", spo2="120")
    error = post.locator("#form-error")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "SpO₂: Must be from 50 to 100." in text and "Sex: This field is required." in text
    # Both fields marked; the first of them in the form (sex) has the focus.
    assert post.locator("[aria-invalid=true]").evaluate_all("(all) => all.map((e) => e.name)") == ["sex", "spo2"]
    assert post.evaluate("document.activeElement.name") == "sex"
    assert post.locator("#pending-list li").count() == 0  # nothing queued
    assert post.input_value("input[name=spo2]") == "120"  # nothing lost


def test_a_rule_between_fields_is_caught_before_it_is_queued(open_as, live_server):
    post = open_as("feldsher_a", phone=True)
    post.context.set_offline(True)
    post.wait_for_selector("#connection[data-state=offline]")
    # The IIN of a woman born on 1 March 1981, typed for a man.
    iin = make_iin(date(1981, 3, 1), "female")
    send_request(post, age_years="", iin=iin, sex="male", complaint="Chest pain", priority="urgent")
    error = post.locator("#form-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "IIN: The IIN is that of a female patient."
    assert post.locator("#pending-list li").count() == 0
    assert post.input_value("input[name=iin]") == iin


def with_check_digit(first_eleven: str) -> str:
    """An IIN-shaped string with a valid check digit, whatever its date and century digits say
    (the last serial digit moved on where no check digit exists)."""
    from telemed.services.clinical_codes import iin_check_digit

    for tweak in range(10):
        candidate = first_eleven[:-1] + str((int(first_eleven[-1]) + tweak) % 10)
        if iin_check_digit(candidate) is not None:
            return candidate + str(iin_check_digit(candidate))
    raise AssertionError(first_eleven)


def test_the_page_applies_the_rules_between_fields_as_the_server_does(open_as, live_server):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Almaty")).date()  # the district's day (the default zone)
    adult = make_iin(today.replace(year=today.year - 40) - timedelta(days=10), "female")
    infant = make_iin(today - timedelta(days=200), "male")
    bad_check = adult[:11] + str((int(adult[11]) + 1) % 10)
    patients = [
        {"age_years": 54, "sex": "male"},
        {"age_years": 1, "age_months": 14, "sex": "male"},  # both ages
        {"sex": "female"},  # no age, no IIN
        {"iin": "12345", "sex": "male"},
        {"iin": bad_check, "sex": "female"},
        {"iin": with_check_digit("8103017000" + "1"), "sex": "male"},  # 7th digit 7: no century
        {"iin": with_check_digit("8113013000" + "1"), "sex": "male"},  # month 13
        {"iin": with_check_digit(f"{(today.year + 1) % 100:02d}010150001"), "sex": "male"},  # future
        {"iin": adult, "age_years": 40, "sex": "female"},
        {"iin": adult, "age_years": 41, "sex": "female"},
        {"iin": adult, "sex": "male"},
        {"iin": adult, "sex": "unknown"},
        {"iin": infant, "age_months": 6, "sex": "male"},
        {"iin": infant, "age_months": 7, "sex": "male"},
    ]
    bodies = [consultation_body(patient=patient) for patient in patients]
    bodies.append(consultation_body(vitals={"sbp": 90, "dbp": 90}))
    bodies.append(consultation_body(vitals={"sbp": 91, "dbp": 90}))
    post = open_as("feldsher_a")
    api = live_server.session("feldsher_a")
    for body in bodies:
        browser_says = post.evaluate("(body) => telemed.brokenRule(body)", body)
        answer = api.post("/consultations", json=body)
        if answer.status_code == 201:
            assert browser_says is None, (body, browser_says)
            continue
        assert answer.status_code == 422, answer.text
        fields = answer.json()["error"]["fields"]
        assert browser_says is not None and list(fields) == [browser_says[0]], (body, fields, browser_says)
        assert browser_says[1] in str(fields[browser_says[0]]), (fields, browser_says)


def test_a_request_typed_offline_is_sent_once_when_the_line_returns(open_as, live_server):
    post = open_as("feldsher_a")
    post.context.set_offline(True)
    post.wait_for_selector("#connection[data-state=offline]")
    send_request(post, age_years="33", sex="female", complaint="Bleeding after delivery",
                 specialty="obstetrics", priority="emergency")
    pending = post.locator("#pending-list li[data-status=pending]")
    pending.wait_for()
    assert "Bleeding after delivery" in pending.inner_text()
    assert live_server.session("feldsher_a").get("/consultations").json()["total"] == 0

    post.context.set_offline(False)
    post.wait_for_selector("#open-list li.consultation[data-status=waiting]")
    post.wait_for_selector("#pending-list li", state="detached")
    post.reload()  # the outbox is empty for good, not just hidden
    post.wait_for_selector("#open-list li.consultation[data-status=waiting]")
    assert post.locator("#pending-list li").count() == 0
    listing = live_server.session("feldsher_a").get("/consultations").json()
    assert listing["total"] == 1
    assert listing["items"][0]["complaint"] == "Bleeding after delivery"


def test_a_request_typed_while_the_login_ended_elsewhere_is_sent_after_logging_in_again(
        open_as, live_server, district):
    """The post's login ends while its phone has no line (here an administrator resets the
    password; a long absence ends it as idle): when the line returns the page goes to the login
    screen, and the request typed meanwhile waits in the outbox and is sent once after the login."""
    post = open_as("feldsher_a", phone=True)
    post.context.set_offline(True)
    post.wait_for_selector("#connection[data-state=offline]")
    send_request(post, age_years="61", sex="male", complaint="Chest pain since the morning",
                 specialty="general", priority="urgent")
    post.locator("#pending-list li[data-status=pending]").wait_for()
    new_password = "a new long passphrase 5"
    admin = live_server.session("admin_z")
    reset = admin.http.patch(f"{live_server.url}/api/v1/users/{district.feldsher_a.id}", timeout=10,
                             json={"password": new_password}, headers={"X-CSRFToken": admin.csrf_token})
    assert reset.status_code == 200

    post.context.set_offline(False)
    post.wait_for_url("**/login", timeout=30000)  # told by its socket that the session ended
    posts = live_server.session("feldsher_a", new_password)
    assert posts.get("/consultations").json()["total"] == 0  # nothing sent with the ended login
    log_in(post, live_server.url, "feldsher_a", new_password)
    post.wait_for_selector("#open-list li.consultation[data-status=waiting]", timeout=30000)
    post.wait_for_selector("#pending-list li", state="detached")
    listing = posts.get("/consultations").json()
    assert [item["complaint"] for item in listing["items"]] == ["Chest pain since the morning"]


def test_new_offers_ring_only_for_available_doctors(open_as, live_server):
    doctor = open_as("doctor_g")
    post = live_server.session("feldsher_a")
    post.post("/consultations", json=consultation_body())
    wait_until(doctor, "document.title.startsWith('(1)')")
    doctor.select_option("#presence", "away")
    doctor.wait_for_timeout(300)
    post.post("/consultations", json=consultation_body())
    doctor.wait_for_selector("#queue li.consultation >> nth=1")
    assert doctor.title().startswith("(1)")  # shown in the queue, but no ring while away


def test_escalation_is_seen_by_every_doctor_and_the_admin(open_as, fast_server):
    general = open_as("doctor_g", fast_server)
    admin = open_as("admin_z", fast_server)
    post = fast_server.session("feldsher_a")
    created = post.post("/consultations", json=consultation_body(
        priority="routine", specialty="cardiology", vitals={})).json()
    assert general.locator(f"#queue li[data-id='{created['id']}']").count() == 0
    card = general.locator(f"#queue li[data-id='{created['id']}']")
    card.wait_for(timeout=20000)                       # escalated: now offered to every doctor
    assert "↑" in card.inner_text()
    general.wait_for_selector(f"#queue li[data-id='{created['id']}'][data-overdue=yes]", timeout=20000)
    admin.wait_for_selector(f"#escalated li[data-id='{created['id']}']", timeout=20000)
    admin.wait_for_selector("#on-duty li[data-status=available]")


def test_dashboard_answers_which_posts_lack_bls_and_who_lapses_next(open_as, demo_district, tmp_path):
    admin = open_as("admin", password="demo-admin")
    admin.goto(admin.url.replace("/admin", "/admin/coverage"))
    gaps = admin.locator("#gaps li")
    gaps.first.wait_for()
    text = admin.inner_text("#gaps")
    for post in ("Shubar", "Yrgyzbay", "Akzhar"):
        assert post in text
    assert "no valid BLS" in text
    admin.wait_for_selector("#lapsing tr")
    assert admin.locator("#lapsing tr").count() > 0
    assert admin.evaluate("Chart.getChart('profession-chart').data.datasets.length") >= 2
    assert admin.evaluate("Chart.getChart('forecast-chart').data.labels.length") == 4
    facilities = admin.evaluate(
        "fetch('/api/v1/reports/coverage').then(r => r.json()).then(r => r.facilities.length)")
    assert admin.locator("#heat-body tr").count() == facilities >= 20
    first_row = admin.locator("#heat-body tr").first.inner_text()
    assert "Akzhar" in first_row  # gaps first
    admin.fill("input[name=as_of]", "2026-06-01")
    admin.click("#coverage-form button[type=submit]")
    # 171 nurses + 52 doctors + 45 feldshers + 25 midwives held a valid BLS on that day
    wait_until(admin, "document.getElementById('coverage-summary').textContent.includes('BLS: 293')")
    admin.screenshot(path=str(tmp_path / "coverage.png"), full_page=True)
    if os.environ.get("TELEMED_SCREENSHOTS"):
        admin.screenshot(path=os.path.join(os.environ["TELEMED_SCREENSHOTS"], "coverage.png"), full_page=True)


def test_roster_import_preview_then_import(open_as, live_server, district, tmp_path):
    admin = open_as("admin_z")
    admin.goto(admin.url.replace("/admin", "/admin/import"))
    roster = tmp_path / "roster.csv"
    roster.write_text("username,type,issued_on\nfeldsher_a,BLS,2025-03-01\nghost,BLS,2025-03-01\n")
    admin.set_input_files("input[name=file]", str(roster))
    admin.click("#preview")
    admin.wait_for_selector("#import-rows tr[data-row='3'] .gap")
    assert "username" in admin.inner_text("#import-rows tr[data-row='3']")
    assert admin.is_disabled("#do-import")
    roster.write_text("username,type,issued_on\nfeldsher_a,BLS,2025-03-01\n")
    admin.set_input_files("input[name=file]", str(roster))
    admin.click("#preview")
    admin.wait_for_selector("#do-import:not([disabled])")
    admin.click("#do-import")
    # The button is disabled at the click and "create 1" was already the preview's: wait for the
    # import's own answer, so the test never ends while the server is still writing.
    wait_until(admin, "document.getElementById('import-summary').textContent.includes(telemed.msg('imported'))")
    assert admin.is_disabled("#do-import")
    held = live_server.session("admin_z").get("/certifications", params={"user_id": district.feldsher_a.id}).json()
    assert [(c["type"], c["issued_on"]) for c in held["items"]] == [("BLS", "2025-03-01")]


def test_printable_summary_fits_one_page(open_as, live_server):
    from tests.helpers import close_body

    post_api, doctor_api = live_server.session("feldsher_a"), live_server.session("doctor_g")
    created = post_api.post("/consultations", json=consultation_body(
        complaint="Chest pain radiating to the left arm for 40 minutes, sweating, nausea")).json()
    doctor_api.post(f"/consultations/{created['id']}/accept")
    doctor_api.post(f"/consultations/{created['id']}/close", json=close_body(
        icd10=["I21.9", "R07.4", "I10"], recommendation="Aspirin 300 mg chewed, ambulance to the "
        "district hospital, ECG copy with the patient. Review blood pressure at the post in a week."))
    page = open_as("feldsher_a")
    page.goto(f"{live_server.url}/consultations/{created['id']}/print")
    assert "Acute myocardial infarction" in page.inner_text("#p-codes")
    # vitals named with their units, NEWS2's reasons in words, as on the screens
    vitals = page.inner_text("#p-vitals")
    assert "SpO₂ 96 %" in vitals and "Temperature 36.8 °C" in vitals and "spo2" not in vitals
    assert "Heart rate +1" in page.inner_text("#p-news2")  # HR 104 scores 1 point
    pdf = page.pdf(format="A4")
    import re
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1


def test_reports_page_answers_how_fast_and_how_many_doctors(open_as, live_server):
    from tests.helpers import close_body

    post_api, doctor_api = live_server.session("feldsher_a"), live_server.session("doctor_g")
    for disposition in ("ambulance_called", "referred_urgent"):
        c = post_api.post("/consultations", json=consultation_body(priority="emergency")).json()
        doctor_api.post(f"/consultations/{c['id']}/accept")
        doctor_api.post(f"/consultations/{c['id']}/close", json=close_body(disposition=disposition))
    admin = open_as("admin_z")
    admin.goto(f"{live_server.url}/admin/reports")
    admin.wait_for_selector("#speed tr[data-priority=emergency]")
    assert admin.inner_text("#speed tr[data-priority=emergency] td:nth-child(2)") == "2"
    admin.wait_for_selector("#staffing tbody tr")
    # one referral and one ambulance out of two closed
    assert admin.inner_text("#facilities").split("\t")[-2:] == ["50 %", "50 %"]
    # Figures in words: priorities in clinical order, the threshold in minutes, the period stated,
    # each outcome with its number.
    assert admin.locator("#speed tr").evaluate_all("(rows) => rows.map((r) => r.dataset.priority)") == [
        "emergency", "urgent", "routine"]
    threshold_s = live_server.session("admin_z").get("/reports/consultations").json()["time_to_accept"]["emergency"]["threshold_s"]
    assert admin.inner_text("#speed tr[data-priority=emergency] td:nth-child(5)") == (
        f"100 % within {threshold_s // 60} min" if threshold_s % 60 == 0 else f"100 % within {threshold_s / 60:.1f} min")
    assert admin.inner_text("#period").startswith("Period: ") and admin.inner_text("#period").endswith(", 2 requests")
    assert sorted(admin.evaluate("Chart.getChart('outcome-chart').data.labels")) == [
        "Ambulance called: 1", "Urgent referral: 1"]


def test_a_message_typed_offline_is_sent_once_when_the_line_returns(open_as, live_server):
    post_api, doctor_api = live_server.session("feldsher_a"), live_server.session("doctor_g")
    created = post_api.post("/consultations", json=consultation_body()).json()
    doctor_api.post(f"/consultations/{created['id']}/accept")
    page = open_as("feldsher_a")
    page.goto(f"{live_server.url}/consultations/{created['id']}")
    page.wait_for_selector("#connection[data-state=online]")
    page.context.set_offline(True)
    page.wait_for_selector("#connection[data-state=offline]", timeout=30000)
    page.fill("#message-form textarea", "Pulse now 130, she is pale")
    page.click("#message-form button[type=submit]")
    page.wait_for_selector("#messages li.pending")
    page.context.set_offline(False)
    page.wait_for_selector("#messages li.mine:not(.pending) >> text=Pulse now 130", timeout=30000)
    page.wait_for_selector("#messages li.pending", state="detached")
    chat = doctor_api.get(f"/consultations/{created['id']}/messages").json()["items"]
    assert [m["body"] for m in chat] == ["Pulse now 130, she is pale"]


def test_admin_adds_a_facility_and_a_certification_and_sees_refusals(open_as, live_server, district):
    admin = open_as("admin_z")
    admin.goto(f"{live_server.url}/admin/facilities")
    admin.wait_for_selector("#add-form select[name=district_id] option", state="attached")
    admin.fill("#add-form input[name=name]", "Koshy Feldsher-Midwife Post")
    admin.fill("#add-form input[name=village]", "Koshy")
    admin.click("#add-form button[type=submit]")
    admin.wait_for_selector("#rows >> text=Koshy Feldsher-Midwife Post")

    admin.goto(f"{live_server.url}/admin/certifications")
    admin.wait_for_selector("#add-form select[name=type] option", state="attached")
    admin.fill("#add-form input[name=username]", "nobody_here")
    admin.fill("#add-form input[name=issued_on]", "2025-03-01")
    admin.click("#add-form button[type=submit]")
    admin.wait_for_selector("#add-error:not([hidden])")
    assert "No staff member" in admin.inner_text("#add-error")
    admin.fill("#add-form input[name=username]", "feldsher_a")
    admin.click("#add-form button[type=submit]")
    admin.wait_for_selector("#rows tr >> text=Feldsher_A")
    assert admin.is_hidden("#add-error")


def test_with_javascript_off_a_request_is_sent_and_no_patient_data_is_in_any_url(
        browser, live_server, district):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    visited = []
    page.on("request", lambda request: visited.append(request.url))
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=username]", "feldsher_a")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/post")
    iin = make_iin(date(1968, 1, 1), "male")
    # The age comes from the IIN; "38,4" with a decimal comma, as a Russian keyboard types it.
    send_request(page, sex="male", iin=iin, complaint="Crushing chest pain at rest", temp_c="38,4")
    page.wait_for_url(re.compile(r".*/consultations/[0-9a-f-]{36}$"))
    stored = live_server.session("feldsher_a").get("/consultations").json()["items"]
    assert [c["complaint"] for c in stored] == ["Crushing chest pain at rest"]
    assert stored[0]["vitals"]["temp_c"] == 38.4
    assert page.url.endswith(f"/consultations/{stored[0]['id']}")
    log = live_server.log_path.read_text()
    # The temperature as a number of its own: a timestamp or a duration in the log (":38.437Z",
    # "0.038412") holds those digits too, and is no leak.
    secrets = [re.escape(text) for text in ("Crushing", "chest", iin)] + [r"(?<![\d.])38(?:[.,]|%2C)4(?!\d)"]
    for secret in secrets:
        assert not any(re.search(secret, url) for url in visited), secret
        assert not re.search(secret, log), secret
    context.close()


@pytest.mark.parametrize("locale", ["ru", "kk"])
def test_the_whole_flow_in_russian_and_kazakh_on_a_360_px_phone(open_as, locale):
    from babel.support import Translations

    from telemed.config import REPOSITORY_ROOT

    words = Translations.load(str(REPOSITORY_ROOT / "telemed" / "translations"), [locale])
    ARTIFACTS.mkdir(exist_ok=True)
    post = open_as("feldsher_a", locale=locale, phone=True)
    doctor = open_as("doctor_g", locale=locale)
    assert post.get_attribute("html", "lang") == locale
    assert post.inner_text("#new-request button[type=submit]") == words.gettext("Send to a doctor")
    assert overflow_px(post) <= 0
    post.screenshot(path=str(ARTIFACTS / f"post-{locale}-360.png"), full_page=True)

    send_request(post, age_years="61", sex="female", complaint="Давящая боль за грудиной 30 минут",
                 temp_c="37,2", priority="urgent")
    item = post.locator("#open-list li.consultation")
    item.wait_for()
    consultation_id = item.get_attribute("data-id")
    assert words.gettext("Waiting") in item.inner_text()

    card = doctor.locator(f"#queue li[data-id='{consultation_id}']")
    card.wait_for()
    card.locator("button.claim").click()
    doctor.wait_for_url(re.compile(f"/consultations/{consultation_id}$"))
    post.click(f"#open-list li[data-id='{consultation_id}'] a")
    post.wait_for_url(re.compile(f"/consultations/{consultation_id}$"))
    post.wait_for_selector("#connection[data-state=online]")
    assert overflow_px(post) <= 0
    post.wait_for_selector("#c-vitals dd")  # drawn once the consultation has been fetched
    vitals = post.inner_text("#c-vitals")  # named and with units, in the page's own number format
    assert words.gettext("Temperature") in vitals and "37,2 °C" in vitals and "temp_c" not in vitals

    outcome = close_and_read_outcome(doctor, post, "инфаркт", "Аспирин 300 мг, вызвана скорая")  # found in Russian
    assert words.gettext("Ambulance called") in outcome and "I21.9" in outcome
    assert "null" not in outcome
    assert overflow_px(post) <= 0
    post.screenshot(path=str(ARTIFACTS / f"outcome-{locale}-360.png"), full_page=True)


def test_a_message_typed_while_the_last_one_is_on_its_way_is_kept(open_as, live_server):
    """The chat box is emptied when a message is answered, but only of that message: the next one,
    typed while the answer was on its way, stays (it was wiped, and the next click sent nothing)."""
    doctor = open_as("doctor_g")
    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    doctor.goto(f"{live_server.url}/consultations/{created['id']}")
    doctor.wait_for_selector("#connection[data-state=online]")
    # Every answer to the page's socket events comes a second and a half late, as on a slow line.
    doctor.evaluate("""() => {
      const emit = window.telemed.emit;
      window.answered = 0;
      window.telemed.emit = (...args) => emit(...args).then((answer) => new Promise((resolve) =>
        setTimeout(() => { window.answered += 1; resolve(answer); }, 1500)));
    }""")
    doctor.fill("#message-form textarea", "Is she breathing normally?")
    doctor.click("#message-form button[type=submit]")
    doctor.fill("#message-form textarea", "Give aspirin 300 mg")
    doctor.wait_for_function("() => window.answered >= 1")
    assert doctor.input_value("#message-form textarea") == "Give aspirin 300 mg"
    doctor.click("#message-form button[type=submit]")
    doctor.wait_for_selector("#messages li >> text=Give aspirin 300 mg")
    assert doctor.locator("#messages li", has_text="Is she breathing normally?").count() == 1
    doctor.wait_for_function("() => window.answered >= 2")
    assert doctor.input_value("#message-form textarea") == ""


def test_the_post_is_told_when_the_doctor_writes_and_can_answer_at_once_on_a_phone(open_as, live_server):
    post = open_as("feldsher_a", phone=True)
    doctor = open_as("doctor_g")
    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    post.wait_for_selector(f"#open-list li[data-id='{created['id']}']")
    doctor.goto(f"{live_server.url}/consultations/{created['id']}")
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    doctor.reload()
    doctor.wait_for_selector("#connection[data-state=online]")
    for text in ("Is she breathing normally?", "Give aspirin 300 mg"):
        doctor.fill("#message-form textarea", text)
        doctor.click("#message-form button[type=submit]")
        doctor.wait_for_selector(f"#messages li >> text={text}")

    # Unread on the post's list and in the tab's title, and still after a reload.
    badge = post.locator(f"#open-list li[data-id='{created['id']}'] .unread")
    badge.wait_for()
    assert badge.inner_text().endswith("2") and post.title().startswith("(2) ")
    post.reload()
    badge.wait_for()  # drawn from the snapshot the reconnect brings
    assert badge.inner_text().endswith("2")

    # Opening the consultation reads them; the composer is on the screen without scrolling.
    post.click(f"#open-list li[data-id='{created['id']}'] a")
    post.wait_for_selector("#messages li >> text=Give aspirin 300 mg")
    box = post.locator("#message-form textarea").bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= 740
    post.go_back()
    post.wait_for_selector(f"#open-list li[data-id='{created['id']}']")
    assert post.locator(f"#open-list li[data-id='{created['id']}'] .unread").count() == 0
    assert not post.title().startswith("(")


def test_a_phone_camera_photo_is_made_to_fit_the_line_before_it_is_sent(open_as, live_server, tmp_path):
    from io import BytesIO

    from PIL import Image, ImageDraw

    # An ECG strip photographed at 4000x3000: a red grid, a black trace, a little sensor noise.
    noise = Image.effect_noise((4000, 3000), 12).convert("RGB")
    strip = Image.blend(noise, Image.new("RGB", noise.size, "white"), 0.85)
    draw = ImageDraw.Draw(strip)
    for x in range(0, 4000, 40):
        draw.line([(x, 0), (x, 2999)], fill=(230, 120, 120), width=2 if x % 200 else 4)
    for y in range(0, 3000, 40):
        draw.line([(0, y), (3999, y)], fill=(230, 120, 120), width=2 if y % 200 else 4)
    draw.line([(x, 1500 - (300 if x % 400 == 200 else 0)) for x in range(0, 4000, 20)], fill="black", width=6)
    original = tmp_path / "ecg.jpg"
    strip.save(original, "JPEG", quality=97)
    assert original.stat().st_size > 2_000_000

    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    post = open_as("feldsher_a", phone=True)
    post.goto(f"{live_server.url}/consultations/{created['id']}")
    post.wait_for_selector("#connection[data-state=online]")
    post.set_input_files("#attachment-form input[name=file]", str(original))
    post.wait_for_selector("#messages li a.attachment")
    chat = live_server.session("feldsher_a").get(f"/consultations/{created['id']}/messages").json()["items"]
    sent = chat[-1]["attachment"]
    assert sent["content_type"] == "image/jpeg"
    assert sent["size_bytes"] < original.stat().st_size / 5, sent["size_bytes"]
    stored = live_server.session("doctor_g").get(sent["url"].removeprefix("/api/v1"))
    with Image.open(BytesIO(stored.content)) as image:
        assert max(image.size) == 1600 and image.size == (1600, 1200)


def test_a_photo_taken_with_no_line_waits_in_the_outbox_and_is_sent_once(open_as, live_server):
    from tests.helpers import jpeg_bytes

    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    post = open_as("feldsher_a", phone=True)
    wait_until(post, "navigator.serviceWorker.controller !== null")  # the worker keeps the next page
    post.goto(f"{live_server.url}/consultations/{created['id']}")
    post.wait_for_selector("#connection[data-state=online]")
    post.context.set_offline(True)
    post.wait_for_selector("#connection[data-state=offline]", timeout=30000)
    post.set_input_files("#attachment-form input[name=file]",
                         files=[{"name": "wound.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()}])
    assert "wound.jpg" in post.locator("#messages li.pending").inner_text()
    post.reload()  # no line: the page from the phone, the photo from its outbox
    assert "wound.jpg" in post.locator("#messages li.pending").inner_text()
    assert post.locator("#attachment-error").is_hidden()

    post.context.set_offline(False)
    post.wait_for_selector("#messages li.mine a.attachment", timeout=30000)
    post.wait_for_selector("#messages li.pending", state="detached")
    chat = live_server.session("doctor_g").get(f"/consultations/{created['id']}/messages").json()["items"]
    assert [m["attachment"]["filename"] for m in chat if m["attachment"]] == ["wound.jpg"]


def test_a_request_typed_offline_survives_closing_the_browser(playwright, live_server, district, tmp_path):
    profile = tmp_path / "phone-profile"  # the phone's own browser profile, kept across restarts
    # Without the service worker (tested on its own elsewhere): in a persistent profile Chromium's
    # offline emulation did not always hold for a request passing through it, and this test is
    # about the outbox outliving the browser, not about the worker.
    options = {**CHROMIUM_OPTIONS, **PHONE, "service_workers": "block"}
    phone = playwright.chromium.launch_persistent_context(profile, **options)
    post = phone.pages[0]
    log_in(post, live_server.url, "feldsher_a")
    phone.set_offline(True)
    # And refused here too: the emulation let one of the outbox's retries through now and then (CI).
    phone.route("**/*", lambda route: route.abort("internetdisconnected"))
    post.wait_for_selector("#connection[data-state=offline]")
    send_request(post, age_years="2", sex="male", complaint="Infant with fever and a rash that does not fade")
    post.locator("#pending-list li[data-status=pending]").wait_for()
    phone.close()  # the battery runs out, or the feldsher closes the browser
    assert live_server.session("feldsher_a").get("/consultations").json()["total"] == 0

    phone = playwright.chromium.launch_persistent_context(profile, **options)
    try:
        post = phone.pages[0]
        log_in(post, live_server.url, "feldsher_a")  # the browser's session ended with it
        post.wait_for_selector("#open-list li.consultation[data-status=waiting]", timeout=30000)
        post.wait_for_selector("#pending-list li", state="detached")
    finally:
        phone.close()
    stored = live_server.session("feldsher_a").get("/consultations").json()["items"]
    assert [c["complaint"] for c in stored] == ["Infant with fever and a rash that does not fade"]


def test_behind_a_proxy_that_lets_no_websocket_through_the_page_works_over_long_polling(
        playwright, live_server, district):
    from tests.web.websocket_blocking_proxy import WebsocketBlockingProxy

    proxy = WebsocketBlockingProxy().start()
    # <-loopback>: send even 127.0.0.1 through the proxy (Chromium bypasses it by default).
    browser = playwright.chromium.launch(**{**CHROMIUM_OPTIONS, "args": CHROMIUM_OPTIONS["args"] + [
        f"--proxy-server={proxy.url}", "--proxy-bypass-list=<-loopback>"]})
    try:
        post = browser.new_page(**PHONE)
        log_in(post, live_server.url, "feldsher_a")  # waits for the page to be live
        assert proxy.refused  # the websocket was tried first, and turned away
        send_request(post, age_years="5", sex="female", complaint="Wheezing, cannot finish a sentence")
        post.wait_for_selector("#open-list li.consultation[data-status=waiting]")
        assert post.locator("#connection").get_attribute("data-state") == "online"
        assert any(path.startswith("/socket.io/") for path in proxy.server.forwarded)
    finally:
        browser.close()
        proxy.stop()


def test_the_doctor_must_choose_an_outcome_nothing_is_chosen_for_them(open_as, live_server):
    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    doctor = open_as("doctor_g")
    doctor.goto(f"{live_server.url}/consultations/{created['id']}")
    doctor.wait_for_selector("#connection[data-state=online]")
    assert doctor.input_value("select[name=disposition]") == ""  # no silent "advice given"
    doctor.fill("#icd-search", "I21")
    doctor.click("#icd-results [role=option][data-code='I21.9']")
    doctor.fill("textarea[name=recommendation]", "Aspirin 300 mg")
    doctor.click("#close-form button[type=submit]")
    error = doctor.locator("#close-error")
    error.wait_for(state="visible")
    assert "Disposition:" in error.inner_text()
    assert live_server.session("doctor_g").get(f"/consultations/{created['id']}").json()["status"] == "active"


def test_every_control_of_the_post_is_a_full_tap_target_on_a_phone(open_as, live_server):
    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    post = open_as("feldsher_a", phone=True)
    post.wait_for_selector(f"#open-list li[data-id='{created['id']}']")
    assert small_tap_targets(post) == []
    post.goto(f"{live_server.url}/consultations/{created['id']}")
    post.wait_for_selector("#connection[data-state=online]")
    assert small_tap_targets(post) == []


def test_a_request_typed_offline_and_refused_later_comes_back_into_the_form(open_as, live_server):
    post = open_as("feldsher_a", phone=True)
    post.context.set_offline(True)
    post.wait_for_selector("#connection[data-state=offline]")
    # Systolic and diastolic swapped. Today's page refuses that before queueing it, so the item is
    # put in the outbox as a page with fewer checks (an older version, cached on the phone) would.
    body = consultation_body(patient={"age_years": 44, "sex": "male"}, complaint="Short of breath at rest",
                             vitals={"sbp": 80, "dbp": 130, "temp_c": 37.9})
    post.evaluate("""(body) => telemed.outbox.add({ method: "POST", path: "/consultations", body,
                                                    label: body.complaint })""", body)
    post.locator("#pending-list li[data-status=pending]").wait_for()

    post.context.set_offline(False)
    error = post.locator("#form-error")
    error.wait_for(state="visible", timeout=30000)
    assert "Diastolic BP:" in error.inner_text()
    assert post.input_value("textarea[name=complaint]") == "Short of breath at rest"
    assert [post.input_value(f"input[name={n}]") for n in ("sbp", "dbp", "temp_c")] == ["80", "130", "37.9"]
    assert post.input_value("select[name=sex]") == "male"
    assert post.locator("#pending-list li").count() == 0
    assert live_server.session("feldsher_a").get("/consultations").json()["total"] == 0


def test_the_post_page_opens_with_no_line_and_keeps_what_is_typed(open_as, live_server):
    post = open_as("feldsher_a", phone=True)
    wait_until(post, "navigator.serviceWorker.controller !== null")  # installed, and it took the page
    post.reload()  # this visit of /post goes through the worker, which keeps it
    post.wait_for_selector("#connection[data-state=online]")

    post.context.set_offline(True)
    post.reload()  # no line: the page comes from the phone
    post.wait_for_selector("#new-request button[type=submit]")
    post.wait_for_selector("#connection[data-state=offline]")
    send_request(post, age_years="70", sex="female", complaint="Sudden weakness of the right arm")
    post.locator("#pending-list li[data-status=pending]").wait_for()
    post.reload()  # still no line: the outbox is still there
    post.locator("#pending-list li[data-status=pending]").wait_for()

    post.context.set_offline(False)
    post.wait_for_selector("#open-list li.consultation", timeout=30000)
    stored = live_server.session("feldsher_a").get("/consultations").json()["items"]
    assert [c["complaint"] for c in stored] == ["Sudden weakness of the right arm"]


KEPT_POST_PAGES = """async () => {
    let kept = 0;
    for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        kept += (await cache.keys()).filter((r) => new URL(r.url).pathname === "/post").length;
    }
    return kept;
}"""


def test_after_logging_out_the_phone_no_longer_opens_the_kept_post_page(open_as):
    post = open_as("feldsher_a", phone=True)
    wait_until(post, "navigator.serviceWorker.controller !== null")
    post.reload()  # kept by the worker
    post.wait_for_selector("#connection[data-state=online]")
    assert post.evaluate(KEPT_POST_PAGES) == 1
    post.click("form[action='/logout'] button[type=submit]")
    post.wait_for_url("**/login")  # the worker forgets the kept pages on this navigation
    deadline = time.monotonic() + 10
    while post.evaluate(KEPT_POST_PAGES) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert post.evaluate(KEPT_POST_PAGES) == 0
    post.context.set_offline(True)
    try:
        post.goto(post.url.replace("/login", "/post"))
    except Exception:  # noqa: BLE001 - no line and nothing kept: the browser's own error page
        pass
    assert post.locator("#new-request").count() == 0


def test_the_doctor_keeps_the_keyboard_focus_when_the_queue_changes(open_as, live_server):
    post = live_server.session("feldsher_a")
    first = post.post("/consultations", json=consultation_body(priority="routine", complaint="Back pain")).json()
    doctor = open_as("doctor_g")
    take = doctor.locator(f"#queue li[data-id='{first['id']}'] button.claim")
    take.wait_for()
    take.focus()
    # An emergency arrives and goes to the top: the list is redrawn around the focused card.
    second = post.post("/consultations", json=consultation_body(priority="emergency", complaint="Not breathing")).json()
    doctor.locator(f"#queue li[data-id='{second['id']}']").wait_for()
    assert doctor.locator("#queue li[data-id]").first.get_attribute("data-id") == second["id"]
    assert doctor.evaluate("document.activeElement.closest('li[data-id]').dataset.id") == first["id"]
    doctor.keyboard.press("Enter")  # the same button still takes it
    doctor.wait_for_url(f"**/consultations/{first['id']}")


def test_the_doctor_picks_icd10_codes_with_the_keyboard(open_as, live_server):
    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    doctor = open_as("doctor_g")
    doctor.goto(f"{live_server.url}/consultations/{created['id']}")
    box = doctor.get_by_role("combobox", name="ICD-10 (type a code or words)")
    box.wait_for()
    box.press_sequentially("I21")
    options = doctor.get_by_role("listbox").get_by_role("option")
    options.first.wait_for()
    assert box.get_attribute("aria-expanded") == "true"
    assert "codes found" in doctor.inner_text("#icd-status")
    box.press("ArrowDown")
    box.press("ArrowDown")
    second = options.nth(1)
    assert box.get_attribute("aria-activedescendant") == second.get_attribute("id")
    assert second.get_attribute("aria-selected") == "true"
    code = second.get_attribute("data-code")
    box.press("Enter")  # chooses; the closing form is not sent
    doctor.wait_for_selector(f"#icd-chosen li[data-code='{code}']")
    assert box.get_attribute("aria-expanded") == "false" and box.input_value() == ""
    assert doctor.locator("#c-status").get_attribute("data-status") == "active"
    box.press_sequentially("R5")
    options.first.wait_for()
    box.press("Escape")
    assert options.count() == 0 and box.get_attribute("aria-expanded") == "false"
    remove = doctor.get_by_role("button", name=f"Remove {code}")
    remove.click()
    assert doctor.locator(f"#icd-chosen li[data-code='{code}']").count() == 0


def test_enabling_sound_tells_the_doctor_what_now_works(open_as):
    doctor = open_as("doctor_g")
    doctor.get_by_role("button", name="Enable sound and notifications").click()
    state = doctor.locator("#alerts-state")
    wait_until(doctor, "document.getElementById('alerts-state').textContent !== ''")
    assert state.inner_text().startswith("Sound on")  # a click is the touch sound needs
    assert "notifications" in state.inner_text()
    assert doctor.locator("#enable-alerts").get_attribute("aria-pressed") == "true"


def test_an_unknown_consultation_is_the_404_page_not_an_empty_skeleton(open_as, live_server):
    import uuid

    doctor = open_as("doctor_g")
    answer = doctor.goto(f"{live_server.url}/consultations/{uuid.uuid4()}")
    assert answer.status == 404
    assert doctor.inner_text("h1") == "404"
    assert doctor.get_by_role("link", name="Back to the start page").is_visible()
    assert doctor.locator("#c-status").count() == 0  # no consultation page around nothing


def test_an_older_icd10_answer_arriving_late_is_not_shown(open_as, live_server):
    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    doctor = open_as("doctor_g")
    doctor.goto(f"{live_server.url}/consultations/{created['id']}")
    held = []  # the answer to "I2" is held back until "I21" has been answered
    doctor.route(lambda url: url.endswith("/api/v1/icd10?q=I2"), lambda route: held.append(route))
    box = doctor.get_by_role("combobox", name="ICD-10 (type a code or words)")
    box.press_sequentially("I2")
    wait_until(doctor, "document.getElementById('icd-status').textContent !== ''")  # "Searching…"
    while not held:
        doctor.wait_for_timeout(50)
    box.press_sequentially("1")
    doctor.locator("#icd-results [role=option][data-code='I21.9']").wait_for()
    held[0].continue_()  # the late, older answer (codes I20...) now arrives
    doctor.wait_for_timeout(500)  # it cannot be waited for: it must not show; give it time to land
    codes = doctor.locator("#icd-results [role=option]").evaluate_all("(all) => all.map((o) => o.dataset.code)")
    assert codes and all(code.startswith("I21") for code in codes), codes


def test_a_request_a_new_snapshot_brings_rings(open_as, live_server, district):
    """Given cardiology while the page is open, the doctor is sent a snapshot holding the waiting
    cardiology request: it rings like any new offer (the first snapshot, on opening, does not)."""
    post = live_server.session("feldsher_a")
    waiting = post.post("/consultations", json=consultation_body(specialty="cardiology")).json()
    doctor = open_as("doctor_g")  # general only: not offered yet
    doctor.wait_for_selector("#queue li.empty")
    assert not doctor.title().startswith("(")
    admin = live_server.session("admin_z")
    given = admin.http.patch(f"{live_server.url}/api/v1/users/{district.doctor.id}",
                             json={"specialties": ["general", "cardiology"]},
                             headers={"X-CSRFToken": admin.csrf_token}, timeout=10)
    assert given.status_code == 200
    doctor.wait_for_selector(f'#queue li[data-id="{waiting["id"]}"]')
    wait_until(doctor, "document.title.startsWith('(1)')")


def test_an_open_consultation_reads_again_when_a_snapshot_says_events_were_missed(
        app, open_as, live_server, district):
    """A post's message whose event never reached the doctor's page (here written by another app
    on the same database, as when Redis lost it) appears once the server sends the doctor a
    snapshot without a reconnect (here because an administrator gave them a specialty)."""
    import uuid

    from telemed.extensions import db
    from telemed.models import User
    from telemed.services.messages import send_message

    created = live_server.session("feldsher_a").post("/consultations", json=consultation_body()).json()
    live_server.session("doctor_g").post(f"/consultations/{created['id']}/accept")
    doctor = open_as("doctor_g")
    # The page reads the consultation and its chat when the snapshot of its connect arrives: the
    # message is written after that read, or the read could already show it.
    with doctor.expect_response(lambda r: f"/api/v1/consultations/{created['id']}/messages" in r.url):
        doctor.goto(f"{live_server.url}/consultations/{created['id']}")
    doctor.wait_for_selector("#connection[data-state=online]")
    with app.app_context():
        send_message(db.session.get(User, district.feldsher_a.id), uuid.UUID(created["id"]),
                     "Sats now 88 %", uuid.uuid4())
    doctor.wait_for_timeout(500)
    assert doctor.locator("#messages li >> text=Sats now 88 %").count() == 0  # no event reached it
    admin = live_server.session("admin_z")
    assert admin.http.patch(f"{live_server.url}/api/v1/users/{district.doctor.id}",
                            json={"specialties": ["general", "pediatrics"]},
                            headers={"X-CSRFToken": admin.csrf_token}, timeout=10).status_code == 200
    doctor.wait_for_selector("#messages li.theirs >> text=Sats now 88 %")
