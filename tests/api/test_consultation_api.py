"""The consultation lifecycle over HTTP: create, scope, claim, chat, close, cancel, release."""
import uuid

import pytest

from tests.helpers import close_body, consultation_body, row_counts


def create(client, **overrides):
    response = client.post("/consultations", json=consultation_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_feldsher_creates_a_request_for_her_own_post(login, district):
    feldsher = login(district.feldsher_a)
    created = create(feldsher)
    assert created["status"] == "waiting"
    assert created["facility"] == {"id": district.post_a.id, "name": "Post A"}
    assert created["requester"]["id"] == district.feldsher_a.id
    assert created["requester"]["profession"] == "feldsher"
    assert created["priority"] == created["effective_priority"] == "urgent"
    assert created["queue_position"] == 1
    assert created["created_at"].endswith("Z")
    detail = feldsher.get(f"/consultations/{created['id']}").get_json()
    assert [e["kind"] for e in detail["events"]] == ["created"]
    assert detail["events"][0]["actor"]["id"] == district.feldsher_a.id


def test_same_client_key_returns_the_stored_request_and_writes_nothing(app, login, district):
    feldsher = login(district.feldsher_a)
    body = consultation_body()
    first = feldsher.post("/consultations", json=body)
    before = row_counts(app)
    again = feldsher.post("/consultations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert row_counts(app) == before


def test_queue_orders_by_effective_priority_then_age(login, district):
    feldsher = login(district.feldsher_a)
    routine = create(feldsher, priority="routine")
    urgent = create(feldsher, priority="urgent")
    emergency = create(feldsher, priority="emergency")
    urgent_later = create(feldsher, priority="urgent")
    queue = login(district.doctor).get("/queue").get_json()
    assert [c["id"] for c in queue["waiting"]] == [
        emergency["id"], urgent["id"], urgent_later["id"], routine["id"]
    ]
    assert [c["queue_position"] for c in queue["waiting"]] == [1, 2, 3, 4]


def test_scope_posts_see_only_their_own_and_others_get_404(login, district):
    mine = create(login(district.feldsher_a))
    other_post = login(district.feldsher_b)
    assert other_post.get(f"/consultations/{mine['id']}").status_code == 404
    assert other_post.get("/consultations").get_json() == {"items": [], "total": 0}
    # a cardiology request is not even visible to a general doctor
    cardiology = create(login(district.feldsher_a), specialty="cardiology")
    general = login(district.doctor)
    assert general.get(f"/consultations/{cardiology['id']}").status_code == 404
    assert login(district.cardiologist).get(f"/consultations/{cardiology['id']}").status_code == 200
    admin_list = login(district.admin).get("/consultations").get_json()
    assert admin_list["total"] == 2


def test_full_flow_claim_chat_close(login, district):
    feldsher = login(district.feldsher_a)
    doctor = login(district.doctor)
    created = create(feldsher)
    accepted = doctor.post(f"/consultations/{created['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.get_json()["status"] == "active"
    assert accepted.get_json()["doctor"]["id"] == district.doctor.id
    assert accepted.get_json()["queue_position"] is None

    key = str(uuid.uuid4())
    sent = feldsher.post(f"/consultations/{created['id']}/messages",
                         json={"body": "BP now 160/95", "client_key": key})
    assert sent.status_code == 201
    repeat = feldsher.post(f"/consultations/{created['id']}/messages",
                           json={"body": "BP now 160/95", "client_key": key})
    assert repeat.status_code == 200 and repeat.get_json()["id"] == sent.get_json()["id"]
    reply = doctor.post(f"/consultations/{created['id']}/messages",
                        json={"body": "Give aspirin 300 mg", "client_key": str(uuid.uuid4())})
    assert reply.status_code == 201
    chat = feldsher.get(f"/consultations/{created['id']}/messages").get_json()
    assert [m["body"] for m in chat["items"]] == ["BP now 160/95", "Give aspirin 300 mg"]
    assert chat["items"][1]["sender"] == {"id": district.doctor.id, "full_name": "Doctor_G",
                                          "role": "doctor"}

    closed = doctor.post(f"/consultations/{created['id']}/close",
                         json=close_body(icd10=["i20.0", "R07.4"], follow_up_on=None))
    assert closed.status_code == 200, closed.get_json()
    outcome = feldsher.get(f"/consultations/{created['id']}").get_json()
    assert outcome["status"] == "closed" and outcome["closed_at"]
    assert outcome["outcome"]["disposition"] == "referred_urgent"
    assert outcome["outcome"]["icd10"] == ["I20.0", "R07.4"]
    assert [e["kind"] for e in outcome["events"]] == ["created", "accepted", "closed"]
    # the chat closes with the consultation
    late = feldsher.post(f"/consultations/{created['id']}/messages",
                         json={"body": "thanks", "client_key": str(uuid.uuid4())})
    assert late.status_code == 409


def test_second_claim_gets_conflict(login, district):
    created = create(login(district.feldsher_a))
    assert login(district.doctor).post(f"/consultations/{created['id']}/accept").status_code == 200
    second = login(district.doctor2).post(f"/consultations/{created['id']}/accept")
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "conflict"


def test_ineligible_doctor_cannot_claim_a_specialty_request(app, login, district):
    created = create(login(district.feldsher_a), specialty="cardiology")
    before = row_counts(app)
    refused = login(district.doctor).post(f"/consultations/{created['id']}/accept")
    assert refused.status_code == 404  # outside their scope: as if it did not exist
    assert refused.get_json()["error"]["code"] == "not_found"
    assert row_counts(app) == before


def test_capacity_is_enforced(app, login, district):
    app.config["TELEMED"].max_active_per_doctor = 2
    try:
        feldsher, doctor = login(district.feldsher_a), login(district.doctor)
        ids = [create(feldsher)["id"] for _ in range(3)]
        assert [doctor.post(f"/consultations/{i}/accept").status_code for i in ids[:2]] == [200, 200]
        third = doctor.post(f"/consultations/{ids[2]}/accept")
        assert third.status_code == 409
        assert third.get_json()["error"]["code"] == "at_capacity"
        assert feldsher.get(f"/consultations/{ids[2]}").get_json()["status"] == "waiting"
    finally:
        app.config["TELEMED"].max_active_per_doctor = 3


def test_cancel_only_while_waiting_and_only_by_own_post(login, district):
    feldsher = login(district.feldsher_a)
    created = create(feldsher)
    assert login(district.feldsher_b).post(f"/consultations/{created['id']}/cancel",
                                           json={}).status_code == 404
    cancelled = feldsher.post(f"/consultations/{created['id']}/cancel",
                              json={"reason": "Patient went to the city"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled" and cancelled.get_json()["cancelled_at"]
    assert feldsher.post(f"/consultations/{created['id']}/cancel", json={}).status_code == 409
    claim = login(district.doctor).post(f"/consultations/{created['id']}/accept")
    assert claim.status_code == 409


def test_release_and_transfer_return_to_the_queue(login, district):
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    created = create(feldsher)
    doctor.post(f"/consultations/{created['id']}/accept")
    assert login(district.doctor2).post(f"/consultations/{created['id']}/release",
                                        json={}).status_code in (404, 409)
    released = doctor.post(f"/consultations/{created['id']}/release", json={"reason": "Called away"})
    assert released.get_json()["status"] == "waiting"
    assert released.get_json()["doctor"] is None
    doctor.post(f"/consultations/{created['id']}/accept")
    same = doctor.post(f"/consultations/{created['id']}/transfer",
                       json={"specialty": "general", "reason": "x"})
    assert same.status_code == 422
    moved = doctor.post(f"/consultations/{created['id']}/transfer",
                        json={"specialty": "cardiology", "reason": "ECG shows ST elevation"})
    assert moved.status_code == 200
    assert moved.get_json()["specialty"] == "cardiology"
    events = feldsher.get(f"/consultations/{created['id']}").get_json()["events"]
    assert [e["kind"] for e in events] == ["created", "accepted", "released", "accepted",
                                           "transferred"]
    assert events[2]["payload"]["reason"] == "Called away"
    assert login(district.cardiologist).post(
        f"/consultations/{created['id']}/accept").status_code == 200


def test_only_the_assigned_doctor_closes(login, district):
    created = create(login(district.feldsher_a))
    login(district.doctor).post(f"/consultations/{created['id']}/accept")
    other = login(district.doctor2).post(f"/consultations/{created['id']}/close", json=close_body())
    assert other.status_code in (404, 409)


@pytest.mark.parametrize("role_attr, method, path, body", [
    ("doctor", "post", "/consultations", consultation_body()),
    ("admin", "post", "/consultations", consultation_body()),
    ("feldsher_a", "get", "/queue", None),
    ("feldsher_a", "put", "/presence", {"status": "away"}),
])
def test_wrong_role_is_403_and_writes_nothing(app, login, district, role_attr, method, path, body):
    client = login(getattr(district, role_attr))
    before = row_counts(app)
    response = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert row_counts(app) == before


def test_list_filters_and_paging(login, district):
    feldsher = login(district.feldsher_a)
    ids = [create(feldsher)["id"] for _ in range(5)]
    feldsher.post(f"/consultations/{ids[0]}/cancel", json={})
    page = feldsher.get("/consultations?limit=2&offset=1").get_json()
    assert page["total"] == 5
    assert [c["id"] for c in page["items"]] == [ids[3], ids[2]]  # newest first
    waiting = feldsher.get("/consultations?status=waiting").get_json()
    assert waiting["total"] == 4
    bad = feldsher.get("/consultations?limit=501")
    assert bad.status_code == 422 and "limit" in bad.get_json()["error"]["fields"]
    reversed_range = feldsher.get("/consultations?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
    assert reversed_range.status_code == 422


def test_unknown_specialty_or_presence_is_422_and_writes_nothing(app, login, district):
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    created = create(feldsher)
    doctor.post(f"/consultations/{created['id']}/accept")
    before = row_counts(app)
    bad_transfer = doctor.post(f"/consultations/{created['id']}/transfer",
                               json={"specialty": "dermatology", "reason": "skin"})
    assert bad_transfer.status_code == 422
    assert "specialty" in bad_transfer.get_json()["error"]["fields"]
    no_reason = doctor.post(f"/consultations/{created['id']}/transfer", json={"specialty": "surgery"})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["fields"]
    bad_presence = doctor.put("/presence", json={"status": "offline"})  # offline is not chosen
    assert bad_presence.status_code == 422
    assert row_counts(app) == before
    assert doctor.put("/presence", json={"status": "away"}).get_json() == {
        "user_id": district.doctor.id, "status": "offline"}  # away is kept, shown once connected
