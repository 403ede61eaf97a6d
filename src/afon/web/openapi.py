"""The OpenAPI 3.1 description of afon's HTTP/JSON API, served at ``GET /api/openapi.json``.

It covers every ``/api/`` route of `afon.web.server`; the WebSocket (``/ws``) and the page are not
part of it. The access rules are those of `afon.web.security`: on a loopback server started
without ``--token`` no token is needed; otherwise every ``/api/`` request carries the pairing
token as ``?token=TOKEN`` or ``Authorization: Bearer TOKEN``, and a request with an ``Origin``
header must come from the server's own origin (else 403).
"""

from __future__ import annotations

import copy
from typing import Any

from afon import __version__
from afon.web.protocol import CONTROL_NAMES

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    """References to the shared error responses: `codes` plus 401 and 403 (the access rules)."""
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in (*codes, 401, 403)}


def _ok(schema: dict[str, Any], description: str, *errors: int) -> dict[str, Any]:
    return {"200": _json(schema, description)} | _errors(*errors)


_STATE = {
    "type": "object",
    "description": "Snapshot of the body, as also pushed over the WebSocket (type 'state').",
    "properties": {
        "type": {"type": "string"},
        "t_s": {"type": "number"},
        "camera": {"type": "string"},
        "profile": {"type": "string"},
        "focus_mode": {"type": "string"},
        "drive": {"type": "string"},
        "burst_fps": {"type": "number"},
        "af_area": {"type": "string"},
        "af_state": {"type": "string", "description": "Camera2 AF state name"},
        "locked": {"type": "boolean"},
        "focused": {"type": ["boolean", "null"]},
        "lens_d": {"type": ["number", "null"]},
        "lens_moving": {"type": "boolean"},
        "held": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": True,
}

_KEYMAP = {
    "type": "object",
    "description": "Action name → list of KeyboardEvent.code names.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

_CONTROL = {
    "type": "object",
    "required": ["control", "action"],
    "additionalProperties": False,
    "properties": {
        "control": {"type": "string", "enum": list(CONTROL_NAMES)},
        "action": {"type": "string", "enum": ["press", "release"]},
        "source": {"type": "string", "maxLength": 64},
        "t_ms": {"type": "number"},
        "id": {"description": "echoed back in the answer"},
    },
}

_SETTINGS = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "profile": {"type": "string", "minLength": 1, "maxLength": 200},
        "focus_mode": {"type": "string"},
        "drive": {"type": "string"},
        "burst_fps": {"type": "number", "minimum": 0.1, "maximum": 120},
        "af_area": {"type": "string"},
        "af_point": {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
            "minItems": 2,
            "maxItems": 2,
        },
        "id": {"description": "echoed back in the answer"},
    },
}

_OBJECT = {"type": "object", "additionalProperties": True}

_N = {
    "name": "n",
    "in": "path",
    "required": True,
    "description": "shot number (`index` in /api/shots)",
    "schema": {"type": "integer", "minimum": 0},
}

_PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This description",
            "responses": _ok(_OBJECT, "the OpenAPI document"),
        }
    },
    "/api/state": {
        "get": {
            "operationId": "getState",
            "summary": "Current AF state, lens position and settings",
            "responses": _ok({"$ref": "#/components/schemas/State"}, "body state"),
        }
    },
    "/api/info": {
        "get": {
            "operationId": "getInfo",
            "summary": "Server facts: camera, profiles, choices, key map, limits",
            "responses": _ok(
                {
                    "type": "object",
                    "properties": {
                        "version": {"type": "string"},
                        "camera": {"type": "string"},
                        "profiles": {"type": "array", "items": {"type": "string"}},
                        "focus_modes": {"type": "array", "items": {"type": "string"}},
                        "drives": {"type": "array", "items": {"type": "string"}},
                        "af_areas": {"type": "array", "items": {"type": "string"}},
                        "controls": {"type": "array", "items": {"type": "string"}},
                        "keys": {"$ref": "#/components/schemas/KeyMap"},
                        "default_keys": {"$ref": "#/components/schemas/KeyMap"},
                        "page_actions": {"type": "array", "items": {"type": "string"}},
                        "lease_s": {"type": "number"},
                        "max_message_bytes": {"type": "integer"},
                        "token_required": {"type": "boolean"},
                    },
                    "additionalProperties": True,
                },
                "server facts",
            ),
        }
    },
    "/api/control": {
        "post": {
            "operationId": "postControl",
            "summary": "Press or release a control (AF_ON, SHUTTER, ...)",
            "description": "A press over HTTP holds for `lease_s` seconds unless repeated or "
            "released, so a lost client can never leave AF running.",
            "requestBody": _body({"$ref": "#/components/schemas/Control"}),
            "responses": _ok(_OBJECT, "the control's new state and `lease_s`", 400, 413, 503),
        }
    },
    "/api/settings": {
        "post": {
            "operationId": "postSettings",
            "summary": "Change profile, focus mode, drive, burst rate, AF area or AF point",
            "requestBody": _body({"$ref": "#/components/schemas/Settings"}),
            "responses": _ok(_OBJECT, "the settings after the change", 400, 413, 503),
        }
    },
    "/api/shots": {
        "get": {
            "operationId": "listShots",
            "summary": "Shots taken since the server started",
            "responses": _ok(
                {
                    "type": "object",
                    "properties": {"shots": {"type": "array", "items": _OBJECT}},
                    "required": ["shots"],
                },
                "shot records",
            ),
        }
    },
    "/api/shots/{n}/image": {
        "get": {
            "operationId": "getShotImage",
            "summary": "A shot's JPEG",
            "parameters": [_N],
            "responses": {
                "200": {
                    "description": "the image",
                    "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                }
            }
            | _errors(404),
        }
    },
    "/api/shots/{n}/thumb": {
        "get": {
            "operationId": "getShotThumb",
            "summary": "A shot's thumbnail JPEG",
            "parameters": [_N],
            "responses": {
                "200": {
                    "description": "the thumbnail",
                    "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                }
            }
            | _errors(404),
        }
    },
    "/api/keys": {
        "get": {
            "operationId": "getKeys",
            "summary": "The browser key bindings",
            "responses": _ok(
                {"type": "object", "properties": {"keys": {"$ref": "#/components/schemas/KeyMap"}}},
                "key map",
            ),
        },
        "post": {
            "operationId": "setKeys",
            "summary": "Replace the browser key bindings (over the defaults)",
            "requestBody": _body(
                {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["keys"],
                            "properties": {"keys": {"$ref": "#/components/schemas/KeyMap"}},
                        },
                        {"$ref": "#/components/schemas/KeyMap"},
                    ]
                }
            ),
            "responses": _ok(
                {"type": "object", "properties": {"keys": {"$ref": "#/components/schemas/KeyMap"}}},
                "the key map now in force",
                400,
                413,
            ),
        },
    },
    "/api/trainer/drills": {
        "get": {
            "operationId": "listDrills",
            "summary": "Trainer drills and the trainer's status",
            "responses": _ok(_OBJECT, "drills and status", 404),
        }
    },
    "/api/trainer/start": {
        "post": {
            "operationId": "startDrill",
            "summary": "Start a trainer drill",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["drill"],
                    "additionalProperties": False,
                    "properties": {"drill": {"type": "string"}},
                }
            ),
            "responses": _ok(_OBJECT, "trainer status", 400, 413, 503),
        }
    },
    "/api/trainer/stop": {
        "post": {
            "operationId": "stopDrill",
            "summary": "Stop the running drill (empty body allowed)",
            "requestBody": _body(_OBJECT, required=False),
            "responses": _ok(_OBJECT, "trainer status and the session result", 400, 413, 503),
        }
    },
    "/api/trainer/history": {
        "get": {
            "operationId": "trainerHistory",
            "summary": "Past trainer sessions, optionally of one drill",
            "parameters": [
                {"name": "drill", "in": "query", "required": False, "schema": {"type": "string"}}
            ],
            "responses": _ok(
                {
                    "type": "object",
                    "properties": {
                        "drill": {"type": ["string", "null"]},
                        "sessions": {"type": "array", "items": _OBJECT},
                    },
                },
                "sessions",
                400,
                404,
            ),
        }
    },
}

_RESPONSES = {
    f"E{code}": {"description": text, "content": {_JSON: {"schema": _ERROR_REF}}}
    for code, text in (
        (400, "invalid request (`field` names the offending field)"),
        (401, "pairing token missing or wrong"),
        (403, "foreign Origin or Host"),
        (404, "not found"),
        (413, "body too large"),
        (503, "the body loop did not answer in time"),
    )
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "afon HTTP API",
        "version": __version__,
        "description": "Press and release controls, read AF state, change settings, list and "
        "fetch shots. On a server bound to loopback without --token no token is needed; "
        "otherwise pass the pairing token as ?token=TOKEN or Authorization: Bearer TOKEN. "
        "Requests with an Origin header must come from the server's own origin.",
    },
    "servers": [{"url": "/"}],
    "security": [{}, {"tokenQuery": []}, {"bearer": []}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {
            "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer TOKEN",
            },
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
            },
            "State": _STATE,
            "KeyMap": _KEYMAP,
            "Control": _CONTROL,
            "Settings": _SETTINGS,
        },
        "responses": _RESPONSES,
    },
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the description (callers may change it freely)."""
    return copy.deepcopy(OPENAPI)
