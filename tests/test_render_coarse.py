"""Heavily blurred layers drawn on a coarser grid (`Renderer._draw_coarse`): which layers, and
that the pixels are those of drawing them at full resolution, within what the ladder's own
texels already allow, bit for bit the same in a region as in the whole frame."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import _COARSE_MIN_BLUR_PX, Renderer, RowTiming
from afon.cameras.sim.scene import load_builtin_scene

ROWS = RowTiming(0.0, 0.004, 0.025)


def _renderer(scene: str, preset: str, coarse: bool, size: tuple[int, int] = (320, 240)
              ) -> Renderer:
    return Renderer(load_builtin_scene(scene), load_preset(preset).optics, size, seed=4,
                    coarse=coarse)


def _factor(r: Renderer, name: str, focus_d: float) -> int:
    layer = next(x for x in r.scene.layers if x.name == name)
    p = r._place(layer, 0.0, (focus_d,), r.size_px, r.preview_scale)
    return r._coarse_factor(layer, p)


def test_the_grid_is_as_coarse_as_the_least_blurred_point_of_the_layer_allows() -> None:
    r = _renderer("portrait", "300mm-f2.8", coarse=True)
    person = next(x for x in r.scene.layers if x.name == "person")
    for focus_d in (0.0, 0.1, 0.2, 0.3, 0.37, 0.4, 0.45, 0.6):
        p = r._place(person, 0.0, (focus_d,), r.size_px, r.preview_scale)
        near, far = r._depth_bound_placements(person, p)
        blurs = [near.blur_px[0], far.blur_px[0]]
        least = min(abs(b) for b in blurs) if blurs[0] * blurs[1] > 0 else 0.0
        s = r._coarse_factor(person, p)
        assert s in (1, 2, 4, 8)
        assert least >= s * _COARSE_MIN_BLUR_PX or s == 1
        assert s == 8 or least < 2 * s * _COARSE_MIN_BLUR_PX  # no coarser grid would do
    # the eyes in focus: the face's depths span the focus, drawn at full resolution
    assert _factor(r, "person", 1.0 / 2.5) == 1
    assert _factor(r, "person", 0.0) == 8  # the face ~115 px out of focus at 320 px
    assert _factor(_renderer("portrait", "300mm-f2.8", coarse=False), "person", 0.0) == 1


@pytest.mark.parametrize(("scene", "preset", "focus_d"),
                         [("portrait", "300mm-f2.8", 0.0), ("portrait", "300mm-f2.8", 0.2),
                          ("obstacle", "300mm-f2.8", 0.1), ("low-light", "50mm-f1.8", 2.0),
                          ("bird", "300mm-f2.8", 0.5), ("erratic", "300mm-f2.8", 0.5)])
def test_a_layer_drawn_coarse_looks_as_drawn_at_full_resolution(scene: str, preset: str,
                                                                focus_d: float) -> None:
    """The preview (no noise) differs from the full-resolution drawing by under 0.5 DN RMS,
    2 DN in 99.9 % of its values and 5 DN at most (of 255: the texel-wise linear ramps of a
    ladder level at up to 1/6 of the blur, sampled every 1/12 of it or finer). The phase
    images are the full-resolution ones, bit for bit (see `_COARSE_MIN_BLUR_PX`)."""
    coarse, full = (_renderer(scene, preset, c) for c in (True, False))
    assert any(coarse._coarse_factor(layer, coarse._place(layer, 1.0, (focus_d,), coarse.size_px,
                                                          coarse.preview_scale)) > 1
               for layer in coarse.scene.layers)
    a = coarse.render(1.0, focus_d, noise=False).astype(np.float64)
    b = full.render(1.0, focus_d, noise=False).astype(np.float64)
    err = np.abs(a - b)
    assert np.sqrt(np.mean(err**2)) < 0.5
    assert np.quantile(err, 0.999) <= 2.0
    assert err.max() <= 5.0
    pa = coarse.render_phase(1.0, focus_d, noise=False)
    pb = full.render_phase(1.0, focus_d, noise=False)
    np.testing.assert_array_equal(pa.left, pb.left)
    np.testing.assert_array_equal(pa.right, pb.right)


def _sweep(lo: float, hi: float) -> Callable[[float], float]:
    def lens(t: float) -> float:
        return lo + (hi - lo) * min(max(t / 0.03, 0.0), 1.0)
    return lens


@pytest.mark.parametrize(("scene", "preset"), [("portrait", "300mm-f2.8"),
                                               ("obstacle", "300mm-f2.8")])
def test_a_coarse_drawn_region_is_that_region_of_the_whole_frame(scene: str, preset: str
                                                                 ) -> None:
    """With layers drawn coarse (still and moving lens, rolling-shutter bands, noise), a
    region render and a region of the phase images are bit for bit the whole frame's."""
    r = _renderer(scene, preset, coarse=True, size=(240, 180))
    for i, lens in enumerate([_sweep(0.0, 0.0), _sweep(0.0, 0.15), _sweep(0.3, 0.05)]):
        whole = r.render(0.0, 0.0, frame_index=i, lens_d=lens, rows=ROWS).copy()
        phase = r.render_phase(0.01, lens(0.01), frame_index=i, lens_d=lens, rows=ROWS)
        for x0, y0, x1, y1 in [(50, 40, 130, 100), (0, 0, 240, 20), (7, 161, 239, 180),
                               (120, 90, 121, 91), (233, 3, 240, 60)]:
            part = r.render(0.0, 0.0, frame_index=i, lens_d=lens, rows=ROWS,
                            region=(x0, y0, x1, y1))
            np.testing.assert_array_equal(part[y0:y1, x0:x1], whole[y0:y1, x0:x1])
            px0, py0 = x0 // 2, y0 // 2
            px1, py1 = max(x1 // 2, px0 + 1), max(y1 // 2, py0 + 1)
            ph = r.render_phase(0.01, lens(0.01), frame_index=i, lens_d=lens, rows=ROWS,
                                region=(px0, py0, px1, py1))
            np.testing.assert_array_equal(ph.left[py0:py1, px0:px1],
                                          phase.left[py0:py1, px0:px1])
            np.testing.assert_array_equal(ph.right[py0:py1, px0:px1],
                                          phase.right[py0:py1, px0:px1])


def test_coarse_drawing_builds_the_ladder_entries_full_resolution_would() -> None:
    """The grid divides every threshold in output pixels by its factor: the same mip levels,
    ladder entries and detail fields (so the camera's warm-up still builds what frames use)."""
    def keys(r: Renderer) -> set[tuple[object, ...]]:
        for i, f in enumerate(np.linspace(0.0, 0.8, 9)):
            r.render(1.0 + i / 30, float(f), noise=False)
            r.render_phase(1.0 + i / 30, float(f), noise=False)
        out: set[tuple[object, ...]] = set()
        for c in r._caches.values():
            out |= {("layer", *k) for k in c._entries}
            for n, field in enumerate(c.fields):
                out |= {("field", n, *k) for k in field._entries}
        return out

    got = keys(_renderer("obstacle", "300mm-f2.8", coarse=True))
    assert got == keys(_renderer("obstacle", "300mm-f2.8", coarse=False))
    assert len(got) > 20
