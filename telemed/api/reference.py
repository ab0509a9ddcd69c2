"""The doctor's queue and presence, and reference data: ICD-10 search, districts, facilities."""
from flask import jsonify
from flask_babel import get_locale
from flask_login import current_user

from telemed.api.blueprint import bp
from telemed.api.common import accepts, json_body, page, query_args, roles_required
from telemed.schemas.common import PageSchema
from telemed.schemas.facility import FacilitySchema
from telemed.schemas.reference import ICD10QuerySchema
from telemed.schemas.staff import PresenceSchema
from telemed.services import presence, staff
from telemed.services.clinical_codes import search_icd10
from telemed.services.snapshots import queue_snapshot


@bp.get("/queue")
@roles_required("doctor")
def queue():
    """The waiting queue offered to the doctor and their active consultations."""
    return jsonify(queue_snapshot(current_user))


@bp.put("/presence")
@accepts(body=PresenceSchema)
@roles_required("doctor")
def set_presence():
    """The doctor chooses available or away."""
    data = json_body()
    return jsonify({"user_id": current_user.id, "status": presence.set_status(current_user, data["status"])})


@bp.get("/presence")
@roles_required("doctor", "admin")
def doctors_on_duty():
    """Every active doctor with the presence others see."""
    items = presence.doctors_on_duty()
    return page(items, len(items))


@bp.get("/icd10")
@accepts(query=ICD10QuerySchema)
@roles_required()
def icd10():
    """WHO ICD-10 codes whose code starts with, or whose title holds, the query."""
    args = query_args()
    items = search_icd10(args["q"], args["limit"], language=str(get_locale()))
    return page(items, len(items))


@bp.get("/districts")
@roles_required()
def districts():
    """Every district."""
    rows = staff.list_districts()
    return page([{"id": d.id, "name": d.name, "region": d.region} for d in rows], len(rows))


@bp.get("/facilities")
@accepts(query=PageSchema)
@roles_required()
def facilities():
    """The facilities, by name, a page at a time (`limit`, `offset`)."""
    args = query_args()
    rows, total = staff.list_facilities(args["limit"], args["offset"])
    return page(FacilitySchema(many=True).dump(rows), total)
