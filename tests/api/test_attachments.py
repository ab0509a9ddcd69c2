"""ECG photos and PDFs in the chat: checked by content, at most 5 MB, for participants only."""
import io
import uuid

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from telemed.extensions import socketio
from tests.helpers import consultation_body, jpeg_bytes, png_bytes, row_counts

JPEG = jpeg_bytes()
PNG = png_bytes()
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture
def active(login, district):
    """An active consultation of post A held by the general doctor, and both clients."""
    feldsher, doctor = login(district.feldsher_a), login(district.doctor)
    created = feldsher.post("/consultations", json=consultation_body()).get_json()
    doctor.post(f"/consultations/{created['id']}/accept")
    return created["id"], feldsher, doctor


def upload(client, consultation_id, data, filename="ecg.jpg", content_type="image/jpeg",
           client_key=None, **form):
    fields = {"file": (io.BytesIO(data), filename, content_type),
              "client_key": client_key or str(uuid.uuid4()), **form}
    return client.http.post(f"/api/v1/consultations/{consultation_id}/attachments", data=fields,
                            content_type="multipart/form-data",
                            headers={"X-CSRFToken": client.csrf_token})


def stored_files(settings):
    folder = settings.instance_path / "attachments"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_upload_shows_in_chat_and_participants_fetch_it(app, login, district, active):
    consultation_id, feldsher, doctor = active
    doctor_sock = socketio.test_client(app, flask_test_client=doctor.http)
    doctor_sock.get_received()
    response = upload(feldsher, consultation_id, JPEG, body="12-lead ECG")
    assert response.status_code == 201, response.get_json()
    message = response.get_json()
    assert message["body"] == "12-lead ECG"
    assert message["attachment"]["content_type"] == "image/jpeg"
    pushed = [e["args"][0] for e in doctor_sock.get_received() if e["name"] == "message:new"]
    assert pushed[0]["attachment"]["id"] == message["attachment"]["id"]
    doctor_sock.disconnect()

    url = message["attachment"]["url"]
    fetched = doctor.http.get(url)
    assert fetched.status_code == 200 and fetched.data[:3] == b"\xff\xd8\xff"
    assert message["attachment"]["size_bytes"] == len(fetched.data)
    assert fetched.headers["Content-Type"] == "image/jpeg"
    assert fetched.headers["X-Content-Type-Options"] == "nosniff"
    assert login(district.admin).http.get(url).status_code == 200
    assert login(district.feldsher_b).http.get(url).status_code == 404
    assert login(district.doctor2).http.get(url).status_code == 404
    chat = feldsher.get(f"/consultations/{consultation_id}/messages").get_json()["items"]
    assert chat[0]["attachment"]["url"] == url


