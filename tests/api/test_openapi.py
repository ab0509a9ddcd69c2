"""The OpenAPI description: generated from the routes, so every route is in it."""
import re


def test_every_api_route_is_described(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes and routes == described


def test_bodies_queries_and_errors_come_from_the_schemas(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    create = spec["paths"]["/api/v1/consultations"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert set(schema["required"]) >= {"client_key", "patient", "complaint", "priority"}
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    listing = spec["paths"]["/api/v1/consultations"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"status", "facility_id", "from", "to", "limit", "offset"}
    accept = spec["paths"]["/api/v1/consultations/{consultation_id}/accept"]["post"]
    assert accept["parameters"][0] == {"in": "path", "name": "consultation_id", "required": True,
                                       "schema": {"type": "string", "format": "uuid"}}
    assert "doctor" in accept["description"]
    upload = spec["paths"]["/api/v1/consultations/{consultation_id}/attachments"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
