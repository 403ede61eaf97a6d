"""Benchmark scenarios: what the camera looks at, and when the photographer wants pictures.

A scenario is a scene (simulated camera) or a real focal stack, a camera preset, an AF point,
the moments to shoot, an optional recompose, and a duration. Scenarios are TOML files, read
through pydantic models (`ScenarioFile`) like scenes and profiles: every error names the file
and the field
(``scenarios/runner.toml: shoot.burst_fps: must be > 0, got -1``) and unknown fields are
rejected.

Format
------

::

    name = "runner"                  # optional; defaults to the file name without .toml
    description = "A runner approaching at 10 m/s"
    scene = "runner"                 # a built-in scene, or a scene file relative to this file
    preset = "300mm-f2.8"            # camera preset (built-in name or a preset file)
    duration_s = 2.6                 # simulated time of one trial
    start_d = 0.0                    # optional: lens position at t = 0 (default: far end)
    start_s = 0.1                    # optional: when the photographer starts (AF-ON or
                                     # half-press), before their reaction time (default 0.1)
    af_point = [0.5, 0.5]            # optional: AF point centre, fractions of the frame
    af_area = "single"               # optional: single, zone or tracking (body AF areas)

    [shoot]                          # the moments the photographer wants
    at_s = [1.8, 2.3, 2.8]           # one press per moment ...
    # ... or a burst: the shutter held from from_s to until_s at burst_fps frames a second
    # burst_fps = 10
    # from_s = 0.5
    # until_s = 2.4
    tolerance_s = 0.15               # optional: a moment counts as caught when an in-focus
                                     # exposure starts within this long after the
                                     # photographer's press for it (default 0.15 s)

    [recompose]                      # optional: focus, then recompose
    t_s = 1.2                        # the pan starts here
    duration_s = 0.3                 # and takes this long
    shift = [0.2, 0.0]               # before the pan every layer sits this far (frame widths,
                                     # heights) from where the scene puts it; the pan removes
                                     # the offset, as turning the camera does

Instead of ``scene`` and ``preset`` a scenario can replay a real focal stack::

    [stack]
    path = "focal-stacks/pcb-depthmap"   # relative to the shared data folder
    subject_slice = 4                    # the slice with the subject sharp (judged by eye)
    lens_range_d = [0.0, 12.0]           # optional: lens range the slices are spread over

A stack scenario is skipped, with the reason, when the data folder is absent (see
`data_dir`). Moments in a burst are ``from_s + k / burst_fps`` up to ``until_s``.
"""

from __future__ import annotations

import importlib.resources
import itertools
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from afon.config import FieldProblem, NumberPair, TomlDoc, UserModel, load_toml, parse_toml
from afon.errors import ConfigError

AF_AREAS = ("single", "zone", "tracking")
"""The body AF areas a scenario may ask for (`ScenarioFile.af_area`)."""
MAX_DURATION_S = 60.0
MAX_MOMENTS = 1000
DEFAULT_TOLERANCE_S = 0.15
DEFAULT_START_S = 0.1
DATA_ENV = "AFON_DATA_DIR"
"""Environment variable naming the shared data folder (the one holding focal-stacks/)."""


@dataclass(frozen=True)
class Shoot:
    """The moments the photographer wants, and how they press for them."""

    moments_s: tuple[float, ...]
    burst_fps: float | None = None
    """Burst: the shutter is held through the moments at this rate (continuous drive)."""
    tolerance_s: float = DEFAULT_TOLERANCE_S

    @property
    def burst(self) -> bool:
        return self.burst_fps is not None


@dataclass(frozen=True)
class Recompose:
    """A pan of the whole frame by `shift` (frame units) back to the scene's framing."""

    t_s: float
    duration_s: float
    shift: tuple[float, float]


