"""Scenes: what the simulated camera looks at.

A scene is a stack of flat, textured layers (cards facing the camera), each with a physical
width, a distance from the lens and a position in the frame, the last two as functions of time.
The renderer draws them back to front, ordered by their distance at each instant, so an
obstacle that passes in front of the subject covers it.

Scene files (TOML)
------------------

::

    name = "runner"                  # optional; defaults to the file name without .toml
    description = "A runner approaching at 10 m/s"   # optional
    light_lux = 10000                # scene illuminance (optional, default 10000 = daylight;
                                     # dim room ~50, low light 5..20)

    [[layers]]                       # one table per layer, in any order
    name = "track"                   # optional, unique; defaults to KIND + index
    kind = "background"              # "background", "subject" or "obstacle"
    texture = "skimage:grass"        # see below
    width_m = 0.4                    # physical width of the card in metres; with fill, of
                                     # one copy of the picture (its physical scale)
    distance_m = 80                  # metres from the lens: a number or a motion (below)
    fill = true                      # opaque, tiled (mirrored) to cover the whole frame

    [[layers]]
    name = "runner"
    kind = "subject"
    texture = "skimage:astronaut"
    crop = [0.1, 0.0, 0.6, 1.0]      # optional [x0, y0, x1, y1], fractions of the picture
    width_m = 0.6
    height_m = 1.7                   # optional; default keeps the picture's aspect ratio
                                     # (height/width within 0.01..100)
    distance_m = { motion = "linear", start = 30, speed = -10, min = 5 }
    x = 0.5                          # frame position of the layer's centre: 0..1 across the
    y = 0.55                         # preview (0.5, 0.5 = centre); numbers or motions

Other optional layer fields: ``contrast`` (0..1, scales the texture's deviations from its mean
to build low-contrast subjects) and ``shape`` (``"rect"``, default, or ``"ellipse"`` for a
cut-out with an elliptical outline). Positions are where the layer appears with the lens at
infinity; focus breathing scales them about the frame centre.

Depth within a layer (optional; `relief.py` has the models and their sources)::

    tilt_x_deg = 30                  # -80..80: the right edge turned away (negative: nearer)
    tilt_y_deg = -55                 # -80..80: the bottom edge turned away (negative: nearer)
    relief = { shape = "face", x = 0.65, y = 0.27, width_m = 0.131 }
                                     # a head seen from the front, centred on the eyes at
                                     # (x, y) (fractions of the card, 0..1); width_m = ear to
                                     # ear (0 < w <= 100, default 0.1314); its depth follows
                                     # from the width (no height_m/depth_m); distance_m is
                                     # then the eyes' distance
    relief = { shape = "dome", x = 0.5, y = 0.5, width_m = 0.3, height_m = 0.2, depth_m = 0.1 }
                                     # a half ellipsoid standing depth_m (0 < d <= 100) out of
                                     # the card towards the camera (height_m defaults to
                                     # width_m); distance_m is the card's (the rim's)

A tilt is about the card's centre (its distance is ``distance_m``). A relief needs a card
(``fill = false``); a tilt works on both (a wall at an angle). The card keeps its outline and
size (``width_m`` is the width the camera sees: no keystone); its points' depths set their
blur and phase disparity. The card's nearest point must stay in front of the lens for every
time of its distance motion (``layers[1].relief: the card's nearest point ... would reach the
lens``).

Scale: a texture's pixels are square in metres, ``width_m`` / picture width each (``texel_m``
in ``afon scenes --json``). Give photographs their real scale (skimage's brick photo is about
1.1 m wide, 84 mm brick courses; its grass about 0.4 m, blades a few mm): a filled layer tiles
the copies, and the renderer adds the structure a single photo lacks, 1/f detail below its
pixels and 1/f variation across copies (see ``render.py``).

Textures: ``skimage:NAME`` (a CC0 photograph shipped inside scikit-image: astronaut, chelsea,
coffee, rocket, brick, grass, gravel, camera, moon, text, page, coins…), ``flat:GRAY`` (a
featureless surface, GRAY in 0..1, e.g. ``flat:0.5``), ``pattern:edge|checker|siemens``
(test targets), or an image file path relative to the scene file (PNG/JPEG/…; an alpha channel
makes a cut-out).

Motions (``distance_m``, ``x`` and ``y`` accept a number or one of these tables; values and
speeds are in the field's unit: metres for ``distance_m``, frame widths/heights for ``x``/``y``):

- ``{ motion = "static", value = 3.0 }`` — same as writing the number;
- ``{ motion = "linear", start = 30, speed = -10, accel = 0, start_s = 0, min = 5, max = 100 }``
  — holds ``start`` until ``start_s``, then moves at ``speed`` per second (negative =
  approaching / leftwards / upwards) with optional acceleration ``accel``, clamped to
  ``[min, max]`` (both optional), until ``until_s`` (optional; it holds from there: a subject
  braking to a stop is ``speed < 0, accel > 0, until_s = start_s − speed/accel``). "Hold, then
  go" (a bird taking off) is a linear motion with a ``start_s``. A distance that decreases
  needs a ``min`` > 0;
- ``{ motion = "erratic", mean = 6, amplitude = 2, period_s = 2, seed = 1 }`` — a smooth,
  deterministic wandering within ``mean ± amplitude`` (a sum of four sinusoids with periods
  0.6–2.5 × ``period_s`` (>= 0.05 s), phases from ``seed`` (>= 0)); optional ``min``/``max``
  clamps;
- ``{ motion = "crossing", from = -0.5, to = 1.5, t0_s = 1.5, t1_s = 2.5 }`` — moves linearly
  from ``from`` to ``to`` between ``t0_s`` and ``t1_s``, holding before and after.

Every error names the file, the field (``layers[1].distance_m.speed``) and what is wrong;
unknown fields are rejected so typos do not pass silently.
"""

