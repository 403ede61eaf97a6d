"""Profiles: a body's custom functions, stored as TOML, like the menus of real bodies.

Fields (`name`, `af_activation`, `focus_mode`, both priorities, `drive` and `af_area` are
required; the others default to: description empty, burst_fps 10, lock_on normal,
manual_override false, af_s_strategy hybrid, af_c_strategy predictive):

| field            | values                                     | meaning |
|------------------|--------------------------------------------|---------|
| name, description| text                                       | |
| af_activation    | `af-on-only` (BBF) / `shutter-and-af-on`   | which controls start AF |
| focus_mode       | `AF-S` / `AF-C` / `MF`                     | starting focus mode |
| af_s_priority    | `release` / `focus`                        | AF-S: shoot at once, or only when focused |
| af_c_priority    | `release` / `focus`                        | the same for AF-C |
| drive            | `single` / `continuous`                    | one shot per full press, or a burst while held |
| burst_fps        | number > 0                                 | continuous drive rate |
| af_area          | `single` / `zone` / `tracking`             | AF window: small, wide, or following the subject |
| lock_on          | `off` / `short` / `normal` / `long`, or s  | how long AF-C ignores a sudden jump in distance |
| manual_override  | true / false                               | after AF-S locks, the focus ring may adjust (AF-S+M) |
| af_s_strategy    | a single-shot strategy name                | e.g. `hybrid`, `contrast`, `phase`, `libcamera` |
| af_c_strategy    | a servo name                               | `predictive` / `non-predictive` |

Lock-on durations follow the brands' ranges (Fujifilm tracking sensitivity 0–1.3 s; Canon's old
1D C.Fn 0.125–1 s): short 0.25 s, normal 0.5 s, long 1.0 s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from afon.config import Table, load_toml, parse_toml
from afon.errors import ConfigError

LOCK_ON_S = {"off": 0.0, "short": 0.25, "normal": 0.5, "long": 1.0}
FOCUS_MODES = ("AF-S", "AF-C", "MF")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    af_activation: str
    focus_mode: str
    af_s_priority: str
    af_c_priority: str
    drive: str
    burst_fps: float
    af_area: str
    lock_on_s: float
    manual_override: bool
    af_s_strategy: str
    af_c_strategy: str

    @property
    def bbf(self) -> bool:
        """True when the shutter button never starts AF."""
        return self.af_activation == "af-on-only"

    def with_(self, **changes: object) -> Profile:
        """A copy with some custom functions changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def builtin_profile_names() -> list[str]:
    folder = resources.files("afon.profiles")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (`bbf`, `shutter-af`, `canon`, `nikon`, `sony`) or a TOML file."""
    text = str(name_or_path)
    if text in builtin_profile_names():
        res = resources.files("afon.profiles") / f"{text}.toml"
        return parse_profile(parse_toml(res.read_text(encoding="utf-8"), f"profile {text}"))
    path = Path(text)
    if path.suffix == ".toml" or path.exists():
        return parse_profile(load_toml(path))
    raise ConfigError(
        text, "", f"no such profile (built-in profiles: {', '.join(builtin_profile_names())})"
    )


def parse_profile(doc: Table) -> Profile:
    """Validate a profile table; errors name the file and field."""
    lock_on_raw = doc.data.get("lock_on", "normal")
    if isinstance(lock_on_raw, str):
        lock_on_s = LOCK_ON_S.get(doc.string("lock_on", "normal", choices=tuple(LOCK_ON_S)), 0.0)
    else:
        lock_on_s = doc.number("lock_on", min=0.0, max=5.0)
    profile = Profile(
        name=doc.string("name"),
        description=doc.string("description", ""),
        af_activation=doc.string("af_activation", choices=("af-on-only", "shutter-and-af-on")),
        focus_mode=doc.string("focus_mode", choices=FOCUS_MODES),
        af_s_priority=doc.string("af_s_priority", choices=("release", "focus")),
        af_c_priority=doc.string("af_c_priority", choices=("release", "focus")),
        drive=doc.string("drive", choices=("single", "continuous")),
        burst_fps=doc.number("burst_fps", 10.0, min=0.1, max=120.0),
        af_area=doc.string("af_area", choices=("single", "zone", "tracking")),
        lock_on_s=lock_on_s,
        manual_override=doc.boolean("manual_override", False),
        af_s_strategy=doc.string("af_s_strategy", "hybrid"),
        af_c_strategy=doc.string("af_c_strategy", "predictive"),
    )
    doc.finish()
    return profile
