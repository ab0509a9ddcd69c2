"""A consultation request: what creating, moving and closing one accept, and its JSON shape."""
from __future__ import annotations

from datetime import timezone

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from telemed.db import district_today
from telemed.models.vocabulary import AVPU, DISPOSITIONS, PRIORITIES, SEXES, SPECIALTIES, STATUSES
from telemed.schemas.common import (
    MAX_COMPLAINT,
    MAX_ICD10_CODES,
    MAX_MESSAGE,
    MAX_REASON,
    Int,
    PageSchema,
    PersonSchema,
    RefSchema,
    SenderSchema,
    StrictSchema,
    Text,
    UTCDateTimeField,
)
from telemed.services.clinical_codes import InvalidIIN, age_on, normalise_icd10, parse_iin

# The rules between a request's fields, by the key the post page's script uses to check the same
# rules before it sends or queues (post.js; the words reach it with its labels, web/labels.py).
REQUEST_RULES = {
    "age_twice": _l("Give the age in years or, for infants, in months, not both."),
    "age_missing": _l("The patient's age is required (years, or months for infants)."),
    "iin_future": _l("The IIN encodes a birth date in the future."),
    "iin_years": _l("The IIN gives an age of %(age)s years, not %(given)s."),
    "iin_months": _l("The IIN gives an age of %(age)s months, not %(given)s."),
    "iin_male": _l("The IIN is that of a male patient."),
    "iin_female": _l("The IIN is that of a female patient."),
    "dbp_not_below_sbp": _l("Diastolic pressure must be below systolic."),
}


def _broken(rule: str, field: str, **values) -> ValidationError:
    """The refusal for one of REQUEST_RULES, on the field it names."""
    message = str(REQUEST_RULES[rule])
    return ValidationError(message % values if values else message, field)


class PatientSchema(StrictSchema):
    age_years = Int(strict=True, allow_none=True, validate=validate.Range(0, 130))
    age_months = Int(strict=True, allow_none=True, validate=validate.Range(0, 35))
    sex = fields.String(required=True, validate=validate.OneOf(SEXES))
    iin = fields.String(allow_none=True)
    ref = fields.String(allow_none=True, validate=validate.Length(max=64))

    @pre_load
    def _blank_to_none(self, data, **kwargs):
        if isinstance(data, dict):
            return {k: (None if v == "" else v) for k, v in data.items()}
        return data

    @validates_schema
    def _age_and_iin_agree(self, data, **kwargs):
        years, months, iin = data.get("age_years"), data.get("age_months"), data.get("iin")
        if years is not None and months is not None:
            raise _broken("age_twice", "age_years")
        if iin is None:
            if years is None and months is None:
                raise _broken("age_missing", "age_years")
            return
        try:
            born, sex = parse_iin(iin)
        except InvalidIIN as exc:
            raise ValidationError(str(exc.args[0]), "iin") from exc
        today = district_today()
        if born > today:
            raise _broken("iin_future", "iin")
        full_years, full_months = age_on(born, today)
        if years is not None and years != full_years:
            raise _broken("iin_years", "iin", age=full_years, given=years)
        if months is not None and months != full_months:
            raise _broken("iin_months", "iin", age=full_months, given=months)
        if data["sex"] != "unknown" and data["sex"] != sex:
            raise _broken("iin_male" if sex == "male" else "iin_female", "iin")

    @post_load
    def _derive_age_from_iin(self, data, **kwargs):
        if data.get("iin") and data.get("age_years") is None and data.get("age_months") is None:
            full_years, full_months = age_on(parse_iin(data["iin"])[0], district_today())
            if full_years >= 2:
                data["age_years"] = full_years
            else:
                data["age_months"] = full_months
        return data

def _measure(kind, low, high, **kwargs):
    return kind(allow_none=True, validate=validate.Range(low, high), **kwargs)


