"""Translated labels for the closed vocabularies, for templates and the browser scripts."""
import json

from flask_babel import lazy_gettext as _l

from telemed.schemas.consultation import REQUEST_RULES
from telemed.services.clinical_codes import IIN_PROBLEMS

LABELS = {
    "priority": {"emergency": _l("Emergency"), "urgent": _l("Urgent"), "routine": _l("Routine")},
    "specialty": {
        "general": _l("General"), "cardiology": _l("Cardiology"), "pediatrics": _l("Pediatrics"),
        "obstetrics": _l("Obstetrics"), "neurology": _l("Neurology"), "surgery": _l("Surgery"),
        "infectious": _l("Infectious diseases"),
    },
    "status": {"waiting": _l("Waiting"), "active": _l("In consultation"), "closed": _l("Closed"),
               "cancelled": _l("Cancelled")},
    "sex": {"male": _l("Male"), "female": _l("Female"), "unknown": _l("Unknown")},
    "disposition": {
        "advice_given": _l("Advice given"), "treated_on_site": _l("Treated on site"),
        "referred_planned": _l("Planned referral"), "referred_urgent": _l("Urgent referral"),
        "ambulance_called": _l("Ambulance called"), "hospitalized": _l("Hospitalized"),
        "died": _l("Died"), "other": _l("Other"),
    },
    "event": {
        "created": _l("Request opened"), "accepted": _l("Taken by a doctor"),
        "released": _l("Released back to the queue"), "transferred": _l("Transferred"),
        "escalated": _l("Escalated"), "cancelled": _l("Cancelled by the post"),
        "closed": _l("Closed with an outcome"), "follow_up_done": _l("Follow-up done"),
    },
    "presence": {"available": _l("Available"), "away": _l("Away"), "offline": _l("Offline")},
    "facility_kind": {"fap": _l("Feldsher-midwife post (FAP)"), "medical_post": _l("Medical post"),
                      "outpatient_clinic": _l("Outpatient clinic"), "district_hospital": _l("District hospital")},
    "role": {"feldsher": _l("Post staff"), "doctor": _l("Doctor"), "admin": _l("Administrator")},
    "profession": {"feldsher": _l("Feldsher"), "nurse": _l("Nurse"), "midwife": _l("Midwife"),
                   "doctor": _l("Doctor"), "other": _l("Other")},
    # The request form's fields, as an error names them (`patient.age_years`).
    "field": {
        "client_key": _l("Form"), "patient": _l("Patient"), "patient.sex": _l("Sex"),
        "patient.age_years": _l("Age (years)"), "patient.age_months": _l("Age (months)"),
        "patient.iin": _l("IIN"), "patient.ref": _l("Local record number"),
        "complaint": _l("Complaint"), "priority": _l("Priority"), "specialty": _l("Specialty"),
        "vitals.sbp": _l("Systolic BP"), "vitals.dbp": _l("Diastolic BP"),
        "vitals.hr": _l("Heart rate"), "vitals.rr": _l("Resp. rate"), "vitals.spo2": _l("SpO₂"),
        "vitals.temp_c": _l("Temperature"), "vitals.glucose_mmol": _l("Glucose"),
        "vitals.avpu": _l("AVPU"), "vitals.on_oxygen": _l("On oxygen"),
        # The doctor's closing form.
        "disposition": _l("Disposition"), "icd10": _l("ICD-10 (type a code or words)"),
        "recommendation": _l("Recommendation"), "follow_up_on": _l("Follow-up on"),
    },
    # The unit each vital sign is measured in, shown after its value.
    "unit": {"sbp": _l("mm Hg"), "dbp": _l("mm Hg"), "hr": _l("per min"), "rr": _l("per min"),
             "spo2": "%", "temp_c": "°C", "glucose_mmol": _l("mmol/L")},
    "cert_status": {"valid": _l("valid"), "expiring": _l("expiring"), "expired": _l("expired"),
                    "revoked": _l("revoked"), "none": _l("none")},
}

# Each language by its own name, the same in every interface language (so one finds one's own).
LANGUAGE_NAMES = {"ru": "Русский", "kk": "Қазақша", "en": "English"}

