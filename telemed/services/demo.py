"""The demo district of DESIGN.md: Tselinograd District, Akmola Region, with 492 active staff."""
from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select

from telemed.db import write_transaction
from telemed.extensions import db
from telemed.models import District, Facility, User
from telemed.services.auth import hash_password

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
    return DemoResult(facilities=len(FACILITIES), staff=sum(STAFF_BY_PROFESSION.values()))
