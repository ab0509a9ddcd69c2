"""HTML pages: thin shells; the live data comes from the API and Socket.IO."""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from sqlalchemy import text

from telemed import sessions
from telemed.db import district_today
from telemed.errors import ServiceError
from telemed.extensions import (
    db,
    failed_login,
    limiter,
    login_account_key,
    login_account_rate_limit,
    login_rate_limit,
    user_rate_key,
    write_rate_limit,
)
from telemed.models.vocabulary import (
    AVPU,
    DISPOSITIONS,
    FACILITY_KINDS,
    PRIORITIES,
    PROFESSIONS,
    ROLES,
    SEXES,
    SPECIALTIES,
    STATUSES,
)
from telemed.services import auth, staff
from telemed.web.assets import serve_asset, service_worker
from telemed.web.labels import LANGUAGE_NAMES

bp = Blueprint("web", __name__)

HOME_BY_ROLE = {"feldsher": "web.post", "doctor": "web.doctor", "admin": "web.admin"}


def _role_page(role: str, template: str, **context):
    if current_user.role != role:
        abort(403)
    return render_template(template, **context)


@bp.get("/static/<path:filename>")
def static_file(filename: str):
    """A file the pages use, under its content-hashed name, cached for good (web/assets.py)."""
    return serve_asset(filename)


@bp.get("/sw.js")
@login_required
def offline_shell():
    """The post's service worker: its pages open with no line (web/assets.py)."""
    from telemed.web.labels import labels_script_url

    return service_worker([labels_script_url()])


@bp.get("/healthz")
def healthz():
    """200 when the database answers."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/")
def home():
    """Send each role to its own screen."""
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    return redirect(url_for(HOME_BY_ROLE[current_user.role]))


@bp.route("/login", methods=["GET", "POST"])
@limiter.shared_limit(login_rate_limit, scope="login-address", methods=["POST"])
@limiter.shared_limit(login_account_rate_limit, scope="login-account", methods=["POST"],
                      key_func=login_account_key, deduct_when=failed_login)
def login():
    """The login form; a successful login goes on to the page asked for (local paths only)."""
    error = None
    if request.method == "POST":
        try:
            user, login_id = auth.authenticate(request.form.get("username", ""),
                                     request.form.get("password", ""), ip=request.remote_addr)
        except ServiceError as exc:
            error = exc.message
        else:
            sessions.begin(user, login_id)
            # The pages' form token, set with this answer's cookie, so the first page after a
            # login does not set the cookie again (a third of a kilobyte on a 2G line).
            generate_csrf()
            if request.args.get("lang") in current_app.config["TELEMED"].locales:
                staff.choose_locale(user, request.args["lang"])  # chosen on this page: kept
            target = request.args.get("next", "")
            # Only ever follow a local path, never another site; otherwise straight to the role's
            # own screen (not through "/": one round trip less, most of a second on 2G).
            if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
                target = url_for(HOME_BY_ROLE[user.role])
            return redirect(target)
    return render_template("login.html", error=error, languages=_languages()), 401 if error else 200


def _languages() -> list[tuple[str, str]]:
    """The offered languages, each by its own name (codes and names in LANGUAGE_NAMES)."""
    return [(code, LANGUAGE_NAMES[code]) for code in current_app.config["TELEMED"].locales]


@bp.post("/logout")
@login_required
def logout():
    """End the session."""
    sessions.end(current_user, request.remote_addr)
    return redirect(url_for("web.login"))


@bp.get("/post")
@login_required
def post():
    """The post's screen: new request, open requests, follow-ups."""
    return _post_page()


def _post_page(values: dict | None = None, error: ServiceError | None = None, status: int = 200):
    """The post's screen, its form filled with what was sent and the reason it was refused."""
    values = values or {"client_key": str(uuid.uuid4())}  # one key per form: a resend is a retry
    from telemed.schemas.consultation import form_rules

    page = _role_page("feldsher", "post.html", priorities=PRIORITIES, specialties=SPECIALTIES,
                      sexes=SEXES, avpu=AVPU, values=values, error=error, rules=form_rules())
    return page, status


