"""What every API view shares: body and query parsing, roles, the error shape."""
from __future__ import annotations

from functools import wraps

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema
from werkzeug.routing import IntegerConverter

from telemed.errors import BadRequest, ServiceError, Unauthenticated
from telemed.schemas.common import validated
from telemed.services.policy import require_role


def error_response(error: ServiceError):
    """DESIGN.md's error shape with the error's status."""
    return jsonify({"error": error.to_dict()}), error.status


def accepts(body: type[Schema] | None = None, query: type[Schema] | None = None,
            form: type[Schema] | None = None, files: tuple[str, ...] = (),
            max_bytes: int | None = None):
    """Declare what a view takes; json_body() and query_args() parse with exactly these schemas,
    and the OpenAPI description is generated from them, so the two cannot drift apart.
    `max_bytes` raises the request body limit for this view alone (enforced before anything,
    the CSRF check included, reads the body)."""
    def decorator(view):
        view.api_body, view.api_query, view.api_form, view.api_files = body, query, form, files
        view.api_max_bytes = max_bytes
        return view
    return decorator


def _declared(kind: str) -> Schema:
    view = current_app.view_functions[request.endpoint]
    schema = getattr(view, f"api_{kind}", None)
    if schema is None:
        raise RuntimeError(f"{request.endpoint} parses a {kind} it does not declare with @accepts")
    return schema()


def json_body() -> dict:
    """The request's JSON object, validated with the view's declared body schema; 400 when it is
    not JSON at all."""
    schema = _declared("body")
    if not request.is_json:
        raise BadRequest(_("Send a JSON body with Content-Type: application/json."))
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest(_("The body is not valid JSON."))
    if not isinstance(data, dict):
        raise BadRequest(_("The body must be a JSON object."))
    return validated(schema, data)


def query_args() -> dict:
    """The query string, validated with the view's declared query schema."""
    return validated(_declared("query"), request.args.to_dict())


def form_fields() -> dict:
    """The multipart form's fields, validated with the view's declared form schema."""
    return validated(_declared("form"), request.form.to_dict())


def roles_required(*roles: str):
    """Refuse (401 or 403) unless the caller is logged in with one of these roles."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                raise Unauthenticated(_("Log in first."))
            if roles:
                require_role(current_user, *roles)
            return view(*args, **kwargs)
        wrapper.required_roles = roles
        return wrapper
    return decorator


def page(items: list, total: int):
    """DESIGN.md's list shape."""
    return jsonify({"items": items, "total": total})


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` in a URL, at most 18 digits: an id no database column can hold (past 2^63 the
    SQLite driver overflows) matches no route and is a 404, never a 500. Bounded in the pattern,
    not in `to_python`, so that no other method's rule on the same path turns it into a 405."""

    regex = r"\d{1,18}"