def test_png_and_pdf_are_accepted_and_a_retry_stores_once(app, settings, active):
    consultation_id, feldsher, doctor = active
    assert upload(doctor, consultation_id, PNG, "photo.png", "image/png").status_code == 201
    key = str(uuid.uuid4())
    first = upload(feldsher, consultation_id, PDF, "discharge.pdf", "application/pdf", client_key=key)
    before = (row_counts(app), stored_files(settings))
    again = upload(feldsher, consultation_id, PDF, "discharge.pdf", "application/pdf", client_key=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert (row_counts(app), stored_files(settings)) == before
    pdf = feldsher.http.get(first.get_json()["attachment"]["url"])
    assert pdf.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("data, filename, content_type, status, field", [
    (PDF, "ecg.png", "image/png", 422, "file"),            # not what it claims
    (b"MZ\x90\x00 not an image", "ecg.jpg", "image/jpeg", 422, "file"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", "image/svg+xml", 422, "file"),
    (b"", "empty.jpg", "image/jpeg", 422, "file"),
    (JPEG[: len(JPEG) // 2], "cut.jpg", "image/jpeg", 422, "file"),   # damaged in transit
    (PNG[:40], "cut.png", "image/png", 422, "file"),
    (JPEG[:3] + b"\x00" * (5 * 1024 * 1024), "big.jpg", "image/jpeg", 413, None),
])
def test_bad_files_are_refused_and_nothing_is_stored(app, settings, active, data, filename,
                                                     content_type, status, field):
    consultation_id, feldsher, _ = active
    before = (row_counts(app), stored_files(settings))
    response = upload(feldsher, consultation_id, data, filename, content_type)
    assert response.status_code == status
    if field:
        assert field in response.get_json()["error"]["fields"]
    assert (row_counts(app), stored_files(settings)) == before


def test_missing_file_or_key_and_outsiders(app, login, district, active):
    consultation_id, feldsher, _ = active
    no_file = feldsher.http.post(f"/api/v1/consultations/{consultation_id}/attachments",
                                 data={"client_key": str(uuid.uuid4())},
                                 headers={"X-CSRFToken": feldsher.csrf_token})
    assert no_file.status_code == 422 and "file" in no_file.get_json()["error"]["fields"]
    no_key = feldsher.http.post(f"/api/v1/consultations/{consultation_id}/attachments",
                                data={"file": (io.BytesIO(JPEG), "a.jpg", "image/jpeg")},
                                headers={"X-CSRFToken": feldsher.csrf_token})
    assert no_key.status_code == 422 and "client_key" in no_key.get_json()["error"]["fields"]
    assert upload(login(district.feldsher_b), consultation_id, JPEG).status_code == 404
    assert upload(login(district.doctor2), consultation_id, JPEG).status_code in (403, 404)


@pytest.mark.parametrize("size", [3 * 1024 * 1024, int(4.9 * 1024 * 1024)])
def test_photos_up_to_the_documented_5_mb_are_taken(active, size):
    consultation_id, feldsher, doctor = active
    width, height = 1600, size // (2 * 1600)  # a real photo of about half the size, then padding
    photo = jpeg_bytes(width, height, pad_to=size)
    answer = upload(feldsher, consultation_id, photo)
    assert answer.status_code == 201, answer.get_json()
    stored = doctor.http.get(answer.get_json()["attachment"]["url"]).data
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (width, height)


def test_photos_are_stored_upright_and_without_their_exif(active):
    consultation_id, feldsher, doctor = active
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the phone was held sideways: turn 90 degrees clockwise
    exif[ExifTags.Base.Model] = "VillagePhone X1"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (43.0, 15.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (76.0, 57.0, 0.0)
    photo = jpeg_bytes(80, 40, exif=exif)
    with Image.open(io.BytesIO(photo)) as sent:  # the test photo really carries a position
        assert sent.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (43, 15, 30)
    answer = upload(feldsher, consultation_id, photo)
    assert answer.status_code == 201, answer.get_json()
    stored = doctor.http.get(answer.get_json()["attachment"]["url"]).data
    assert b"Exif" not in stored and b"VillagePhone" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (40, 80)
        assert not image.getexif()

    note = PngImagePlugin.PngInfo()
    note.add_text("Location", "Village Alpha, house 12")
    picture = io.BytesIO()
    Image.linear_gradient("L").save(picture, "PNG", pnginfo=note)
    answer = upload(feldsher, consultation_id, picture.getvalue(), "scan.png", "image/png")
    assert answer.status_code == 201, answer.get_json()
    stored = doctor.http.get(answer.get_json()["attachment"]["url"]).data
    assert b"Village Alpha" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (256, 256)


def test_a_picture_of_too_many_pixels_is_refused_before_it_is_decoded(app, settings, active):
    consultation_id, feldsher, _doctor = active
    bomb = io.BytesIO()
    Image.new("1", (10_000, 6_000)).save(bomb, "PNG")  # 60 megapixels in a few kilobytes
    before = (row_counts(app), stored_files(settings))
    answer = upload(feldsher, consultation_id, bomb.getvalue(), "bomb.png", "image/png")
    assert answer.status_code == 422
    assert "megapixels" in answer.get_json()["error"]["message"]
    assert (row_counts(app), stored_files(settings)) == before


def test_a_body_over_the_limit_is_a_413_in_the_error_shape(app, active):
    consultation_id, feldsher, _doctor = active
    before = row_counts(app)
    answer = upload(feldsher, consultation_id, JPEG + b"\x00" * (6 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "payload_too_large"
    # Everywhere else the limit stays at 1 MiB.
    big = feldsher.post("/consultations", json=consultation_body(complaint="x" * (1024 * 1024 + 10)))
    assert big.status_code == 413
    assert row_counts(app) == before


def test_no_database_connection_is_held_while_a_photo_is_re_encoded(app, active, monkeypatch):
    """Re-encoding runs off the event loop for tens of milliseconds; the pool is small and fixed,
    so the upload gives its connection back first (other requests would wait for it)."""
    from telemed.extensions import db
    from telemed.services import attachments

    consultation_id, feldsher, _doctor = active
    held = []
    re_encode = attachments.without_metadata

    def watched(data, content_type):
        held.append(db.session().in_transaction())
        return re_encode(data, content_type)

    monkeypatch.setattr(attachments, "without_metadata", watched)
    assert upload(feldsher, consultation_id, JPEG).status_code == 201
    assert held == [False]
