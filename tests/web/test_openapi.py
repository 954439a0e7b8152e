"""The OpenAPI document comes from the routes' pydantic models, and a body or query that does not fit gets a 400
naming the field (and a log line), never a 422 or a 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify
from pydantic import BaseModel
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.web.api.base import Body, Response, endpoint
from hub.web.tokens import create_token


@pytest.fixture
def operator(state: Any) -> dict[str, str]:
    with session_scope(state.engine) as session:
        session.add(User(email="op@x.test", role="operator", password_hash=generate_password_hash("pw-long-enough")))
    return {"Authorization": f"Bearer {create_token(state.engine, 'op@x.test')}"}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_document_has_request_and_response_schemas_and_both_security_schemes(app: Any) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"][0]["url"].endswith("/api/v1")
    schemes = document["components"]["securitySchemes"]
    assert (schemes["session"]["type"], schemes["session"]["in"], schemes["session"]["name"]) == (
        "apiKey", "cookie", "session")
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert {"session": []} in document["security"] and {"bearer": []} in document["security"]
    paths = document["paths"]
    assert {"/openapi.json", "/stats", "/tickets", "/tags", "/tags/{tag_id}", "/tags/examples", "/tags/train",
            "/tags/train/{job_id}", "/fans/{fan_id}/interests", "/fans/{fan_id}/tags/{tag_id}",
            "/fans/{fan_id}/suggestions", "/fans/{fan_id}/messages", "/kb/proposals",
            "/kb/proposals/{proposal_id}/accept"} <= paths.keys()
    assert paths["/openapi.json"]["get"]["security"] == []  # the document itself is public

    create = paths["/tags"]["post"]
    body = _resolve(document, create["requestBody"]["content"]["application/json"]["schema"])
    assert body["required"] == ["name"] and {"name", "kind", "description", "keywords"} <= body["properties"].keys()
    created = _resolve(document, create["responses"]["201"]["content"]["application/json"]["schema"])
    assert {"id", "name", "kind", "keywords"} <= created["properties"].keys()
    assert {"400", "401", "403"} <= create["responses"].keys()
    invalid = _resolve(document, create["responses"]["400"]["content"]["application/json"]["schema"])
    assert {"error", "field", "errors"} <= invalid["properties"].keys()
    assert "operator" in create["description"]

    stats = _resolve(document, paths["/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"fans", "messages_in", "tickets", "jobs_queued"} <= stats["properties"].keys()
    names = {p["name"] for p in paths["/tickets"]["get"]["parameters"]}
    assert {"status", "assignee", "team", "q", "limit", "offset"} <= names
    reply = paths["/fans/{fan_id}/messages"]["post"]
    assert {p["name"]: p["in"] for p in reply["parameters"]} == {"fan_id": "path"}
    assert "text" in _resolve(document, reply["requestBody"]["content"]["application/json"]["schema"])["properties"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation["summary"], (path, method)
            assert any(code.startswith("2") for code in operation["responses"]), (path, method)


def test_every_api_route_is_declared_with_endpoint(app: Any) -> None:
    # A route under /api/v1 without `endpoint` would skip the role check and the document.
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            assert hasattr(app.view_functions[rule.endpoint], "api_access"), rule.rule


class EchoIn(Body):
    text: str


class EchoOut(BaseModel):
    text: str
    length: int


def test_a_new_route_declared_with_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    extra = Blueprint("extra", __name__, url_prefix="/api/v1")

    @extra.post("/echo")
    @endpoint(public=True, json=EchoIn, resp=Response(HTTP_200=EchoOut))
    def echo(json: EchoIn) -> Any:
        """Echo"""
        return jsonify(text=json.text, length=len(json.text))

    @extra.get("/broken")
    @endpoint(public=True, resp=Response(HTTP_200=EchoOut))
    def broken() -> Any:
        """An answer that does not match its model"""
        return jsonify(text="x")

    other = Flask("other")
    other.register_blueprint(extra)
    client = other.test_client()
    assert client.post("/api/v1/echo", json={"text": "你好"}).get_json() == {"text": "你好", "length": 2}
    assert client.post("/api/v1/echo", json={"text": 1}).get_json()["field"] == "text"
    caplog.set_level(logging.ERROR)
    mismatch = client.get("/api/v1/broken")
    assert mismatch.status_code == 500 and "did not match" in mismatch.get_json()["error"]
    assert any(r.__dict__.get("fields") == ["length"] for r in caplog.records)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": 5}, "name"),  # a wrong type
    ({"kind": "interest"}, "name"),  # missing
    ({"name": "美妆", "keywords": "口红"}, "keywords"),  # a string is not a list
    ({"name": "美妆", "colour": "red"}, "colour"),  # unknown field
])
def test_a_body_that_does_not_fit_gets_400_naming_the_field(app: Any, operator: dict[str, str], body: dict[str, Any],
                                                            field: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = app.test_client().post("/api/v1/tags", json=body, headers=operator)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["field"] == field and field in answer["error"] and answer["errors"][0]["field"] == field
    assert any(r.getMessage() == "API request refused" and r.__dict__.get("fields") == [field]
               for r in caplog.records)


def test_malformed_json_and_non_json_bodies_get_400(app: Any, operator: dict[str, str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    client = app.test_client()
    broken = client.post("/api/v1/tags", data='{"name": ', headers={**operator, "Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.get_json()["error"]
    form = client.post("/api/v1/tags", data={"name": "美妆"}, headers=operator)
    assert form.status_code == 400 and "Content-Type: application/json" in form.get_json()["error"]
    not_object = client.post("/api/v1/tags", json=["美妆"], headers=operator)
    assert not_object.status_code == 400 and "the body" in not_object.get_json()["error"]
    assert sum(r.getMessage() == "API request refused" for r in caplog.records) >= 3


def test_strict_types_and_valid_bodies(app: Any, operator: dict[str, str]) -> None:
    client = app.test_client()
    created = client.post("/api/v1/tags", json={"name": "美妆", "kind": "manual"}, headers=operator)
    assert created.status_code == 201
    tag_id = created.get_json()["id"]
    on_as_number = client.put(f"/api/v1/fans/1/tags/{tag_id}", json={"on": 1}, headers=operator)
    assert on_as_number.status_code == 400 and on_as_number.get_json()["field"] == "on"
    train = client.post("/api/v1/tags/train", json={"kind": "colour"}, headers=operator)
    assert train.status_code == 400 and train.get_json()["field"] == "kind"
    assert client.get("/api/v1/tickets?status=open", headers=operator).get_json()["items"] == []
    patched = client.patch(f"/api/v1/tags/{tag_id}", json={"description": "cosmetics"}, headers=operator)
    assert patched.status_code == 200 and patched.get_json()["description"] == "cosmetics"
    missing = client.patch("/api/v1/tags/999", json={}, headers=operator)
    assert missing.status_code == 404 and missing.get_json() == {"error": "no tag 999"}


def test_roles_are_checked_before_the_body(app: Any, state: Any, operator: dict[str, str]) -> None:
    with session_scope(state.engine) as session:
        session.add(User(email="agent@x.test", role="agent", password_hash="x"))
    agent = {"Authorization": f"Bearer {create_token(state.engine, 'agent@x.test')}"}
    assert app.test_client().post("/api/v1/tags", json={"name": 5}, headers=agent).status_code == 403
