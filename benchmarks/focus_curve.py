"""Focus curves of the simulated camera: how much contrast a small defocus removes.

Prints JSON: for every built-in scene, with the camera preset the benchmark uses for it (the
first scenario in ``src/afon/bench/scenarios`` naming the scene; ``cm3`` for a scene no
scenario uses), the Tenengrad focus measure (`afon.focus.measures.tenengrad`, the AF engine's
default) in the subject's box on a noise-free preview at the benchmark's preview size:

- ``ratio_1px_near`` / ``ratio_1px_far``: Tenengrad with the lens defocused so that the
  subject's blur circle is 1 preview pixel (lens nearer / farther than the subject), over the
  Tenengrad at true focus; ``ratio_2px_*`` likewise for 2 px. Targets: <= 0.95 at 1 px and
  <= 0.75 at 2 px;
- ``peak_dof``: where a fine sweep of the lens (±3 px of blur) peaks, in depth-of-field
  half-widths from the true focus (the half-width is half the dioptre span of
  `Optics.depth_of_field_m` at the subject). Target: within ±0.25;
- ``flat_dof``: the half-width (in DoF half-widths) of the range around the peak over which
  the measure stays within 0.4 % of its peak (a flat-topped curve has a large value).

A subject with depth within it (a tilt or relief: the portrait's face) has no single true
focus: the targets above are measured with its depth removed (they check the renderer's focus
curve, which a relief would blur), and ``depth_peak_dof`` says where the sweep peaks with the
depth (in DoF half-widths from its reference distance, the face's eyes: positive = nearer),
``depth_range_dof`` the span of its depths over the card (nearest, farthest), in the same units.

The subject's box is the middle 60 % (each way) of the subject layer's rectangle on the preview,
clipped to the frame, at t = ``t_s`` (the first moment the scenario shoots, or 0). A scene
without a subject (the featureless wall) reports nulls.

Usage: python benchmarks/focus_curve.py [--scene NAME ...] [--points N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import math
import tomllib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import cv2
import numpy as np
from scipy.optimize import brentq

from afon.bench.runner import BENCH_PREVIEW_PX
from afon.cameras.base import luma_of
from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import Renderer
from afon.cameras.sim.scene import Scene, builtin_scene_names, load_builtin_scene
from afon.focus.measures import tenengrad

DROP_1PX_TARGET = 0.95
DROP_2PX_TARGET = 0.75
PEAK_DOF_TARGET = 0.25
FLAT_TOLERANCE = 0.004


def scenario_for(scene: str) -> tuple[str, float]:
    """(preset, first shooting moment) of the first benchmark scenario using `scene`."""
    folder = resources.files("afon.bench") / "scenarios"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        doc = tomllib.loads(entry.read_text(encoding="utf-8"))
        if doc.get("scene") == scene and "preset" in doc:
            shoot = doc.get("shoot", {})
            t = shoot.get("at_s", [shoot.get("from_s", 0.0)])[0]
            return str(doc["preset"]), float(t)
    return "cm3", 0.0


def subject_window(renderer: Renderer, scene: Scene, t_s: float,
                   focus_d: float) -> tuple[float, float, float, float] | None:
    """Normalised (x, y, w, h) of the middle 60 % of the subject's rectangle on the preview."""
    subject = scene.subject
    if subject is None:
        return None
    w_px, h_px = renderer.layer_size_px(subject, t_s, focus_d)
    x, y = subject.position(t_s)
    fw, fh = renderer.size_px
    bw, bh = 0.6 * w_px / fw, 0.6 * h_px / fh
    x0, x1 = max(0.0, x - bw / 2), min(1.0, x + bw / 2)
    y0, y1 = max(0.0, y - bh / 2), min(1.0, y + bh / 2)
    if x1 - x0 < 4 / fw or y1 - y0 < 4 / fh:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _focus_for_blur(renderer: Renderer, subject_m: float, blur_px: float, side: float) -> float:
    """Lens position with the subject's blur `blur_px`; side +1 nearer focus, -1 farther."""
    o = renderer.optics
    subject_d = 1.0 / subject_m

    def f(focus_d: float) -> float:
        return abs(renderer._signed_blur(subject_m, focus_d, renderer.preview_scale)) - blur_px

    if side > 0:
        return float(brentq(f, subject_d, o.max_focus_d * 0.999))
    return float(brentq(f, 0.0, subject_d)) if f(0.0) > 0 else math.nan