# Sentences the browser scripts show, keyed by a short name.
MESSAGES = {
    "connected": _l("Live"),
    "disconnected": _l("Offline — reconnecting…"),
    "queue_empty": _l("No requests are waiting for you."),
    "no_open": _l("No open requests from this post."),
    "no_active": _l("You hold no active consultations."),
    "claim": _l("Take"),
    "open": _l("Open"),
    "taken": _l("Taken by another doctor."),
    "years": _l("y"),
    "months": _l("mo"),
    "position": _l("Place in queue"),
    "doctor": _l("Doctor"),
    "you": _l("You"),
    "minutes_waiting": _l("min waiting"),
    "outcome": _l("Outcome"),
    "recommendation": _l("Recommendation"),
    "follow_up_on": _l("Follow-up on"),
    "no_matches": _l("No matching ICD-10 code."),
    "error": _l("Something went wrong."),
    "confirm_cancel": _l("Cancel this request?"),
    "priority_raised": _l("priority raised"),
    "escalated": _l("escalated"),
    "no_doctor_online": _l("No doctor is available right now; the request stays in the queue."),
    "estimated_wait": _l("Estimated wait"),
    "minutes_short": _l("min"),
    # The request form's own checks, before anything is sent or queued ({min}, {max} filled in).
    "field_required": _l("This field is required."),
    "not_a_number": _l("Not a number."),
    "out_of_range": _l("Must be from {min} to {max}."),
    "too_long": _l("Must be at most {max} characters long."),
    "unread_messages": _l("New messages from the doctor"),
    "yes": _l("yes"),
    "pending": _l("Not sent yet — it will be sent when the line is back."),
    "refused": _l("Refused by the server"),
    "release_reason": _l("Why do you release it?"),
    "transfer_reason": _l("Why do you transfer it?"),
    "overdue": _l("past its escalation time"),
    "overdue_follow_up": _l("overdue"),
    "follow_up_done": _l("Mark done"),
    "requester_certs": _l("Requester's valid certifications"),
    "requester_no_certs": _l("The requester holds no valid certification."),
    "remove": _l("Remove"),
    "searching": _l("Searching…"),
    "sound_on": _l("Sound on"),
    "sound_off": _l("Sound blocked by the browser"),
    "notifications_on": _l("notifications on"),
    "notifications_off": _l("notifications blocked (allow them in the browser's site settings)"),
    "codes_found": _l("{n} codes found; the arrow keys move through them, Enter chooses."),
    # A list's pages: "51–100 of 493".
    "range_of": _l("{first}–{last} of {total}"),
    "none_found": _l("None found."),
    "previous": _l("Previous"),
    "next": _l("Next"),
}


# Words only the administrator's pages use: only their labels file carries them (a post's phone
# does not download them).
ADMIN_MESSAGES = {
    "to_create": _l("to create"),
    "unchanged": _l("unchanged"),
    "staff": _l("staff"),
    "requests": _l("Requests"),
    "days": _l("days"),
    "months_short": _l("mo"),
    "facility": _l("Facility"),
    "confirm_revoke": _l("Reason for revoking this certification:"),
    "new_expiry": _l("Corrected expiry date (YYYY-MM-DD):"),
    "new_password": _l("New password (at least 10 characters):"),
    "imported": _l("Imported."),
    "no_user": _l("No staff member with this username."),
    "optional": _l("optional"),
    "deactivate": _l("Deactivate"),
    "reactivate": _l("Reactivate"),
    "rename": _l("Rename"),
    "no": _l("no"),
    "confirm_deactivate_facility": _l("Deactivate {name}? Its records stay; it is no longer offered for new staff."),
    "confirm_deactivate": _l("Deactivate {name}? They will no longer be able to log in; nothing is deleted."),
    "reset_password": _l("Reset password"),
    "correct_expiry": _l("Correct expiry"),
    "revoke": _l("Revoke"),
    # The district overview (/admin).
    "longest_wait": _l("longest wait"),
    "waiting_for": _l("waiting for"),
    "duration_min": _l("{m} min"),
    "duration_h_min": _l("{h} h {m} min"),
    "none_escalated": _l("No request has waited past its limit."),
    "nobody_available": _l("Nobody can take a request right now."),
    "emergencies_in_time": _l("Emergencies taken within {minutes} min: {n} of {total}"),
    "no_emergency_taken": _l("No emergency taken in this time."),
    # The reports page.
    "period": _l("Period: {from} to {to}, {total} requests"),
    "within_threshold": _l("{share} within {time}"),
    "staffing_summary": _l("Emergencies in the period: {n} · mean handling time: {time} · doctors on duty now: {doctors}"),
    "staff_count": _l("{n} staff"),
}


def labels_for_js(for_admin: bool = False) -> dict:
    """LABELS and MESSAGES in the request's language, every lazy string resolved; with them the
    words of the request's rules between fields, which the post page checks as the server does,
    and for an administrator's pages ADMIN_MESSAGES."""
    messages = {**MESSAGES, **REQUEST_RULES, **IIN_PROBLEMS, **(ADMIN_MESSAGES if for_admin else {})}
    return {
        "labels": {group: {k: str(v) for k, v in values.items()} for group, values in LABELS.items()},
        "messages": {k: str(v) for k, v in messages.items()},
    }


def labels_script_url() -> str:
    """The URL of the scripts' labels in the page's language: a file of its own, the same for
    every page and user of that language (administrators have theirs), so a phone fetches it once
    and keeps it (web/assets.py)."""
    from flask_babel import force_locale, get_locale
    from flask_login import current_user

    from telemed.web.assets import generated_asset_url

    locale = str(get_locale())
    for_admin = current_user.is_authenticated and current_user.role == "admin"

    def build() -> bytes:
        with force_locale(locale):
            labels = json.dumps(labels_for_js(for_admin), ensure_ascii=False, separators=(",", ":"))
        return f"window.telemedLabels={labels};".encode()

    name = f"i18n/{locale}-admin.js" if for_admin else f"i18n/{locale}.js"
    return generated_asset_url(name, build, "application/javascript; charset=utf-8")


def page_settings() -> dict:
    """What the scripts need of this page besides its labels: the language, its decimal symbol
    (from Babel's CLDR data: a browser's own may lack a language, Chromium's has no kk) and the
    district's time zone, so times read the district's clock whatever the phone's says."""
    from babel.numbers import get_decimal_symbol
    from flask import current_app
    from flask_babel import get_locale

    return {"locale": str(get_locale()), "decimal": get_decimal_symbol(get_locale()),
            "timezone": current_app.config["TELEMED"].timezone}
