"""The messages between the page (or any client) and `afon serve`, and their validation.

Client → server messages are JSON objects of at most `MAX_MESSAGE_BYTES`, with a `type`:

| type | fields | meaning |
|---|---|---|
| `control` | `control`, `action` (press/release); `source`, `t_ms`, `id` | a control event |
| `settings` | `profile`, `focus_mode`, `drive`, `burst_fps`, `af_area`, `af_point` | settings |
| `keys` | `keys`: a key map (see `afon.web.keys`) | replace the key map |
| `release_all` | – | let go of all this client holds (page hidden, focus lost) |
| `ping` | optional `t_ms` | keeps this client's held controls alive; answered by `pong` |

`control` is a `Control` name or `SHUTTER` (the whole two-stage button: half then full).
`source` names what pressed it (`key:KeyA`, `button:af-on`): a control is held while any source
holds it. `t_ms` is the client's wall-clock time of the input (epoch milliseconds), used to
measure latency. The HTTP API takes the same `control` and `settings` objects without `type`.

Anything invalid raises `ProtocolError`, whose message names the field; the server answers it with
`{"type": "error", "error": ..., "field": ...}` and carries on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from afon.body import AF_AREA_SIZES
from afon.controls import Control
from afon.errors import AfonError
from afon.profile import FOCUS_MODES

MAX_MESSAGE_BYTES = 4096
"""Largest message (WebSocket text or HTTP body) accepted, in bytes."""

SHUTTER = "SHUTTER"
DRIVES = ("single", "continuous")
CONTROL_NAMES = (*(c.value for c in Control), SHUTTER)


class ProtocolError(AfonError):
    """A malformed or invalid message; `field` names the offending field ("" for the whole)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def reply(self) -> dict[str, Any]:
        return {"type": "error", "error": str(self), "field": self.field}


@dataclass(frozen=True)
class ControlMessage:
    controls: tuple[Control, ...]
    pressed: bool
    source: str = ""
    t_ms: float | None = None
    id: int | str | None = None

    @property
    def name(self) -> str:
        return SHUTTER if len(self.controls) == 2 else self.controls[0].value


@dataclass(frozen=True)
class SettingsMessage:
    changes: dict[str, Any]
    id: int | str | None = None


@dataclass(frozen=True)
class KeysMessage:
    keys: dict[str, Any]
    id: int | str | None = None


@dataclass(frozen=True)
class ReleaseAllMessage:
    pass


@dataclass(frozen=True)
class PingMessage:
    t_ms: float | None = None


Message = ControlMessage | SettingsMessage | KeysMessage | ReleaseAllMessage | PingMessage


def decode_json(data: str | bytes) -> dict[str, Any]:
    """Decode one message: size-checked JSON object."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message too large ({len(raw)} bytes, limit {MAX_MESSAGE_BYTES})")
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_message(data: str | bytes) -> Message:
    """Parse one WebSocket message from a client."""
    obj = decode_json(data)
    kind = obj.get("type")
    if kind == "control":
        return parse_control(obj, allowed=("type",))
    if kind == "settings":
        return parse_settings(obj, allowed=("type",))
    if kind == "keys":
        _only(obj, ("type", "keys", "id"))
        keys = obj.get("keys")
        if not isinstance(keys, dict):
            raise ProtocolError("keys: expected an object of action: [key codes]", "keys")
        return KeysMessage(keys, _id(obj))
    if kind == "release_all":
        _only(obj, ("type",))
        return ReleaseAllMessage()
    if kind == "ping":
        _only(obj, ("type", "t_ms"))
        return PingMessage(_opt_number(obj, "t_ms"))
    if kind is None:
        raise ProtocolError("type: missing (control, settings, keys, release_all, ping)", "type")
    raise ProtocolError(
        f"type: unknown message type {kind!r} (control, settings, keys, release_all, ping)", "type"
    )


def parse_control(obj: dict[str, Any], allowed: tuple[str, ...] = ()) -> ControlMessage:
    _only(obj, (*allowed, "control", "action", "source", "t_ms", "id"))
    name = obj.get("control")
    if not isinstance(name, str):
        raise ProtocolError(f"control: expected one of {', '.join(CONTROL_NAMES)}", "control")
    key = name.strip().upper().replace("-", "_")
    if key == SHUTTER:
        controls: tuple[Control, ...] = (Control.SHUTTER_HALF, Control.SHUTTER_FULL)
    else:
        try:
            controls = (Control.parse(name),)
        except AfonError:
            raise ProtocolError(
                f"control: unknown control {name!r} (controls: {', '.join(CONTROL_NAMES)})",
                "control",
            ) from None
    action = obj.get("action")
    if action not in ("press", "release"):
        raise ProtocolError(f"action: expected press or release, got {action!r}", "action")
    source = obj.get("source", "")
    if not isinstance(source, str) or len(source) > 64:
        raise ProtocolError("source: expected text of at most 64 characters", "source")
    return ControlMessage(controls, action == "press", source, _opt_number(obj, "t_ms"), _id(obj))


def parse_settings(obj: dict[str, Any], allowed: tuple[str, ...] = ()) -> SettingsMessage:
    """Validate a settings change; values are checked here, profile names by the server."""
    fields = ("profile", "focus_mode", "drive", "burst_fps", "af_area", "af_point")
    _only(obj, (*allowed, *fields, "id"))
    changes: dict[str, Any] = {}
    if "profile" in obj:
        value = obj["profile"]
        if not isinstance(value, str) or not value or len(value) > 200:
            raise ProtocolError("profile: expected a profile name", "profile")
        changes["profile"] = value
    for name, choices in (
        ("focus_mode", FOCUS_MODES),
        ("drive", DRIVES),
        ("af_area", tuple(AF_AREA_SIZES)),
    ):
        if name in obj:
            value = obj[name]
            if value not in choices:
                raise ProtocolError(
                    f"{name}: expected one of {', '.join(choices)}, got {value!r}", name
                )
            changes[name] = value
    if "burst_fps" in obj:
        fps = _opt_number(obj, "burst_fps")
        if fps is None or not 0.1 <= fps <= 120:
            raise ProtocolError("burst_fps: expected a number from 0.1 to 120", "burst_fps")
        changes["burst_fps"] = fps
    if "af_point" in obj:
        point = obj["af_point"]
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(_is_number(v) and 0.0 <= float(v) <= 1.0 for v in point)
        ):
            raise ProtocolError("af_point: expected [x, y] within 0..1 of the frame", "af_point")
        changes["af_point"] = (float(point[0]), float(point[1]))
    if not changes:
        raise ProtocolError(f"settings: nothing to change (fields: {', '.join(fields)})")
    return SettingsMessage(changes, _id(obj))


def _only(obj: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in obj:
        if key not in allowed:
            raise ProtocolError(f"{key}: unknown field (fields: {', '.join(allowed)})", key)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _opt_number(obj: dict[str, Any], key: str) -> float | None:
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    if not _is_number(value):
        raise ProtocolError(f"{key}: expected a number, got {value!r}", key)
    return float(value)


def _id(obj: dict[str, Any]) -> int | str | None:
    value = obj.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError("id: expected an integer or short text", "id")
    if isinstance(value, str) and len(value) > 64:
        raise ProtocolError("id: at most 64 characters", "id")
    return value
