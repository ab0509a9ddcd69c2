"""Staff, facilities, certifications, roster import, coverage reports and exports."""

from datetime import timedelta

from flask import Response, jsonify, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user

from telemed.api.blueprint import bp
from telemed.api.common import accepts, json_body, page, query_args, roles_required
from telemed.db import district_today
from telemed.errors import ValidationFailed
from telemed.schemas.certification import (
    CertificationCreateSchema,
    CertificationFilterSchema,
    CertificationPatchSchema,
    CertificationSchema,
    CertificationTypeCreateSchema,
    CertificationTypeSchema,
)
from telemed.schemas.common import RangeQuerySchema
from telemed.schemas.consultation import ReasonSchema
from telemed.schemas.facility import FacilityCreateSchema, FacilityPatchSchema, FacilitySchema
from telemed.schemas.report import AuditEntrySchema, AuditQuerySchema, ReportQuerySchema
from telemed.schemas.staff import UserCreateSchema, UserFilterSchema, UserPatchSchema
from telemed.services import audit_log, certifications, coverage, csv_export, exports, reports, staff
from telemed.services.representation import user_payload
from telemed.sessions import current_login_id

# ---------------------------------------------------------------------------- staff

@bp.get("/users")
@accepts(query=UserFilterSchema)
@roles_required("admin")
def list_users():
    """Staff accounts matching the filters."""
    users, total = staff.list_users(query_args())
    return page([user_payload(u) for u in users], total)


@bp.post("/users")
@accepts(body=UserCreateSchema)
@roles_required("admin")
def create_user():
    """Create a staff account."""
    return jsonify(user_payload(staff.create_user(json_body(), current_user))), 201


@bp.get("/users/<int:user_id>")
@roles_required()
def get_user(user_id: int):
    """One staff account (admins: anyone; others: themselves)."""
    return jsonify(user_payload(staff.get_user(current_user, user_id)))


@bp.patch("/users/<int:user_id>")
@accepts(body=UserPatchSchema)
@roles_required("admin")
def update_user(user_id: int):
    """Change a staff account; deactivate with active=false."""
    user = staff.update_user(current_user, user_id, json_body(), keep_login=current_login_id())
    return jsonify(user_payload(user))


@bp.post("/facilities")
@accepts(body=FacilityCreateSchema)
@roles_required("admin")
def create_facility():
    """Add a facility."""
    facility = staff.create_facility(current_user, json_body())
    return jsonify(FacilitySchema().dump(facility)), 201


@bp.patch("/facilities/<int:facility_id>")
@accepts(body=FacilityPatchSchema)
@roles_required("admin")
def update_facility(facility_id: int):
    """Change a facility; deactivate with active=false."""
    facility = staff.update_facility(current_user, facility_id, json_body())
    return jsonify(FacilitySchema().dump(facility))


# ---------------------------------------------------------------------------- certifications

def _certification_payload(certification, status=None) -> dict:
    payload = CertificationSchema().dump(certification)
    payload["status"] = status or certifications.status_on(certification, district_today())
    return payload


@bp.get("/certification-types")
@roles_required()
def list_certification_types():
    """Every certification type."""
    types = certifications.list_types()
    return page(CertificationTypeSchema(many=True).dump(types), len(types))


@bp.post("/certification-types")
@accepts(body=CertificationTypeCreateSchema)
@roles_required("admin")
def create_certification_type():
    """Add a certification type."""
    cert_type = certifications.create_type(current_user, json_body())
    return jsonify(CertificationTypeSchema().dump(cert_type)), 201


@bp.get("/certifications")
@accepts(query=CertificationFilterSchema)
@roles_required()
def list_certifications():
    """Certifications matching the filters (others than admins: their own)."""
    filters = query_args()
    scope = None if current_user.role == "admin" else current_user  # others: their own only
    rows, total, day = certifications.list_certifications(filters, scope_user=scope)
    items = [_certification_payload(c, status) for c, status in rows]
    return jsonify({"items": items, "total": total, "as_of": day.isoformat()})


@bp.post("/certifications")
@accepts(body=CertificationCreateSchema)
@roles_required("admin")
def create_certification():
    """Record a certification; the expiry follows from the type unless given."""
    certification = certifications.create_certification(
        current_user, json_body())
    return jsonify(_certification_payload(certification)), 201


@bp.patch("/certifications/<int:certification_id>")
@accepts(body=CertificationPatchSchema)
@roles_required("admin")
def correct_certification(certification_id: int):
    """Correct a certification's dates, issuer or number."""
    certification = certifications.correct_certification(
        current_user, certification_id, json_body())
    return jsonify(_certification_payload(certification))


@bp.delete("/certifications/<int:certification_id>")
@accepts(body=ReasonSchema)
@roles_required("admin")
def revoke_certification(certification_id: int):
    """Revoke a certification (the record stays)."""
    reason = json_body()["reason"] if request.get_data() else None
    certification = certifications.revoke_certification(current_user, certification_id, reason)
    return jsonify(_certification_payload(certification))


