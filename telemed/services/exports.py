"""Exports of consultations: CSV (one row a consultation) and a FHIR R4 Bundle, both streamed.

Rows are read in batches (`yield_per`) and written as they come, so a long range never has to fit
in memory; they are read on a connection outside the pool, which a slow download would otherwise
hold. Patient IINs are not exported (docs/reports.md).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from telemed.db import rows_read_apart, utcnow
from telemed.extensions import db
from telemed.models import Consultation, ConsultationEvent, Facility, Outcome, User
from telemed.services import csv_export
from telemed.services.clinical_codes import icd10_title

CSV_COLUMNS = [
    "id", "created_at", "facility_id", "facility", "requester", "requester_profession",
    "priority", "effective_priority", "specialty", "status", "escalation_level", "news2",
    "patient_age_years", "patient_age_months", "patient_sex", "doctor", "accepted_at",
    "time_to_accept_s", "closed_at", "cancelled_at", "disposition", "icd10", "follow_up_on",
]
BATCH = 1000


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def _rows(start: datetime, end: datetime, facility_id: int | None):
    requester, doctor = aliased(User), aliased(User)
    first = (select(ConsultationEvent.consultation_id,
                    func.min(ConsultationEvent.created_at).label("accepted_at"))
             .where(ConsultationEvent.kind == "accepted")
             .group_by(ConsultationEvent.consultation_id).subquery())
    conditions = [Consultation.created_at >= start, Consultation.created_at < end]
    if facility_id is not None:
        conditions.append(Consultation.facility_id == facility_id)
    query = (select(Consultation, Facility, requester, doctor, Outcome, first.c.accepted_at)
             .join(Facility, Facility.id == Consultation.facility_id)
             .join(requester, requester.id == Consultation.requester_id)
             .outerjoin(doctor, doctor.id == Consultation.doctor_id)
             .outerjoin(Outcome, Outcome.consultation_id == Consultation.id)
             .outerjoin(first, first.c.consultation_id == Consultation.id)
             .where(*conditions)
             .order_by(Consultation.created_at, Consultation.id)
             .execution_options(yield_per=BATCH))
    # Paced by the administrator's line: read outside the pool. The consultation and its outcome
    # are let go row by row; facilities and people recur, and stay.
    return rows_read_apart(db.session, db.engine, query, forget=(0, 4))


def consultations_csv(start: datetime, end: datetime, facility_id: int | None = None) -> Iterator[str]:
    """The CSV export, chunk by chunk (a header, then one row a consultation)."""
    return csv_export.stream(CSV_COLUMNS, (
        [

            c.id, _iso(c.created_at), facility.id, facility.name, requester.full_name,
            requester.profession, c.priority, c.effective_priority, c.specialty, c.status,
            c.escalation_level, c.news2["score"] if c.news2 else "", c.patient_age_years or "",
            c.patient_age_months if c.patient_age_months is not None else "", c.patient_sex,
            doctor.full_name if doctor else "", _iso(first_accepted),
            int((first_accepted - c.created_at).total_seconds()) if first_accepted else "",
            _iso(c.closed_at), _iso(c.cancelled_at), outcome.disposition if outcome else "",
            " ".join(outcome.icd10) if outcome else "",
            outcome.follow_up_on.isoformat() if outcome and outcome.follow_up_on else "",
        ]
        for c, facility, requester, doctor, outcome, first_accepted in _rows(start, end, facility_id)
    ), batch=BATCH)


# ---------------------------------------------------------------------------- FHIR R4

FHIR_PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
REQUEST_STATUS = {"waiting": "active", "active": "active", "closed": "completed",
                  "cancelled": "revoked"}
ENCOUNTER_STATUS = {"waiting": "planned", "active": "in-progress", "closed": "finished",
                    "cancelled": "cancelled"}
LOINC = "http://loinc.org"
# vital: (LOINC code, display, UCUM unit)
VITALS = {
    "hr": ("8867-4", "Heart rate", "/min"),
    "rr": ("9279-1", "Respiratory rate", "/min"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "temp_c": ("8310-5", "Body temperature", "Cel"),
    "sbp": ("8480-6", "Systolic blood pressure", "mm[Hg]"),
    "dbp": ("8462-4", "Diastolic blood pressure", "mm[Hg]"),
    "glucose_mmol": ("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L"),
}
AVPU_LOINC = ("67775-7", "Level of responsiveness")
FHIR_GENDER = {"male": "male", "female": "female", "unknown": "unknown"}


def _priority(consultation: Consultation) -> str:
    """Effective priority in FHIR terms; an urgent request escalated past its wait becomes asap."""
    if consultation.effective_priority == "urgent" and consultation.escalation_level:
        return "asap"
    return FHIR_PRIORITY[consultation.effective_priority]


def _ref(kind: str, ident) -> dict:
    return {"reference": f"{kind}/{ident}"}


def _entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:telemed:{resource['resourceType']}/{resource['id']}", "resource": resource}


def consultation_resources(c: Consultation, facility: Facility, requester: User,
                           doctor: User | None, outcome: Outcome | None) -> list[dict]:
    """ServiceRequest, Patient, Encounter, Conditions and Observations of one consultation."""
    cid = str(c.id)
    patient = {"resourceType": "Patient", "id": f"pat-{cid}", "gender": FHIR_GENDER[c.patient_sex]}
    request = {
        "resourceType": "ServiceRequest", "id": f"sr-{cid}", "status": REQUEST_STATUS[c.status],
        "intent": "order", "priority": _priority(c),
        "code": {"text": f"Teleconsultation: {c.specialty}"},
        "subject": _ref("Patient", patient["id"]), "authoredOn": _iso(c.created_at),
        "requester": _ref("Practitioner", f"prac-{requester.id}"),
        "reasonCode": [{"text": c.complaint}],
        "identifier": [{"system": "urn:telemed:consultation", "value": cid}],
    }
    if doctor is not None:
        request["performer"] = [_ref("Practitioner", f"prac-{doctor.id}")]
    encounter = {
        "resourceType": "Encounter", "id": f"enc-{cid}", "status": ENCOUNTER_STATUS[c.status],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR",
                  "display": "virtual"},
        "subject": _ref("Patient", patient["id"]),
        "basedOn": [_ref("ServiceRequest", request["id"])],
        "serviceProvider": _ref("Organization", f"org-{facility.id}"),
    }
    if c.accepted_at or c.closed_at:
        encounter["period"] = {k: v for k, v in (("start", _iso(c.accepted_at)),
                                                 ("end", _iso(c.closed_at))) if v}
    if doctor is not None:
        encounter["participant"] = [{"individual": _ref("Practitioner", f"prac-{doctor.id}")}]
    resources = [patient, request, encounter]
    for code in (outcome.icd10 if outcome else []):
        resources.append({
            "resourceType": "Condition", "id": f"cond-{cid}-{code.replace('.', '')}",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                "code": "encounter-diagnosis"}]}],
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code,
                                 "display": icd10_title(code)}]},
            "subject": _ref("Patient", patient["id"]), "encounter": _ref("Encounter", encounter["id"]),
        })
    vitals_category = [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs"}]}]
    for name, value in (c.vitals or {}).items():
        base = {"resourceType": "Observation", "id": f"obs-{cid}-{name.replace('_', '-')}",
                "status": "final", "category": vitals_category,
                "subject": _ref("Patient", patient["id"]),
                "encounter": _ref("Encounter", encounter["id"]),
                "effectiveDateTime": _iso(c.created_at)}
        if name in VITALS:
            loinc, display, unit = VITALS[name]
            resources.append({**base, "code": {"coding": [{"system": LOINC, "code": loinc,
                                                           "display": display}]},
                              "valueQuantity": {"value": value, "unit": unit,
                                                "system": "http://unitsofmeasure.org", "code": unit}})
        elif name == "avpu":
            resources.append({**base, "code": {"coding": [{"system": LOINC, "code": AVPU_LOINC[0],
                                                           "display": AVPU_LOINC[1]}]},
                              "valueString": value})
    return resources


def _person(user: User) -> dict:
    return {"resourceType": "Practitioner", "id": f"prac-{user.id}",
            "name": [{"text": user.full_name}],
            "qualification": [{"code": {"text": user.profession}}]}


def fhir_bundle(start: datetime, end: datetime, facility_id: int | None = None) -> Iterator[str]:
    """A FHIR R4 `collection` Bundle of the consultations in the range, written as it is read."""
    # The rows' own connection is reserved now, while a refusal can still be an answer of its own.
    return _bundle_chunks(_rows(start, end, facility_id))


def _bundle_chunks(rows) -> Iterator[str]:
    yield json.dumps({"resourceType": "Bundle", "type": "collection",
                      "timestamp": _iso(utcnow())})[:-1] + ', "entry": ['
    seen: set[str] = set()
    first = True
    for c, facility, requester, doctor, outcome, _accepted in rows:
        resources = []
        org_id = f"org-{facility.id}"
        if org_id not in seen:
            resources.append({"resourceType": "Organization", "id": org_id, "name": facility.name})
        for person in (requester, doctor):
            if person is not None and f"prac-{person.id}" not in seen:
                resources.append(_person(person))
        resources.extend(consultation_resources(c, facility, requester, doctor, outcome))
        for resource in resources:
            if resource["resourceType"] in ("Organization", "Practitioner"):
                seen.add(resource["id"])
            yield ("" if first else ",") + json.dumps(_entry(resource))
            first = False
    yield "]}"
