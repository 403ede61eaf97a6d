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

from afon.config import Table, load_toml, parse_toml
from afon.controls import Control, ControlEvent
from afon.errors import AfonError

ACTIONS = ("press", "release", "tap")


@dataclass(frozen=True)
class Script:
    events: tuple[ControlEvent, ...]
    duration_s: float


def load_script(path: str | Path) -> Script:
    return parse_script(load_toml(path))


def parse_script_text(text: str, source: str = "script") -> Script:
    return parse_script(parse_toml(text, source))


def _controls(t: Table, key: str) -> tuple[Control, ...]:
    name = t.string(key)
    if name.strip().upper() == "SHUTTER":
        return (Control.SHUTTER_HALF, Control.SHUTTER_FULL)
    try:
        return (Control.parse(name),)
    except AfonError as exc:
        raise t.error(key, str(exc)) from None


def parse_script(doc: Table) -> Script:
    events: list[ControlEvent] = []
    for ev in doc.tables("events"):
        t_s = ev.number("t_s", min=0.0, max=3600.0)
        controls = _controls(ev, "control")
        action = ev.string("action", "tap", choices=ACTIONS)
        hold_s = ev.number("hold_s", 0.1, min=0.0, max=3600.0)
        ev.finish()
        if action in ("press", "tap"):
            events += [ControlEvent(c, True, t_s) for c in controls]
        if action == "release":
            events += [ControlEvent(c, False, t_s) for c in reversed(controls)]
        if action == "tap":
            events += [ControlEvent(c, False, t_s + hold_s) for c in reversed(controls)]
    events.sort(key=lambda e: e.t_s)  # stable: same-time order kept
    last = events[-1].t_s if events else 0.0
    duration = doc.number("duration_s", last + 0.5, min=0.0, max=3600.0)
    if duration < last:
        raise doc.error("duration_s", f"ends at {duration:g} s, before the last event ({last:g} s)")
    doc.finish()
    return Script(tuple(events), duration)