@dataclass(frozen=True)
class StackSpec:
    """A real focal stack instead of a simulated scene."""

    path: str
    """Relative to the shared data folder."""
    subject_slice: int
    lens_range_d: tuple[float, float] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    shoot: Shoot
    scene: str | None = None
    """A built-in scene name or an absolute path to a scene file."""
    preset: str | None = None
    stack: StackSpec | None = None
    start_d: float | None = None
    start_s: float = DEFAULT_START_S
    af_point: tuple[float, float] = (0.5, 0.5)
    af_area: str = "single"
    recompose: Recompose | None = None
    source: str = ""

    @property
    def kind(self) -> str:
        return "stack" if self.stack is not None else "sim"

    def stack_dir(self) -> Path | None:
        """The stack folder, or None when the shared data folder is not found."""
        if self.stack is None:
            return None
        base = data_dir()
        return None if base is None else base / self.stack.path

    def skip_reason(self) -> str | None:
        """Why this scenario cannot run here (a missing focal stack), or None."""
        if self.stack is None:
            return None
        folder = self.stack_dir()
        if folder is None:
            return (
                f"shared data folder not found (set {DATA_ENV} or keep ../shared/data beside "
                f"the repository); focal stack {self.stack.path} unavailable"
            )
        if not folder.is_dir():
            return f"focal stack folder {folder} not found"
        return None

    def shortened(self, max_moments: int = 3, tail_s: float = 0.8) -> Scenario:
        """The scenario cut after its first `max_moments` moments (for quick runs): the run
        ends `tail_s` after the last one (room for the photographer's reaction and the release
        lag), or at the original end if that comes first."""
        moments = self.shoot.moments_s[:max_moments]
        if len(moments) == len(self.shoot.moments_s):
            return self
        duration = min(self.duration_s, moments[-1] + tail_s)
        return replace(self, shoot=replace(self.shoot, moments_s=moments), duration_s=duration)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary."""
        out: dict[str, object] = {
            "name": self.name,
            "description": self.description,
            "duration_s": self.duration_s,
            "moments": len(self.shoot.moments_s),
            "burst_fps": self.shoot.burst_fps,
            "af_point": list(self.af_point),
            "af_area": self.af_area,
        }
        if self.stack is not None:
            out["stack"] = self.stack.path
            out["subject_slice"] = self.stack.subject_slice
        else:
            out["scene"] = Path(self.scene).stem if self.scene else None
            out["preset"] = self.preset
        if self.recompose is not None:
            out["recompose_s"] = self.recompose.t_s
        return out


# --- the shared data folder ----------------------------------------------------------------
def data_dir() -> Path | None:
    """The shared data folder: $AFON_DATA_DIR, else the repository's own ``tests/data`` (the
    downscaled focal stacks: a fresh clone runs the stack scenario), else ``shared/data`` in
    the current folder or one of its parents, or beside the source tree."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    own = Path(__file__).resolve().parents[3] / "tests" / "data"
    if (own / "focal-stacks").is_dir():
        return own
    starts = [Path.cwd(), Path(__file__).resolve()]
    for start in starts:
        for base in (start, *start.parents):
            candidate = base / "shared" / "data"
            if candidate.is_dir():
                return candidate
    return None


# --- built-in library ----------------------------------------------------------------------
def _builtin_dir() -> Path:
    return Path(str(importlib.resources.files("afon.bench").joinpath("scenarios")))


LIBRARY_ORDER = (
    "portrait",
    "runner",
    "bird",
    "bird-tracking",
    "obstacle",
    "low-light",
    "erratic",
    "stop",
    "turn",
    "crossing",
    "stack",
)
"""The order the built-in scenarios are run and reported in (others follow by name)."""


def builtin_scenario_names() -> list[str]:
    """Names of the scenarios shipped with afon, in the library's order."""
    names = {p.stem for p in _builtin_dir().glob("*.toml")}
    first = [n for n in LIBRARY_ORDER if n in names]
    return first + sorted(names - set(first))


def load_builtin_scenario(name: str) -> Scenario:
    names = builtin_scenario_names()
    if name not in names:
        raise ConfigError(
            "scenario", "name", f"unknown built-in scenario {name!r}; known: {', '.join(names)}"
        )
    return load_scenario(_builtin_dir() / f"{name}.toml")


def resolve_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario TOML file."""
    text = str(name_or_path)
    if text in builtin_scenario_names():
        return load_builtin_scenario(text)
    if text.endswith(".toml") or "/" in text or os.sep in text:
        return load_scenario(text)
    return load_builtin_scenario(text)


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario TOML file (format in the module docstring)."""
    p = Path(path)
    return parse_scenario(load_toml(p), base_dir=p.resolve().parent, default_name=p.stem)


def parse_scenario_text(
    text: str, source: str = "<scenario>", base_dir: str | Path | None = None
) -> Scenario:
    """Parse scenario TOML text; `source` names it in errors."""
    return parse_scenario(
        parse_toml(text, source),
        base_dir=Path(base_dir) if base_dir is not None else None,
        default_name="scenario",
    )


