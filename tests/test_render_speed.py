"""The renderer's fast paths give the images of the straightforward ones, bit for bit.

Speed-ups of `afon.cameras.sim.render` must not change what the camera shows (the benchmark's
rows for fixed seeds depend on every pixel): a ladder or field blend summed only over the texels
a warp reads (`_Blend`) and a wrapped tiling gathered at those texels are compared here with
the whole blend and a full ``copyMakeBorder`` tiling.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from afon.cameras.sim.optics import Optics
from afon.cameras.sim.render import Renderer, _Blend, _dyadic_map, _Scratch, _warp
from afon.cameras.sim.scene import load_builtin_scene


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> list[np.ndarray]:
    return [rng.integers(0, 65536, shape, dtype=np.uint16) for _ in range(n)]


def _whole_sum(images: list[np.ndarray], weights: list[float]) -> np.ndarray:
    out = np.empty_like(images[0])
    if len(images) == 1:
        if weights[0] == 1.0:
            return images[0]
        cv2.addWeighted(images[0], weights[0], images[0], 0.0, 0.0, dst=out)
        return out
    cv2.addWeighted(images[0], weights[0], images[1], weights[1], 0.0, dst=out)
    for img, w in zip(images[2:], weights[2:], strict=True):
        cv2.addWeighted(out, 1.0, img, w, 0.0, dst=out)
    return out


@pytest.mark.parametrize("n", [1, 2, 4])
def test_blend_region_and_gather_are_those_of_the_whole_sum(n: int) -> None:
    rng = np.random.default_rng(n)
    images = _images(rng, n, (37, 53, 4))
    weights = list(rng.dirichlet(np.ones(n))) if n > 1 else [0.6]
    whole = _whole_sum(images, weights)
    blend = _Blend(images, weights, _Scratch(), "t")
    np.testing.assert_array_equal(blend.region(5, 30, 7, 41), whole[5:30, 7:41])
    np.testing.assert_array_equal(blend.whole(), whole)
    rows = np.arange(-40, 20) % 37
    cols = np.arange(10, 130) % 53
    out = np.empty((len(rows), len(cols), 4), np.uint16)
    blend.gather(rows, cols, out)
    np.testing.assert_array_equal(out, whole[np.ix_(rows, cols)])


def _full_tiling_warp(dst_shape: tuple[int, int], src: np.ndarray, tx: float, ty: float,
                      kx: float, ky: float, border: int) -> np.ndarray:
    """The straightforward tiling: the whole texture padded by ``copyMakeBorder`` to cover the
    output, then placed by the renderer's exact warp."""
    h, w = dst_shape
    th, tw = src.shape[:2]
    ix0 = math.floor((-0.5 - tx) / kx) - 1
    ix1 = math.ceil((w - 0.5 - tx) / kx) + 1
    iy0 = math.floor((-0.5 - ty) / ky) - 1
    iy1 = math.ceil((h - 0.5 - ty) / ky) + 1
    left, right = max(0, -ix0), max(0, ix1 - (tw - 1))
    top, bottom = max(0, -iy0), max(0, iy1 - (th - 1))
    tiled = cv2.copyMakeBorder(src, top, bottom, left, right, border)
    out = np.empty((h, w, *src.shape[2:]), src.dtype)
    _warp(tiled, out, (kx, ky), (tx, ty), (0, 0), (w, h), (tw, th), (-left, -top))
    return out


def test_wrapped_tiling_is_bit_for_bit_the_full_tiling() -> None:
    """Random placements of a periodic tile (a detail field) over an output region: gathering
    the texels modulo the period gives the full tiling's output exactly."""
    renderer = Renderer(load_builtin_scene("wall"), Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000),
                                                           0.45), (64, 48))
    rng = np.random.default_rng(7)
    tile = rng.integers(0, 65536, (32, 32), dtype=np.uint16)
    tiles = [tile, rng.integers(0, 65536, (32, 32), dtype=np.uint16)]
    for _ in range(300):
        w, h = int(rng.integers(20, 120)), int(rng.integers(5, 90))
        renderer._out_px = (w, h)
        kx = float(rng.uniform(0.6, 3.0))
        ky = kx * float(rng.uniform(0.9, 1.1))
        tx, ty = float(rng.uniform(-300, 100)), float(rng.uniform(-300, 100))
        expected = _full_tiling_warp((h, w), tile, tx, ty, kx, ky, cv2.BORDER_WRAP)
        out = np.empty((h, w), np.uint16)
        renderer._tiled_warp(out, tile, tx, ty, kx, ky, cv2.BORDER_WRAP, "t")
        np.testing.assert_array_equal(out, expected)
        weights = [0.3, 0.7]
        lazy = _Blend(tiles, weights, _Scratch(), "b")
        renderer._tiled_warp(out, lazy, tx, ty, kx, ky, cv2.BORDER_WRAP, "t")
        np.testing.assert_array_equal(
            out, _full_tiling_warp((h, w), _whole_sum(tiles, weights), tx, ty, kx, ky,
                                   cv2.BORDER_WRAP))


