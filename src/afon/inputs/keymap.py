"""The input key map: one TOML file binding controls to GPIO pins, evdev keys and browser keys.

```toml
debounce_ms = 20          # edges closer than this to the last accepted one are contact bounce
max_hold_s = 30           # a press held longer is ended by the watchdog (with a warning)

[max_hold]                # per-action overrides of max_hold_s
SHUTTER = 120

[gpio]                    # BCM pin numbers; buttons wired to ground (pull-up, active low)
AF_ON = 17
SHUTTER = 27              # the two-stage shutter as one button: press = half + full

[encoder]                 # a rotary encoder on GPIO as the focus ring (MF, and DMF after AF-S)
a = 5                     # BCM pins of its A and B outputs (C to ground)
b = 6
step_d = 0.02             # dioptres per detent, clockwise towards near focus
button = 13               # optional: its push switch (SW, to ground), the magnify button

[evdev]                   # Linux input devices: USB footswitches, keyboards, remotes
device = "FootSwitch"     # a path, or (part of) the name `afon inputs` lists
grab = true               # the default for a named device: its keys reach only afon
AF_ON = "KEY_A"
SHUTTER = "KEY_B"

[keys]                    # the terminal afon runs in: one character (or space / enter / tab)
AF_ON = "a"               # AF_ON, AF_OFF, SHUTTER_HALF toggle: press once to hold, again to let go
SHUTTER = "space"         # the others are a press and a release (a tap)

[keyboard]                # the browser viewfinder: KeyboardEvent.code names (see afon.web.keys)
AF_ON = "KeyA"
```

On the command line the same bindings take an inline form: ``gpio:af_on=17,shutter=27``,
``evdev:af_on=KEY_A,shutter=KEY_B,device=/dev/input/event3,grab=no``, or ``keys`` (the terminal,
with `DEFAULT_TERMINAL_KEYS`) / ``keys:af_on=a,shutter=space``.

Every error is a `ConfigError` naming the file (or ``--inputs``) and the field. This is afon's
one key-map parser: the `[keyboard]` section is checked by `afon.web.keys.parse_keymap` (the
same rules as a map the browser sends), and `load_keyboard_map` reads a `--keys` file too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from afon.config import TomlDoc, UserModel, load_toml, parse_toml, read_user_file
from afon.controls import Control
from afon.errors import ConfigError
from afon.web.keys import KeyMap, default_keymap, parse_keymap

ACTION_CONTROLS: dict[str, tuple[Control, ...]] = {
    "AF_ON": (Control.AF_ON,),
    "AF_OFF": (Control.AF_OFF,),
    "SHUTTER_HALF": (Control.SHUTTER_HALF,),
    "SHUTTER": (Control.SHUTTER_HALF, Control.SHUTTER_FULL),
    "AF_POINT_UP": (Control.AF_POINT_UP,),
    "AF_POINT_DOWN": (Control.AF_POINT_DOWN,),
    "AF_POINT_LEFT": (Control.AF_POINT_LEFT,),
    "AF_POINT_RIGHT": (Control.AF_POINT_RIGHT,),
    "AF_POINT_CENTRE": (Control.AF_POINT_CENTRE,),
}
"""What each bindable action presses on the body (in order; released in reverse)."""

BCM_PINS = range(0, 28)
"""BCM GPIO numbers on a Raspberry Pi header."""

DEFAULT_DEBOUNCE_S = 0.020
DEFAULT_MAX_HOLD_S = 30.0
SECTIONS = ("gpio", "encoder", "evdev", "keyboard", "keys")
DEFAULT_ENCODER_STEP_D = 0.02
"""Focus ring per encoder detent: 50 detents (about two turns of a 24-detent encoder) across
a 1 D range, fine enough for a 50 mm lens's depth of focus at f/1.8."""
DEFAULT_TERMINAL_KEYS = {"AF_ON": "a", "AF_OFF": "o", "SHUTTER_HALF": "h", "SHUTTER": " "}
"""``--inputs keys``: a toggles AF-ON, o AF-OFF, h the half press; space releases the shutter."""
KEY_NAMES = {"space": " ", "enter": "\n", "return": "\n", "tab": "\t"}