from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Self, get_args

import numpy as np
from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from afon.cameras.sim.relief import FACE_WIDTH_M, MAX_TILT_DEG, Depth, Relief, ReliefShape
from afon.cameras.sim.textures import (
    MAX_ASPECT,
    MIN_ASPECT,
    RGBA,
    SHAPES,
    TextureError,
    load_texture,
    prepare_texture,
)
from afon.config import FieldProblem, TomlDoc, UserModel, load_toml, parse_toml
from afon.errors import ConfigError

Kind = Literal["background", "subject", "obstacle"]
KINDS: tuple[str, ...] = get_args(Kind)
MotionKind = Literal["static", "linear", "erratic", "crossing"]
MOTIONS: tuple[str, ...] = get_args(MotionKind)
Shape = Literal["rect", "ellipse"]
assert get_args(Shape) == SHAPES
DEFAULT_LIGHT_LUX = 10000.0
MAX_LIGHT_LUX = 200_000.0
MIN_ERRATIC_PERIOD_S = 0.05
MAX_RELIEF_M = 100.0


# --- motions -----------------------------------------------------------------------------
class Motion(Protocol):
    """A scalar function of time (seconds) with known bounds over all times."""

    def __call__(self, t_s: float) -> float: ...

    def bounds(self) -> tuple[float, float]:
        """Lowest and highest value the motion can take (may be infinite)."""
        ...


@dataclass(frozen=True)
class Static:
    """A constant."""

    value: float

    def __call__(self, t_s: float) -> float:
        return self.value

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value


