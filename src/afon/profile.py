"""Profiles: a body's custom functions, stored as TOML, like the menus of real bodies.

Fields (`name`, `af_activation`, `focus_mode`, both priorities, `drive` and `af_area` are
required; the others default to: description empty, burst_fps 10, lock_on normal,
manual_override false, trap_focus false, mf_assist true, mf_assist_s 2, af_s_strategy hybrid,
af_c_strategy predictive, af auto):

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
| trap_focus       | true / false                               | with the shutter held and AF not running, fire when the AF point comes into focus (`afon.focus.trap`) |
| mf_assist        | true / false                               | turning the focus ring (the GPIO encoder) magnifies the view 5× in `afon serve`, as Sony's and Fujifilm's MF assist |
| mf_assist_s      | seconds, 0–60                              | the magnifier MF assist opened closes after this long without a turn; 0: it stays until the magnify button (Sony's "MF Assist Time": 2 s, 5 s or no limit) |
| af_s_strategy    | a single-shot strategy name                | e.g. `hybrid`, `contrast`, `phase`, `libcamera` |
| af_c_strategy    | a servo name                               | `predictive` / `non-predictive` |
| af               | `auto` / `camera` / `afon`                 | who focuses: the camera's own AF or afon's engine (auto: the camera's where it has PDAF or afon cannot drive the lens) |

Lock-on durations follow the brands' ranges (Fujifilm tracking sensitivity 0–1.3 s; Canon's old
1D C.Fn 0.125–1 s): short 0.25 s, normal 0.5 s, long 1.0 s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from afon.config import TomlDoc, UserModel, load_toml, parse_toml
from afon.errors import ConfigError

LOCK_ON_S = {"off": 0.0, "short": 0.25, "normal": 0.5, "long": 1.0}
FOCUS_MODES = ("AF-S", "AF-C", "MF")
Priority = Literal["release", "focus"]


class ProfileFile(UserModel):
    """A profile TOML file, field by field (see the table above)."""

    name: str
    description: str = ""
    af_activation: Literal["af-on-only", "shutter-and-af-on"]
    focus_mode: Literal["AF-S", "AF-C", "MF"]
    af_s_priority: Priority
    af_c_priority: Priority
    drive: Literal["single", "continuous"]
    burst_fps: float = Field(10.0, ge=0.1, le=120.0)
    af_area: Literal["single", "zone", "tracking"]
    lock_on: Literal["off", "short", "normal", "long"] | Annotated[float, Field(ge=0.0, le=5.0)] = (
        "normal"
    )
    manual_override: bool = False
    trap_focus: bool = False
    mf_assist: bool = True
    mf_assist_s: float = Field(2.0, ge=0.0, le=60.0)
    af_s_strategy: str = "hybrid"
    af_c_strategy: str = "predictive"
    af: Literal["auto", "camera", "afon"] = "auto"


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
    af: str = "auto"
    trap_focus: bool = False
    mf_assist: bool = True
    mf_assist_s: float = 2.0

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


def parse_profile(doc: TomlDoc) -> Profile:
    """Validate a profile table; errors name the file and field."""
    f = doc.validate(ProfileFile)
    return Profile(
        name=f.name,
        description=f.description,
        af_activation=f.af_activation,
        focus_mode=f.focus_mode,
        af_s_priority=f.af_s_priority,
        af_c_priority=f.af_c_priority,
        drive=f.drive,
        burst_fps=f.burst_fps,
        af_area=f.af_area,
        lock_on_s=LOCK_ON_S[f.lock_on] if isinstance(f.lock_on, str) else float(f.lock_on),
        manual_override=f.manual_override,
        af_s_strategy=f.af_s_strategy,
        af_c_strategy=f.af_c_strategy,
        af=f.af,
        trap_focus=f.trap_focus,
        mf_assist=f.mf_assist,
        mf_assist_s=f.mf_assist_s,
    )