@dataclass(frozen=True)
class EncoderPins:
    """A rotary encoder: BCM pins of A and B, dioptres per detent, and its push button's pin."""

    a: int
    b: int
    step_d: float = DEFAULT_ENCODER_STEP_D
    button: int | None = None


@dataclass
class InputMap:
    """Validated bindings of every kind."""

    gpio: dict[str, int] = field(default_factory=dict)
    evdev: dict[str, str] = field(default_factory=dict)
    evdev_device: str | None = None
    evdev_grab: bool | None = None
    """None: grab a device given by name or path, not one picked automatically."""
    keyboard: dict[str, list[str]] = field(default_factory=dict)
    terminal: dict[str, str] = field(default_factory=dict)
    """action -> the character that presses it in the terminal (``--inputs keys``)."""
    debounce_s: float = DEFAULT_DEBOUNCE_S
    max_hold_s: float = DEFAULT_MAX_HOLD_S
    max_hold_overrides: dict[str, float] = field(default_factory=dict)
    encoder: EncoderPins | None = None
    """The focus-ring encoder (`afon.inputs.encoder`), if any."""

    def max_hold_for(self, action: str) -> float:
        return self.max_hold_overrides.get(action, self.max_hold_s)

    def merged(self, other: InputMap) -> InputMap:
        """These settings with each kind of binding `other` gives replacing ours (used for
        --inputs over --keymap: a section given on the command line replaces the file's)."""
        return InputMap(
            gpio=dict(other.gpio) if other.gpio else dict(self.gpio),
            evdev=dict(other.evdev) if other.evdev else dict(self.evdev),
            evdev_device=other.evdev_device if other.evdev else self.evdev_device,
            evdev_grab=other.evdev_grab if other.evdev else self.evdev_grab,
            keyboard=dict(other.keyboard) if other.keyboard else dict(self.keyboard),
            terminal=dict(other.terminal) if other.terminal else dict(self.terminal),
            debounce_s=self.debounce_s,
            max_hold_s=self.max_hold_s,
            max_hold_overrides=dict(self.max_hold_overrides),
            encoder=other.encoder if other.encoder is not None else self.encoder,
        )


def action_name(text: str) -> str | None:
    """`af-on`, `af_on`, `AF_ON` → `AF_ON`; None when unknown."""
    key = text.strip().upper().replace("-", "_")
    return key if key in ACTION_CONTROLS else None


def _evdev_codes() -> set[str] | None:
    try:
        from evdev import ecodes
    except Exception:  # not installed, or not Linux
        return None
    return {name for name in dir(ecodes) if name.startswith(("KEY_", "BTN_"))}


# --- the file, section by section -------------------------------------------------------------
Pin = Annotated[int, Field(ge=BCM_PINS.start, le=BCM_PINS.stop - 1)]
HoldSeconds = Annotated[float, Field(gt=0.0, le=86400.0)]


class EvdevSection(UserModel):
    """``[evdev]``: the device, whether to grab it, and ACTION = "KEY_NAME" lines."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str]

    device: str | None = None
    grab: bool | str | None = None
    """true / false; the inline form writes yes / no."""


class EncoderSection(UserModel):
    """`[encoder]`: the focus-ring encoder's pins and its dioptres per detent."""

    a: Pin
    b: Pin
    step_d: float = Field(DEFAULT_ENCODER_STEP_D, gt=0.0, le=1.0)
    button: Pin | None = None


class KeyMapFile(UserModel):
    """A key-map TOML file. Section keys are action names (any case, ``-`` or ``_``), checked
    after the types by `_actions` (unknown ones, one action given twice, one key bound twice)."""

    debounce_ms: float | None = Field(None, ge=0.0, le=1000.0)
    max_hold_s: HoldSeconds | None = None
    max_hold: dict[str, HoldSeconds] = Field(default_factory=dict)
    gpio: dict[str, Pin] = Field(default_factory=dict)
    encoder: EncoderSection | None = None
    evdev: EvdevSection | None = None
    keys: dict[str, str] = Field(default_factory=dict)
    keyboard: dict[str, Any] | None = None


