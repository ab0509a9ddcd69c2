"""Every refusal in DESIGN.md's error shape for the API, and a plain page for browsers."""
from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from telemed.api.common import error_response
from telemed.errors import (
    DATABASE_OUTAGES,
    RETRY_AFTER_S,
    BadRequest,
    Forbidden,
    InternalError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    Unauthenticated,
    Unavailable,
    database_unavailable,
)
from telemed.extensions import db, login_manager
from telemed.services import audit

_HTTP_ERRORS = {
    400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 413: PayloadTooLarge,
    429: RateLimited,
}


def _wants_json() -> bool:
    # An API URL opened by the browser itself (an export link an administrator clicked) gets a page
    # to read, not JSON text; every script and client asking the API for data gets the JSON shape.
    navigated = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    return request.path.startswith("/api/") and not navigated


def _respond(error: ServiceError):
    db.session.rollback()
    audit.record_refusal(current_user, error, f"{request.method} {request.path}", request.remote_addr)
    return _answer(error)


def _answer(error: ServiceError):
    """The refusal in DESIGN.md's shape, or as a page for a browser."""
    # A refusal for now, not for good: the client is told when to try again.
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(error, Unavailable) else {}
    if _wants_json():
        body, status = error_response(error)
        return body, status, headers
    return render_template("error.html", error=error), error.status, headers


def guard_request_bodies(app: Flask) -> None:
    """Refuse an anonymous call to a view that needs a login, apply a view's own body limit, and
    refuse a multipart form with a nameless part, all before anything reads the body (register this before CSRFProtect, whose check reads the form: under
    the app-wide limit it refused every attachment over 1 MiB, and a nameless part made it 500)."""

    @app.before_request
    def _guard_body():
        view = app.view_functions.get(request.endpoint)
        if hasattr(view, "required_roles") and not current_user.is_authenticated:
            # Who you are comes before whether your CSRF token is right: 401, not 400.
            raise Unauthenticated(_("Log in first."))
        if getattr(view, "api_max_bytes", None):
            request.max_content_length = view.api_max_bytes
        if request.mimetype == "multipart/form-data" and (
                {None, ""} & set(request.form.keys()) or {None, ""} & set(request.files.keys())):
            raise BadRequest(_("Every part of a multipart form needs a name."))


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that turn exceptions into DESIGN.md's error answers."""

    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError):
        return _respond(error)

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        return _respond(BadRequest(_("The CSRF token is missing or wrong; send X-CSRFToken.")))

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded):
        return _respond(RateLimited(_("Too many requests; wait a moment and try again.")))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        kind = _HTTP_ERRORS.get(error.code)
        if kind is None:
            if error.code == 405:
                body, status, headers = _respond(_MethodNotAllowed(_("This method is not allowed here.")))
                return body, status, {**headers, "Allow": ", ".join(sorted(error.valid_methods or ()))}
            if error.code >= 500:
                return _internal_error(error)
            return error
        messages = {
            400: _("The request is malformed."),
            401: _("Log in first."),
            403: _("You may not do this."),
            404: _("Not found."),
            413: _("The request body is too large."),
            429: _("Too many requests."),
        }
        # A URL that matches no route is not a refused access to anything (browsers ask for
        # /favicon.ico, scanners for /wp-admin): answered, not audited.
        unrouted = error.code == 404 and request.endpoint is None
        return _respond(kind(messages[error.code], audited=unrouted))

    def _database_unavailable(error: Exception):
        # Not a bug: the pool was exhausted past its timeout, the server went away or SQLite
        # stayed locked. Logged without a traceback, answered 503 so that clients retry (the
        # post's outbox keeps the request). Nothing below may touch the database again: a user
        # not loaded yet stays anonymous for the answer (language from the browser, plain page).
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                           error.__class__.__name__)
        try:
            db.session.rollback()
        except DATABASE_OUTAGES:
            db.session.remove()
        if "_login_user" not in g:
            g._login_user = login_manager.anonymous_user()
        return _answer(database_unavailable())

    for outage in DATABASE_OUTAGES:
        app.register_error_handler(outage, _database_unavailable)

    @app.errorhandler(Exception)
    def _internal_error(error: Exception):
        # A bug, not a refusal: logged with its traceback, answered in the error shape (no detail).
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        failure = InternalError(_("Something went wrong on the server; nothing was saved."))
        if _wants_json():
            return error_response(failure)
        return render_template("error.html", error=failure), failure.status

    @login_manager.unauthorized_handler
    def _unauthorized():
        if _wants_json():
            return error_response(Unauthenticated(_("Log in first.")))
        from flask import redirect, url_for

        return redirect(url_for("web.login", next=request.full_path))


class _MethodNotAllowed(ServiceError):
    status, code = 405, "method_not_allowed"