@dataclass(frozen=True)
class Linear:
    """Holds `start` until `start_s`, then moves at `speed` (+ `accel`) until `until_s` (and
    holds again), clamped to [min, max]."""

    start: float
    speed: float
    accel: float = 0.0
    start_s: float = 0.0
    min: float = -math.inf
    max: float = math.inf
    until_s: float = math.inf

    def __call__(self, t_s: float) -> float:
        tau = max(0.0, min(t_s, self.until_s) - self.start_s)
        v = self.start + self.speed * tau + 0.5 * self.accel * tau * tau
        return min(max(v, self.min), self.max)

    def bounds(self) -> tuple[float, float]:
        lo = self.start if (self.speed >= 0 and self.accel >= 0) else -math.inf
        hi = self.start if (self.speed <= 0 and self.accel <= 0) else math.inf
        lo, hi = max(lo, self.min), min(hi, self.max)
        start = min(max(self.start, self.min), self.max)
        return min(lo, start), max(hi, start)


@dataclass(frozen=True)
class Erratic:
    """Smooth deterministic wandering within mean ± amplitude (sum of four sinusoids).

    Periods are drawn around `period_s` (0.6–2.5 × it) and phases from `seed`; the component
    amplitudes sum to `amplitude`, so the bound is exact.
    """

    mean: float
    amplitude: float
    period_s: float = 2.0
    seed: int = 0
    min: float = -math.inf
    max: float = math.inf
    _parts: tuple[tuple[float, float, float], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        if self.amplitude < 0 or not self.period_s >= MIN_ERRATIC_PERIOD_S:
            raise ValueError(
                f"erratic motion needs amplitude >= 0 and period_s >= {MIN_ERRATIC_PERIOD_S}"
            )
        rng = np.random.default_rng([abs(int(self.seed)), 0xE77A])
        weights = rng.uniform(0.5, 1.0, 4)
        weights /= weights.sum()
        periods = self.period_s * rng.uniform(0.6, 2.5, 4)
        phases = rng.uniform(0.0, 2.0 * math.pi, 4)
        parts = tuple(
            (float(self.amplitude * w), float(2.0 * math.pi / p), float(ph))
            for w, p, ph in zip(weights, periods, phases, strict=True)
        )
        object.__setattr__(self, "_parts", parts)

    def __call__(self, t_s: float) -> float:
        v = self.mean + sum(a * math.sin(w * t_s + ph) for a, w, ph in self._parts)
        return min(max(v, self.min), self.max)

    def bounds(self) -> tuple[float, float]:
        lo = max(self.mean - self.amplitude, self.min)
        hi = min(self.mean + self.amplitude, self.max)
        return min(lo, hi), max(lo, hi)


@dataclass(frozen=True)
class Crossing:
    """Linear move from `start` to `end` between `t0_s` and `t1_s`, holding before and after."""

    start: float
    end: float
    t0_s: float
    t1_s: float

    def __post_init__(self) -> None:
        if not self.t1_s > self.t0_s:
            raise ValueError(f"crossing needs t1_s > t0_s, got {self.t0_s}..{self.t1_s}")

    def __call__(self, t_s: float) -> float:
        u = min(max((t_s - self.t0_s) / (self.t1_s - self.t0_s), 0.0), 1.0)
        return self.start + (self.end - self.start) * u

    def bounds(self) -> tuple[float, float]:
        return min(self.start, self.end), max(self.start, self.end)


# --- layers and scenes -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Layer:
    """One textured card of a scene.

    `image` is the prepared texture (RGBA float32, straight alpha, pixels square in metres);
    the card is `width_m` wide and `height_m` = width × image aspect tall.
    """

    name: str
    kind: str
    image: RGBA
    width_m: float
    distance: Motion
    x: Motion = Static(0.5)
    y: Motion = Static(0.5)
    fill: bool = False
    texture: str = ""
    """The texture reference the layer was made from (for display)."""
    depth: Depth | None = None
    """Depth within the layer (tilt, relief; `relief.py`); None: a flat card facing the
    camera, at `distance_m` everywhere."""

    def __post_init__(self) -> None:
        if self.depth is not None and self.depth.relief is not None and self.fill:
            raise ValueError(f"layer {self.name!r}: a relief needs a card (fill = false)")
        if self.kind not in KINDS:
            raise ValueError(f"layer kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if not (math.isfinite(self.width_m) and self.width_m > 0):
            raise ValueError(f"width_m must be > 0, got {self.width_m}")
        img = self.image
        if img.ndim != 3 or img.shape[2] != 4 or img.shape[0] < 1 or img.shape[1] < 1:
            raise ValueError(f"layer image must be H×W×4 RGBA, got shape {img.shape}")
        lo, _ = self.distance.bounds()
        if not lo > 0:
            raise ValueError(f"layer {self.name!r}: distance can reach {lo} m; it must stay > 0")

    @property
    def height_m(self) -> float:
        return self.width_m * int(self.image.shape[0]) / int(self.image.shape[1])

    @property
    def texel_m(self) -> float:
        """Physical size of one texture pixel (the texture's scale, metres per texel)."""
        return self.width_m / int(self.image.shape[1])

    def distance_m(self, t_s: float) -> float:
        return self.distance(t_s)

    def depth_bounds_m(self) -> tuple[float, float]:
        """Nearest and farthest depth offset over the card (0, 0 for a flat layer)."""
        if self.depth is None:
            return 0.0, 0.0
        return self.depth.bounds_m((self.width_m, self.height_m))

    def position(self, t_s: float) -> tuple[float, float]:
        """Frame position (x, y) of the layer centre, 0..1 across the preview."""
        return self.x(t_s), self.y(t_s)


@dataclass(frozen=True, eq=False)
class Scene:
    """A named set of layers under one light level."""

    name: str
    description: str
    light_lux: float
    layers: tuple[Layer, ...]
    source: str = ""
    """The file the scene was loaded from ('' when built in code)."""

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a scene needs at least one layer")
        if not (math.isfinite(self.light_lux) and self.light_lux > 0):
            raise ValueError(f"light_lux must be > 0, got {self.light_lux}")

    @property
    def subject(self) -> Layer | None:
        """The first layer of kind "subject", or None (e.g. a featureless wall)."""
        return next((layer for layer in self.layers if layer.kind == "subject"), None)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def layers_back_to_front(self, t_s: float) -> list[Layer]:
        """Layers ordered for drawing at time `t_s`: farthest first (ties keep file order)."""
        order = sorted(range(len(self.layers)), key=lambda i: (-self.layers[i].distance_m(t_s), i))
        return [self.layers[i] for i in order]

    def subject_distance_m(self, t_s: float) -> float:
        """Distance of what the photographer wants sharp.

        The subject layer; without one, the nearest layer that fills the frame (and so covers
        its centre); failing that, the nearest layer.
        """
        subject = self.subject
        if subject is not None:
            return subject.distance_m(t_s)
        fills = [layer for layer in self.layers if layer.fill]
        pool = fills or list(self.layers)
        return min(layer.distance_m(t_s) for layer in pool)


# --- loading -----------------------------------------------------------------------------
def load_scene(path: str | Path) -> Scene:
    """Load a scene from a TOML file (format in the module docstring)."""
    p = Path(path)
    table = load_toml(p)
    return _scene_from_doc(table, p.resolve().parent, p.stem)


def parse_scene(
    text: str, source: str = "<scene>", base_dir: str | Path | None = None, name: str = "scene"
) -> Scene:
    """Parse scene TOML text; `source` names it in errors, `base_dir` resolves image paths."""
    table = parse_toml(text, source)
    return _scene_from_doc(table, Path(base_dir) if base_dir is not None else None, name)


def _builtin_dir() -> Path:
    return Path(str(importlib.resources.files("afon.cameras.sim").joinpath("scenes")))


def builtin_scene_names() -> list[str]:
    """Names of the scenes that ship with afon, sorted."""
    folder = _builtin_dir()
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_builtin_scene(name: str) -> Scene:
    """Load a built-in scene by name; an unknown name lists the known ones."""
    names = builtin_scene_names()
    if name not in names:
        raise ConfigError(
            "scene", "name", f"unknown built-in scene {name!r}; known: {', '.join(names)}"
        )
    return load_scene(_builtin_dir() / f"{name}.toml")


def resolve_scene(name_or_path: str | Path) -> Scene:
    """A built-in scene name, or a path to a scene .toml file."""
    text = str(name_or_path)
    if text in builtin_scene_names():
        return load_builtin_scene(text)
    p = Path(text).expanduser()
    if p.suffix.lower() == ".toml" or p.exists() or "/" in text or "\\" in text:
        return load_scene(p)
    return load_builtin_scene(text)


# --- the file, field by field ----------------------------------------------------------------
MOTION_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required, optional)
    "static": ({"value"}, set()),
    "linear": ({"start", "speed"}, {"accel", "start_s", "until_s", "min", "max"}),
    "erratic": ({"mean", "amplitude"}, {"period_s", "seed", "min", "max"}),
    "crossing": ({"from", "to", "t0_s", "t1_s"}, set()),
}