def _actions(section: dict[str, Any], source: str, prefix: str) -> list[tuple[str, str, Any]]:
    """(raw key, action, value) of a section; unknown names are errors naming the field."""
    out: list[tuple[str, str, Any]] = []
    seen: dict[str, str] = {}
    for raw, value in section.items():
        action = action_name(raw)
        if action is None:
            raise ConfigError(
                source,
                f"{prefix}.{raw}",
                f"unknown control (controls: {', '.join(ACTION_CONTROLS)})",
            )
        if action in seen:
            raise ConfigError(source, f"{prefix}.{raw}", f"given twice (also as {seen[action]!r})")
        seen[action] = raw
        out.append((raw, action, value))
    return out


def _gpio(section: dict[str, int], source: str) -> dict[str, int]:
    result: dict[str, int] = {}
    owner: dict[int, str] = {}
    for raw, action, pin in _actions(section, source, "gpio"):
        if pin in owner:
            raise ConfigError(source, f"gpio.{raw}", f"pin {pin} is already bound to {owner[pin]}")
        owner[pin] = action
        result[action] = pin
    return result


def _evdev(section: EvdevSection, source: str) -> tuple[dict[str, str], str | None, bool | None]:
    codes = _evdev_codes()
    grab: bool | None = None
    if isinstance(section.grab, str):  # the inline form: grab=yes / no
        word = section.grab.strip().lower()
        if word not in ("yes", "no", "true", "false", "1", "0"):
            raise ConfigError(source, "evdev.grab", f"expected yes or no, got {section.grab!r}")
        grab = word in ("yes", "true", "1")
    else:
        grab = section.grab
    result: dict[str, str] = {}
    owner: dict[str, str] = {}
    for raw, action, value in _actions(section.__pydantic_extra__, source, "evdev"):
        name = value.strip().upper()
        where = f"evdev.{raw}"
        if not name.startswith(("KEY_", "BTN_")):
            raise ConfigError(
                source, where, f"{name!r} is not an evdev key name (such as KEY_A, BTN_0)"
            )
        if codes is not None and name not in codes:
            raise ConfigError(
                source, where, f"unknown evdev key name {name!r} (see `evtest` for names)"
            )
        if name in owner:
            raise ConfigError(source, where, f"key {name} is already bound to {owner[name]}")
        owner[name] = action
        result[action] = name
    return result, section.device, grab


def _terminal(section: dict[str, str], source: str) -> dict[str, str]:
    result: dict[str, str] = {}
    owner: dict[str, str] = {}
    for raw, action, text in _actions(section, source, "keys"):
        char = KEY_NAMES.get(text.strip().lower(), text if len(text) == 1 else "")
        where = f"keys.{raw}"
        if len(char) != 1 or (char.isspace() and char not in KEY_NAMES.values()):
            raise ConfigError(
                source, where, f"expected one character, or space / enter / tab; got {text!r}"
            )
        if char in owner:
            raise ConfigError(source, where, f"key {text!r} is already bound to {owner[char]}")
        owner[char] = action
        result[action] = char
    return result


def _keyboard(section: dict[str, Any], source: str) -> dict[str, list[str]]:
    try:
        return parse_keymap(section, source)
    except ConfigError as exc:
        raise ConfigError(exc.source, f"keyboard.{exc.field}", exc.problem) from None