@bp.post("/certifications/import")
@accepts(files=("file",))
@roles_required("admin")
def import_certifications():
    """Import a CSV or XLSX roster: all rows or none; ?dry_run=1 previews."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_("Attach the roster (CSV or XLSX) in the `file` field."),
                               {"file": [_("Missing data for required field.")]})
    dry_run = request.args.get("dry_run", "").lower() in ("1", "true", "yes")
    result = certifications.run_import(current_user, upload.read(), upload.filename or "roster",
                                       dry_run)
    body = {
        "imported": result.imported,
        "dry_run": dry_run,
        "rows": result.rows,
        "created": len(result.created),
        "unchanged": len(result.unchanged),
        "preview": [{**r, "issued_on": r["issued_on"].isoformat(),
                     "expires_on": r["expires_on"].isoformat(), "action": action}
                    for action, records in (("create", result.created), ("unchanged", result.unchanged))
                    for r in records],
        "errors": [{"row": number, "fields": fields, "cells": result.typed.get(number, {})}
                   for number, fields in sorted(result.errors.items())],
    }
    for record in body["preview"]:
        record.pop("type_id", None)
    if result.errors:
        return jsonify({"error": {"code": "validation_error",
                                  "message": _("%(n)s rows have errors; nothing was imported.",
                                               n=len(result.errors)),
                                  "fields": {f"row {e['row']}": e["fields"] for e in body["errors"]}},
                        **body}), 422
    return jsonify(body), 200 if dry_run else 201


# ---------------------------------------------------------------------------- reports

@bp.get("/reports/coverage")
@accepts(query=ReportQuerySchema)
@roles_required("admin")
def coverage_report():
    """Who holds a valid certification, by type, profession and facility, on a date."""
    args = query_args()
    return jsonify(coverage.coverage_report(args["as_of"], args["district_id"]))


@bp.get("/reports/lapsing")
@accepts(query=ReportQuerySchema)
@roles_required("admin")
def lapsing_report():
    """Who lapses next: certifications ending within the given days."""
    args = query_args()
    items = coverage.lapsing(args["as_of"], args["days"], args["district_id"])
    return jsonify({"items": items, "total": len(items), "as_of": args["as_of"].isoformat()})


def _range_args() -> dict:
    args = query_args()
    staff.check_facility(args["facility_id"])
    return args


@bp.get("/reports/consultations")
@accepts(query=RangeQuerySchema)
@roles_required("admin")
def consultations_report():
    """Volumes, time to accept, service level, outcomes and busiest hours."""
    args = _range_args()
    return jsonify(reports.consultations_report(args["start"], args["end"], args["facility_id"]))


@bp.get("/reports/staffing")
@accepts(query=RangeQuerySchema)
@roles_required("admin")
def staffing_report():
    """Doctors needed per hour of the week for emergencies (Erlang C)."""
    args = _range_args()
    return jsonify(reports.staffing_estimate(args["start"], args["end"]))


def _download(chunks, mimetype: str, filename: str) -> Response:
    """A streamed export the browser saves as a file of this name rather than showing it."""
    return Response(stream_with_context(chunks), mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def _period_name(args: dict) -> str:
    """The exported period in a file name, first and last day: `2026-10-24_2026-11-23` (`end`
    is the exclusive end of the last day)."""
    return f"{args['start']:%Y-%m-%d}_{args['end'] - timedelta(microseconds=1):%Y-%m-%d}"


@bp.get("/exports/consultations.csv")
@accepts(query=RangeQuerySchema)
@roles_required("admin")
def consultations_export():
    """The consultations as CSV, streamed."""
    args = _range_args()
    chunks = exports.consultations_csv(args["start"], args["end"], args["facility_id"])
    return _download(chunks, "text/csv", f"consultations_{_period_name(args)}.csv")


@bp.get("/exports/fhir")
@accepts(query=RangeQuerySchema)
@roles_required("admin")
def fhir_export():
    """The consultations as a FHIR R4 Bundle, streamed, saved as a file."""
    args = _range_args()
    chunks = exports.fhir_bundle(args["start"], args["end"], args["facility_id"])
    return _download(chunks, "application/fhir+json", f"consultations_{_period_name(args)}.fhir.json")


@bp.get("/exports/training.csv")
@accepts(query=ReportQuerySchema)
@roles_required("admin")
def training_export():
    """Who to send to training next, as CSV."""
    args = query_args()
    needs = coverage.training_needs(args["as_of"], args["district_id"])
    columns = ["username", "full_name", "profession", "facility", "type", "status", "expires_on"]
    text = "".join(csv_export.stream(columns, ([need[c] for c in columns] for need in needs)))
    return Response(text, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=training-{args['as_of'].isoformat()}.csv"})


@bp.get("/me/certifications")
@roles_required()
def my_certifications():
    """The caller's own certifications and their status today."""
    holdings = certifications.current_holdings(current_user.id)
    for h in holdings:
        h["expires_on"] = h["expires_on"].isoformat()
    return jsonify({"items": holdings, "total": len(holdings)})



@bp.get("/audit")
@accepts(query=AuditQuerySchema)
@roles_required("admin")
def audit_trail():
    """Who read or changed what: logins, reads of patient data, changes, refusals."""
    rows, total = audit_log.search(query_args())
    items = [{**AuditEntrySchema().dump(entry), "actor": actor} for entry, actor in rows]
    return page(items, total)


@bp.get("/exports/audit.csv")
@accepts(query=AuditQuerySchema)
@roles_required("admin")
def audit_export():
    """The audit trail as CSV, for the filters given."""
    return _download(audit_log.to_csv(query_args()), "text/csv", "audit.csv")
