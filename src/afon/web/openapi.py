"""The OpenAPI 3.1 description of afon's HTTP/JSON API, served at ``GET /api/openapi.json``.

The schemas are generated from the pydantic models of `afon.web.protocol` (the same models that
validate the requests), so the document and the validation cannot drift apart; only the paths,
their summaries and the shared error answers are written here. It covers every ``/api/`` route of
`afon.web.server` (a test checks routes ⇄ document); the WebSocket (``/ws``) and the page are not
part of it. The access rules are those of `afon.web.security`: on a loopback server started
without ``--token`` no token is needed; otherwise every ``/api/`` request carries the pairing
token as ``Authorization: Bearer TOKEN`` (or a paired browser's session cookie; a ``?token=`` in
the URL is refused), and a request with an ``Origin``
header must come from the server's own origin (else 403).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from afon import __version__
from afon.web.keys import keymap_json_schema
from afon.web.protocol import (
    ControlRequest,
    DrillStartRequest,
    ErrorReply,
    HistoryReply,
    InfoReply,
    KeyMap,
    KeysReply,
    KeysRequest,
    SettingsRequest,
    ShotDeletedReply,
    ShotReply,
    ShotsReply,
    StateReply,
)
from afon.web.security import SESSION_COOKIE

_JSON = "application/json"

_MODELS: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {
    "Control": (ControlRequest, "validation"),
    "Settings": (SettingsRequest, "validation"),
    "DrillStart": (DrillStartRequest, "validation"),
    "KeysRequest": (KeysRequest, "validation"),
    "KeyMap": (KeyMap, "validation"),
    "Error": (ErrorReply, "serialization"),
    "State": (StateReply, "serialization"),
    "Info": (InfoReply, "serialization"),
    "Keys": (KeysReply, "serialization"),
    "Shots": (ShotsReply, "serialization"),
    "Shot": (ShotReply, "serialization"),
    "ShotDeleted": (ShotDeletedReply, "serialization"),
    "History": (HistoryReply, "serialization"),
}
"""Component name → (model, which side of it the schema describes)."""


def _schemas() -> dict[str, Any]:
    """JSON Schemas of the models (draft 2020-12, which OpenAPI 3.1 uses), under our names."""
    names = {model.__name__: name for name, (model, _) in _MODELS.items()}
    _, top = models_json_schema(list(_MODELS.values()), ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top["$defs"]
    out = {names.get(key, key): schema for key, schema in defs.items()}
    text_refs = {f"#/$defs/{key}": f"#/components/schemas/{names.get(key, key)}" for key in defs}
    for schema in out.values():
        for prop in schema.get("properties", {}).values():
            # "left out = no change" fields: null is their default here, never a valid value
            if prop.get("default", 0) is None and not _allows_null(prop):
                del prop["default"]
    # a settings request changes at least one setting: its `id` alone is no change (the model
    # says minProperties 1, which `{"id": 1}` meets; the parser answers it 400)
    settings = out["Settings"]
    settings.pop("minProperties", None)
    settings["anyOf"] = [{"required": [name]} for name in settings["properties"] if name != "id"]
    out["KeyMap"] |= keymap_json_schema()  # the rules of afon.web.keys.parse_keymap
    rewritten: dict[str, Any] = _rewrite_refs(out, text_refs)
    return rewritten


def _allows_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    return (
        kinds == "null"
        or (isinstance(kinds, list) and "null" in kinds)
        or any(_allows_null(s) for s in schema.get("anyOf", []))
    )


def _rewrite_refs(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (refs.get(v, v) if k == "$ref" and isinstance(v, str) else _rewrite_refs(v, refs))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v, refs) for v in node]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    """References to the shared error responses: `codes` plus 401 and 403 (the access rules)."""
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in (*codes, 401, 403)}


def _ok(schema: dict[str, Any], description: str, *errors: int) -> dict[str, Any]:
    return {"200": _json(schema, description)} | _errors(*errors)


def _get(op_id: str, summary: str, schema: dict[str, Any], what: str, *errors: int) -> Any:
    return {"operationId": op_id, "summary": summary, "responses": _ok(schema, what, *errors)}


_OBJECT = {"type": "object", "additionalProperties": True}
_JPEG = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
_N = {
    "name": "n",
    "in": "path",
    "required": True,
    "description": "shot number (`index` in /api/shots)",
    "schema": {"type": "integer", "minimum": 0},
}

_PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": _get("getOpenApi", "This description", _OBJECT, "the OpenAPI document")
    },
    "/api/state": {
        "get": _get(
            "getState", "Current AF state, lens position and settings", _ref("State"), "body state"
        )
    },
    "/api/info": {
        "get": _get(
            "getInfo",
            "Server facts: camera, profiles, choices, key map, limits",
            _ref("Info"),
            "server facts",
        )
    },
    "/api/control": {
        "post": {
            "operationId": "postControl",
            "summary": "Press or release a control (AF_ON, SHUTTER, ...)",
            "description": "A press over HTTP holds for `lease_s` seconds unless repeated or "
            "released, so a lost client can never leave AF running.",
            "requestBody": _body(_ref("Control")),
            "responses": _ok(_OBJECT, "the control's new state and `lease_s`", 400, 413, 503),
        }
    },
    "/api/settings": {
        "post": {
            "operationId": "postSettings",
            "summary": "Change profile, focus mode, drive, burst rate, AF area or AF point",
            "requestBody": _body(_ref("Settings")),
            "responses": _ok(_OBJECT, "the settings after the change", 400, 409, 413, 503),
        }
    },
    "/api/shots": {
        "get": _get(
            "listShots", "Shots taken since the server started", _ref("Shots"), "shot records"
        )
    },
    "/api/shots/{n}": {
        "get": {
            "operationId": "getShot",
            "summary": "One shot: its gallery entry and its whole record (the sidecar)",
            "parameters": [_N],
            "responses": _ok(_ref("Shot"), "the shot", 404),
        },
        "delete": {
            "operationId": "deleteShot",
            "summary": "Delete a shot's JPEG and sidecar (the gallery is told)",
            "parameters": [_N],
            "responses": _ok(_ref("ShotDeleted"), "what was deleted", 404, 409),
        },
    },
    "/api/shots/{n}/image": {
        "get": {
            "operationId": "getShotImage",
            "summary": "A shot's JPEG (download=1: as an attachment, Content-Disposition)",
            "parameters": [
                _N,
                {
                    "name": "download",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["0", "1"]},
                },
            ],
            "responses": {"200": {"description": "the image", "content": _JPEG}}
            | _errors(400, 404),
        }
    },
    "/api/shots/{n}/thumb": {
        "get": {
            "operationId": "getShotThumb",
            "summary": "A shot's thumbnail JPEG",
            "parameters": [_N],
            "responses": {"200": {"description": "the thumbnail", "content": _JPEG}} | _errors(404),
        }
    },
    "/api/keys": {
        "get": _get("getKeys", "The browser key bindings", _ref("Keys"), "key map"),
        "post": {
            "operationId": "setKeys",
            "summary": "Replace the browser key bindings (over the defaults)",
            "requestBody": _body({"oneOf": [_ref("KeysRequest"), _ref("KeyMap")]}),
            "responses": _ok(_ref("Keys"), "the key map now in force", 400, 409, 413),
        },
    },
    "/api/trainer/drills": {
        "get": _get(
            "listDrills",
            "Trainer drills and the trainer's status",
            _OBJECT,
            "drills and status",
            404,
        )
    },
    "/api/trainer/start": {
        "post": {
            "operationId": "startDrill",
            "summary": "Start a trainer drill",
            "requestBody": _body(_ref("DrillStart")),
            "responses": _ok(_OBJECT, "trainer status", 400, 413, 503),
        }
    },
    "/api/trainer/stop": {
        "post": {
            "operationId": "stopDrill",
            "summary": "Stop the running drill (empty body allowed)",
            "requestBody": _body(_OBJECT, required=False),
            "responses": _ok(_OBJECT, "trainer status and the session result", 400, 409, 413, 503),
        }
    },
    "/api/trainer/history": {
        "get": {
            "operationId": "trainerHistory",
            "summary": "Past trainer sessions, optionally of one drill",
            "parameters": [
                {"name": "drill", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "technique",
                    "in": "query",
                    "required": False,
                    "description": "with `drill`: bbf (default) or shutter-button AF's sessions",
                    "schema": {"type": "string", "enum": ["bbf", "shutter"]},
                },
                {
                    "name": "level",
                    "in": "query",
                    "required": False,
                    "description": "with `drill`: the level's sessions (default 1)",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 3},
                },
            ],
            "responses": _ok(_ref("History"), "sessions", 400, 404),
        }
    },
}

_RESPONSES = {
    f"E{code}": {"description": text, "content": {_JSON: {"schema": _ref("Error")}}}
    for code, text in (
        (400, "invalid request (`field` names the offending field)"),
        (401, "pairing token missing or wrong"),
        (403, "foreign Origin or Host"),
        (404, "not found"),
        (409, "valid, but in conflict with the current state (manual focus in AF-C, ...)"),
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
        "otherwise pass the pairing token as Authorization: Bearer TOKEN (a token in the URL "
        "is refused: URLs end up in logs, history and Referer headers). "
        "Requests with an Origin header must come from the server's own origin.",
    },
    "servers": [{"url": "/"}],
    "security": [{}, {"bearer": []}, {"session": []}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": SESSION_COOKIE,
                "description": "HttpOnly, SameSite=Strict; set after a request with the token",
            },
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer TOKEN",
            },
        },
        "schemas": _schemas(),
        "responses": _RESPONSES,
    },
}


def openapi_document(
    profiles: Sequence[str] | None = None, drills: Sequence[str] | None = None
) -> dict[str, Any]:
    """A fresh copy of the description (callers may change it freely).

    A server passes what it offers: `profiles` (its profile names) and `drills` (its trainer's
    drill names) become the enums of `profile` and `drill`, so that the served document says
    exactly which values that server accepts (a request with another is answered 400)."""
    doc = copy.deepcopy(OPENAPI)
    schemas = doc["components"]["schemas"]
    if profiles is not None:
        schemas["Settings"]["properties"]["profile"]["enum"] = list(profiles)
    if drills is not None:
        schemas["DrillStart"]["properties"]["drill"]["enum"] = list(drills)
        history = doc["paths"]["/api/trainer/history"]["get"]["parameters"]
        next(p for p in history if p["name"] == "drill")["schema"]["enum"] = list(drills)
    return doc