# --- the file, field by field ----------------------------------------------------------------
def _number_list(value: Any) -> tuple[float, ...]:
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise PydanticCustomError(
            "afon",
            "expected a non-empty list of numbers like [1.0, 2.0], got {value}",
            {"value": repr(value)},
        )
    if len(value) > MAX_MOMENTS:
        raise PydanticCustomError(
            "afon", "at most {n} values, got {got}", {"n": MAX_MOMENTS, "got": len(value)}
        )
    for v in value:
        if not math.isfinite(v):
            raise PydanticCustomError("afon", "values must be finite, got {v}", {"v": repr(v)})
    return tuple(float(v) for v in value)


Moments = Annotated[tuple[float, ...], BeforeValidator(_number_list)]


class StackFile(UserModel):
    """The ``[stack]`` table."""

    path: str
    subject_slice: int = Field(ge=0, le=10_000)
    lens_range_d: NumberPair | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        rel = Path(self.path)
        if not self.path.strip() or rel.is_absolute() or ".." in rel.parts or "\x00" in self.path:
            raise FieldProblem(
                "path", f"expected a folder relative to the shared data folder, got {self.path!r}"
            )
        if self.lens_range_d is not None:
            lo, hi = self.lens_range_d
            if not 0.0 <= lo < hi <= 1000.0:
                raise FieldProblem("lens_range_d", f"need 0 <= lo < hi <= 1000, got {[lo, hi]}")
        return self


class ShootFile(UserModel):
    """The ``[shoot]`` table: single moments (`at_s`) or a burst."""

    at_s: Moments | None = None
    burst_fps: float | None = Field(None, ge=0.1, le=120.0)
    from_s: float | None = Field(None, ge=0.0)
    until_s: float | None = Field(None, ge=0.0)
    tolerance_s: float = Field(DEFAULT_TOLERANCE_S, gt=0.0, le=5.0)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        burst = (self.burst_fps, self.from_s, self.until_s)
        if self.at_s is not None and burst != (None, None, None):
            raise FieldProblem(
                "at_s",
                "give either at_s (single moments) or a burst (burst_fps, from_s, until_s), "
                "not both",
            )
        if self.at_s is not None:
            if any(b <= a for a, b in itertools.pairwise(self.at_s)):
                raise FieldProblem(
                    "at_s", f"moments must be in increasing order, got {list(self.at_s)}"
                )
            return self
        if burst == (None, None, None):
            raise FieldProblem(
                "at_s", "required field is missing (or give a burst: burst_fps, from_s, until_s)"
            )
        for key, value in zip(("burst_fps", "from_s", "until_s"), burst, strict=True):
            if value is None:
                raise FieldProblem(key, "required field is missing")
        assert self.from_s is not None and self.until_s is not None and self.burst_fps
        if self.until_s < self.from_s:
            raise FieldProblem(
                "until_s", f"must be >= from_s ({self.from_s:g}), got {self.until_s:g}"
            )
        if self.count() > MAX_MOMENTS:
            raise FieldProblem("burst_fps", f"{self.count()} frames: at most {MAX_MOMENTS} moments")
        return self

    def count(self) -> int:
        """Frames of the burst."""
        assert self.from_s is not None and self.until_s is not None and self.burst_fps
        return math.floor((self.until_s - self.from_s) * self.burst_fps + 1e-9) + 1

    def moments_s(self) -> tuple[float, ...]:
        if self.at_s is not None:
            return self.at_s
        assert self.from_s is not None and self.burst_fps
        return tuple(self.from_s + k / self.burst_fps for k in range(self.count()))


class RecomposeFile(UserModel):
    """The ``[recompose]`` table."""

    t_s: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)
    shift: NumberPair

    @model_validator(mode="after")
    def _rules(self) -> Self:
        dx, dy = self.shift
        if not (abs(dx) <= 2.0 and abs(dy) <= 2.0):
            raise FieldProblem("shift", f"must be within ±2 frames, got {[dx, dy]}")
        return self


