"""Benchmark scenarios: what the camera looks at, and when the photographer wants pictures.

A scenario is a scene (simulated camera) or a real focal stack, a camera preset, an AF point,
the moments to shoot, an optional recompose, and a duration. Scenarios are TOML files, read
through `afon.config.Table` like scenes and profiles: every error names the file and the field
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

from afon.config import Table, load_toml, parse_toml
from afon.errors import ConfigError

AF_AREAS = ("single", "zone", "tracking")
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
    "portrait", "runner", "bird", "bird-tracking", "obstacle", "low-light", "erratic", "stop",
    "turn", "crossing", "stack",
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


# --- parsing -------------------------------------------------------------------------------
def _numbers(t: Table, key: str, *, min: float, max: float) -> tuple[float, ...]:
    value = t._get(key, None)  # marks the key used (as scene.py's crop does)
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise t.error(key, f"expected a non-empty list of numbers like [1.0, 2.0], got {value!r}")
    if len(value) > MAX_MOMENTS:
        raise t.error(key, f"at most {MAX_MOMENTS} values, got {len(value)}")
    out = tuple(float(v) for v in value)
    for v in out:
        if not math.isfinite(v) or v < min or v > max:
            raise t.error(key, f"values must be within {min:g}..{max:g}, got {v!r}")
    return out


def _point(t: Table, key: str, default: tuple[float, float]) -> tuple[float, float]:
    x, y = t.number_pair(key, default)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise t.error(key, f"must be within 0..1 (fractions of the frame), got {[x, y]}")
    return x, y


def _scene_ref(t: Table, base_dir: Path | None) -> str:
    from afon.cameras.sim.scene import builtin_scene_names

    ref = t.string("scene")
    if ref in builtin_scene_names():
        return ref
    try:
        p = Path(ref).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        found = str(p.resolve()) if p.is_file() else None
    except (OSError, ValueError, RuntimeError):
        found = None
    if found is None:
        known = ", ".join(builtin_scene_names())
        raise t.error(
            "scene", f"no built-in scene or scene file {ref!r} (built-in scenes: {known})"
        )
    return found


def _preset_ref(t: Table, base_dir: Path | None) -> str:
    from afon.cameras.sim.preset import builtin_preset_names

    ref = t.string("preset")
    if ref in builtin_preset_names():
        return ref
    try:
        p = Path(ref).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        found = str(p.resolve()) if p.suffix == ".toml" and p.is_file() else None
    except (OSError, ValueError, RuntimeError):
        found = None
    if found is None:
        known = ", ".join(builtin_preset_names())
        raise t.error("preset", f"no built-in preset or preset file {ref!r} (built-in: {known})")
    return found


def _stack(t: Table) -> StackSpec:
    path = t.string("path")
    rel = Path(path)
    if not path.strip() or rel.is_absolute() or ".." in rel.parts or "\x00" in path:
        raise t.error("path", f"expected a folder relative to the shared data folder, got {path!r}")
    subject = t.integer("subject_slice", min=0, max=10_000)
    lens_range: tuple[float, float] | None = None
    if t.has("lens_range_d"):
        lo, hi = t.number_pair("lens_range_d")
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi <= 1000.0):
            raise t.error("lens_range_d", f"need 0 <= lo < hi <= 1000, got {[lo, hi]}")
        lens_range = (lo, hi)
    t.finish()
    return StackSpec(path, subject, lens_range)


def _shoot(t: Table, duration_s: float) -> Shoot:
    tolerance = t.number("tolerance_s", DEFAULT_TOLERANCE_S, min=0.0, min_exclusive=True, max=5.0)
    burst = t.has("burst_fps") or t.has("from_s") or t.has("until_s")
    if t.has("at_s") and burst:
        raise t.error(
            "at_s",
            "give either at_s (single moments) or a burst (burst_fps, from_s, until_s), not both",
        )
    if burst:
        fps = t.number("burst_fps", min=0.1, max=120.0)
        start = t.number("from_s", min=0.0, max=duration_s)
        until = t.number("until_s", min=0.0, max=duration_s)
        if until < start:
            raise t.error("until_s", f"must be >= from_s ({start:g}), got {until:g}")
        count = math.floor((until - start) * fps + 1e-9) + 1
        if count > MAX_MOMENTS:
            raise t.error("burst_fps", f"{count} frames: at most {MAX_MOMENTS} moments")
        moments = tuple(start + k / fps for k in range(count))
        t.finish()
        return Shoot(moments, fps, tolerance)
    if not t.has("at_s"):
        raise t.error(
            "at_s", "required field is missing (or give a burst: burst_fps, from_s, until_s)"
        )
    moments = _numbers(t, "at_s", min=0.0, max=duration_s)
    if any(b <= a for a, b in itertools.pairwise(moments)):
        raise t.error("at_s", f"moments must be in increasing order, got {list(moments)}")
    t.finish()
    return Shoot(moments, None, tolerance)


def _recompose(t: Table, duration_s: float) -> Recompose:
    t_s = t.number("t_s", min=0.0, max=duration_s)
    dur = t.number("duration_s", min=0.0, min_exclusive=True, max=duration_s)
    dx, dy = t.number_pair("shift")
    if not (abs(dx) <= 2.0 and abs(dy) <= 2.0):
        raise t.error("shift", f"must be within ±2 frames, got {[dx, dy]}")
    t.finish()
    return Recompose(t_s, dur, (dx, dy))


def parse_scenario(
    doc: Table, *, base_dir: Path | None = None, default_name: str = "scenario"
) -> Scenario:
    """Validate a scenario table (errors name the file and the field)."""
    name = doc.string("name", default_name)
    if not name.strip():
        raise doc.error("name", "must not be empty")
    description = doc.string("description", "")
    duration = doc.number("duration_s", min=0.0, min_exclusive=True, max=MAX_DURATION_S)
    scene: str | None = None
    preset: str | None = None
    stack: StackSpec | None = None
    if doc.has("stack"):
        if doc.has("scene") or doc.has("preset"):
            key = "scene" if doc.has("scene") else "preset"
            raise doc.error(key, "a stack scenario has no scene or preset (give one or the other)")
        stack = _stack(doc.table("stack"))
    else:
        if not doc.has("scene"):
            raise doc.error("scene", "required field is missing (or give a [stack] table)")
        scene = _scene_ref(doc, base_dir)
        preset = _preset_ref(doc, base_dir)
    start_d: float | None = None
    if doc.has("start_d"):
        start_d = doc.number("start_d", min=0.0, max=1000.0)
    start_s = doc.number("start_s", DEFAULT_START_S, min=0.0, max=duration)
    af_point = _point(doc, "af_point", (0.5, 0.5))
    af_area = doc.string("af_area", "single", choices=AF_AREAS)
    shoot = _shoot(doc.table("shoot"), duration)
    recompose = _recompose(doc.table("recompose"), duration) if doc.has("recompose") else None
    if recompose is not None and stack is not None:
        raise doc.error("recompose", "a focal stack cannot be recomposed (it is a fixed frame)")
    doc.finish()
    return Scenario(
        name=name,
        description=description,
        duration_s=duration,
        shoot=shoot,
        scene=scene,
        preset=preset,
        stack=stack,
        start_d=start_d,
        start_s=start_s,
        af_point=af_point,
        af_area=af_area,
        recompose=recompose,
        source=doc.source,
    )
