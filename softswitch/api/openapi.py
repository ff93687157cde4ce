"""The OpenAPI 3.1 document, generated from the route table so that it lists what is served."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from softswitch.api.routes import Route
from softswitch.api.schemas import SCHEMAS

OPENAPI_VERSION = "3.1.0"


def document(routes: Sequence[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "softswitch CTI API",
            "version": metadata.version("softswitch"),
            "description": (
                "Calls and events of the switch for screens and integrations. Log in with "
                "POST /api/v1/tokens, then send 'Authorization: Bearer TOKEN'. Each operation "
                "names the ACL it needs in x-acl; scope narrows it further (an agent reaches "
                "its own calls, a supervisor those of its teams' agents, an admin all)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "responses": {
            str(status): _response(description, schema)
            for status, (description, schema) in sorted(route.responses.items())
        },
    }
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in route.int_params
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in route.query.items()
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": not route.body_optional,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    if route.acl is not None:
        operation["security"] = [{"bearer": []}]
        operation["x-acl"] = route.acl
    else:
        operation["security"] = []
    return operation


def _response(description: str, schema: str | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": _ref(schema)}}
    return response


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}