class VitalsSchema(StrictSchema):
    """Adult and child vitals; each optional, each within a range a real patient can have."""

    sbp = _measure(fields.Integer, 40, 300, strict=True)
    dbp = _measure(fields.Integer, 20, 200, strict=True)
    hr = _measure(fields.Integer, 20, 300, strict=True)
    rr = _measure(fields.Integer, 3, 80, strict=True)
    spo2 = _measure(fields.Integer, 50, 100, strict=True)
    temp_c = _measure(fields.Float, 30.0, 45.0)
    glucose_mmol = _measure(fields.Float, 0.5, 50.0)
    avpu = fields.String(allow_none=True, validate=validate.OneOf(AVPU))
    on_oxygen = fields.Boolean(allow_none=True, truthy={True}, falsy={False})

    @validates_schema
    def _diastolic_below_systolic(self, data, **kwargs):
        if data.get("sbp") is not None and data.get("dbp") is not None and data["dbp"] >= data["sbp"]:
            raise _broken("dbp_not_below_sbp", "dbp")

    @post_load
    def _drop_empty(self, data, **kwargs):
        return {k: v for k, v in data.items() if v is not None}


class ConsultationCreateSchema(StrictSchema):
    client_key = fields.UUID(required=True)
    patient = fields.Nested(PatientSchema, required=True)
    complaint = Text(MAX_COMPLAINT, required=True)
    vitals = fields.Nested(VitalsSchema, load_default=dict)
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    specialty = fields.String(load_default="general", validate=validate.OneOf(SPECIALTIES))


def form_rules() -> dict[str, dict]:
    """The request form's limits, read from the schemas the server validates with, so the page can
    check an entry before sending or queueing it (one source of truth; the server still decides):
    per input, its field's path (`vitals.spo2`), `required` when it is, its range, its length."""
    sources = {"complaint": ("complaint", ConsultationCreateSchema().fields["complaint"])}
    sources.update({name: (f"patient.{name}", field) for name, field in PatientSchema().fields.items()})
    sources.update({name: (f"vitals.{name}", field) for name, field in VitalsSchema().fields.items()})
    rules = {}
    for name, (path, field) in sources.items():
        rule = {"path": path, "required": True} if field.required else {"path": path}
        for validator in field.validators:
            if isinstance(validator, validate.Range):
                rule.update(min=validator.min, max=validator.max)
            elif isinstance(validator, validate.Length) and validator.max is not None:
                rule["maxlength"] = validator.max
        rules[name] = rule
    return rules


INTEGER_VITALS = ("sbp", "dbp", "hr", "rr", "spo2")
DECIMAL_VITALS = ("temp_c", "glucose_mmol")


def _form_number(text: str, decimal: bool):
    """A typed number: a decimal comma read as a point ("38,4" is 38.4); text that is no number
    is passed on as it is, for the schema to refuse by name."""
    cleaned = text.strip().replace(",", ".") if decimal else text.strip()
    try:
        return float(cleaned) if decimal else int(cleaned)
    except ValueError:
        return text


def consultation_body_from_form(form) -> dict:
    """The body `ConsultationCreateSchema` takes, from the post page's form sent as a plain HTML
    form (without JavaScript): blank fields left out, numbers read, the checkbox a boolean."""
    value = {name: (form.get(name) or "").strip() for name in form.keys()}
    patient = {"sex": value.get("sex", "")}
    for name in ("age_years", "age_months"):
        if value.get(name):
            patient[name] = _form_number(value[name], decimal=False)
    for name in ("iin", "ref"):
        if value.get(name):
            patient[name] = value[name]
    vitals = {name: _form_number(value[name], decimal=name in DECIMAL_VITALS)
              for name in INTEGER_VITALS + DECIMAL_VITALS if value.get(name)}
    if value.get("avpu"):
        vitals["avpu"] = value["avpu"]
    if "on_oxygen" in form:
        vitals["on_oxygen"] = True
    return {"client_key": value.get("client_key", ""), "patient": patient,
            "complaint": form.get("complaint", ""), "vitals": vitals,
            "priority": value.get("priority", ""), "specialty": value.get("specialty") or "general"}


class ReasonSchema(StrictSchema):
    reason = Text(MAX_REASON, load_default=None, allow_none=True)


class TransferSchema(StrictSchema):
    specialty = fields.String(required=True, validate=validate.OneOf(SPECIALTIES))
    reason = Text(MAX_REASON, required=True)