def test_mirrored_tiling_of_any_part_is_that_part_of_the_whole_tiling() -> None:
    """A mirrored (fill) tiling drawn over part of the frame (a thin rolling-shutter band, a
    region) equals that part of the whole frame's tiling, copies beyond the texture's edge
    included (the crop once held fewer texels than a mirrored copy shows, and reflected about
    its own edge)."""
    renderer = Renderer(load_builtin_scene("wall"), Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000),
                                                           0.45), (64, 48))
    rng = np.random.default_rng(9)
    for _ in range(200):
        nch = int(rng.choice([2, 4]))
        th, tw = int(rng.integers(6, 40)), int(rng.integers(6, 40))
        src = rng.integers(0, 65536, (th, tw, nch), dtype=np.uint16)
        w, h = int(rng.integers(40, 160)), int(rng.integers(30, 120))
        renderer._out_px = (w, h)
        kx = float(rng.uniform(0.3, 3.0))
        ky = kx * float(rng.uniform(0.9, 1.1))
        tx, ty = float(rng.uniform(-200, 150)), float(rng.uniform(-200, 150))
        whole = _full_tiling_warp((h, w), src, tx, ty, kx, ky, cv2.BORDER_REFLECT)
        x0, y0 = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
        x1, y1 = int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))
        part = np.empty((y1 - y0, x1 - x0, nch), np.uint16)
        renderer._tiled_warp(part, src, tx, ty, kx, ky, cv2.BORDER_REFLECT, "t", (x0, y0))
        np.testing.assert_array_equal(part, whole[y0:y1, x0:x1])


@pytest.mark.parametrize("nch", [1, 2, 3, 4])
def test_exact_warp_does_not_depend_on_where_the_output_starts(nch: int) -> None:
    """`_warp` gives a frame pixel the same value whatever part of the frame the output
    covers (OpenCV's own coordinates drift by a float32 rounding with the output's origin and
    width); and it places texels within 0.04 texel of the exact affine map."""
    rng = np.random.default_rng(nch)
    shape = (50, 70) if nch == 1 else (50, 70, nch)
    src = rng.integers(0, 65536, shape, dtype=np.uint16)
    frame = (480, 360)
    for _ in range(60):
        k = (float(rng.uniform(0.5, 16.0)), float(rng.uniform(0.5, 16.0)))
        t = (float(rng.uniform(-400, 400)), float(rng.uniform(-300, 300)))
        whole = np.empty((frame[1], frame[0], *shape[2:]), np.uint16)
        _warp(src, whole, k, t, (0, 0), frame, (70, 50))
        x0, y0 = int(rng.integers(0, 470)), int(rng.integers(0, 350))
        x1, y1 = int(rng.integers(x0 + 1, 481)), int(rng.integers(y0 + 1, 361))
        part = np.empty((y1 - y0, x1 - x0, *shape[2:]), np.uint16)
        _warp(src, part, k, t, (x0, y0), frame, (70, 50))
        np.testing.assert_array_equal(part, whole[y0:y1, x0:x1])
        for axis in (0, 1):
            a, b = _dyadic_map(k[axis], t[axis], 0, 0, frame[axis], (70, 50)[axis],
                               22 if nch != 2 else 10)
            x = np.arange(frame[axis] + 1, dtype=np.float64)
            err = np.abs(a * x + b - (x - t[axis]) / k[axis])
            inside = (a * x + b > -1) & (a * x + b < (70, 50)[axis] + 1)
            limit = 0.04 if nch != 2 else 0.2
            assert float(err[inside].max(initial=0.0)) <= limit


