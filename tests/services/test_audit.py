"""Administrators see who opened or changed each consultation, filter it and export it."""
import csv
import io

from tests.helpers import consultation_body


def test_audit_trail_of_a_consultation(login, district):
    post = login(district.feldsher_a)
    created = post.post("/consultations", json=consultation_body()).get_json()
    post.get(f"/consultations/{created['id']}")
    login(district.doctor).get(f"/consultations/{created['id']}")
    login(district.feldsher_b).get(f"/consultations/{created['id']}")  # refused, audited
    admin = login(district.admin)
    reads = admin.get(f"/audit?object_type=consultation&object_id={created['id']}").get_json()
    assert reads["total"] == 2
    assert {item["actor"] for item in reads["items"]} == {"Feldsher_A", "Doctor_G"}
    refused = admin.get("/audit?action=access_refused").get_json()["items"]
    assert refused[0]["actor_id"] == district.feldsher_b.id
    logins = admin.get(f"/audit?action=login&actor_id={district.doctor.id}").get_json()
    assert logins["total"] == 1
    exported = admin.get(f"/exports/audit.csv?object_id={created['id']}")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [r["action"] for r in rows] == ["consultation_read", "consultation_read"]
    assert admin.get("/audit?limit=0").status_code == 422
    assert admin.get("/audit?from=2026-12-01&to=2026-11-01").status_code == 422
    assert login(district.doctor).get("/audit").status_code == 403


def test_the_audit_trail_is_filtered_by_words_of_the_detail(login, district):
    post = login(district.feldsher_a)
    created = post.post("/consultations", json=consultation_body()).get_json()
    login(district.feldsher_b).get(f"/consultations/{created['id']}")  # refused: the path is in the detail
    login(district.feldsher_b).get("/consultations/not-a-uuid")         # no route: not audited
    admin = login(district.admin)
    found = admin.get(f"/audit?detail={created['id'][:13].upper()}").get_json()  # any case
    assert [(e["action"], e["detail"]["code"]) for e in found["items"]] == [("access_refused", "not_found")]
    assert found["items"][0]["detail"]["where"].endswith(created["id"])
    assert admin.get("/audit?detail=100%25_sure").get_json()["total"] == 0  # % and _ are letters here
    assert admin.get(f"/audit?detail={'x' * 101}").status_code == 422
