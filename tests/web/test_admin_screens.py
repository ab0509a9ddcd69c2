"""The administrator's screens answer their questions without guessing: paged lists that say
where they are, an overview whose figures match the API, a heat map that colours only what is
required, every lapsing person listed."""
import pytest

from tests.web.browser import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def api(page, path: str):
    """What the API answers the page's own session."""
    return page.evaluate(f"fetch('/api/v1{path}').then((r) => r.json())")


def test_paging_through_the_districts_staff(open_as, demo_district, live_server):
    admin = open_as("admin", password="demo-admin")
    admin.goto(f"{live_server.url}/admin/staff")
    total = api(admin, "/users?active=true&limit=1")["total"]
    assert total > 400  # the demo district's 492 staff, active ones
    status = admin.locator("#pager .pager-status")
    wait_until(admin, f"document.querySelector('#pager .pager-status').textContent === '1–50 of {total}'")
    assert admin.locator("#rows tr").count() == 50
    assert admin.get_by_role("button", name="Previous").is_disabled()
    admin.get_by_role("button", name="Next").click()
    wait_until(admin, f"document.querySelector('#pager .pager-status').textContent === '51–100 of {total}'")
    first_of_second = admin.locator("#rows tr").first.inner_text()
    admin.get_by_role("button", name="Previous").click()
    wait_until(admin, "document.querySelector('#pager .pager-status').textContent.startsWith('1–50')")
    assert admin.locator("#rows tr").first.inner_text() != first_of_second
    # A filter starts again at the first page of what it finds.
    admin.select_option("#filter-form select[name=role]", "doctor")
    admin.click("#filter-form button[type=submit]")
    doctors = api(admin, "/users?active=true&role=doctor&limit=1")["total"]
    wait_until(admin, f"document.querySelector('#pager .pager-status').textContent === '1–{min(50, doctors)} of {doctors}'")
    assert "of" in status.inner_text()


def test_the_overview_says_what_the_api_says(open_as, demo_district, live_server):
    from tests.helpers import consultation_body

    # Today's traffic: an emergency taken, and a routine request still waiting.
    post, doctor = live_server.session("feldsher1", "demo-feldsher"), live_server.session("doctor1", "demo-doctor")
    taken = post.post("/consultations", json=consultation_body(priority="emergency")).json()
    doctor.post(f"/consultations/{taken['id']}/accept")
    post.post("/consultations", json=consultation_body(priority="routine"))
    admin = open_as("admin", password="demo-admin")
    wait_until(admin, "document.querySelector('[data-figure=bls-gaps]').textContent !== '—'")
    figure = lambda name: admin.inner_text(f"[data-figure={name}]")  # noqa: E731
    waiting = api(admin, "/consultations?status=waiting&limit=500")
    assert figure("waiting") == str(waiting["total"])
    duty = api(admin, "/presence")["items"]
    available = sum(d["status"] == "available" for d in duty)
    assert figure("available") == f"{available} / {len(duty)}"
    coverage = api(admin, "/reports/coverage")
    assert figure("bls-gaps") == str(sum("BLS" in f["gap_types"] for f in coverage["facilities"]))
    assert figure("waiting") == "1"
    assert figure("day-total") == "2"
    threshold_s = api(admin, "/reports/consultations")["time_to_accept"]["emergency"]["threshold_s"]
    assert figure("emergencies") == f"Emergencies taken within {round(threshold_s / 60)} min: 1 of 1"
    assert admin.locator("#ov-bls").get_attribute("href").endswith("/admin/coverage")
    # Doctors on duty: counted by presence, those who can take a request first.
    counts = admin.inner_text("#duty-counts")
    assert f"Available: {available}" in counts and f"Offline: {sum(d['status'] == 'offline' for d in duty)}" in counts