def test_mirrored_tiling_of_a_lazy_blend_is_that_of_the_whole_blend() -> None:
    renderer = Renderer(load_builtin_scene("wall"), Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000),
                                                           0.45), (64, 48))
    rng = np.random.default_rng(8)
    images = _images(rng, 3, (40, 60, 4))
    weights = [0.2, 0.5, 0.3]
    whole = _whole_sum(images, weights)
    for _ in range(100):
        w, h = int(rng.integers(20, 120)), int(rng.integers(5, 90))
        kx = float(rng.uniform(0.3, 3.0))
        tx, ty = float(rng.uniform(-150, 60)), float(rng.uniform(-150, 60))
        a = np.empty((h, w, 4), np.uint16)
        b = np.empty((h, w, 4), np.uint16)
        renderer._tiled_warp(a, whole, tx, ty, kx, kx, cv2.BORDER_REFLECT, "t")
        renderer._tiled_warp(b, _Blend(images, weights, _Scratch(), "b"), tx, ty, kx, kx,
                             cv2.BORDER_REFLECT, "t")
        np.testing.assert_array_equal(a, b)


def test_rolling_shutter_frames_are_those_of_whole_blends(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Frames drawn in bands while the lens moves (each band blends only the texels it reads)
    equal frames drawn with every ladder blended whole, pixel for pixel, for a fill layer and a
    subject; so are the phase images."""
    from afon.cameras.sim import render as render_module
    from afon.cameras.sim.preset import load_preset
    from afon.cameras.sim.render import RowTiming

    preset = load_preset("50mm-f1.8")

    def frames() -> list[np.ndarray]:
        r = Renderer(load_builtin_scene("obstacle"), preset.optics, (200, 150), seed=4)
        out = []
        for i, (a, b) in enumerate([(0.3, 1.6), (2.0, 0.1), (0.9, 1.1)]):
            def lens(t: float, a: float = a, b: float = b) -> float:
                return a + (b - a) * min(max(t / 0.03, 0.0), 1.0)
            out.append(r.render(0.0, a, frame_index=i, lens_d=lens,
                                rows=RowTiming(0.0, 0.004, 0.025)))
            ph = r.render_phase(0.01, 0.5 * (a + b), frame_index=i)
            out += [ph.left, ph.right]
        return out

    fast = frames()
    whole_blend = render_module._blend_entries
    monkeypatch.setattr(render_module, "_blend_entries",
                        lambda cache, entries, rect=None: whole_blend(cache, entries))
    monkeypatch.setattr(render_module._Blend, "region",
                        lambda self, y0, y1, x0, x1: self._sum(self.images)[y0:y1, x0:x1])
    slow = frames()
    assert len(fast) == len(slow) == 9
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("scene", "preset"), [("obstacle", "cm3"), ("portrait", "50mm-f1.8"),
                                               ("runner", "300mm-f2.8"), ("low-light", "cm3"),
                                               ("desk", "cm3")])
def test_a_region_render_is_that_region_of_the_whole_frame(scene: str, preset: str) -> None:
    """`render(region=...)` and `render_phase(region=...)` give the region's pixels of the whole
    frame bit for bit (rolling-shutter bands, a lens moving during the readout, noise), and 0
    elsewhere."""
    from afon.cameras.sim.preset import load_preset
    from afon.cameras.sim.render import RowTiming

    spec = load_preset(preset)
    r = Renderer(load_builtin_scene(scene), spec.optics, (240, 180), seed=5)
    lo, hi = spec.motor.min_d, spec.motor.max_d
    for i, (a, b) in enumerate([(0.1, 0.9), (0.8, 0.2), (0.5, 0.52)]):
        def lens(t: float, a: float = a, b: float = b) -> float:
            return lo + (hi - lo) * (a + (b - a) * min(max(t / 0.03, 0.0), 1.0))
        rows = RowTiming(0.0, 0.004, 0.025)
        whole = r.render(0.0, 0.0, frame_index=i, lens_d=lens, rows=rows).copy()
        phase = r.render_phase(0.01, lens(0.01), frame_index=i, lens_d=lens, rows=rows)
        for x0, y0, x1, y1 in [(50, 40, 130, 100), (0, 0, 240, 20), (7, 161, 239, 180),
                               (120, 90, 121, 91)]:
            part = r.render(0.0, 0.0, frame_index=i, lens_d=lens, rows=rows,
                            region=(x0, y0, x1, y1))
            np.testing.assert_array_equal(part[y0:y1, x0:x1], whole[y0:y1, x0:x1])
            part[y0:y1, x0:x1] = 0
            assert not part.any()
            px0, py0, px1, py1 = x0 // 2, y0 // 2, max(x1 // 2, x0 // 2 + 1), max(y1 // 2,
                                                                                   y0 // 2 + 1)
            ph = r.render_phase(0.01, lens(0.01), frame_index=i, lens_d=lens, rows=rows,
                                region=(px0, py0, px1, py1))
            for got, want in ((ph.left, phase.left), (ph.right, phase.right)):
                np.testing.assert_array_equal(got[py0:py1, px0:px1], want[py0:py1, px0:px1])


@pytest.mark.parametrize(("scene", "preset"), [("obstacle", "50mm-f1.8"),
                                               ("erratic", "300mm-f2.8"),
                                               ("portrait", "300mm-f2.8"), ("desk", "cm3")])
def test_layers_kept_from_the_last_frame_give_the_pixels_of_a_fresh_draw(scene: str,
                                                                         preset: str) -> None:
    """A renderer that keeps the canvas after a band's unchanged layers (a still lens, static
    layers behind a moving one) and reuses smeared textures gives, frame after frame, the
    pixels a fresh renderer draws: previews on the rolling shutter, regions, phase images;
    through a still lens, a move and a still lens again."""
    from afon.cameras.sim.preset import load_preset
    from afon.cameras.sim.render import RowTiming

    spec = load_preset(preset)
    lo, hi = spec.motor.min_d, spec.motor.max_d
    size = (200, 150)

    def lens_at(a: float, b: float, t0: float) -> Callable[[float], float]:
        def lens(t: float) -> float:
            return lo + (hi - lo) * (a + (b - a) * min(max((t - t0) / 0.03, 0.0), 1.0))
        return lens

    # (scene time, lens from, lens to, integration): a still lens, a moving one, a still one
    # again; a longer exposure smears a moving layer farther
    plan = [(1.5, 0.4, 0.4, 0.004), (1.53, 0.4, 0.4, 0.004), (1.57, 0.4, 0.4, 0.004),
            (1.6, 0.4, 0.7, 0.004), (1.63, 0.7, 0.2, 0.004), (1.67, 0.2, 0.2, 0.004),
            (1.7, 0.2, 0.2, 0.008), (1.73, 0.2, 0.2, 0.004)]
    kept = Renderer(load_builtin_scene(scene), spec.optics, size, seed=3)
    for i, (t, a, b, integration_s) in enumerate(plan):
        lens = lens_at(a, b, t)
        rows = RowTiming(t, integration_s, 0.025)
        fresh = Renderer(load_builtin_scene(scene), spec.optics, size, seed=3)
        got = [kept.render(t, 0.0, frame_index=i, lens_d=lens, rows=rows).copy(),
               kept.render(t, 0.0, frame_index=i, lens_d=lens, rows=rows,
                           region=(40, 30, 120, 100))]
        ph = kept.render_phase(t, 0.0, frame_index=i, lens_d=lens, rows=rows)
        got += [ph.left, ph.right]
        want = [fresh.render(t, 0.0, frame_index=i, lens_d=lens, rows=rows).copy(),
                fresh.render(t, 0.0, frame_index=i, lens_d=lens, rows=rows,
                             region=(40, 30, 120, 100))]
        ph = fresh.render_phase(t, 0.0, frame_index=i, lens_d=lens, rows=rows)
        want += [ph.left, ph.right]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    assert kept._snapshots  # the still frames were drawn from kept canvases


def _field_entry_whole_periods(src: np.ndarray, diameter: float, half: int) -> np.ndarray:
    """A field ladder entry the straightforward way: the tile wrapped by whole periods."""
    from afon.cameras.sim.render import _DETAIL_UNIT, _DETAIL_ZERO, _FULL, disk_kernel

    k = np.ascontiguousarray(disk_kernel(diameter, half)[:, ::-1])
    r, n = k.shape[0] // 2, src.shape[0]
    out = src
    if r:
        reps = r // n + 1
        ext = np.pad(src, ((reps * n, reps * n), (reps * n, reps * n)), mode="wrap")
        out = cv2.filter2D(ext, -1, k, borderType=cv2.BORDER_REFLECT)
        out = out[reps * n : reps * n + n, reps * n : reps * n + n]
    return np.clip(out * _DETAIL_UNIT + _DETAIL_ZERO + 0.5, 0, _FULL).astype(np.uint16)


def test_field_ladder_entries_are_those_of_the_tile_wrapped_by_whole_periods() -> None:
    """A field's blur ladder wraps its periodic tile only as far as the kernel reaches
    (rounded up to `_ALIGN_FIELD` texels): the same bits as wrapping whole periods, at every
    level (down to tiles narrower than the wrap) and for whole and half disks."""
    from afon.cameras.sim.render import _Field, _ladder_diameter
    from afon.cameras.sim.textures import detail_tile

    field = _Field(detail_tile(7), 16.0, None, 1.0, 1.0, math.inf)
    for m in (0, 2, len(field.levels) - 2, len(field.levels) - 1):
        for j in (0, 1, 5, 12, 20):
            for kind, half in (("rgb", 0), ("L", -1), ("R", 1)):
                want = _field_entry_whole_periods(field.levels[m], _ladder_diameter(j), half)
                assert np.array_equal(field.entry(kind, m, j), want), (m, j, kind)


def test_a_frames_luma_is_computed_once_and_read_only() -> None:
    """`Frame.luma` (read by the servo, the lock-on check and the tracker) is converted once
    per frame, equals `luma_of` of its image, and cannot be changed by one of its readers."""
    from afon.cameras.base import Frame, luma_of

    img = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frame = Frame(0, img, 0.0, 0.01, 0.02, 1.0, 1.0, False)
    first = frame.luma
    assert frame.luma is first
    assert np.array_equal(first, luma_of(img)) and first.dtype == np.float32
    reference = (0.299 * img[..., 0].astype(np.float32) + 0.587 * img[..., 1].astype(np.float32)
                 + 0.114 * img[..., 2].astype(np.float32))
    # OpenCV's SIMD conversion: the same coefficients, float32 rounding apart
    np.testing.assert_allclose(first, reference, rtol=0, atol=1e-4)
    assert np.array_equal(luma_of(img[5:20, 7:40]), first[5:20, 7:40])  # a crop: its pixels
    with pytest.raises(ValueError):
        first[0, 0] = 1.0


PI_OPTICS = Optics(4.74, 1.8, 6.45, 3.63, (4608, 2592), 1.0 / 12.0)


def test_a_backgrounds_plain_macro_field_goes_to_fixed_point_in_one_pass() -> None:
    """A still, tiled background whose one field at this scale is the unmodulated macro field
    (the obstacle's brick wall at 20 m on phone optics) gets its fixed-point detail factor in
    one pass (`_plain_detail_q`): within 1 LSB (2^-14) of the float factor's, saturated at 0
    where the float one is clipped; a layer with a modulated field takes the float path."""
    from afon.cameras.sim.render import _DETAIL_Q

    r = Renderer(load_builtin_scene("obstacle"), PI_OPTICS, (320, 240), seed=1)
    r.render(0.0, 2.0)  # sets the output size the draws read
    wall = next(layer for layer in r.scene.layers if layer.fill)
    cache = r._cache(wall)
    for focus_d in (0.0, 2.0, 6.0, 12.0):
        p = r._place(wall, 0.0, (focus_d,), r.size_px, r.preview_scale)
        q = r._plain_detail_q(cache, p, "rgb", 0, 0, (320, 240))
        assert q is not None
        q = q.copy()
        factor = r._detail_factor(cache, p, "rgb", 0, 0, (320, 240), blurred=True)
        assert factor is not None
        ref = np.clip(np.rint(factor.astype(np.float64) * _DETAIL_Q), 0, 65535)
        assert np.abs(q.astype(np.int64) - ref).max() <= 1
        assert float(factor.std()) > 1e-3  # the field is drawn: a test that can fail
    from afon.cameras.sim.preset import load_preset

    desk = Renderer(load_builtin_scene("desk"), load_preset("50mm-f1.8").optics, (640, 480),
                    seed=1)
    desk.render(0.0, 1.0 / 0.6)
    page = next(layer for layer in desk.scene.layers if layer.name == "page")
    page_cache = desk._cache(page)
    pp = desk._place(page, 0.0, (1.0 / 0.6,), desk.size_px, desk.preview_scale)
    drawn = page_cache.fields_at(pp.width_px)
    assert drawn and all(f.modulation is not None for f in drawn)
    assert desk._plain_detail_q(page_cache, pp, "rgb", 0, 0, (640, 480)) is None