class CloseSchema(StrictSchema):
    disposition = fields.String(required=True, validate=validate.OneOf(DISPOSITIONS))
    icd10 = fields.List(
        fields.String(), required=True, validate=validate.Length(min=1, max=MAX_ICD10_CODES)
    )
    recommendation = Text(MAX_MESSAGE, required=True)
    follow_up_on = fields.Date(load_default=None, allow_none=True)

    @validates("icd10")
    def _known_codes(self, codes, data_key, **kwargs):
        unknown = [code for code in codes if normalise_icd10(code) is None]
        if unknown:
            raise ValidationError(
                _("Not a WHO ICD-10 category or subcategory: %(codes)s", codes=", ".join(unknown))
            )

    @validates("follow_up_on")
    def _follow_up_ahead(self, value, data_key, **kwargs):
        if value is not None and not (district_today() <= value <= district_today().replace(year=district_today().year + 1)):
            raise ValidationError(_("A follow-up date must be between today and a year from now."))

    @post_load
    def _canonical_codes(self, data, **kwargs):
        data["icd10"] = list(dict.fromkeys(normalise_icd10(code) for code in data["icd10"]))
        return data


class ConsultationIdSchema(StrictSchema):
    id = fields.UUID(required=True)


class ConsultationFilterSchema(PageSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    facility_id = Int()
    from_ = fields.AwareDateTime(data_key="from", default_timezone=timezone.utc)
    to = fields.AwareDateTime(default_timezone=timezone.utc)

    @validates_schema
    def _ordered_range(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError(_("`from` must not be after `to`."), "to")


class FollowUpQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    due = fields.String(load_default="all",
                        validate=validate.OneOf(("overdue", "today", "upcoming", "all")))


class RequesterSchema(PersonSchema):
    profession = fields.String()


class OutcomeSchema(Schema):
    disposition = fields.String()
    icd10 = fields.List(fields.String())
    recommendation = fields.String()
    follow_up_on = fields.Date(allow_none=True)
    follow_up_done_at = UTCDateTimeField(allow_none=True)
    doctor_id = Int()
    created_at = UTCDateTimeField()


class EventSchema(Schema):
    id = Int()
    kind = fields.String()
    actor = fields.Nested(SenderSchema, allow_none=True)
    payload = fields.Dict()
    created_at = UTCDateTimeField()


class ConsultationSchema(Schema):
    id = fields.UUID()
    client_key = fields.UUID()
    status = fields.String()
    priority = fields.String()
    effective_priority = fields.String()
    specialty = fields.String()
    escalation_level = Int()
    news2 = fields.Dict(allow_none=True)
    patient = fields.Method("_patient")
    complaint = fields.String()
    vitals = fields.Dict()
    facility = fields.Nested(RefSchema)
    requester = fields.Nested(RequesterSchema)
    doctor = fields.Nested(PersonSchema, allow_none=True)
    created_at = UTCDateTimeField()
    queued_at = UTCDateTimeField()
    escalated_at = UTCDateTimeField(allow_none=True)
    accepted_at = UTCDateTimeField(allow_none=True)
    closed_at = UTCDateTimeField(allow_none=True)
    cancelled_at = UTCDateTimeField(allow_none=True)
    outcome = fields.Nested(OutcomeSchema, allow_none=True)
    queue_position = fields.Method("_queue_position")
    estimated_wait_s = fields.Method("_estimated_wait_s")
    doctors_available = fields.Method("_doctors_available")

    def _patient(self, consultation) -> dict:
        return {
            "age_years": consultation.patient_age_years,
            "age_months": consultation.patient_age_months,
            "sex": consultation.patient_sex,
            "iin": consultation.patient_iin,
            "ref": consultation.patient_ref,
        }

    def _queue_position(self, consultation):
        return self.queue.position(consultation) if self.queue else None

    def _estimated_wait_s(self, consultation):
        return self.queue.estimated_wait_s(consultation) if self.queue else None

    def _doctors_available(self, consultation):
        return self.queue.doctors_available(consultation) if self.queue else None

    def __init__(self, *args, queue=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue = queue


class ConsultationDetailSchema(ConsultationSchema):
    events = fields.List(fields.Nested(EventSchema))
