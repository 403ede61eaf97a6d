"""Ground truth of what an AF area sees in a simulated scene (for the causal limit and tests).

`area_layer` samples the AF window on a 12×9 grid and gives each sample to the nearest layer
that covers it: a frame-filling layer covers everything; another layer covers a sample when the
sample falls on its rectangle in the preview (its position and on-preview size, as the renderer
places it, focus breathing included) and its image is opaque there (alpha ≥ 50%). The AF area
*sees* the nearest layer holding at least `MIN_SHARE` of the samples — the near-priority rule
of an AF point (an obstacle in front of the subject that covers a quarter of the point takes
it) — and failing that the layer holding the most.

`area_view` says, at time t, the state (distance, velocity, acceleration, from backward
differences of the layer's motion in one millisecond steps, so only the past is used) of the
scene's subject when at least `MIN_VISIBLE_SHARE` of the AF area sees it, and of what the AF
area sees (the rule above) in any case.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from afon.bench.oracle import AreaState, AreaView
from afon.cameras.sim.scene import Layer
from afon.focus.engine import AfWindow

MIN_SHARE = 0.25
"""Share of the AF area a layer must cover to be what the area sees (near priority)."""

MIN_VISIBLE_SHARE = 0.1
"""Share of the AF area the subject must cover to count as seen (a sliver gives no reading)."""

GRID = (12, 9)
"""Samples across and down the AF window."""

_H_S = 1e-3
"""Backward-difference step for velocity and acceleration."""


def _shares(camera: Any, t_s: float, window: AfWindow) -> list[tuple[Layer, float]]:
    """(layer, visible share of the AF window) nearest first, for the layers with a share."""
    pw, ph = camera.preview_px
    x0, y0, w, h = window.to_px(pw, ph)
    nx, ny = GRID
    xs = x0 + (np.arange(nx) + 0.5) * w / nx
    ys = y0 + (np.arange(ny) + 0.5) * h / ny
    gx, gy = np.meshgrid(xs, ys)
    free = np.ones(gx.shape, bool)
    focus_d = float(camera.lens_position_d())
    optics = camera.optics
    breathing = optics.image_distance_mm(focus_d) / optics.focal_length_mm
    layers = sorted(camera.scene.layers, key=lambda layer: layer.distance_m(t_s))
    out: list[tuple[Layer, float]] = []
    for layer in layers:
        if not free.any():
            break
        if layer.fill:
            covered = free.copy()
        else:
            lw, lh = camera.renderer.layer_size_px(layer, t_s, focus_d)
            lx, ly = layer.position(t_s)
            cx = pw / 2.0 + (lx - 0.5) * pw * breathing
            cy = ph / 2.0 + (ly - 0.5) * ph * breathing
            u = (gx - (cx - lw / 2.0)) / max(lw, 1e-9)
            v = (gy - (cy - lh / 2.0)) / max(lh, 1e-9)
            inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1) & free
            covered = np.zeros(gx.shape, bool)
            if inside.any():
                img = layer.image
                ih, iw = img.shape[:2]
                iu = np.clip((u[inside] * iw).astype(int), 0, iw - 1)
                iv = np.clip((v[inside] * ih).astype(int), 0, ih - 1)
                alpha = np.asarray(img[iv, iu, 3], np.float64)
                opaque = alpha >= (0.5 if img.dtype.kind == "f" else 127.5)
                covered[inside] = opaque
        n = int(covered.sum())
        if n:
            out.append((layer, n / free.size))
            free &= ~covered
    return out


def area_layer(camera: Any, t_s: float, window: AfWindow) -> Layer | None:
    """The layer the AF area sees at `t_s` (see the module docstring); None without layers."""
    return _pick(_shares(camera, t_s, window))


def _pick(shares: list[tuple[Layer, float]]) -> Layer | None:
    for layer, share in shares:
        if share >= MIN_SHARE - 1e-12:
            return layer
    if shares:
        return max(shares, key=lambda item: item[1])[0]
    return None


def layer_state(layer: Layer, t_s: float) -> AreaState:
    """Distance, velocity and acceleration of `layer` at `t_s` (backward differences)."""
    d0 = layer.distance_m(t_s)
    d1 = layer.distance_m(t_s - _H_S)
    d2 = layer.distance_m(t_s - 2 * _H_S)
    if not all(math.isfinite(x) for x in (d0, d1, d2)):
        return AreaState(d0)
    velocity = (3 * d0 - 4 * d1 + d2) / (2 * _H_S)
    accel = (d0 - 2 * d1 + d2) / (_H_S * _H_S)
    return AreaState(d0, velocity, accel)


def area_view(camera: Any, t_s: float, window: AfWindow) -> AreaView:
    """What the AF area shows at `t_s`: the subject's state if it is seen, and the state of
    what the area sees (see the module docstring)."""
    shares = _shares(camera, t_s, window)
    subject = camera.scene.subject
    seen_subject = None
    for layer, share in shares:
        if layer is subject and share >= MIN_VISIBLE_SHARE - 1e-12:
            seen_subject = layer_state(layer, t_s)
    picked = _pick(shares)
    seen = (
        layer_state(picked, t_s)
        if picked is not None
        else AreaState(float(camera.subject_distance_m(t_s)))
    )
    return AreaView(seen_subject, seen)
