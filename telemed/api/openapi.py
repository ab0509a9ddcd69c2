"""The OpenAPI description of /api/v1, generated from the routes and their declared schemas."""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify
from marshmallow import Schema, fields

from telemed.api.blueprint import bp

ERROR_STATUSES = {
    "400": "bad_request: malformed JSON, or a missing or wrong CSRF token",
    "401": "unauthenticated: log in first",
    "403": "forbidden: the role may not do this",
    "404": "not_found: no such object, or outside the caller's scope",
    "409": "conflict or at_capacity",
    "413": "payload_too_large",
    "422": "validation_error, with `fields` naming each bad field",
    "429": "rate_limited",
    "503": "unavailable: the database did not answer in time; try again after Retry-After seconds",
}
CONVERTERS = {"uuid": {"type": "string", "format": "uuid"}, "int": {"type": "integer"},
              "default": {"type": "string"}}


class ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(),
                          values=fields.Raw())


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


def _operation(view, method: str, path_params: list[dict], plugin: MarshmallowPlugin) -> dict:
    doc = (view.__doc__ or "").strip().splitlines()
    roles = getattr(view, "required_roles", None)
    who = ("anyone logged in" if roles == () else ", ".join(roles)) if roles is not None else "anyone"
    operation = {
        "operationId": f"{method.lower()}_{view.__name__}",
        "summary": doc[0] if doc else view.__name__.replace("_", " "),
        "description": f"Who: {who}.",
        "tags": [view.__module__.rsplit(".", 1)[-1]],
        "parameters": list(path_params),
        "responses": {code: {"description": text, "content": {"application/json": {"schema": "Error"}}}
                      for code, text in ERROR_STATUSES.items()},
    }
    operation["responses"]["200"] = {"description": "success (for a create: the stored object "
                                                    "of a repeated client_key, or a preview)"}
    if method == "POST":
        operation["responses"]["201"] = {"description": "created"}
    if method == "DELETE":
        operation["responses"]["204"] = {"description": "done"}
    if getattr(view, "api_query", None):
        operation["parameters"].append({"in": "query", "schema": view.api_query})
    if getattr(view, "api_body", None):
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": view.api_body}}}
    files = getattr(view, "api_files", ())
    if files:
        properties = {name: {"type": "string", "format": "binary"} for name in files}
        form = getattr(view, "api_form", None)
        # A form takes exactly these parts: a nameless or unknown part is refused (400/422).
        schema = {"type": "object", "required": list(files), "properties": properties,
                  "additionalProperties": False}
        if form is not None:
            schema["properties"].update({name: plugin.converter.field2property(field)
                                         for name, field in form().fields.items()})
            schema["required"] += [n for n, f in form().fields.items() if f.required]
        operation["requestBody"] = {"required": True,
                                    "content": {"multipart/form-data": {"schema": schema}}}
    return operation


def build_spec(app: Flask) -> dict:
    """Every route of the API blueprint, with its parameters, bodies and error shapes."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="telemed", version="1", openapi_version="3.0.3", plugins=[plugin],
        info={"description": "Teleconsultations between rural posts and doctors. Log in with "
                             "POST /api/v1/session; send the session cookie and, on unsafe "
                             "requests, the X-CSRFToken header it returned."},
        servers=[{"url": "/"}],
    )
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie", "name": "session"})
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith(f"{bp.name}."):
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:(\w+):)?(\w+)>", r"{\2}", rule.rule)
        path_params = [
            {"in": "path", "name": name, "required": True,
             "schema": CONVERTERS.get(type(converter).__name__.replace("Converter", "").lower(),
                                      CONVERTERS["default"])}
            for name, converter in rule._converters.items()
        ]
        operations = {method.lower(): _operation(view, method, path_params, plugin)
                      for method in sorted(rule.methods - {"HEAD", "OPTIONS"})}
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    cached = current_app.extensions.get("telemed_openapi")
    if cached is None:
        cached = current_app.extensions["telemed_openapi"] = build_spec(current_app)
    return jsonify(cached)