def parse_input_map(doc: TomlDoc) -> InputMap:
    """Validate a parsed key-map document."""
    f = doc.validate(KeyMapFile)
    source = doc.source
    result = InputMap()
    if f.debounce_ms is not None:
        result.debounce_s = f.debounce_ms / 1000.0
    if f.max_hold_s is not None:
        result.max_hold_s = f.max_hold_s
    for _, action, hold_s in _actions(f.max_hold, source, "max_hold"):
        result.max_hold_overrides[action] = hold_s
    result.gpio = _gpio(f.gpio, source)
    if f.encoder is not None:
        e = f.encoder
        if e.a == e.b:
            raise ConfigError(source, "encoder.b", f"pin {e.b} is also the encoder's a")
        if e.button is not None and e.button in (e.a, e.b):
            which = "a" if e.button == e.a else "b"
            raise ConfigError(
                source, "encoder.button", f"pin {e.button} is also the encoder's {which}"
            )
        for field_name, pin in (("a", e.a), ("b", e.b), ("button", e.button)):
            owner = next((a for a, p in result.gpio.items() if p == pin), None)
            if owner is not None:
                raise ConfigError(
                    source, f"encoder.{field_name}", f"pin {pin} is already bound to {owner}"
                )
        result.encoder = EncoderPins(e.a, e.b, e.step_d, e.button)
    if f.evdev is not None:
        result.evdev, result.evdev_device, result.evdev_grab = _evdev(f.evdev, source)
    result.terminal = _terminal(f.keys, source)
    if f.keyboard is not None:
        result.keyboard = _keyboard(f.keyboard, source)
    return result


def load_input_map(path: str | Path) -> InputMap:
    """Read and validate a key-map TOML file."""
    return parse_input_map(load_toml(path))


def load_keyboard_map(path: str | Path) -> KeyMap:
    """The browser key map of a file: JSON (action = keys), or TOML, either a key-map file
    (its `[keyboard]` section; none: the defaults) or bare action = keys lines."""
    p = Path(path)
    text = read_user_file(p)
    if p.suffix.lower() != ".toml":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(p, "", f"invalid JSON: {exc}") from None
        return parse_keymap(data, str(p))
    doc = parse_toml(text, str(p))
    if any(isinstance(doc.data.get(s), dict) for s in SECTIONS) or "debounce_ms" in doc.data:
        return parse_input_map(doc).keyboard or default_keymap()
    return parse_keymap(doc.data, str(p))


def parse_inline(text: str, source: str = "--inputs") -> InputMap:
    """Parse ``gpio:af_on=17,shutter=27`` or ``evdev:af_on=KEY_A,device=/dev/input/event3``.

    Several groups may be joined with ``;`` (``gpio:af_on=17;evdev:shutter=KEY_B``).
    """
    data: dict[str, Any] = {}
    for group in (g.strip() for g in text.split(";")):
        if not group:
            continue
        kind, sep, rest = group.partition(":")
        kind = kind.strip().lower()
        if kind == "keys" and not rest.strip():
            if kind in data:
                raise ConfigError(source, kind, "given twice")
            data["keys"] = {
                a: ("space" if c == " " else c) for a, c in DEFAULT_TERMINAL_KEYS.items()
            }
            continue
        if not sep or kind not in ("gpio", "encoder", "evdev", "keys"):
            raise ConfigError(
                source,
                group,
                "expected gpio:CONTROL=PIN,..., encoder:a=PIN,b=PIN[,step_d=D][,button=PIN], "
                "evdev:CONTROL=KEY_NAME,... or keys[:CONTROL=KEY,...]",
            )
        if kind in data:
            raise ConfigError(source, kind, "given twice")
        section: dict[str, Any] = {}
        for item in (i.strip() for i in rest.split(",")):
            if not item:
                continue
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise ConfigError(source, f"{kind}.{item}", "expected CONTROL=VALUE")
            if key in section:
                raise ConfigError(source, f"{kind}.{key}", "given twice")
            if kind == "gpio" or (kind == "encoder" and key in ("a", "b", "button")):
                try:
                    section[key] = int(value)
                except ValueError:
                    raise ConfigError(
                        source, f"{kind}.{key}", f"expected a BCM pin number, got {value!r}"
                    ) from None
            elif kind == "encoder" and key == "step_d":
                try:
                    section[key] = float(value)
                except ValueError:
                    raise ConfigError(
                        source, f"{kind}.{key}", f"expected dioptres per detent, got {value!r}"
                    ) from None
            else:
                section[key] = value
        data[kind] = section
    if not data:
        raise ConfigError(source, "", "no bindings given")
    return parse_input_map(TomlDoc(data, source))
