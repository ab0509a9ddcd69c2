"""Every client event has a rule: the roles that may send it, and 404 outside the sender's scope.

Walks the events registered on the Socket.IO server, so an event added without saying who may
send it fails here, as a route without roles fails tests/api/test_route_policy.py.
"""
import uuid

import pytest

from telemed.extensions import socketio
from telemed.realtime.handlers import CLIENT_EVENTS
from tests.helpers import consultation_body, row_counts

LIFECYCLE = {"connect", "disconnect"}
# Outside the consultation's scope in each role: another post's feldsher, a doctor it was never
# offered to. An administrator's scope is everything.
OUTSIDERS = {"feldsher": "feldsher_b", "doctor": "doctor2", "admin": "admin"}


@pytest.fixture
def held(login, district):
    """A cardiology consultation of post A, held by the cardiologist."""
    created = login(district.feldsher_a).post(
        "/consultations", json=consultation_body(specialty="cardiology")).get_json()
    assert login(district.cardiologist).post(f"/consultations/{created['id']}/accept").status_code == 200
    return created["id"]


def _payload(event: str, consultation_id: str) -> dict:
    """A payload each event would accept from someone in scope, so only role or scope refuse it."""
    return {
        "consultation:accept": {"id": consultation_id},
        "message:send": {"consultation_id": consultation_id, "body": "BP 140/85 now",
                         "client_key": str(uuid.uuid4())},
        "presence:set": {"status": "away"},
        "queue:sync": {},
    }[event]


def test_every_registered_client_event_declares_its_roles(app):
    registered = set(socketio.server.handlers["/"]) - LIFECYCLE
    assert registered == set(CLIENT_EVENTS)
    for event, roles in CLIENT_EVENTS.items():
        assert roles and set(roles) <= {"feldsher", "doctor", "admin"}, event


@pytest.mark.parametrize("role", sorted(OUTSIDERS))
def test_each_event_answers_forbidden_to_other_roles_and_not_found_outside_scope(
        app, login, district, held, role):
    sender = getattr(district, OUTSIDERS[role])
    sock = socketio.test_client(app, flask_test_client=login(sender).http)
    assert sock.is_connected()
    for event, roles in sorted(CLIENT_EVENTS.items()):
        payload = _payload(event, held)
        before = row_counts(app)
        answer = sock.emit(event, payload, callback=True)
        targets_consultation = any(key in payload for key in ("id", "consultation_id"))
        if role not in roles:
            assert answer["error"]["code"] == "forbidden", (role, event, answer)
        elif targets_consultation and role != "admin":
            assert answer["error"]["code"] == "not_found", (role, event, answer)
        else:
            assert answer["ok"] is True, (role, event, answer)
            continue
        assert answer["ok"] is False
        assert row_counts(app) == before, (role, event)
    sock.disconnect()
