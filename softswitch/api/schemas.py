"""JSON Schemas of the API's bodies, by name: the OpenAPI document's `components.schemas`."""

from __future__ import annotations

from typing import Any, Final

Schema = dict[str, Any]


def _object(properties: Schema, required: tuple[str, ...] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


_STRING: Final[Schema] = {"type": "string"}
_INT: Final[Schema] = {"type": "integer"}
_TIME: Final[Schema] = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: Final[Schema] = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_STRING: Final[Schema] = {"type": ["string", "null"]}

SCHEMAS: Final[dict[str, Schema]] = {
    "Error": _object({"error": _STRING, "status": _INT}),
    "TokenRequest": _object({"username": _STRING, "password": _STRING}),
    "Token": _object({"token": _STRING, "expires_at": _TIME, "username": _STRING, "role": _STRING}),
    "User": _object(
        {
            "username": _STRING,
            "role": {"type": "string", "enum": ["admin", "supervisor", "agent"]},
            "agent": _NULLABLE_STRING,
            "extension": _NULLABLE_STRING,
            "teams": {"type": "array", "items": _STRING},
        }
    ),
    "Leg": _object(
        {"leg_id": _INT, "side": _STRING, "state": _STRING, "held": {"type": "boolean"}}
    ),
    "Call": _object(
        {
            "call_id": _INT,
            "caller": _STRING,
            "callee": _STRING,
            "direction": _STRING,
            "state": _STRING,
            "started_at": _TIME,
            "answered_at": _NULLABLE_TIME,
            "legs": {"type": "array", "items": {"$ref": "#/components/schemas/Leg"}},
        }
    ),
    "CallList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}}}
    ),
    "Registration": _object(
        {
            "extension": _STRING,
            "contact": _STRING,
            "source": _STRING,
            "user_agent": _STRING,
            "expires_at": _TIME,
        }
    ),
    "RegistrationList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Registration"}}}
    ),
    "Trunk": _object(
        {
            "name": _STRING,
            "address": _STRING,
            "context": _STRING,
            "inbound_auth": {"type": "boolean"},
            "outbound_auth": {"type": "boolean"},
        }
    ),
    "TrunkList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Trunk"}}}
    ),
    "LogRecord": _object(
        {
            "time": _TIME,
            "level": _STRING,
            "logger": _STRING,
            "message": _STRING,
            "security": {"type": "boolean"},
        }
    ),
    "LogRecordList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/LogRecord"}}}
    ),
    "Event": _object({"name": _STRING, "timestamp": _TIME, "data": {"type": "object"}}),
}
