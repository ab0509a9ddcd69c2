"""Helpers shared by test modules (fixtures live in conftest.py, plain functions here)."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta

import sqlalchemy as sa
from PIL import Image

IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct horse battery staple"


def run_own_app(script: str, instance_path) -> subprocess.CompletedProcess:
    """Run `script` (which builds an app of its own with `create_app`) in a subprocess, since a
    second app in the suite's process would rebind Socket.IO; it must exit 0."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={"TELEMED_INSTANCE_PATH": str(instance_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-1500:]
    return result


def add_waiting_requests(app, requester, facilities, count: int, priority: str = "routine",
                         age_s: int = 600) -> list[uuid.UUID]:
    """Put `count` waiting requests straight into the database (one INSERT), spread over the
    facilities and queued `age_s` seconds ago, oldest first: a long queue without the HTTP cost."""
    from telemed.db import utcnow
    from telemed.extensions import db
    from telemed.models import Consultation

    start = utcnow() - timedelta(seconds=age_s)
    rows = [dict(
        id=uuid.uuid4(), client_key=uuid.uuid4(), facility_id=facilities[i % len(facilities)].id,
        requester_id=requester.id, patient_age_years=40, patient_sex="female",
        complaint=f"bulk request {i}", vitals={}, priority=priority, effective_priority=priority,
        specialty="general", status="waiting", escalation_level=0,
        created_at=start + timedelta(milliseconds=i), queued_at=start + timedelta(milliseconds=i),
        updated_at=start,
    ) for i in range(count)]
    with app.app_context():
        db.session.execute(sa.insert(Consultation), rows)
        db.session.commit()
        db.session.remove()
    return [row["id"] for row in rows]


def add_facilities(app, district, count: int) -> list:
    """`count` more village posts in the test district."""
    from telemed.extensions import db
    from telemed.models import Facility

    with app.app_context():
        posts = [Facility(name=f"Post {i}", kind="fap", village=f"Village {i}",
                          district_id=district.post_a.district_id) for i in range(count)]
        db.session.add_all(posts)
        db.session.commit()
        for post in posts:
            db.session.refresh(post)
        db.session.expunge_all()
        return posts


@contextmanager
def recording_statements(app):
    """The SQL statements sent while the block runs, in order: `with ... as sent: ...; len(sent)`."""
    from telemed.extensions import db

    sent: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@contextmanager
def counting_emits(monkeypatch):
    """Record every Socket.IO emit while the block runs, as (event, rooms) pairs."""
    from telemed.extensions import socketio

    emitted: list[tuple[str, object]] = []
    original = socketio.emit

    def emit(event, *args, **kwargs):
        emitted.append((event, kwargs.get("to")))
        return original(event, *args, **kwargs)

    monkeypatch.setattr(socketio, "emit", emit)
    yield emitted
    monkeypatch.setattr(socketio, "emit", original)


def add_doctors(app, district, password_hash, count: int, prefix: str = "racer"
                ) -> list[tuple[int, str]]:
    """`count` general doctors at the hub, all eligible for the same requests: [(id, username)]."""
    from telemed.extensions import db
    from telemed.models import User

    with app.app_context():
        doctors = [User(username=f"{prefix}{i:02d}", full_name=f"{prefix.title()} {i}", role="doctor",
                        profession="doctor", facility_id=district.hub.id, specialties=["general"],
                        password_hash=password_hash) for i in range(count)]
        db.session.add_all(doctors)
        db.session.commit()
        racers = [(d.id, d.username) for d in doctors]
        db.session.remove()
        return racers


def race(callables):
    """Run every callable at the same instant (a barrier) and collect the results."""
    barrier = threading.Barrier(len(callables))

    def run(fn):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(max_workers=len(callables)) as pool:
        return list(pool.map(run, callables))


def claim_outcome(app, consultation_id) -> tuple[str, int | None, int]:
    """(status, doctor_id, number of `accepted` events) of a consultation after a race."""
    from telemed.extensions import db
    from telemed.models import Consultation, ConsultationEvent

    with app.app_context():
        consultation = db.session.get(Consultation, uuid.UUID(str(consultation_id)))
        accepted = db.session.scalar(sa.select(sa.func.count()).select_from(ConsultationEvent).where(
            ConsultationEvent.consultation_id == consultation.id, ConsultationEvent.kind == "accepted"))
        outcome = (consultation.status, consultation.doctor_id, accepted)
        db.session.remove()
        return outcome