class ScenarioFile(UserModel):
    """A scenario TOML file (format in the module docstring)."""

    name: str | None = None
    description: str = ""
    duration_s: float = Field(gt=0.0, le=MAX_DURATION_S)
    scene: str | None = None
    preset: str | None = None
    stack: StackFile | None = None
    start_d: float | None = Field(None, ge=0.0, le=1000.0)
    start_s: float = Field(DEFAULT_START_S, ge=0.0)
    af_point: NumberPair = (0.5, 0.5)
    af_area: Literal["single", "zone", "tracking"] = "single"
    shoot: ShootFile
    recompose: RecomposeFile | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.name is not None and not self.name.strip():
            raise FieldProblem("name", "must not be empty")
        if self.stack is not None:
            if self.scene is not None or self.preset is not None:
                key = "scene" if self.scene is not None else "preset"
                raise FieldProblem(
                    key, "a stack scenario has no scene or preset (give one or the other)"
                )
            if self.recompose is not None:
                raise FieldProblem(
                    "recompose", "a focal stack cannot be recomposed (it is a fixed frame)"
                )
        else:
            if self.scene is None:
                raise FieldProblem("scene", "required field is missing (or give a [stack] table)")
            if self.preset is None:
                raise FieldProblem("preset", "required field is missing")
        duration = self.duration_s
        _within(duration, self.start_s, "start_s")
        x, y = self.af_point
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise FieldProblem(
                "af_point", f"must be within 0..1 (fractions of the frame), got {[x, y]}"
            )
        shoot = self.shoot
        if shoot.at_s is not None:
            for v in shoot.at_s:
                if v > duration:
                    raise FieldProblem(
                        ("shoot", "at_s"), f"values must be within 0..{duration:g}, got {v!r}"
                    )
        else:
            _within(duration, shoot.from_s, "shoot", "from_s")
            _within(duration, shoot.until_s, "shoot", "until_s")
        if self.recompose is not None:
            _within(duration, self.recompose.t_s, "recompose", "t_s")
            _within(duration, self.recompose.duration_s, "recompose", "duration_s")
        return self


def _within(duration_s: float, value: float | None, *loc: str) -> None:
    if value is not None and value > duration_s:
        raise FieldProblem(loc, f"must be <= {duration_s:g}, got {value:g}")


def _file_ref(
    ref: str, base_dir: Path | None, builtin: list[str], suffix: str | None
) -> str | None:
    """A built-in name as it is, an existing file as its absolute path, else None."""
    if ref in builtin:
        return ref
    try:
        p = Path(ref).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        ok = p.is_file() and (suffix is None or p.suffix == suffix)
        return str(p.resolve()) if ok else None
    except (OSError, ValueError, RuntimeError):
        return None


def parse_scenario(
    doc: TomlDoc, *, base_dir: Path | None = None, default_name: str = "scenario"
) -> Scenario:
    """Validate a scenario document (errors name the file and the field)."""
    from afon.cameras.sim.preset import builtin_preset_names
    from afon.cameras.sim.scene import builtin_scene_names

    f = doc.validate(ScenarioFile)
    scene: str | None = None
    preset: str | None = None
    if f.scene is not None and f.preset is not None:
        scenes = builtin_scene_names()
        scene = _file_ref(f.scene, base_dir, scenes, None)
        if scene is None:
            raise ConfigError(
                doc.source,
                "scene",
                f"no built-in scene or scene file {f.scene!r} (built-in scenes: "
                f"{', '.join(scenes)})",
            )
        presets = builtin_preset_names()
        preset = _file_ref(f.preset, base_dir, presets, ".toml")
        if preset is None:
            raise ConfigError(
                doc.source,
                "preset",
                f"no built-in preset or preset file {f.preset!r} (built-in: {', '.join(presets)})",
            )
    stack = (
        None
        if f.stack is None
        else StackSpec(f.stack.path, f.stack.subject_slice, f.stack.lens_range_d)
    )
    recompose = (
        None
        if f.recompose is None
        else Recompose(f.recompose.t_s, f.recompose.duration_s, f.recompose.shift)
    )
    return Scenario(
        name=default_name if f.name is None else f.name,
        description=f.description,
        duration_s=f.duration_s,
        shoot=Shoot(f.shoot.moments_s(), f.shoot.burst_fps, f.shoot.tolerance_s),
        scene=scene,
        preset=preset,
        stack=stack,
        start_d=f.start_d,
        start_s=f.start_s,
        af_point=f.af_point,
        af_area=f.af_area,
        recompose=recompose,
        source=doc.source,
    )
