"""The messages between the page (or any client) and `afon serve`, and their validation.

Client → server messages are JSON objects of at most `MAX_MESSAGE_BYTES`, with a `type`:

| type | fields | meaning |
|---|---|---|
| `control` | `control`, `action` (press/release); `source`, `t_ms`, `id` | a control event |
| `settings` | `profile`, `focus_mode`, `drive`, `af_point`, `magnify`, … | settings |
| `keys` | `keys`: a key map (see `afon.web.keys`) | replace the key map |
| `release_all` | – | let go of all this client holds (page hidden, focus lost) |
| `ping` | optional `t_ms` | keeps this client's held controls alive; answered by `pong` |

`control` is a `Control` name or `SHUTTER` (the whole two-stage button: half then full).
`source` names what pressed it (`key:KeyA`, `button:af-on`): a control is held while any source
holds it. `t_ms` is the client's wall-clock time of the input (epoch milliseconds), used to
measure latency. `settings` fields: see `SettingsRequest` (also `focus_ring_d`, `lens_d`,
`magnify`). The HTTP API takes the same `control` and `settings` objects without `type`.

Anything invalid raises `ProtocolError`, whose message names the field; the server answers it with
`{"type": "error", "error": ..., "field": ...}` and carries on.

The messages are pydantic v2 models (`ControlRequest`, `SettingsRequest`, the `*Message` types of
the WebSocket and the answers such as `StateReply`); `afon.web.openapi` generates the OpenAPI
document from the same models, so what is validated and what is documented cannot drift apart.
Errors are worded by `afon.config.problem_of`, as for user files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
)
from pydantic_core import ErrorDetails

from afon.body import AF_AREA_SIZES
from afon.config import problem_of
from afon.controls import Control
from afon.errors import AfonError
from afon.profile import FOCUS_MODES

MAX_MESSAGE_BYTES = 4096
"""Largest message (WebSocket text or HTTP body) accepted, in bytes."""

SHUTTER = "SHUTTER"
DRIVES = ("single", "continuous")
MAGNIFY_ZOOMS = (0, 5, 10)
"""Focus magnifier settings: off, 5×, 10× (`afon.cameras.sim.magnify`)."""
CONTROL_NAMES = (*(c.value for c in Control), SHUTTER)
MESSAGE_TYPES = ("control", "settings", "keys", "release_all", "ping")


class ProtocolError(AfonError):
    """A malformed or invalid message; `field` names the offending field ("" for the whole)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[ProtocolError], tuple[str, str]]:
        return type(self), (str(self), self.field)

    def reply(self) -> dict[str, Any]:
        return {"type": "error", "error": str(self), "field": self.field}


