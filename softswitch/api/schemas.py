"""JSON Schemas of the API's bodies, by name: the OpenAPI document's `components.schemas`."""

from __future__ import annotations

from typing import Any, Final

from softswitch.api.events import EVENT_ACLS

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
_NUMBER: Final[Schema] = {"type": "number"}
_NULLABLE_NUMBER: Final[Schema] = {"type": ["number", "null"]}
_NULLABLE_INT: Final[Schema] = {"type": ["integer", "null"]}
_MODE: Final[Schema] = {"type": "string", "enum": ["listen", "whisper", "barge"]}

SCHEMAS: Final[dict[str, Schema]] = {
    "Error": _object({"error": _STRING, "status": _INT}),
    "TokenRequest": _object({"username": _STRING, "password": _STRING}),
    "OriginateRequest": _object(
        {
            "from": {"type": "string", "minLength": 1, "maxLength": 64},
            "to": {"type": "string", "minLength": 1, "maxLength": 64},
            "caller_id": {"type": "string", "maxLength": 64},
        },
        ("from", "to"),
    ),
    "CallCreated": _object({"call_id": _INT}),
    "ConferenceRequest": _object(
        {
            "target": {"type": "string", "minLength": 1, "maxLength": 64},
            "leg_id": {"type": "integer", "minimum": 1},
        },
        ("target",),
    ),
    "TransferRequest": _object(
        {
            "leg_id": {"type": "integer", "minimum": 1},
            "target": {"type": "string", "minLength": 1, "maxLength": 64},
            "attended": {"type": "boolean", "default": False},
        },
        ("leg_id", "target"),
    ),
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
            "recording": {"type": "string", "enum": ["recording", "paused", "none"]},
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
    "Event": _object(
        {
            "name": {"type": "string", "enum": sorted(EVENT_ACLS)},
            "timestamp": _TIME,
            "data": {"type": "object"},
        }
    ),
    # the data of call_held and call_resumed (by: "phone" re-INVITE, or "control" the API)
    "CallHeldData": _object(
        {
            "call_id": _INT,
            "leg_id": _INT,
            "party": _STRING,
            "by": {"type": "string", "enum": ["phone", "control"]},
            "caller": _STRING,
            "callee": _STRING,
        }
    ),
    # the data of call_transferred (REFER, the in-call codes #1 / *2, or the API)
    "CallTransferredData": _object(
        {
            "call_id": _INT,
            "caller": _STRING,
            "transferred_by": _STRING,
            "target": _STRING,
            "kind": {"type": "string", "enum": ["blind", "attended"]},
        }
    ),
    # ---- the call centre (api/centre.py)
    "PauseRequest": _object({"reason": _STRING}, required=()),
    "MoveRequest": _object({"queue": _STRING}),
    "Agent": _object(
        {
            "agent": _STRING,
            "state": {
                "type": "string",
                "enum": ["logged out", "ready", "not ready", "offered", "on call", "wrap-up"],
            },
            "reason": _NULLABLE_STRING,
            "since": _NULLABLE_TIME,
            "time_in_state_s": _NUMBER,
            "call_id": _NULLABLE_INT,
            "calls_handled": _INT,
            "talk_s": _NUMBER,
            "wrap_up_s": _NUMBER,
            "queues": {"type": "array", "items": _STRING},
        }
    ),
    "AgentList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}
    ),
    "WaitingCaller": _object(
        {"call_id": _NULLABLE_INT, "caller": _STRING, "position": _INT, "wait_s": _NUMBER}
    ),
    "QueueStatistics": _object(
        {
            "queue": _STRING,
            "interval": {"type": "string", "enum": ["15m", "30m", "60m", "today"]},
            "offered": _INT,
            "answered": _INT,
            "abandoned": _INT,
            "short_abandoned": _INT,
            "answered_within": _INT,
            "abandoned_within": _INT,
            "service_level": _NULLABLE_NUMBER,
            "asa_s": _NULLABLE_NUMBER,
            "aht_s": _NULLABLE_NUMBER,
            "abandon_rate": _NULLABLE_NUMBER,
            "answer_rate": _NULLABLE_NUMBER,
            "waiting": _INT,
            "longest_wait_s": _NUMBER,
            "agents_by_state": {"type": "object", "additionalProperties": _INT},
        }
    ),
    "Queue": _object(
        {
            "queue": _STRING,
            "name": _STRING,
            "agents": {"type": "array", "items": _STRING},
            "callers": {"type": "array", "items": {"$ref": "#/components/schemas/WaitingCaller"}},
            "statistics": {"$ref": "#/components/schemas/QueueStatistics"},
        }
    ),
    "QueueList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Queue"}}}
    ),
    # answer from a screen, intercept (api/answer.py)
    "AnswerRequest": _object({"extension": {"type": "string", "minLength": 1}}, required=()),
    "InterceptRequest": _object({"extension": {"type": "string", "minLength": 1}}, required=()),
    "Answering": _object({"call_id": _INT, "leg_id": _INT, "extension": _STRING}),
    "Interception": _object(
        {"call_id": _INT, "agent": _STRING, "supervisor": _STRING, "leg_id": _INT}
    ),
    # supervision (api/supervision.py)
    "SuperviseRequest": _object({"mode": _MODE, "extension": _STRING}, required=("mode",)),
    "SupervisionModeRequest": _object({"mode": _MODE}),
    "Supervision": _object(
        {
            "supervision_id": _INT,
            "call_id": _INT,
            "agent": _STRING,
            "supervisor": _STRING,
            "mode": _MODE,
            "state": {"type": "string", "enum": ["ringing", "active", "waiting", "ended"]},
        }
    ),
    "SupervisionList": _object(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Supervision"}}}
    ),
}
