"""The demo district of DESIGN.md: Tselinograd District, Akmola Region, with 492 active staff."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from telemed.db import utcnow, write_transaction
from telemed.extensions import db
from telemed.models import Certification, CertificationType, District, Facility, SpecialtyRequirement, User
from telemed.services.auth import hash_password
from telemed.services.certifications import add_months, ensure_standard_types

# The district pilot's published figure (shared/context/000_*.txt): 492 medical workers trained.
STAFF_BY_PROFESSION = {"nurse": 300, "feldsher": 70, "midwife": 40, "doctor": 64, "other": 18}
DEMO_PASSWORDS = {"admin": "demo-admin", "doctor": "demo-doctor", "feldsher": "demo-feldsher"}
DEMO_LOGINS = [
    ("admin", DEMO_PASSWORDS["admin"], "district administrator"),
    ("doctor1", DEMO_PASSWORDS["doctor"], "doctor, general"),
    ("doctor2", DEMO_PASSWORDS["doctor"], "doctor, general"),
    ("cardiologist1", DEMO_PASSWORDS["doctor"], "doctor, cardiology"),
    ("feldsher1", DEMO_PASSWORDS["feldsher"], "feldsher, Talapker post"),
    ("feldsher2", DEMO_PASSWORDS["feldsher"], "feldsher, Kyzylzhar post"),
]
# Accounts made only to fill the roster cannot log in until an admin sets a password:
# argon2 refuses this as a hash, so verification always fails.
NO_LOGIN = "!no-login"

HUB = ("Tselinograd District Hospital", "district_hospital", "Akmol")
FACILITIES = [
    HUB,
    ("Akmol Outpatient Clinic", "outpatient_clinic", "Akmol"),
    ("Kabanbay Batyr Outpatient Clinic", "outpatient_clinic", "Kabanbay Batyr"),
    ("Talapker Medical Post", "medical_post", "Talapker"),
    ("Kyzylzhar Medical Post", "medical_post", "Kyzylzhar"),
    ("Orazak Feldsher-Midwife Post", "fap", "Orazak"),
    ("Karamen Batyr Feldsher-Midwife Post", "fap", "Karamen Batyr"),
    ("Altynsarina Feldsher-Midwife Post", "fap", "Altynsarina"),
    ("Koyandy Medical Post", "medical_post", "Koyandy"),
    ("Rodina Feldsher-Midwife Post", "fap", "Rodina"),
    ("Arnasay Feldsher-Midwife Post", "fap", "Arnasay"),
    ("Zhibek Zholy Medical Post", "medical_post", "Zhibek Zholy"),
    ("Novoishimka Feldsher-Midwife Post", "fap", "Novoishimka"),
    ("Tastak Feldsher-Midwife Post", "fap", "Tastak"),
    ("Maybalyk Feldsher-Midwife Post", "fap", "Maybalyk"),
    ("Akzhar Feldsher-Midwife Post", "fap", "Akzhar"),
    ("Shubar Feldsher-Midwife Post", "fap", "Shubar"),
    ("Yrgyzbay Feldsher-Midwife Post", "fap", "Yrgyzbay"),
    ("Prirechnoye Feldsher-Midwife Post", "fap", "Prirechnoye"),
    ("Karaotkel Medical Post", "medical_post", "Karaotkel"),
]
HUB_KINDS = ("district_hospital", "outpatient_clinic")
# Doctors beyond the three fixed logins: specialties of a district hospital's roster.
DOCTOR_SPECIALTIES = (
    ["general"] * 30 + ["cardiology"] * 6 + ["pediatrics"] * 8 + ["obstetrics"] * 7
    + ["neurology"] * 3 + ["surgery"] * 5 + ["infectious"] * 2
)

FIRST_NAMES = {
    "female": ["Aigerim", "Aizhan", "Asel", "Dana", "Gulnara", "Zhanar", "Saule", "Madina",
               "Ainur", "Elena", "Olga", "Bibigul", "Aliya", "Dinara", "Kamila", "Symbat"],
    "male": ["Nurlan", "Yerlan", "Daulet", "Arman", "Serik", "Bauyrzhan", "Marat", "Askar",
             "Ruslan", "Timur", "Sergey", "Kairat", "Aibek", "Yerzhan", "Dmitry", "Almas"],
}
SURNAMES = ["Abenov", "Bekov", "Zhaksybekov", "Omarov", "Nurlanov", "Serikbayev", "Tokayev",
            "Sadykov", "Ibraimov", "Kassymov", "Mukanov", "Ospanov", "Akhmetov", "Baimukhanov",
            "Ivanov", "Kuznetsov", "Zhumabayev", "Esenov", "Karimov", "Temirov"]


@dataclass
class DemoResult:
    facilities: int
    staff: int


def _name(rng: random.Random, female: bool) -> str:
    first = rng.choice(FIRST_NAMES["female" if female else "male"])
    surname = rng.choice(SURNAMES)
    return f"{first} {surname}{'a' if female else ''}"


def load_demo_district(force: bool = False) -> DemoResult | None:
    """Create the demo district unless the database already has users; None when skipped."""
    if not force and db.session.scalar(select(func.count()).select_from(User)):
        return None
    rng = random.Random(2026)
    ensure_standard_types()
    with write_transaction(db.session) as session:
        district = District(name="Tselinograd District", region="Akmola Region")
        session.add(district)
        facilities = {}
        for name, kind, village in FACILITIES:
            facility = Facility(name=name, kind=kind, village=village, district=district)
            session.add(facility)
            facilities[name] = facility
        session.flush()
        hubs = [f for f in facilities.values() if f.kind in HUB_KINDS]
        posts = [f for f in facilities.values() if f.kind not in HUB_KINDS]
        hub = facilities[HUB[0]]
        doctor_hash = hash_password(DEMO_PASSWORDS["doctor"])
        feldsher_hash = hash_password(DEMO_PASSWORDS["feldsher"])
        session.add(User(username="admin", full_name="Saule Abenova (district administrator)",
                         role="admin", profession="other", facility_id=hub.id,
                         password_hash=hash_password(DEMO_PASSWORDS["admin"])))
        fixed = [
            ("doctor1", "Nurlan Omarov", "doctor", "doctor", hub, ["general"], doctor_hash),
            ("doctor2", "Aizhan Sadykova", "doctor", "doctor", hub, ["general"], doctor_hash),
            ("cardiologist1", "Marat Kassymov", "doctor", "doctor", hub, ["cardiology"],
             doctor_hash),
            ("feldsher1", "Gulnara Mukanova", "feldsher", "feldsher",
             facilities["Talapker Medical Post"], [], feldsher_hash),
            ("feldsher2", "Yerlan Ospanov", "feldsher", "feldsher",
             facilities["Kyzylzhar Medical Post"], [], feldsher_hash),
        ]
        for username, full_name, role, profession, facility, specialties, password_hash in fixed:
            session.add(User(username=username, full_name=full_name, role=role,
                             profession=profession, facility_id=facility.id,
                             specialties=specialties, password_hash=password_hash))
        remaining = dict(STAFF_BY_PROFESSION)
        remaining["doctor"] -= 3
        remaining["feldsher"] -= 2
        serial = 0
        for profession, count in remaining.items():
            for index in range(count):
                serial += 1
                female = profession in ("nurse", "midwife") or rng.random() < 0.55
                if profession == "doctor":
                    role, facility = "doctor", rng.choice(hubs)
                    specialties = [DOCTOR_SPECIALTIES[index % len(DOCTOR_SPECIALTIES)]]
                else:
                    role, specialties = "feldsher", []
                    facility = rng.choice(hubs) if profession == "nurse" and index % 3 == 0 else rng.choice(posts)
                session.add(User(
                    username=f"{profession}{serial:03d}", full_name=_name(rng, female), role=role,
                    profession=profession, facility_id=facility.id, specialties=specialties,
                    password_hash=NO_LOGIN,
                ))
        session.flush()
        _demo_certifications(session, rng, facilities)
    return DemoResult(facilities=len(FACILITIES), staff=sum(STAFF_BY_PROFESSION.values()))


# The pilot's published figures (shared/context/000_*.txt), held on this date.
FIGURES_ON = date(2026, 6, 1)
BLS_NURSES, BLS_DOCTORS, CARDIO_NURSES = 171, 52, 40
# Posts left with no valid BLS holder, so the dashboard has real gaps to show.
POSTS_WITHOUT_BLS = ("Shubar Feldsher-Midwife Post", "Yrgyzbay Feldsher-Midwife Post",
                     "Akzhar Feldsher-Midwife Post")


def _day_between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _demo_certifications(session, rng: random.Random, facilities: dict) -> None:
    """Records that reproduce the published figures on FIGURES_ON, plus lapsed and lapsing ones."""
    types = {t.code: t for t in session.scalars(select(CertificationType))}
    specialist = CertificationType(code="CARDSPEC", name="Cardiology specialist certificate",
                                   validity_months=60, required_for=[])
    session.add(specialist)
    session.flush()
    session.add(SpecialtyRequirement(specialty="cardiology", type_id=specialist.id))
    gap_posts = {facilities[name].id for name in POSTS_WITHOUT_BLS}
    staff = session.scalars(select(User).where(User.role != "admin").order_by(User.id)).all()
    by_profession: dict[str, list[User]] = {}
    for user in staff:
        by_profession.setdefault(user.profession, []).append(user)
    eligible = lambda people: [u for u in people if u.facility_id not in gap_posts]  # noqa: E731

    def certify(user, code, issued_on, serial, revoked=False):
        cert_type = types.get(code) or specialist
        session.add(Certification(
            user_id=user.id, type_id=cert_type.id, issued_on=issued_on,
            expires_on=add_months(issued_on, cert_type.validity_months),
            issuer="Akmola Region training centre" if code != "CARDIO" else "National Cardiology Center",
            number=f"{code}-{serial:05d}", revoked_at=utcnow() if revoked else None,
            revoked_reason="Issued in error" if revoked else None,
        ))

    # Valid, not even expiring, on FIGURES_ON: issued from 2024-09-05 on (24 months later is
    # more than 90 days after 2026-06-01). Those issued in autumn 2024 lapse in autumn 2026.
    valid_from, valid_to = date(2024, 9, 5), date(2025, 11, 30)
    nurses, doctors = eligible(by_profession["nurse"]), eligible(by_profession["doctor"])
    rng.shuffle(nurses)
    rng.shuffle(doctors)
    # Make sure the three fixed doctor logins are among the certified.
    fixed = [u for u in by_profession["doctor"] if u.username in ("doctor1", "doctor2", "cardiologist1")]
    doctors = fixed + [u for u in doctors if u not in fixed]
    serial = 0
    for user in nurses[:BLS_NURSES] + doctors[:BLS_DOCTORS]:
        serial += 1
        certify(user, "BLS", _day_between(rng, valid_from, valid_to), serial)
    # Lapsed: other nurses trained in 2022 (expired in 2024), two of them revoked.
    for index, user in enumerate(nurses[BLS_NURSES:BLS_NURSES + 30]):
        serial += 1
        certify(user, "BLS", _day_between(rng, date(2022, 1, 10), date(2022, 12, 20)), serial,
                revoked=index < 2)
    # Lapsing on FIGURES_ON: feldshers whose BLS ends in June to August 2026.
    feldshers = eligible(by_profession["feldsher"])
    rng.shuffle(feldshers)
    # The two feldsher logins hold a BLS valid today, so the demo opens without a lapse notice.
    fixed_feldshers = [u for u in feldshers if u.username in ("feldsher1", "feldsher2")]
    feldshers = [u for u in feldshers if u not in fixed_feldshers]
    for user in feldshers[:20]:
        serial += 1
        certify(user, "BLS", _day_between(rng, date(2024, 6, 2), date(2024, 8, 31)), serial)
    for user in fixed_feldshers:
        serial += 1
        certify(user, "BLS", _day_between(rng, date(2025, 9, 1), date(2025, 11, 30)), serial)
    for user in feldshers[20:43] + eligible(by_profession["midwife"])[:25]:
        serial += 1
        certify(user, "BLS", _day_between(rng, valid_from, valid_to), serial)
    # CARDIO: 40 nurses trained at the National Cardiology Center (valid 60 months).
    for user in nurses[:CARDIO_NURSES]:
        serial += 1
        certify(user, "CARDIO", _day_between(rng, date(2023, 3, 1), date(2025, 10, 31)), serial)
    # Cardiologists hold the specialist certificate that cardiology requests require.
    for user in by_profession["doctor"]:
        if "cardiology" in (user.specialties or ()):
            serial += 1
            certify(user, "CARDSPEC", _day_between(rng, date(2023, 1, 9), date(2025, 6, 30)), serial)
