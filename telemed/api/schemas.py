"""Marshmallow schemas: what the API accepts (validated at the edge) and what it returns."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask_babel import gettext as _
from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates,
    validates_schema,
)

from telemed.models.vocabulary import (
    AVPU, DISPOSITIONS, FACILITY_KINDS, PRESENCE_STATUSES, PRIORITIES, PROFESSIONS, ROLES, SEXES, SPECIALTIES,
    STATUSES,
)
from telemed.services.clinical_codes import InvalidIIN, age_on, normalise_icd10, parse_iin

MAX_COMPLAINT = 2000
MAX_MESSAGE = 4000
MAX_REASON = 500
MAX_ICD10_CODES = 10


# ---------------------------------------------------------------------------- shared fields


class UTCDateTimeField(fields.DateTime):
    """ISO 8601 in UTC with a `Z`, as DESIGN.md fixes for every time."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Text(fields.String):
    """A string that is stripped and must not be empty (or only spaces)."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return text.strip()


def flatten_errors(messages: dict, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as one `{"patient.age_years": [...]}` mapping."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        path = f"{prefix}{key}" if key != "_schema" else (prefix.rstrip(".") or "_schema")
        if isinstance(value, dict):
            flat.update(flatten_errors(value, f"{path}."))
        else:
            flat.setdefault(path, []).extend(str(v) for v in value)
    return flat


class StrictSchema(Schema):
    """Refuses unknown fields, so a typo in a field name is an error instead of silently ignored."""

    class Meta:
        ordered = True


# ---------------------------------------------------------------------------- input


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PatientSchema(StrictSchema):
    age_years = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 130))
    age_months = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 35))
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
            raise ValidationError(_("Give the age in years or, for infants, in months, not both."),
                                  "age_years")
        if iin is None:
            if years is None and months is None:
                raise ValidationError(_("The patient's age is required (years, or months for infants)."),
                                      "age_years")
            return
        try:
            born, sex = parse_iin(iin)
        except InvalidIIN as exc:
            raise ValidationError(str(exc.args[0]), "iin") from exc
        today = date.today()
        if born > today:
            raise ValidationError(_("The IIN encodes a birth date in the future."), "iin")
        full_years, full_months = age_on(born, today)
        if years is not None and years != full_years:
            raise ValidationError(
                _("The IIN gives an age of %(age)s years, not %(given)s.", age=full_years, given=years),
                "iin",
            )
        if months is not None and months != full_months:
            raise ValidationError(
                _("The IIN gives an age of %(age)s months, not %(given)s.", age=full_months, given=months),
                "iin",
            )
        if data["sex"] != "unknown" and data["sex"] != sex:
            message = (_("The IIN is that of a male patient.") if sex == "male"
                       else _("The IIN is that of a female patient."))
            raise ValidationError(message, "iin")

    @post_load
    def _derive_age_from_iin(self, data, **kwargs):
        if data.get("iin") and data.get("age_years") is None and data.get("age_months") is None:
            full_years, full_months = age_on(parse_iin(data["iin"])[0], date.today())
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
            raise ValidationError(_("Diastolic pressure must be below systolic."), "dbp")

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
        if value is not None and not (date.today() <= value <= date.today().replace(year=date.today().year + 1)):
            raise ValidationError(_("A follow-up date must be between today and a year from now."))

    @post_load
    def _canonical_codes(self, data, **kwargs):
        data["icd10"] = list(dict.fromkeys(normalise_icd10(code) for code in data["icd10"]))
        return data


class MessageCreateSchema(StrictSchema):
    body = Text(MAX_MESSAGE, required=True)
    client_key = fields.UUID(required=True)


class AttachmentFormSchema(StrictSchema):
    client_key = fields.UUID(required=True)
    body = Text(MAX_REASON, load_default=None, allow_none=True)


class SocketMessageSchema(MessageCreateSchema):
    consultation_id = fields.UUID(required=True)


class ConsultationIdSchema(StrictSchema):
    id = fields.UUID(required=True)


class PresenceSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(("available", "away")))


class PageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0))


class ConsultationFilterSchema(PageSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    facility_id = fields.Integer()
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


class ICD10QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    q = fields.String(required=True, validate=validate.Length(min=1, max=100))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 50))


class UserCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_.-]{3,80}$"))
    full_name = Text(200, required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    profession = fields.String(required=True, validate=validate.OneOf(PROFESSIONS))
    facility_id = fields.Integer(allow_none=True, load_default=None)
    specialties = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)), load_default=list)
    password = fields.String(required=True, validate=validate.Length(min=10, max=200))
    locale = fields.String(load_default="en", validate=validate.OneOf(("en",)))


class UserPatchSchema(StrictSchema):
    full_name = Text(200)
    role = fields.String(validate=validate.OneOf(ROLES))
    profession = fields.String(validate=validate.OneOf(PROFESSIONS))
    facility_id = fields.Integer(allow_none=True)
    specialties = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)))
    active = fields.Boolean(truthy={True}, falsy={False})
    password = fields.String(validate=validate.Length(min=10, max=200))
    locale = fields.String(validate=validate.OneOf(("en",)))

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(_("Nothing to change."), "_schema")


class UserFilterSchema(PageSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    profession = fields.String(validate=validate.OneOf(PROFESSIONS))
    facility_id = fields.Integer()
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(max=100))


class FacilityCreateSchema(StrictSchema):
    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(FACILITY_KINDS))
    village = Text(200, required=True)
    district_id = fields.Integer(required=True)


class FacilityPatchSchema(StrictSchema):
    name = Text(200)
    kind = fields.String(validate=validate.OneOf(FACILITY_KINDS))
    village = Text(200)
    active = fields.Boolean(truthy={True}, falsy={False})


def _sane_date(value: date) -> None:
    if not date(2000, 1, 1) <= value <= date.today().replace(year=date.today().year + 10):
        raise ValidationError(_("The date must lie between 2000 and ten years from now."))


class CertificationCreateSchema(StrictSchema):
    user_id = fields.Integer(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    issued_on = fields.Date(required=True, validate=_sane_date)
    expires_on = fields.Date(load_default=None, allow_none=True, validate=_sane_date)
    issuer = Text(200, load_default=None, allow_none=True)
    number = Text(64, load_default=None, allow_none=True)

    @validates_schema
    def _expiry_after_issue(self, data, **kwargs):
        if data.get("expires_on") and data["expires_on"] <= data["issued_on"]:
            raise ValidationError(_("The expiry must be after the issue date."), "expires_on")


class CertificationPatchSchema(StrictSchema):
    issued_on = fields.Date(validate=_sane_date)
    expires_on = fields.Date(validate=_sane_date)
    issuer = Text(200, allow_none=True)
    number = Text(64, allow_none=True)

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(_("Nothing to change."), "_schema")


class CertificationTypeCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_-]{2,32}$"))
    name = Text(200, required=True)
    validity_months = fields.Integer(required=True, strict=True, validate=validate.Range(1, 240))
    required_for = fields.List(fields.String(validate=validate.OneOf(PROFESSIONS)), load_default=list)


class CertificationFilterSchema(PageSchema):
    user_id = fields.Integer()
    facility_id = fields.Integer()
    profession = fields.String(validate=validate.OneOf(PROFESSIONS))
    type = fields.String(validate=validate.Length(max=32))
    status = fields.String(validate=validate.OneOf(("valid", "expiring", "expired", "revoked")))
    as_of = fields.Date(validate=_sane_date)


class ReportQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    as_of = fields.Date(load_default=date.today, validate=_sane_date)
    district_id = fields.Integer(load_default=None)
    days = fields.Integer(load_default=90, validate=validate.Range(1, 365))


class RangeQuerySchema(Schema):
    """`from` and `to` as dates (whole days, `to` included) or times; the last 30 days by default."""

    class Meta:
        unknown = EXCLUDE

    from_ = fields.Raw(data_key="from", load_default=None)
    to = fields.Raw(load_default=None)
    facility_id = fields.Integer(load_default=None)

    @post_load
    def _range(self, data, **kwargs):
        end = _moment(data["to"], "to", end_of_day=True) if data["to"] else None
        start = _moment(data["from_"], "from") if data["from_"] else None
        end = end or datetime.now(timezone.utc)
        start = start or end - timedelta(days=30)
        if start >= end:
            raise ValidationError(_("`from` must be before `to`."), "to")
        if end - start > timedelta(days=3660):
            raise ValidationError(_("At most ten years at once."), "from")
        if not datetime(2000, 1, 1, tzinfo=timezone.utc) <= start:
            raise ValidationError(_("The dates must lie after 2000."), "from")
        rest = {k: v for k, v in data.items() if k not in ("from_", "to")}
        return {**rest, "start": start, "end": end}


def _moment(value, name: str, end_of_day: bool = False) -> datetime:
    text = str(value)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day,
                                      datetime.min.time(), tzinfo=timezone.utc)
            return moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(_("Not a date (2026-06-01) or time (2026-06-01T08:00:00Z)."), name) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class AuditQuerySchema(RangeQuerySchema):
    """Range filters (the last 30 days by default) plus who, what and which object."""

    actor_id = fields.Integer(load_default=None)
    action = fields.String(load_default=None, validate=validate.Length(max=64))
    object_type = fields.String(load_default=None, validate=validate.Length(max=64))
    object_id = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = UTCDateTimeField()
    actor_id = fields.Integer(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    detail = fields.Dict()


# ---------------------------------------------------------------------------- output


class RefSchema(Schema):
    id = fields.Raw()
    name = fields.String()


class PersonSchema(Schema):
    id = fields.Integer()
    full_name = fields.String()


class RequesterSchema(PersonSchema):
    profession = fields.String()


class SenderSchema(PersonSchema):
    role = fields.String()


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    role = fields.String()
    profession = fields.String()
    facility = fields.Nested(RefSchema, allow_none=True)
    specialties = fields.List(fields.String())
    active = fields.Boolean()
    locale = fields.String()


class OutcomeSchema(Schema):
    disposition = fields.String()
    icd10 = fields.List(fields.String())
    recommendation = fields.String()
    follow_up_on = fields.Date(allow_none=True)
    follow_up_done_at = UTCDateTimeField(allow_none=True)
    doctor_id = fields.Integer()
    created_at = UTCDateTimeField()


class EventSchema(Schema):
    id = fields.Integer()
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
    escalation_level = fields.Integer()
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
        return self.queue.positions.get(consultation.id) if self.queue else None

    def _estimated_wait_s(self, consultation):
        return self.queue.estimated_wait_s(consultation) if self.queue else None

    def _doctors_available(self, consultation):
        return self.queue.doctors_available(consultation) if self.queue else None

    def __init__(self, *args, queue=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue = queue


class ConsultationDetailSchema(ConsultationSchema):
    events = fields.List(fields.Nested(EventSchema))


class AttachmentSchema(Schema):
    id = fields.UUID()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    url = fields.Function(lambda a: f"/api/v1/attachments/{a.id}")


class MessageSchema(Schema):
    id = fields.UUID()
    consultation_id = fields.UUID()
    sender = fields.Nested(SenderSchema)
    body = fields.String()
    client_key = fields.UUID()
    created_at = UTCDateTimeField()
    attachment = fields.Nested(AttachmentSchema, allow_none=True)


class PresenceOutSchema(Schema):
    user_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(PRESENCE_STATUSES))



class CertificationPersonSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    profession = fields.String()
    facility = fields.Nested(RefSchema, allow_none=True)


class CertificationSchema(Schema):
    id = fields.Integer()
    user = fields.Nested(CertificationPersonSchema)
    type = fields.Function(lambda c: c.type.code)
    issued_on = fields.Date()
    expires_on = fields.Date()
    issuer = fields.String(allow_none=True)
    number = fields.String(allow_none=True)
    revoked_at = UTCDateTimeField(allow_none=True)
    revoked_reason = fields.String(allow_none=True)


class CertificationTypeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    validity_months = fields.Integer()
    required_for = fields.List(fields.String())


class FacilitySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    village = fields.String()
    district_id = fields.Integer()
    active = fields.Boolean()