def _number_or_motion(value: Any) -> Any:
    """A plain number is a static motion; a table is checked by `MotionFile`."""
    if isinstance(value, dict):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "afon",
            'expected a number or a motion table like { motion = "linear", ... }, got {value}',
            {"value": repr(value)},
        )
    if not math.isfinite(value):
        raise PydanticCustomError(
            "afon", "expected a finite number, got {value}", {"value": repr(value)}
        )
    return {"motion": "static", "value": value}


class MotionFile(UserModel):
    """A motion table (``{ motion = "linear", ... }``) or a plain number (static). Which fields
    a motion takes depends on its kind (`MOTION_FIELDS`)."""

    motion: MotionKind
    value: float | None = None
    start: float | None = None
    speed: float | None = None
    accel: float = 0.0
    start_s: float = 0.0
    until_s: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    amplitude: float | None = Field(None, ge=0.0)
    period_s: float = Field(2.0, ge=MIN_ERRATIC_PERIOD_S)
    seed: int = Field(0, ge=0)
    from_: float | None = Field(None, alias="from")
    to: float | None = None
    t0_s: float | None = None
    t1_s: float | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        required, optional = MOTION_FIELDS[self.motion]
        fields = type(self).model_fields
        given = {fields[name].alias or name for name in self.model_fields_set} - {"motion"}
        for key in sorted(given - required - optional):
            known = ", ".join(sorted({"motion"} | required | optional))
            raise FieldProblem(key, f"unknown field for a {self.motion} motion (known: {known})")
        for key in sorted(required - given):
            raise FieldProblem(key, "required field is missing")
        if self.until_s is not None and not self.until_s > self.start_s:
            raise FieldProblem("until_s", f"must be > {self.start_s:g}, got {self.until_s:g}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldProblem("max", f"must be >= min ({self.min:g}), got {self.max:g}")
        if self.motion == "crossing":
            assert self.t0_s is not None and self.t1_s is not None
            if not self.t1_s > self.t0_s:
                raise FieldProblem("t1_s", f"must be > t0_s ({self.t0_s:g}), got {self.t1_s:g}")
        return self

    def build(self) -> Motion:
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        if self.motion == "static":
            assert self.value is not None
            return Static(self.value)
        if self.motion == "linear":
            assert self.start is not None and self.speed is not None
            until_s = math.inf if self.until_s is None else self.until_s
            return Linear(self.start, self.speed, self.accel, self.start_s, lo, hi, until_s)
        if self.motion == "erratic":
            assert self.mean is not None and self.amplitude is not None
            return Erratic(self.mean, self.amplitude, self.period_s, self.seed, lo, hi)
        assert self.from_ is not None and self.to is not None
        assert self.t0_s is not None and self.t1_s is not None
        return Crossing(self.from_, self.to, self.t0_s, self.t1_s)


MotionField = Annotated[MotionFile, BeforeValidator(_number_or_motion)]
CENTRE = MotionFile.model_validate({"motion": "static", "value": 0.5})


def _crop(value: Any) -> tuple[float, float, float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise PydanticCustomError(
            "afon",
            "expected [x0, y0, x1, y1] (fractions 0..1), got {value}",
            {"value": repr(value)},
        )
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise PydanticCustomError(
            "afon",
            "need 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {value}",
            {"value": repr(value)},
        )
    return x0, y0, x1, y1


Crop = Annotated[tuple[float, float, float, float], BeforeValidator(_crop)]


class ReliefFile(UserModel):
    """A layer's ``relief`` table (see `relief.py`)."""

    shape: ReliefShape
    x: float = Field(0.5, ge=0.0, le=1.0)
    y: float = Field(0.5, ge=0.0, le=1.0)
    width_m: float = Field(FACE_WIDTH_M, gt=0.0, le=MAX_RELIEF_M)
    height_m: float | None = Field(None, gt=0.0, le=MAX_RELIEF_M)
    depth_m: float | None = Field(None, gt=0.0, le=MAX_RELIEF_M)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.shape == "dome" and self.depth_m is None:
            raise FieldProblem("depth_m", "required field is missing (a dome's height)")
        if self.shape == "face":
            for key in ("height_m", "depth_m"):
                if getattr(self, key) is not None:
                    raise FieldProblem(key, "a face's proportions follow its width_m "
                                            "(anthropometric); give width_m only")
        return self

    def build(self) -> Relief:
        return Relief(self.shape, self.x, self.y, self.width_m, self.height_m,
                      0.0 if self.depth_m is None else self.depth_m)


class LayerFile(UserModel):
    """One ``[[layers]]`` table."""

    kind: Kind
    name: str | None = None
    texture: str
    width_m: float = Field(gt=0.0)
    height_m: float | None = Field(None, gt=0.0)
    fill: bool = False
    contrast: float = Field(1.0, ge=0.0, le=1.0)
    shape: Shape = "rect"
    crop: Crop | None = None
    distance_m: MotionField
    x: MotionField = CENTRE
    y: MotionField = CENTRE
    tilt_x_deg: float = Field(0.0, ge=-MAX_TILT_DEG, le=MAX_TILT_DEG)
    tilt_y_deg: float = Field(0.0, ge=-MAX_TILT_DEG, le=MAX_TILT_DEG)
    relief: ReliefFile | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        lo, _ = self.distance_m.build().bounds()
        if not lo > 0:
            hint = " (give the motion a min > 0)" if math.isinf(lo) else ""
            raise FieldProblem("distance_m", f"distance can reach {lo:g} m; it must stay > 0{hint}")
        aspect = self.aspect()
        if aspect is not None and not MIN_ASPECT <= aspect <= MAX_ASPECT:
            raise FieldProblem(
                "height_m",
                f"height_m/width_m must be within {MIN_ASPECT:g}..{MAX_ASPECT:g}, got {aspect:g}",
            )
        if self.relief is not None and self.fill:
            raise FieldProblem("relief", "a relief needs a card (fill = false)")
        return self

    def aspect(self) -> float | None:
        return None if self.height_m is None else self.height_m / self.width_m

    def depth(self) -> Depth | None:
        if self.relief is None and self.tilt_x_deg == 0.0 and self.tilt_y_deg == 0.0:
            return None
        return Depth(self.tilt_x_deg, self.tilt_y_deg,
                     None if self.relief is None else self.relief.build())


class SceneFile(UserModel):
    """A scene TOML file (format in the module docstring)."""

    name: str | None = None
    description: str = ""
    light_lux: float = Field(DEFAULT_LIGHT_LUX, gt=0.0, le=MAX_LIGHT_LUX)
    layers: list[LayerFile] | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.layers is None:
            raise FieldProblem("layers", "required field is missing (add at least one [[layers]])")
        if not self.layers:
            raise FieldProblem("layers", "a scene needs at least one layer")
        names: set[str] = set()
        for i, layer in enumerate(self.layers):
            name = layer_name(layer, i)
            if name in names:
                raise FieldProblem(("layers", i, "name"), f"duplicate layer name {name!r}")
            names.add(name)
        return self


def layer_name(layer: LayerFile, index: int) -> str:
    """The layer's name, or KIND + index."""
    return f"{layer.kind}{index}" if layer.name is None else layer.name


def _scene_from_doc(doc: TomlDoc, base_dir: Path | None, default_name: str) -> Scene:
    f = doc.validate(SceneFile)
    assert f.layers is not None
    layers = tuple(_layer(lf, i, base_dir, doc.source) for i, lf in enumerate(f.layers))
    for i, layer in enumerate(layers):
        if layer.depth is None or layer.fill:
            continue  # a tilted fill's extent is the frame's: the renderer clamps it
        near, _ = layer.depth_bounds_m()
        lo, _ = layer.distance.bounds()
        if not lo + near > 0:
            key = "relief" if layer.depth.relief is not None else "tilt_x_deg"
            raise ConfigError(
                doc.source, f"layers[{i}].{key}",
                f"the card's nearest point ({near:+.3g} m from distance_m, which can be "
                f"{lo:g} m) would reach the lens; it must stay > 0",
            )
    name = default_name if f.name is None else f.name
    return Scene(name, f.description, f.light_lux, layers, doc.source)


def _layer(lf: LayerFile, index: int, base_dir: Path | None, source: str) -> Layer:
    """The layer of a validated table, with its texture loaded and prepared."""
    try:
        raw = load_texture(lf.texture, base_dir)
    except TextureError as exc:
        raise ConfigError(source, f"layers[{index}].texture", str(exc)) from None
    try:
        image = prepare_texture(
            raw,
            crop=lf.crop,
            contrast=lf.contrast,
            shape=lf.shape,
            aspect=lf.aspect(),
            opaque=lf.fill,
        )
    except TextureError as exc:
        key = "crop" if lf.crop is not None else "texture"
        raise ConfigError(source, f"layers[{index}].{key}", str(exc)) from None
    return Layer(
        layer_name(lf, index),
        lf.kind,
        image,
        lf.width_m,
        lf.distance_m.build(),
        lf.x.build(),
        lf.y.build(),
        lf.fill,
        lf.texture,
        lf.depth(),
    )


def describe(scene: Scene) -> dict[str, Any]:
    """A JSON-friendly summary of a scene (for `afon scenes --json`)."""
    return {
        "name": scene.name,
        "description": scene.description,
        "light_lux": scene.light_lux,
        "layers": [
            {
                "name": layer.name,
                "kind": layer.kind,
                "texture": layer.texture,
                "width_m": layer.width_m,
                "height_m": round(layer.height_m, 4),
                "texel_m": float(f"{layer.texel_m:.4g}"),
                "distance_m_at_0": layer.distance_m(0.0),
                "fill": layer.fill,
                **(
                    {}
                    if layer.depth is None
                    else {
                        "tilt_deg": [layer.depth.tilt_x_deg, layer.depth.tilt_y_deg],
                        "relief": None if layer.depth.relief is None
                        else layer.depth.relief.shape,
                        "depth_range_m": [round(v, 4) for v in layer.depth_bounds_m()],
                    }
                ),
            }
            for layer in scene.layers
        ],
    }


def card_scene(distance_m: float, texture: str, light_lux: float = 3000.0) -> Scene:
    """A test target: a textured card 0.6 × its distance wide (it fills the default AF
    window) with a brick wall 4× farther behind it (real brick size: 1.1 m per copy of the
    photo). Used by AF tests and benchmarks."""
    return parse_scene(
        f"""
name = "card-{texture.split(":")[-1]}-{distance_m:g}m"
light_lux = {light_lux}
[[layers]]
name = "wall"
kind = "background"
texture = "skimage:brick"
width_m = 1.1
distance_m = {distance_m * 4.0}
fill = true
[[layers]]
name = "card"
kind = "subject"
texture = "{texture}"
width_m = {distance_m * 0.6}
distance_m = {distance_m}
""",
        source="<card scene>",
    )