def curve(scene_name: str, points: int) -> dict[str, Any]:
    preset_name, t_s = scenario_for(scene_name)
    scene = load_builtin_scene(scene_name)
    subject = scene.subject
    if subject is not None and subject.depth is not None:
        flat = dataclasses.replace(scene, layers=tuple(
            dataclasses.replace(layer, depth=None) if layer is subject else layer
            for layer in scene.layers))
        out = _curve(flat, preset_name, t_s, points)
        deep = _curve(scene, preset_name, t_s, points)
        if "peak_dof" in deep:
            near, far = subject.depth_bounds_m()
            d = subject.distance_m(t_s)
            half = deep["dof_half_d"]
            out["depth_peak_dof"] = deep["peak_dof"]
            out["depth_range_dof"] = [round((1.0 / (d + z) - 1.0 / d) / half, 2)
                                      for z in (near, far)]
        return out
    return _curve(scene, preset_name, t_s, points)


def _curve(scene: Scene, preset_name: str, t_s: float, points: int) -> dict[str, Any]:
    preset = load_preset(preset_name)
    renderer = Renderer(scene, preset.optics, BENCH_PREVIEW_PX, seed=0)
    out: dict[str, Any] = {"preset": preset_name, "t_s": t_s}
    subject = scene.subject
    if subject is None:
        return {**out, "note": "no subject layer (nothing to focus on)"}
    subject_m = subject.distance_m(t_s)
    subject_d = 1.0 / subject_m
    window = subject_window(renderer, scene, t_s, subject_d)
    if window is None:
        return {**out, "note": "subject not in frame"}

    def measure(focus_d: float) -> float:
        img = renderer.render(t_s, focus_d, exposure_s=preset.timing.exposure_s, noise=False)
        return tenengrad(luma_of(img), window)

    near_m, far_m = preset.optics.depth_of_field_m(subject_d)
    half_dof_d = 0.5 * (1.0 / near_m - (0.0 if math.isinf(far_m) else 1.0 / far_m))
    sharp = measure(subject_d)
    out.update(subject_m=round(subject_m, 3), window=[round(v, 4) for v in window],
               dof_half_d=round(half_dof_d, 6),
               px_per_dof=round(abs(renderer._signed_blur(
                   subject_m, subject_d + half_dof_d, renderer.preview_scale)), 3))
    for px in (1.0, 2.0):
        for side, name in ((1.0, "near"), (-1.0, "far")):
            f = _focus_for_blur(renderer, subject_m, px, side)
            out[f"ratio_{px:.0f}px_{name}"] = (
                None if math.isnan(f) else round(measure(f) / sharp, 4))
    f3 = _focus_for_blur(renderer, subject_m, 3.0, 1.0)
    span = f3 - subject_d
    lo = max(subject_d - span, 0.0)
    lens = np.linspace(lo, subject_d + span, points)
    values = np.array([measure(float(f)) for f in lens])
    i = int(np.argmax(values))
    peak = float(lens[i])
    if 0 < i < points - 1:
        a, b, c = values[i - 1], values[i], values[i + 1]
        den = a - 2 * b + c
        if den != 0:
            peak += 0.5 * (a - c) / den * float(lens[1] - lens[0])
    flat = lens[values >= values.max() * (1.0 - FLAT_TOLERANCE)]
    out["peak_dof"] = round((peak - subject_d) / half_dof_d, 3)
    out["flat_dof"] = round(0.5 * float(flat.max() - flat.min()) / half_dof_d, 3)
    r1 = [v for k, v in out.items() if k.startswith("ratio_1px") and v is not None]
    r2 = [v for k, v in out.items() if k.startswith("ratio_2px") and v is not None]
    out["meets_targets"] = bool(
        r1 and r2 and max(r1) <= DROP_1PX_TARGET and max(r2) <= DROP_2PX_TARGET
        and abs(out["peak_dof"]) <= PEAK_DOF_TARGET
    )
    return out


def run(names: Sequence[str], points: int) -> dict[str, Any]:
    return {
        "preview_px": list(BENCH_PREVIEW_PX),
        "measure": "tenengrad",
        "targets": {"ratio_1px_max": DROP_1PX_TARGET, "ratio_2px_max": DROP_2PX_TARGET,
                    "peak_dof_abs_max": PEAK_DOF_TARGET},
        "scenes": {name: curve(name, points) for name in names},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", action="append", help="scene name (default: all built-in)")
    parser.add_argument("--points", type=int, default=61, help="lens positions in the sweep")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    names = args.scene or builtin_scene_names()
    print(json.dumps(run(names, args.points), indent=2))


if __name__ == "__main__":
    main()