# --- the wire models ---------------------------------------------------------------------------
class Wire(BaseModel):
    """A client message: strict JSON types, finite numbers, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _control_name(value: Any) -> Any:
    """`af-on`, `af_on`, `shutter` → `AF_ON`, `SHUTTER` (anything else is left to fail)."""
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_")
        if key in CONTROL_NAMES:
            return key
    return value


ControlName = Annotated[Literal[CONTROL_NAMES], BeforeValidator(_control_name)]  # type: ignore[valid-type]
def _integral(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 (JSON Schema's "integer" says so too)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _no_bool(value: Any) -> Any:
    """true/false are not the numbers 1/0 (Python's bool is an int; a Literal of ints takes it)."""
    return repr(value).lower() if isinstance(value, bool) else value


JSON_SAFE_INT = 2**53
"""Integers a JavaScript client can hold exactly."""
JsonInt = Annotated[int, BeforeValidator(_integral)]
"""An integer field: 3 or 3.0, never "3" (the models are strict otherwise)."""

MessageId = Annotated[
    Annotated[JsonInt, Field(ge=-JSON_SAFE_INT, le=JSON_SAFE_INT)]
    | Annotated[str, Field(max_length=64)]
    | None,
    Field(description="echoed back in the answer"),
]


class ControlRequest(Wire):
    """Press or release a control (the body of POST /api/control)."""

    control: ControlName = Field(
        description="a control name, or SHUTTER (half then full); case and - for _ are free"
    )
    action: Literal["press", "release"]
    source: str = Field("", max_length=64, description="what pressed it: key:KeyA, button:af-on")
    t_ms: float | None = Field(None, description="client wall-clock time, epoch milliseconds")
    id: MessageId = None


class SettingsRequest(Wire):
    """Change settings (the body of POST /api/settings); at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # a field left out is no change; null is refused like any other wrong value
    profile: str = Field(None, min_length=1, max_length=200)  # type: ignore[assignment]
    focus_mode: Literal[FOCUS_MODES] = Field(None)  # type: ignore[valid-type]
    drive: Literal[DRIVES] = Field(None)  # type: ignore[valid-type]
    burst_fps: float = Field(None, ge=0.1, le=120)  # type: ignore[assignment]
    af_area: Literal[tuple(AF_AREA_SIZES)] = Field(None)  # type: ignore[valid-type]
    af_point: Annotated[
        list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=2, max_length=2)
    ] = Field(None, description="[x, y] within 0..1 of the frame")  # type: ignore[arg-type]
    focus_ring_d: float = Field(  # type: ignore[assignment]
        None,
        ge=-20.0,
        le=20.0,
        description="turn the focus ring by this many dioptres (MF, or AF-S+M after AF-S locked)",
    )
    lens_d: float = Field(  # type: ignore[assignment]
        None, ge=0.0, le=100.0, description="the focus ring to this position in dioptres (MF/DMF)"
    )
    magnify: Annotated[Literal[MAGNIFY_ZOOMS], BeforeValidator(_no_bool)] = Field(  # type: ignore[valid-type]
        None,
        description="focus magnifier: 0 = off, 5 or 10 = that magnification around the AF "
        "point, read at the sensor's resolution",
    )
    trap_focus: bool = Field(  # type: ignore[assignment]
        None,
        description="trap focus: with the shutter held and AF not running, release when the "
        "AF point's phase/contrast reading says in focus",
    )
    id: MessageId = None


class KeyMap(RootModel[dict[str, list[str] | str]]):
    """Action → KeyboardEvent.code names (one or a list); see `afon.web.keys`."""


W = TypeVar("W", bound="Wire")


class ControlWs(ControlRequest):
    type: Literal["control"]


class SettingsWs(SettingsRequest):
    type: Literal["settings"]


class KeysWs(Wire):
    type: Literal["keys"]
    keys: dict[str, Any] = Field(description="a key map: action → [key codes] (see KeyMap)")
    id: MessageId = None


class ReleaseAllWs(Wire):
    type: Literal["release_all"]


class PingWs(Wire):
    type: Literal["ping"]
    t_ms: float | None = None


class DrillStartRequest(Wire):
    """The body of POST /api/trainer/start."""

    drill: str = Field(description="a drill name from /api/trainer/drills")
    technique: Literal["bbf", "shutter"] = Field(
        "bbf", description="back-button AF (the drill's profile) or shutter-button AF, to compare"
    )
    level: JsonInt = Field(1, ge=1, le=3, description="1-3: tighter moment windows as you learn")


# --- the answers (documented; built by the server) ---------------------------------------------
class Reply(BaseModel):
    """An answer; servers may add fields."""

    model_config = ConfigDict(extra="allow")


class KeysRequest(Wire):
    """The body of POST /api/keys (a bare key map is taken too)."""

    keys: KeyMap


class ErrorReply(BaseModel):
    """The answer to an invalid request."""

    error: str
    field: str = Field("", description="the offending field, '' for the whole message")


class StateReply(Reply):
    """Snapshot of the body, as also pushed over the WebSocket (type 'state')."""

    type: str = "state"
    t_s: float
    camera: str
    profile: str
    focus_mode: str
    drive: str
    burst_fps: float
    af_area: str
    af_state: str = Field(description="Camera2 AF state name")
    locked: bool
    focused: bool | None
    lens_d: float | None
    lens_moving: bool
    held: list[str]
    magnify: int = Field(0, description="focus magnifier: 0 (off), 5 or 10")
    magnify_rect: list[float] | None = Field(
        None, description="[x0, y0, w, h] of the frame the magnified view shows (frame fractions)"
    )
    magnify_native: bool | None = Field(
        None, description="the camera read the magnified region itself (HUD: sensor, else crop)"
    )
    mf_assist: bool = Field(
        False, description="the magnifier is open because the focus ring turned (MF assist)"
    )
    input_notice: str | None = Field(
        None, description="the latest word of the physical inputs (GPIO, evdev)"
    )


class InfoReply(Reply):
    """Server facts: camera, profiles, choices, key map, limits."""

    version: str
    camera: str
    profiles: list[str]
    focus_modes: list[str]
    drives: list[str]
    af_areas: list[str]
    controls: list[str]
    keys: KeyMap
    default_keys: KeyMap
    page_actions: list[str]
    lease_s: float
    max_message_bytes: int
    token_required: bool


class KeysReply(BaseModel):
    """The key map now in force."""

    keys: KeyMap


class ShotsReply(BaseModel):
    """Shots taken since the server started."""

    shots: list[dict[str, Any]] = Field(description="shot records (afon.shots.ShotRecord)")


class ShotReply(BaseModel):
    """One shot, for the review viewer."""

    shot: dict[str, Any] = Field(description="its gallery entry (as in /api/shots)")
    record: dict[str, Any] = Field(description="its whole record, as in its sidecar")


class ShotDeletedReply(BaseModel):
    """A deleted shot."""

    deleted: int = Field(description="the shot's number")
    files: list[str] = Field(description="the files deleted (JPEG and sidecar)")


class HistoryReply(Reply):
    """Past trainer sessions, optionally of one drill."""

    drill: str | None
    sessions: list[dict[str, Any]]


# --- what the server works with ----------------------------------------------------------------
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


_WS_MODELS: dict[str, type[Wire]] = {
    "control": ControlWs,
    "settings": SettingsWs,
    "keys": KeysWs,
    "release_all": ReleaseAllWs,
    "ping": PingWs,
}


def parse_message(data: str | bytes) -> Message:
    """Parse one WebSocket message from a client."""
    obj = decode_json(data)
    kind = obj.get("type")
    if kind is None:
        raise ProtocolError(f"type: missing ({', '.join(MESSAGE_TYPES)})", "type")
    model = _WS_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError(
            f"type: unknown message type {kind!r} ({', '.join(MESSAGE_TYPES)})", "type"
        )
    msg = _validate(model, obj)
    if isinstance(msg, ControlRequest):
        return _control(msg)
    if isinstance(msg, SettingsRequest):
        return _settings(msg)
    if isinstance(msg, KeysWs):
        return KeysMessage(msg.keys, msg.id)
    if isinstance(msg, PingWs):
        return PingMessage(msg.t_ms)
    return ReleaseAllMessage()


def parse_control(obj: dict[str, Any]) -> ControlMessage:
    """Validate a control event (the HTTP body, without `type`)."""
    return _control(_validate(ControlRequest, obj))


def parse_settings(obj: dict[str, Any]) -> SettingsMessage:
    """Validate a settings change; values are checked here, profile names by the server."""
    return _settings(_validate(SettingsRequest, obj))


def parse_keys_request(obj: dict[str, Any]) -> Any:
    """The key map of a POST /api/keys body: `{"keys": {...}}` (nothing beside it), or a bare
    key map (its entries are checked by `afon.web.keys.parse_keymap`)."""
    if "keys" in obj:
        return _validate(KeysRequest, obj).keys.root
    return obj


def parse_drill_start(obj: dict[str, Any]) -> DrillStartRequest:
    return _validate(DrillStartRequest, obj)


def _control(msg: ControlRequest) -> ControlMessage:
    if msg.control == SHUTTER:
        controls: tuple[Control, ...] = (Control.SHUTTER_HALF, Control.SHUTTER_FULL)
    else:
        controls = (Control(msg.control),)
    return ControlMessage(controls, msg.action == "press", msg.source, msg.t_ms, msg.id)


_SETTING_FIELDS = (
    "profile",
    "focus_mode",
    "drive",
    "burst_fps",
    "af_area",
    "af_point",
    "focus_ring_d",
    "lens_d",
    "magnify",
    "trap_focus",
)


def _settings(msg: SettingsRequest) -> SettingsMessage:
    changes: dict[str, Any] = {
        name: getattr(msg, name) for name in _SETTING_FIELDS if name in msg.model_fields_set
    }
    if "af_point" in changes:
        changes["af_point"] = (float(changes["af_point"][0]), float(changes["af_point"][1]))
    if not changes:
        raise ProtocolError(f"settings: nothing to change (fields: {', '.join(_SETTING_FIELDS)})")
    return SettingsMessage(changes, msg.id)


def _validate(model: type[W], obj: dict[str, Any]) -> W:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # unknown fields first, then the fields in the order the model declares them
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise _protocol_error(model, first) from None


def _protocol_error(model: type[Wire], error: ErrorDetails) -> ProtocolError:
    name = str(error["loc"][0]) if error["loc"] else ""
    value = obj_value(error)
    known = [f for f in model.model_fields if f != "type"]
    if error["type"] == "extra_forbidden":
        return ProtocolError(f"{name}: unknown field (fields: {', '.join(known)})", name)
    if name in _PROBLEMS:
        return ProtocolError(f"{name}: {_PROBLEMS[name](value)}", name)
    return ProtocolError(f"{name}: {problem_of(error)}", name)


def obj_value(error: ErrorDetails) -> Any:
    """The offending value (None for a missing field)."""
    return None if error["type"] == "missing" else error.get("input")


def _choices(choices: tuple[str, ...]) -> Any:
    return lambda v: f"expected one of {', '.join(choices)}, got {v!r}"


_PROBLEMS: dict[str, Any] = {
    "control": lambda v: (
        f"unknown control {v!r} (controls: {', '.join(CONTROL_NAMES)})"
        if isinstance(v, str)
        else f"expected one of {', '.join(CONTROL_NAMES)}"
    ),
    "action": lambda v: f"expected press or release, got {v!r}",
    "source": lambda v: "expected text of at most 64 characters",
    "t_ms": lambda v: f"expected a number, got {v!r}",
    "id": lambda v: (
        "at most 64 characters" if isinstance(v, str) else "expected an integer or short text"
    ),
    "profile": lambda v: "expected a profile name",
    "focus_mode": _choices(FOCUS_MODES),
    "drive": _choices(DRIVES),
    "af_area": _choices(tuple(AF_AREA_SIZES)),
    "burst_fps": lambda v: "expected a number from 0.1 to 120",
    "af_point": lambda v: "expected [x, y] within 0..1 of the frame",
    "magnify": lambda v: f"expected one of {', '.join(map(str, MAGNIFY_ZOOMS))}, got {v!r}",
    "trap_focus": lambda v: f"expected true or false, got {v!r}",
    "keys": lambda v: "expected an object of action: [key codes]",
    "drill": lambda v: "required field is missing" if v is None else "expected a drill name",
}
"""The problem text of each field, as clients have seen it since the protocol began."""
