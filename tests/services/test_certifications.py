"""Certification records, statuses on a date, the roster import, and who may see what."""
import io
from datetime import date

import pytest
from openpyxl import Workbook

from tests.helpers import row_counts

AS_OF = date(2026, 6, 1)


def record(admin, user, code="BLS", issued="2025-03-01", **extra):
    response = admin.post("/certifications", json={"user_id": user.id, "type": code,
                                                   "issued_on": issued, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_expiry_follows_the_type_and_status_follows_the_date(login, district):
    admin = login(district.admin)
    bls = record(admin, district.feldsher_a, "BLS", "2024-08-31")
    assert bls["expires_on"] == "2026-08-31"              # 24 months
    cardio = record(admin, district.feldsher_b, "CARDIO", "2024-02-29")
    assert cardio["expires_on"] == "2029-02-28"            # 60 months, no 29 Feb in 2029
    statuses = lambda day: {c["id"]: c["status"] for c in  # noqa: E731
                            admin.get(f"/certifications?as_of={day}").get_json()["items"]}
    assert statuses("2026-01-01")[bls["id"]] == "valid"
    assert statuses("2026-06-02")[bls["id"]] == "expiring"  # ends within 90 days
    assert statuses("2026-08-31")[bls["id"]] == "expiring"  # valid through its last day
    assert statuses("2026-09-01")[bls["id"]] == "expired"
    revoked = admin.delete(f"/certifications/{bls['id']}", json={"reason": "Forged card"})
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert statuses(date.today().isoformat())[bls["id"]] == "revoked"
    assert statuses("2026-01-01")[bls["id"]] == "valid"  # revoked from the day it was, not before
    assert admin.delete(f"/certifications/{bls['id']}", json={}).status_code == 409


def test_filters_by_facility_profession_type_and_status(login, district):
    admin = login(district.admin)
    record(admin, district.feldsher_a, "BLS", "2025-01-10")
    record(admin, district.feldsher_b, "BLS", "2023-01-10")          # expired by 2026-06-01
    record(admin, district.doctor, "ACLS", "2025-05-05")
    query = lambda q: admin.get(f"/certifications?as_of=2026-06-01&{q}").get_json()  # noqa: E731
    assert query("type=BLS")["total"] == 2
    assert query("status=expired")["items"][0]["user"]["username"] == "feldsher_b"
    assert query(f"facility_id={district.post_a.id}")["total"] == 1
    assert query("profession=doctor")["items"][0]["type"] == "ACLS"
    assert admin.get("/certifications?status=bogus").status_code == 422


def test_correcting_a_record(login, district):
    admin = login(district.admin)
    bls = record(admin, district.feldsher_a)
    fixed = admin.http.patch(f"/api/v1/certifications/{bls['id']}",
                             json={"number": "BLS-0042", "issuer": "Astana training centre"},
                             headers={"X-CSRFToken": admin.csrf_token})
    assert fixed.status_code == 200 and fixed.get_json()["number"] == "BLS-0042"
    backwards = admin.http.patch(f"/api/v1/certifications/{bls['id']}", json={"expires_on": "2020-01-01"},
                                 headers={"X-CSRFToken": admin.csrf_token})
    assert backwards.status_code == 422


@pytest.mark.parametrize("body, field", [
    ({"type": "XYZ", "issued_on": "2025-01-01"}, "type"),
    ({"type": "BLS", "issued_on": "2025-02-30"}, "issued_on"),
    ({"type": "BLS", "issued_on": "2025-02-01", "expires_on": "2025-01-01"}, "expires_on"),
    ({"type": "BLS", "issued_on": "1900-01-01"}, "issued_on"),
])
def test_bad_records_are_422_and_write_nothing(app, login, district, body, field):
    admin = login(district.admin)
    before = row_counts(app)
    response = admin.post("/certifications", json={"user_id": district.feldsher_a.id, **body})
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert row_counts(app) == before


def test_duplicate_record_is_409(login, district):
    admin = login(district.admin)
    record(admin, district.feldsher_a, "BLS", "2025-01-01")
    again = admin.post("/certifications", json={"user_id": district.feldsher_a.id, "type": "BLS",
                                               "issued_on": "2025-01-01"})
    assert again.status_code == 409


def test_staff_see_only_their_own_and_never_the_coverage(login, district):
    admin = login(district.admin)
    record(admin, district.feldsher_a)
    record(admin, district.feldsher_b)
    own = login(district.feldsher_a).get("/certifications").get_json()
    assert own["total"] == 1 and own["items"][0]["user"]["id"] == district.feldsher_a.id
    assert login(district.feldsher_a).get("/me/certifications").get_json()["items"][0]["code"] == "BLS"
    for who in (district.feldsher_a, district.doctor):
        client = login(who)
        assert client.get("/reports/coverage").status_code == 403
        assert client.get("/exports/training.csv").status_code == 403
        assert client.post("/certifications", json={}).status_code == 403
        assert client.get(f"/users/{district.feldsher_b.id}").status_code == 404
        assert client.get(f"/users/{who.id}").status_code == 200


def test_admin_adds_a_type_with_required_professions(login, district):
    admin = login(district.admin)
    created = admin.post("/certification-types", json={"code": "NRP", "name": "Neonatal resuscitation",
                                                      "validity_months": 24,
                                                      "required_for": ["midwife"]})
    assert created.status_code == 201
    assert "NRP" in [t["code"] for t in admin.get("/certification-types").get_json()["items"]]
    assert admin.post("/certification-types", json={"code": "NRP", "name": "again",
                                                    "validity_months": 24}).status_code == 422
    assert admin.post("/certification-types", json={"code": "bad code", "name": "x",
                                                    "validity_months": 0}).status_code == 422


# ---------------------------------------------------------------------------- import

def csv_file(text):
    return io.BytesIO(text.encode())


def xlsx_file(rows):
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    return data


def upload(admin, data, name="roster.csv", dry_run=False):
    return admin.http.post(f"/api/v1/certifications/import{'?dry_run=1' if dry_run else ''}",
                           data={"file": (data, name)}, content_type="multipart/form-data",
                           headers={"X-CSRFToken": admin.csrf_token})


GOOD_CSV = ("username,type,issued_on,expires_on,issuer,number\n"
            "feldsher_a,BLS,2025-03-01,,Akmola training centre,B-1\n"
            "feldsher_b,bls,01.04.2025,,Akmola training centre,B-2\n"
            "doctor_g,CARDIO,2024-09-15,2029-09-15,National Cardiology Center,C-7\n")


def test_preview_then_import_then_reimport_changes_nothing(app, login, district):
    admin = login(district.admin)
    preview = upload(admin, csv_file(GOOD_CSV), dry_run=True)
    assert preview.status_code == 200
    assert preview.get_json()["created"] == 3 and preview.get_json()["imported"] is False
    assert admin.get("/certifications").get_json()["total"] == 0
    imported = upload(admin, csv_file(GOOD_CSV))
    assert imported.status_code == 201 and imported.get_json()["created"] == 3
    assert admin.get("/certifications").get_json()["total"] == 3
    before = row_counts(app)
    again = upload(admin, csv_file(GOOD_CSV))
    assert again.get_json()["created"] == 0 and again.get_json()["unchanged"] == 3
    assert row_counts(app) == before


def test_xlsx_roster_with_real_dates(login, district):
    admin = login(district.admin)
    rows = [["username", "type", "issued_on", "number"],
            ["feldsher_a", "BLS", date(2025, 5, 1), 1234],
            ["doctor_g", "ACLS", "2025-06-01", None]]
    response = upload(admin, xlsx_file(rows), "roster.xlsx")
    assert response.status_code == 201, response.get_json()
    numbers = {c["user"]["username"]: c["number"] for c in admin.get("/certifications").get_json()["items"]}
    assert numbers == {"feldsher_a": "1234", "doctor_g": None}


def test_bad_rows_are_named_and_nothing_is_imported(app, login, district):
    admin = login(district.admin)
    bad = ("username,type,issued_on,expires_on\n"
           "feldsher_a,BLS,2025-03-01,\n"           # 2: fine
           "ghost,BLS,2025-03-01,\n"                # 3: unknown user
           "feldsher_b,XYZ,2025-03-01,\n"           # 4: unknown type
           "doctor_g,BLS,2025-02-30,\n"             # 5: impossible date
           "doctor_h,BLS,2025-03-01,2024-01-01\n"   # 6: expiry before issue
           "feldsher_a,BLS,2025-03-01,\n"           # 7: duplicate of row 2
           ",BLS,2025-03-01,\n")                    # 8: missing username
    before = row_counts(app)
    response = upload(admin, csv_file(bad))
    assert response.status_code == 422
    errors = {e["row"]: e["fields"] for e in response.get_json()["errors"]}
    assert set(errors) == {3, 4, 5, 6, 7, 8}
    assert "username" in errors[3] and "type" in errors[4] and "issued_on" in errors[5]
    assert "expires_on" in errors[6] and "issued_on" in errors[7] and "username" in errors[8]
    assert response.get_json()["error"]["code"] == "validation_error"
    assert row_counts(app) == before


def test_a_nul_character_in_a_cell_names_its_row(app, login, district):
    admin = login(district.admin)
    before = row_counts(app)
    response = upload(admin, csv_file("username,type,issued_on\nfeldsher_a,BLS\u0000,2025-03-01\n"))
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"row": 2, "fields": {
        "type": ["Contains a NUL character, which no text may hold."]},
        "cells": {"username": "feldsher_a", "type": "BLS", "issued_on": "2025-03-01", "expires_on": "",
                  "issuer": "", "number": ""}}]
    assert row_counts(app) == before