class ApiClient:
    """A Flask test client logged in through the API, sending the CSRF header on unsafe calls."""

    def __init__(self, app, username: str | None = None):
        self.http = app.test_client()
        self.csrf_token = None
        if username is not None:
            response = self.http.post("/api/v1/session",
                                      json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.get_json()
            self.csrf_token = response.get_json()["csrf_token"]

    def _headers(self, extra=None):
        headers = {"X-CSRFToken": self.csrf_token} if self.csrf_token else {}
        headers.update(extra or {})
        return headers

    def get(self, path, **kwargs):
        return self.http.get(f"/api/v1{path}", **kwargs)

    def post(self, path, json=None, headers=None, **kwargs):
        return self.http.post(f"/api/v1{path}", json=json, headers=self._headers(headers), **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.http.put(f"/api/v1{path}", json=json, headers=self._headers(), **kwargs)

    def delete(self, path, **kwargs):
        return self.http.delete(f"/api/v1{path}", headers=self._headers(), **kwargs)


def consultation_body(**overrides) -> dict:
    """A valid creation body; keyword arguments replace top-level fields."""
    body = {
        "client_key": str(uuid.uuid4()),
        "patient": {"age_years": 54, "sex": "male"},
        "complaint": "Pressing chest pain for 30 minutes, sweating",
        "vitals": {"sbp": 150, "dbp": 90, "hr": 104, "rr": 20, "spo2": 96, "temp_c": 36.8},
        "priority": "urgent",
        "specialty": "general",
    }
    body.update(overrides)
    return body


def close_body(**overrides) -> dict:
    body = {"disposition": "referred_urgent", "icd10": ["I20.0"],
            "recommendation": "Aspirin 300 mg chewed; ambulance to the district hospital."}
    body.update(overrides)
    return body


def row_counts(app) -> dict:
    """Rows per table: to assert that a refused request wrote nothing."""
    from telemed.extensions import db

    with app.app_context():
        return {
            table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            # The audit trail and the logins record every request and login by design.
            for table in db.metadata.sorted_tables if table.name not in ("audit_log", "logins")
        }


FAST_SETTINGS = {
    "TELEMED_ESCALATION_EMERGENCY_S": "3",
    "TELEMED_ESCALATION_URGENT_S": "4",
    "TELEMED_ESCALATION_ROUTINE_S": "5",
    "TELEMED_DOCTOR_GRACE_S": "3",
    "TELEMED_SWEEP_INTERVAL_S": "1",
    "TELEMED_CONNECTION_STALE_S": "3",
}


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A real PNG picture: a grey gradient."""
    image = Image.linear_gradient("L").resize((width, height))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, exif=None, pad_to: int | None = None) -> bytes:
    """A real JPEG photo of noise (which compresses badly, like a photo), with this EXIF; padded
    to `pad_to` bytes after its end marker, as some phones append data a decoder skips."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **({"exif": exif} if exif is not None else {}))
    data = buffer.getvalue()
    if pad_to is not None:
        assert len(data) <= pad_to, (len(data), pad_to)
        data += b"\x00" * (pad_to - len(data))
    return data


def page_csrf_token(http, path: str = "/login") -> str:
    """The CSRF token a page's form carries, for posting that form as a browser would."""
    page = http.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def make_iin(born: date, sex: str, serial: str = "0001") -> str:
    """A valid IIN for a birth date and sex (checksum included)."""
    from telemed.services.clinical_codes import iin_check_digit

    century_digit = {1800: 1, 1900: 3, 2000: 5}[born.year // 100 * 100] + (sex == "female")
    first = f"{born:%y%m%d}{century_digit}{serial}"
    for tweak in range(10):  # a handful of serials have no valid check digit
        candidate = first[:-1] + str((int(first[-1]) + tweak) % 10)
        digit = iin_check_digit(candidate)
        if digit is not None:
            return candidate + str(digit)
    raise AssertionError("no valid serial")
