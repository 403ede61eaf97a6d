"""Scripts: timed control events for `afon shoot` (and scenarios), stored as TOML.

```toml
duration_s = 3.0            # optional: run until then (default: last event + 0.5 s)

[[events]]
t_s = 0.2                   # seconds on the virtual clock
control = "AF_ON"           # AF_ON, AF_OFF, SHUTTER_HALF, SHUTTER_FULL, AF_POINT_* or SHUTTER
action = "press"            # press | release | tap (press, then release after hold_s)
hold_s = 0.1                # for tap (default 0.1 s)
```

`SHUTTER` is the whole two-stage button: a press is half then full, a release full then half.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from afon.config import TomlDoc, UserModel, load_toml, parse_toml
from afon.controls import Control, ControlEvent
from afon.errors import AfonError, ConfigError

ACTIONS = ("press", "release", "tap")
MAX_S = 3600.0


def controls_of(name: str) -> tuple[Control, ...]:
    """`SHUTTER` → half + full; another name → its control (AfonError when unknown)."""
    if name.strip().upper() == "SHUTTER":
        return (Control.SHUTTER_HALF, Control.SHUTTER_FULL)
    return (Control.parse(name),)


def _control_name(name: str) -> str:
    try:
        controls_of(name)
    except AfonError as exc:
        raise PydanticCustomError("afon", str(exc)) from None
    return name


Seconds = Annotated[float, Field(ge=0.0, le=MAX_S)]


class ScriptEvent(UserModel):
    """One `[[events]]` table."""

    t_s: Seconds
    control: Annotated[str, AfterValidator(_control_name)]
    action: Literal["press", "release", "tap"] = "tap"
    hold_s: Seconds = 0.1


class ScriptFile(UserModel):
    """A script TOML file."""

    events: list[ScriptEvent]
    duration_s: Seconds | None = None


@dataclass(frozen=True)
class Script:
    events: tuple[ControlEvent, ...]
    duration_s: float


def load_script(path: str | Path) -> Script:
    return parse_script(load_toml(path))


def parse_script_text(text: str, source: str = "script") -> Script:
    return parse_script(parse_toml(text, source))


def parse_script(doc: TomlDoc) -> Script:
    f = doc.validate(ScriptFile)
    events: list[ControlEvent] = []
    for ev in f.events:
        controls = controls_of(ev.control)
        if ev.action in ("press", "tap"):
            events += [ControlEvent(c, True, ev.t_s) for c in controls]
        if ev.action == "release":
            events += [ControlEvent(c, False, ev.t_s) for c in reversed(controls)]
        if ev.action == "tap":
            events += [ControlEvent(c, False, ev.t_s + ev.hold_s) for c in reversed(controls)]
    events.sort(key=lambda e: e.t_s)  # stable: same-time order kept
    last = events[-1].t_s if events else 0.0
    duration = last + 0.5 if f.duration_s is None else f.duration_s
    if duration < last:
        raise ConfigError(
            doc.source, "duration_s", f"ends at {duration:g} s, before the last event ({last:g} s)"
        )
    return Script(tuple(events), duration)