def test_a_bad_row_reports_every_error_with_what_was_typed(login, district):
    admin = login(district.admin)
    response = upload(admin, csv_file("username,type,issued_on\nghost,XYZ,2025-02-30\n"), dry_run=True)
    assert response.status_code == 422
    (row,) = response.get_json()["errors"]
    # the impossible date (the schema's), and the unknown person and type (the database's), at once
    assert set(row["fields"]) == {"username", "type", "issued_on"}
    assert row["fields"]["username"] == ["No staff member with this username."]
    assert (row["cells"]["username"], row["cells"]["type"], row["cells"]["issued_on"]) == ("ghost", "XYZ", "2025-02-30")


def test_unreadable_files(login, district):
    admin = login(district.admin)
    assert upload(admin, csv_file("name,date\nx,y\n")).status_code == 422   # wrong header
    assert upload(admin, csv_file("")).status_code == 422
    assert upload(admin, io.BytesIO(b"PK\x03\x04garbage"), "x.xlsx").status_code == 422
    assert upload(admin, io.BytesIO("username,type,issued_on\n".encode("utf-16")), "x.csv").status_code == 422
    missing = admin.http.post("/api/v1/certifications/import", data={},
                              headers={"X-CSRFToken": admin.csrf_token})
    assert missing.status_code == 422
