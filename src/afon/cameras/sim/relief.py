"""Depth within a layer: a tilt (a card or wall at an angle) and a relief (a face, a dome).

A layer's `distance_m` is the distance of its reference point; `Depth.offsets_m` gives how much
farther (positive) or nearer (negative) each point of the card is, as a function of its
position on the card in metres from the card's centre (x right, y down). The renderer draws
a layer with depth in depth slices (`render.py`); the card's outline and size in the frame are
those of the reference distance (no keystone, no foreshortening: `width_m` is the width the
camera sees).

Tilt: ``offset = x·tan(tilt_x_deg) + y·tan(tilt_y_deg)``: positive `tilt_x_deg` turns the
right edge away from the camera, positive `tilt_y_deg` the bottom edge. The reference point is
the card's centre.

Face relief (``shape = "face"``): a head seen from the front, its reference point the eyes
(what a portrait is focused on), so the layer's distance is the eyes' distance. Figures (adult,
soft tissue, scaled by ``width_m`` / 0.1314 m) from 3-D photogrammetry of the face (Deli et al.,
"Three-dimensional methodology for photogrammetric acquisition of the soft tissues of the
face", Progress in Orthodontics 14:32, 2013, table 2): tragion–tragion 131.4 mm (the width of
the head outline), nasion–tragi 88.5 mm (the depth of the face front before the ears),
pronasale–tragi 103.8 mm (the nose tip before the ears); nasal width al–al 43 mm (Farkas-type
norms, J. Korean Assoc. Maxillofac. Plast. Reconstr. Surg., 2019, table 9). Model: a half
ellipsoid (half-width 65.7 mm, half-height 1.6 × that, depth 88.5 mm, centred on the eyes) plus
a Gaussian nose (σ 11 mm across, 15 mm down) whose tip, 38 mm below the eyes, stands 103.8 mm
before the ears. Result, relative to the eyes (interpupillary 63 mm): nose tip 27 mm nearer,
cheeks (40 mm out, 20 mm down) 10 mm farther — the nose 36 mm before the cheeks, the ears 104
mm behind the nose tip — and the head's outline (ears) 78 mm farther. Outside the outline the
card (chest, shoulders) is taken at the eyes' depth (assumed: in a frontal portrait the chest
stands about as far forward as the face), a depth step at the outline as in life.

Dome relief (``shape = "dome"``): a half ellipsoid of `width_m` × `height_m` standing `depth_m`
out of the card towards the camera; the reference point is the card (the dome's rim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

ReliefShape = Literal["face", "dome"]
RELIEF_SHAPES: tuple[str, ...] = get_args(ReliefShape)

MAX_TILT_DEG = 80.0
FACE_WIDTH_M = 0.1314
"""Tragion–tragion breadth (Deli et al. 2013, table 2)."""
_FACE_DEPTH_M = 0.0885
"""Nasion–tragi depth: the face front before the ears."""
_NOSE_TIP_M = 0.1038
"""Pronasale–tragi depth: the nose tip before the ears."""
_FACE_ASPECT = 1.6
_NOSE_SIGMA_X_M = 0.011
_NOSE_SIGMA_Y_M = 0.015
_NOSE_DOWN_M = 0.038
_EYE_X_M = 0.0315


@dataclass(frozen=True)
class Relief:
    """A relief on a card: its shape, centre (`x`, `y`: fractions of the card's width and
    height), size (metres) and, for a dome, its height `depth_m` towards the camera."""

    shape: str
    x: float = 0.5
    y: float = 0.5
    width_m: float = FACE_WIDTH_M
    height_m: float | None = None
    depth_m: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in RELIEF_SHAPES:
            raise ValueError(f"relief shape must be one of {', '.join(RELIEF_SHAPES)}")
        if not (math.isfinite(self.width_m) and self.width_m > 0):
            raise ValueError(f"relief width_m must be > 0, got {self.width_m}")
        if self.shape == "dome" and not (math.isfinite(self.depth_m) and self.depth_m > 0):
            raise ValueError(f"a dome relief needs depth_m > 0, got {self.depth_m}")

    def offsets_m(self, x_m: F64, y_m: F64) -> F64:
        """Depth offset (m, positive = farther) at card points `x_m`, `y_m` (metres from the
        relief's centre)."""
        if self.shape == "dome":
            a = self.width_m / 2.0
            b = (self.height_m if self.height_m is not None else self.width_m) / 2.0
            q = 1.0 - (x_m / a) ** 2 - (y_m / b) ** 2
            return np.asarray(-self.depth_m * np.sqrt(np.clip(q, 0.0, None)), np.float64)
        s = self.width_m / FACE_WIDTH_M
        a, b = FACE_WIDTH_M / 2.0 * s, FACE_WIDTH_M / 2.0 * _FACE_ASPECT * s
        q = 1.0 - (x_m / a) ** 2 - (y_m / b) ** 2
        head = _FACE_DEPTH_M * s * np.sqrt(np.clip(q, 0, None))
        tip_y = _NOSE_DOWN_M * s
        head_at_tip = _FACE_DEPTH_M * s * math.sqrt(1.0 - (tip_y / b) ** 2)
        qx = x_m / (_NOSE_SIGMA_X_M * s)
        qy = (y_m - tip_y) / (_NOSE_SIGMA_Y_M * s)
        nose = (_NOSE_TIP_M * s - head_at_tip) * np.exp(-0.5 * (qx * qx + qy * qy))
        eyes = _FACE_DEPTH_M * s * math.sqrt(1.0 - (_EYE_X_M * s / a) ** 2)
        # outside the head's outline: the chest and shoulders of a frontal portrait, taken
        # at the eyes' depth (assumed: a chest stands about as far forward as the face)
        return np.asarray(np.where(q > 0.0, eyes - head - nose, 0.0), np.float64)


@dataclass(frozen=True)
class Depth:
    """A layer's depth: a tilt (degrees about the card's vertical and horizontal axes) and/or
    a relief."""

    tilt_x_deg: float = 0.0
    tilt_y_deg: float = 0.0
    relief: Relief | None = None

    def __post_init__(self) -> None:
        for name in ("tilt_x_deg", "tilt_y_deg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and abs(v) <= MAX_TILT_DEG):
                raise ValueError(f"{name} must be within ±{MAX_TILT_DEG:g}°, got {v}")

    @property
    def tilted(self) -> bool:
        return self.tilt_x_deg != 0.0 or self.tilt_y_deg != 0.0

    @property
    def slopes(self) -> tuple[float, float]:
        """Depth change per metre across (x) and down (y) the card."""
        return math.tan(math.radians(self.tilt_x_deg)), math.tan(math.radians(self.tilt_y_deg))

    def relief_offsets_m(self, x_m: F64, y_m: F64, card_m: tuple[float, float]) -> F64:
        """The relief's offsets at card points (metres from the card's centre; zero without a
        relief); `card_m` = (width, height) of the card."""
        if self.relief is None:
            return np.zeros(np.broadcast_shapes(np.shape(x_m), np.shape(y_m)), np.float64)
        rx = (self.relief.x - 0.5) * card_m[0]
        ry = (self.relief.y - 0.5) * card_m[1]
        return self.relief.offsets_m(x_m - rx, y_m - ry)

    def offsets_m(self, x_m: F64, y_m: F64, card_m: tuple[float, float]) -> F64:
        """Depth offsets (m, positive = farther) at card points `x_m`, `y_m` (metres from the
        card's centre, x right, y down)."""
        sx, sy = self.slopes
        return np.asarray(self.relief_offsets_m(x_m, y_m, card_m) + x_m * sx + y_m * sy,
                          np.float64)

    def bounds_m(self, card_m: tuple[float, float], n: int = 129) -> tuple[float, float]:
        """Nearest and farthest offset over the card (sampled on an n × n grid, corners and
        the relief's centre included)."""
        w, h = card_m
        xs = np.linspace(-w / 2.0, w / 2.0, n)
        ys = np.linspace(-h / 2.0, h / 2.0, n)
        z = self.offsets_m(xs[None, :], ys[:, None], card_m)
        lo, hi = float(z.min()), float(z.max())
        if self.relief is not None:
            rx, ry = (self.relief.x - 0.5) * w, (self.relief.y - 0.5) * h
            fine = np.linspace(-0.6, 0.6, n) * self.relief.width_m
            z2 = self.offsets_m(rx + fine[None, :], ry + fine[:, None], card_m)
            lo, hi = min(lo, float(z2.min())), max(hi, float(z2.max()))
        return lo, hi
