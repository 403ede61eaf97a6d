"""The HTTP/WebSocket models: what the OpenAPI document promises is what the parsers accept."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.web.openapi import openapi_document
from afon.web.protocol import (
    CONTROL_NAMES,
    ControlMessage,
    ProtocolError,
    SettingsMessage,
    parse_control,
    parse_message,
    parse_settings,
)

SCHEMAS = openapi_document()["components"]["schemas"]


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
    return jsonschema.Draft202012Validator(schema)


CONTROL_SCHEMA = _validator("Control")
SETTINGS_SCHEMA = _validator("Settings")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(-1, 200) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=4,
)
control_fields = st.sampled_from(["control", "action", "source", "t_ms", "id", "bogus"])
control_values = st.sampled_from([*CONTROL_NAMES, "press", "release", "af-on", "AF_IN"])
control_objects = st.dictionaries(control_fields, control_values | json_values, max_size=5)
settings_fields = st.sampled_from(
    ["profile", "focus_mode", "drive", "burst_fps", "af_area", "af_point", "id", "colour"]
)
settings_values = st.sampled_from(
    ["AF-S", "AF-C", "MF", "single", "continuous", "zone", "tracking", "bbf", [0.3, 0.5], 0.05]
)
settings_objects = st.dictionaries(settings_fields, settings_values | json_values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(control_objects)
def test_control_parser_agrees_with_the_documented_schema(obj: dict[str, Any]) -> None:
    documented = CONTROL_SCHEMA.is_valid(obj)
    try:
        msg = parse_control(obj)
    except ProtocolError as exc:
        assert not documented, (obj, exc)
        assert exc.field in (*obj, "control", "action", ""), exc
        assert str(exc).startswith(f"{exc.field}: ")
        return
    assert isinstance(msg, ControlMessage)
    # the parser also takes af-on / shutter (case and - are free): the schema names canonical forms
    assert documented or str(obj.get("control")).upper().replace("-", "_") in CONTROL_NAMES


@settings(max_examples=300, deadline=None)
@given(settings_objects)
def test_settings_parser_agrees_with_the_documented_schema(obj: dict[str, Any]) -> None:
    documented = SETTINGS_SCHEMA.is_valid(obj)
    try:
        msg = parse_settings(obj)
    except ProtocolError as exc:
        # only "nothing to change" (just an id) is refused beyond the schema
        assert not documented or set(obj) == {"id"}, (obj, exc)
        return
    assert documented, obj
    assert isinstance(msg, SettingsMessage) and set(msg.changes) == set(obj) - {"id"}


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_text_is_a_message_or_a_protocol_error(data: str | bytes) -> None:
    try:
        parse_message(data)
    except ProtocolError as exc:
        assert exc.reply()["type"] == "error" and str(exc)


def test_wording_is_kept() -> None:
    cases = {
        '{"type": "control", "control": "AF_IN", "action": "press"}': (
            "control: unknown control 'AF_IN' (controls: AF_ON, AF_OFF"
        ),
        '{"type": "control", "control": 3, "action": "press"}': "control: expected one of AF_ON",
        '{"type": "control", "control": "AF_ON", "action": "hold"}': (
            "action: expected press or release, got 'hold'"
        ),
        '{"type": "control", "control": "AF_ON", "action": "press", "t_ms": "now"}': (
            "t_ms: expected a number, got 'now'"
        ),
        '{"type": "control", "control": "AF_ON", "action": "press", "x": 1}': (
            "x: unknown field (fields: control, action, source, t_ms, id)"
        ),
        '{"type": "settings", "drive": "burst"}': (
            "drive: expected one of single, continuous, got 'burst'"
        ),
        '{"type": "settings", "focus_mode": null}': "focus_mode: expected one of AF-S, AF-C, MF",
        '{"type": "settings", "burst_fps": 1000}': "burst_fps: expected a number from 0.1 to 120",
        '{"type": "settings", "af_point": [0.5]}': "af_point: expected [x, y] within 0..1",
        '{"type": "settings", "id": 3}': "settings: nothing to change",
        '{"type": "keys", "keys": [1]}': "keys: expected an object of action: [key codes]",
        '{"type": "ping", "t_ms": NaN}': "t_ms: expected a number, got nan",
        '{"type": "dance"}': "type: unknown message type 'dance'",
    }
    for text, start in cases.items():
        with pytest.raises(ProtocolError) as err:
            parse_message(text)
        assert str(err.value).startswith(start), (text, str(err.value))
    msg = parse_message(json.dumps({"type": "control", "control": "af-on", "action": "press"}))
    assert isinstance(msg, ControlMessage) and msg.name == "AF_ON"


def test_schemas_come_from_the_models() -> None:
    control = SCHEMAS["Control"]
    assert control["required"] == ["control", "action"]
    assert control["additionalProperties"] is False
    assert control["properties"]["control"]["enum"] == list(CONTROL_NAMES)
    settings_ = SCHEMAS["Settings"]
    changes = [{"required": [name]} for name in settings_["properties"] if name != "id"]
    assert settings_["anyOf"] == changes and len(changes) >= 8  # at least one change, not id
    assert settings_["properties"]["burst_fps"]["minimum"] == 0.1
    assert set(SCHEMAS["State"]["required"]) >= {"af_state", "lens_d", "held"}