@bp.post("/post")
@login_required
@limiter.limit(write_rate_limit, key_func=user_rate_key)
def post_request():
    """The request form sent without JavaScript (or before it loaded): open the request and show
    it; refused, the page comes back with everything typed and the reason. No patient data ever
    goes into a URL."""
    from telemed.schemas.common import validated
    from telemed.schemas.consultation import ConsultationCreateSchema, consultation_body_from_form
    from telemed.services.consultations import create_consultation

    try:
        data = validated(ConsultationCreateSchema(), consultation_body_from_form(request.form))
        consultation, _created = create_consultation(current_user, data)
    except ServiceError as error:
        db.session.rollback()
        return _post_page(request.form.to_dict(), error, error.status)
    return redirect(url_for("web.consultation", consultation_id=consultation.id), code=303)


@bp.get("/doctor")
@login_required
def doctor():
    """The doctor's screen: the live queue and their active consultations."""
    settings = current_app.config["TELEMED"]
    thresholds = {"emergency": settings.escalation_emergency_s,
                  "urgent": settings.escalation_urgent_s, "routine": settings.escalation_routine_s}
    return _role_page("doctor", "doctor.html", thresholds=thresholds)


@bp.get("/admin")
@login_required
def admin():
    """The administrator's overview: consultations, escalations, doctors on duty."""
    return _role_page("admin", "admin.html", statuses=STATUSES)


ADMIN_PAGES = {"reports": "admin_reports.html", "audit": "admin_audit.html",
               "coverage": "admin_coverage.html", "certifications": "admin_certifications.html",
               "import": "admin_import.html", "staff": "admin_staff.html",
               "facilities": "admin_facilities.html"}


@bp.get("/admin/<page>")
@login_required
def admin_page(page: str):
    """One of the administrator's pages (reports, coverage, certifications, ...)."""
    if page not in ADMIN_PAGES:
        abort(404)
    return _role_page("admin", ADMIN_PAGES[page], professions=PROFESSIONS, roles=ROLES,
                      specialties=SPECIALTIES, facility_kinds=FACILITY_KINDS,
                      today=district_today().isoformat())


@bp.get("/me")
@login_required
def me():
    """The signed-in person's own page: their language and their certifications."""
    return render_template("me.html", languages=_languages())


@bp.post("/me/language")
@login_required
def choose_language():
    """Keep the language the person chose (or none: the browser's) and show the page in it."""
    chosen = request.form.get("locale") or None
    if chosen is not None and chosen not in current_app.config["TELEMED"].locales:
        abort(400)
    staff.choose_locale(current_user, chosen)
    return redirect(url_for("web.me"), code=303)


@bp.get("/consultations/<uuid:consultation_id>")
@login_required
def consultation(consultation_id: uuid.UUID):
    """One consultation: details, timeline, chat, closing (404 outside the user's scope)."""
    from telemed.services.consultations import ensure_visible

    ensure_visible(current_user, consultation_id)
    return render_template("consultation.html", consultation_id=str(consultation_id),
                           dispositions=DISPOSITIONS, specialties=SPECIALTIES)


@bp.app_template_filter("localtime")
def _localtime(moment, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") if moment else ""


@bp.app_context_processor
def _page_context():
    from flask_babel import get_locale

    from telemed.web.labels import LABELS, labels_script_url, page_settings

    return {"labels": LABELS, "labels_script_url": labels_script_url, "page_settings": page_settings,
            "get_locale": get_locale,
            "certification_notice": _certification_notice}


def _certification_notice() -> list[dict]:
    """The signed-in person's certifications that lapse within 90 days or have lapsed."""
    if not current_user.is_authenticated:
        return []
    from telemed.services.certifications import current_holdings

    return [h for h in current_holdings(current_user.id) if h["status"] in ("expiring", "expired")]


@bp.get("/consultations/<uuid:consultation_id>/print")
@login_required
def consultation_print(consultation_id: uuid.UUID):
    """The one-page printable summary of a consultation."""
    from telemed.services.clinical_codes import icd10_title
    from telemed.services.consultations import get_consultation

    consultation = get_consultation(current_user, consultation_id, ip=request.remote_addr)
    from flask_babel import get_locale

    language = str(get_locale())
    codes = [(code, icd10_title(code, language))
             for code in (consultation.outcome.icd10 if consultation.outcome else [])]
    return render_template("print.html", c=consultation, codes=codes,
                           timezone=current_app.config["TELEMED"].timezone)