def test_the_heat_map_colours_required_certificates_and_writes_every_count(open_as, demo_district, live_server):
    admin = open_as("admin", password="demo-admin")
    admin.goto(f"{live_server.url}/admin/coverage")
    admin.locator("#heat-body tr").first.wait_for()
    coverage = api(admin, "/reports/coverage")
    types = [ty["code"] for ty in coverage["types"] if ty["required_for"] or ty["valid"] > 0]
    first = coverage["facilities"][0]
    cells = admin.locator("#heat-body tr").first.locator("td.cell")
    for i, code in enumerate(types):
        cell, entry = cells.nth(i), first["types"][code]
        assert cell.inner_text().startswith(f"{entry['valid']}/{first['staff']}")
        level = cell.get_attribute("data-level")
        if not entry["required"]:
            assert level == "optional"
        else:
            assert level == ("none" if entry["valid"] == 0 else "some" if entry["valid"] < first["staff"] else "all")
    # Everyone lapsing within 90 days is listed, as many as counted.
    lapsing = api(admin, f"/reports/lapsing?as_of={coverage['as_of']}&days=90")
    assert admin.locator("#lapsing tr").count() == lapsing["total"]


def test_a_resync_reads_the_overview_again_without_a_reconnect(
        open_as, app, district, database_url, redis_url, tmp_path):
    """A process whose message queue may have lost events sends its administrators a
    `consultations:snapshot`: the overview reads its figures again on the connection it has."""
    import json

    import redis
    import sqlalchemy as sa

    from telemed.extensions import db
    from telemed.models import PresenceConnection
    from telemed.realtime.manager import RESYNC
    from tests.helpers import add_waiting_requests
    from tests.live import LiveServer

    def admin_connections():
        with app.app_context():
            sids = set(db.session.scalars(sa.select(PresenceConnection.sid)
                                          .where(PresenceConnection.user_id == district.admin.id)))
            db.session.remove()
        return sids

    server = LiveServer(database_url, tmp_path / "instance", tmp_path / "serve.log",
                        TELEMED_MESSAGE_QUEUE=redis_url).start()
    try:
        admin = open_as("admin_z", server)
        wait_until(admin, "document.querySelector('[data-figure=bls-gaps]').textContent !== '—'")
        connected = set()
        for _ in range(50):  # the connection's row is written a moment after it opens
            connected = admin_connections()
            if connected:
                break
            admin.wait_for_timeout(100)
        before = int(admin.inner_text("[data-figure=waiting]"))
        # Straight into the database: no event tells anyone, as with an event Redis lost.
        add_waiting_requests(app, district.feldsher_a, [district.post_a], 2, age_s=5)
        admin.wait_for_timeout(1500)
        assert int(admin.inner_text("[data-figure=waiting]")) == before
        # What a process that could not publish tells the others once it can again.
        redis.Redis.from_url(redis_url).publish(
            "flask-socketio", json.dumps({"method": RESYNC, "host_id": "a-process-that-dropped-events"}))
        wait_until(admin, f"document.querySelector('[data-figure=waiting]').textContent === '{before + 2}'")
        assert connected and admin_connections() == connected  # the same connection: no reconnect
    finally:
        server.stop()


def test_every_facility_picker_offers_a_whole_regions_facilities(open_as, app, district, live_server):
    """A region has more facilities than the API's largest page (500): the administrator's pickers
    read every page, so the 501st post can be chosen too."""
    from sqlalchemy import func, select

    from telemed.extensions import db
    from telemed.models import Facility

    with app.app_context():
        db.session.add_all(Facility(name=f"FAP {n:03d}", kind="fap", village=f"Village {n:03d}",
                                    district_id=district.hub.district_id) for n in range(520))
        db.session.commit()
        facilities = db.session.scalar(select(func.count()).select_from(Facility).where(Facility.active))
    assert facilities > 500
    admin = open_as("admin_z")
    for path, form in (("/admin", "consultation-filter"), ("/admin/staff", "add-form"),
                       ("/admin/certifications", "filter-form"), ("/admin/reports", "range-form")):
        admin.goto(f"{live_server.url}{path}")
        options = f"document.querySelectorAll('#{form} select[name=facility_id] option:not([value=\"\"])')"
        wait_until(admin, f"{options}.length === {facilities}")
        assert admin.locator(f"#{form} select[name=facility_id] option", has_text="FAP 519").count() == 1
