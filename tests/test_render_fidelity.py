"""What makes the simulated camera's frames honest: sub-pixel blur, noise below 1 DN, focus
curves with a peak at true focus (issue #9, rendering half)."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math
import statistics
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from afon.cameras.base import Frame, luma_of
from afon.cameras.sim.optics import Optics
from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import Renderer, RowTiming, disk_kernel, focus_samples
from afon.cameras.sim.scene import (
    Layer,
    Linear,
    Motion,
    Scene,
    Static,
    builtin_scene_names,
    load_builtin_scene,
)
from afon.cameras.sim.textures import load_texture, prepare_texture
from afon.focus.measures import tenengrad

F32 = npt.NDArray[np.float32]

FF50 = Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000), 0.45)
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _benchmark(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _wall(texture: str, light_lux: float = 10000.0) -> Scene:
    image = prepare_texture(load_texture(texture), opaque=True)
    wall = Layer("wall", "background", image, 3.0, Static(1.5), fill=True, texture=texture)
    return Scene("wall", "", light_lux, (wall,))


# --- sub-pixel blur ---------------------------------------------------------------------------
@pytest.mark.parametrize("diameter_px", [0.3, 0.6, 1.0, 1.6])
def test_sub_pixel_disk_spreads_light_as_the_pixel_aperture_does(diameter_px: float) -> None:
    """A disk of diameter d < 2 px seen through the pixel aperture (tent ⊛ disk, sampled):
    its column sums put E[max(X, 0)] = 2r/(3π) of the light in each neighbouring column (X:
    the disk's horizontal marginal, a semicircle law of radius r), so the kernel's horizontal
    second moment is 4r/(3π). Binning sub-samples into pixels left any disk under ~1 px a
    delta (second moment 0): the focus curve was flat over ±1 px of blur."""
    k = disk_kernel(diameter_px).astype(np.float64)
    cols = k.sum(axis=0)
    n = np.arange(cols.size) - cols.size // 2
    r = diameter_px / 2.0
    assert float((cols * n * n).sum()) == pytest.approx(4.0 * r / (3.0 * math.pi), rel=0.04)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(k, k.T, atol=1e-7)  # round, not square-biased


def test_focus_curve_benchmark_meets_its_targets_on_the_portrait() -> None:
    """benchmarks/focus_curve.py on one scene: a 1-px blur circle costs >= 5 % of Tenengrad,
    2 px >= 25 %, both sides, and the sweep peaks within ±0.25 DoF half-widths of focus."""
    fc = _benchmark("focus_curve")
    r = fc.curve("portrait", 41)
    for side in ("near", "far"):
        assert r[f"ratio_1px_{side}"] <= 0.95
        assert r[f"ratio_2px_{side}"] <= 0.75
        assert r[f"ratio_2px_{side}"] < r[f"ratio_1px_{side}"]
    assert abs(r["peak_dof"]) <= 0.25
    assert r["meets_targets"]


# --- noise below one DN ---------------------------------------------------------------------
def test_daylight_noise_below_one_dn_survives_quantisation() -> None:
    """A daylight full-frame preview has σ ≈ 0.15 DN (72 000 e⁻ full well, 16-pixel binning).
    The signal is kept at 16 bits and quantised once with the noise, as a sensor does: a
    surface of true value 100.3 DN reads 101 when the noise exceeds +0.2 DN and 99 below
    -0.8 DN, so P(101) = 1 − Φ(0.2/σ) ≈ 9 %. An 8-bit canvas rounded the surface to 100
    first, and only noise above 0.5 DN (0.04 %) showed."""
    true_dn = 100.3
    r = Renderer(_wall(f"flat:{true_dn / 255.0!r}"), FF50)
    exp = r.exposure(1 / 60)
    assert exp.white_dn == pytest.approx(255.0)
    n = r.sensor.binned(r.preview_scale, preview=True)
    sigma = float(r.sensor.sigma_dn(np.array([true_dn], np.float32), exp, n)[0])
    assert 0.1 < sigma < 0.2
    img = r.render(0.0, 1.0 / 1.5, frame_index=3)
    nd = statistics.NormalDist(0.0, sigma)
    p_up = 1.0 - nd.cdf(0.5 - (true_dn - 100.0))
    p_down = nd.cdf(-0.5 - (true_dn - 100.0))
    assert float((img == 101).mean()) == pytest.approx(p_up, abs=0.01)
    assert float((img == 99).mean()) == pytest.approx(p_down, abs=0.002)
    assert float((img == 100).mean()) == pytest.approx(1.0 - p_up - p_down, abs=0.01)
    # without noise the 16-bit signal is rounded once, to the nearest DN
    quiet = r.render(0.0, 1.0 / 1.5, noise=False)
    assert (quiet == 100).all()


# --- physical texture scales and detail at every scale --------------------------------------
def _period_px(profile: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    k = int(np.argmax(spectrum[3:60])) + 3
    return profile.size / k


def test_built_in_scenes_give_photographs_their_real_size() -> None:
    """skimage's brick photo repeats every ~39 px across its courses: at the built-in walls'
    scale that is a brick course (65 mm brick + 10 mm mortar) of 60-90 mm, not ~2 m; grass
    blades (the photo's finest structure, 3-5 px) come out a few mm wide, not ~3 m."""
    brick = load_texture("skimage:brick")
    period = _period_px(brick[..., 0].mean(axis=0))
    assert 30 < period < 45
    seen = set()
    for name in builtin_scene_names():
        for layer in load_builtin_scene(name).layers:
            if layer.texture == "skimage:brick":
                assert 0.060 < period * layer.texel_m < 0.090, (name, layer.texel_m)
                seen.add("brick")
            elif layer.texture in ("skimage:grass", "skimage:gravel"):
                assert 4 * layer.texel_m < 0.006, (name, layer.texel_m)  # blade / pebble px
                seen.add("grass")
    assert seen == {"brick", "grass"}


def _band_energy(luma: F32, level: int) -> float:
    """Energy of one octave of a Laplacian pyramid (level 0: periods 2-4 px)."""
    img = luma.astype(np.float32)
    for _ in range(level):
        img = cv2.pyrDown(img)
    up = cv2.pyrUp(cv2.pyrDown(img), dstsize=(img.shape[1], img.shape[0]))
    band = (img - up)[8:-8, 8:-8]
    return float((band * band).mean())


def test_magnified_photo_keeps_detail_down_to_the_pixel() -> None:
    """A photo magnified 2.3× (the runner at 5 m through the 300 mm): a bilinear enlargement
    has almost no energy in the finest octave; natural images (1/f) have about as much in
    every octave. With the synthesized detail the finest octave keeps at least 0.4 of the next
    one's energy (0.63 measured; 0.2 without the detail), and a still at 9 px per photo texel
    keeps its finest octaves (1.9× the third's energy; 0.02× without)."""
    scene = load_builtin_scene("runner")
    optics = load_preset("300mm-f2.8").optics
    r = Renderer(scene, optics, (480, 360))
    subject = scene.subject
    assert subject is not None
    t = 3.0  # standing at 5 m
    w_px, _ = r.layer_size_px(subject, t, 0.2)
    assert w_px / subject.image.shape[1] > 2.0
    luma = luma_of(r.render(t, 1.0 / subject.distance_m(t), noise=False))[60:300, 80:400]
    assert _band_energy(luma, 0) > 0.4 * _band_energy(luma, 1)
    # and a still at 4× the preview's resolution (9 px per photo texel) likewise
    still = r.render_still(t, 1.0 / subject.distance_m(t), size_px=(1920, 1280), noise=False)
    sl = luma_of(still)[300:1000, 400:1500]
    assert _band_energy(sl, 0) > 0.5 * _band_energy(sl, 2)


def test_distant_tiled_ground_is_not_a_flat_mean() -> None:
    """Gravel at 60 m through the cm3: one copy of the 0.25 m photo is ~2 px, so the photo is
    averaged away; the ground still shows structure at the pixel scale (1/f variation across
    copies), as a real field does, instead of the uniform mean colour."""
    scene = load_builtin_scene("bird")
    r = Renderer(scene, load_preset("cm3").optics, (480, 360))
    luma = luma_of(r.render(0.0, 1.0 / 60.0, noise=False))
    ground = luma[:, :150]  # left of the bird
    assert ground.std() / ground.mean() > 0.08
    e = [_band_energy(ground, k) for k in range(1, 4)]
    assert 0.25 < e[0] / e[2] < 4.0  # roughly equal energy per octave (1/f)


# --- the lens moving during an exposure, rolling shutter, motion blur -------------------------
def _card_scene(texture: str = "skimage:astronaut", distance_m: float = 2.0,
                x: Motion | None = None, light_lux: float = 10000.0) -> Scene:
    image = prepare_texture(load_texture(texture))
    card = Layer("card", "subject", image, 1.2, Static(distance_m),
                 x if x is not None else Static(0.5), Static(0.5), False, texture)
    bg = prepare_texture(load_texture("flat:0.5"), opaque=True)
    wall = Layer("wall", "background", bg, 10.0, Static(20.0), fill=True, texture="flat:0.5")
    return Scene("card", "", light_lux, (wall, card))


def _ten(img: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return tenengrad(luma_of(img)[y0:y1, x0:x1])


def test_a_lens_sweeping_through_focus_has_no_dip_at_true_focus() -> None:
    """Frames exposed while the lens sweeps at constant speed (a ±8 px blur swing within the
    exposure), each sweep centred δ from the card's focus. Integrated with equal weight in
    time, contrast rises to a single peak at δ ≈ 0 and falls both ways. (Three samples at
    start, middle and end, equally weighted, peak at δ = −swing with a dip at true focus:
    0.83, 0.91, 1.0, 0.96, 0.97, 0.94, 0.94, 0.81... measured.)"""
    scene = _card_scene()
    r = Renderer(scene, FF50, (320, 240))
    card_d = 0.5
    swing_d = 8.0 * r.focus_step_d(r.preview_scale) / 0.25  # blur change of 8 px
    box = (110, 80, 210, 160)
    t_exp = 0.010
    values = []
    for delta in np.linspace(-1.5, 1.5, 13) * swing_d:
        def lens(t: float, c: float = card_d + float(delta)) -> float:
            return c + swing_d * (t / t_exp - 0.5) * 2.0

        img = r.render(0.0, 0.0, noise=False, lens_d=lens, rows=RowTiming(0.0, t_exp))
        values.append(_ten(img, box))
    peak = int(np.argmax(values))
    assert abs(peak - 6) <= 1
    assert all(a < b for a, b in itertools.pairwise(values[: peak + 1]))
    assert all(a > b for a, b in itertools.pairwise(values[peak:]))


def test_time_weighted_focus_matches_the_integral() -> None:
    """A lens that accelerates (position ∝ t²) during the exposure: the frame equals the mean
    of frames at 400 equally spaced instants (the time integral), within 0.6 DN."""
    scene = _card_scene()
    r = Renderer(scene, FF50, (320, 240))

    def lens(t: float) -> float:
        return 0.3 + 0.4 * (t / 0.01) ** 2

    fast = r.render(0.0, 0.0, noise=False, lens_d=lens, rows=RowTiming(0.0, 0.01))
    fine = [lens(0.01 * (i + 0.5) / 400) for i in range(400)]
    ref = r.render(0.0, fine, noise=False)
    assert np.abs(fast.astype(np.float32) - ref.astype(np.float32)).mean() < 0.6
    samples = focus_samples(lens, 0.0, 0.01, r.focus_step_d(r.preview_scale))
    assert len(samples) > 3
    assert statistics.fmean(samples) == pytest.approx(0.3 + 0.4 / 3.0, abs=0.002)  # ∫t² = 1/3


def test_rolling_shutter_gives_a_focus_gradient_down_the_frame() -> None:
    """The lens sweeps through the card's focus while the rows are read out (15 ms readout,
    1 ms integration): the rows exposed when the lens passed the card's focus (the middle of
    the frame) are sharpest, the top and bottom blurred. A global shutter (readout 0) is
    uniform."""
    scene = _card_scene()
    r = Renderer(scene, FF50, (320, 240))
    rows = RowTiming(0.0, 0.001, 0.015)
    t_mid = rows.window_s(105 / 240)[0] + 0.0005  # rows 90-120: one of the 8 bands
    rate = 8.0 * r.focus_step_d(r.preview_scale) / 0.25 / 0.0075  # 8 px of blur per 7.5 ms

    def lens(t: float) -> float:
        return 0.5 + rate * (t - t_mid)

    sharp = r.render(0.0, 0.5, noise=False)
    bands = [(110, y, 210, y + 30) for y in (20, 90, 170)]

    def ratios(img: npt.NDArray[np.uint8]) -> list[float]:
        return [_ten(img, b) / _ten(sharp, b) for b in bands]

    top, middle, bottom = ratios(r.render(0.0, 0.0, noise=False, lens_d=lens, rows=rows))
    assert middle > 0.85 and top < 0.6 and bottom < 0.6
    # a global shutter with the same lens motion: every row alike
    flat = ratios(r.render(0.0, 0.0, noise=False, lens_d=lens, rows=RowTiming(t_mid, 0.001)))
    assert max(flat) - min(flat) < 0.1
    # the window of each row: start + y·readout
    assert rows.window_s(1.0) == pytest.approx((0.015, 0.016))


def test_frame_reports_each_rows_exposure_window() -> None:
    # first row starts at 1.0, last row ends at 1.012: 2 ms integration, 10 ms readout
    frame = Frame(0, np.zeros((4, 4, 3), np.uint8), 1.0, 1.012, 1.02, 0.0, 0.0, False,
                  readout_s=0.01)
    assert frame.row_window_s(0.0) == pytest.approx((1.0, 1.002))
    assert frame.row_window_s(0.5) == pytest.approx((1.005, 1.007))
    assert frame.row_window_s(1.0) == pytest.approx((1.01, 1.012))


def test_lateral_motion_blurs_an_edge_into_a_ramp() -> None:
    """A white card moving sideways 20 px during the exposure: its edge becomes a linear ramp
    20 px long (uniform motion: a box PSF), so the 10-90 % rise is 0.8 × 20 = 16 px; still,
    the edge rises within the pixel aperture (~1 px)."""
    scene = _card_scene("flat:1.0", x=Linear(0.3, 1.0))
    card = dataclasses.replace(scene.layers[1], width_m=0.3)
    r = Renderer(dataclasses.replace(scene, layers=(scene.layers[0], card)), FF50, (320, 240))
    t_exp = 20.0 / 320.0  # one frame width per second: 20 px during the exposure
    still_img = r.render(0.1 + t_exp / 2, 0.5, noise=False)
    moving = r.render(0.0, 0.0, noise=False, lens_d=lambda t: 0.5, rows=RowTiming(0.1, t_exp))
    for img, expected in ((still_img, 1.0), (moving, 16.0)):
        row = luma_of(img)[120].astype(np.float64)
        mid = 0.5 * (row.min() + row.max())
        edge = int(np.argmax(row[:160] > mid))  # the card's left edge
        seg = row[edge - 25 : edge + 25]
        esf = (seg - seg.min()) / (seg.max() - seg.min())
        x = np.arange(esf.size, dtype=np.float64)
        rise = float(np.interp(0.9, esf, x) - np.interp(0.1, esf, x))
        assert rise == pytest.approx(expected, abs=1.5), (expected, rise)


def test_detail_is_applied_to_colour_in_fixed_point_and_leaves_alpha_alone() -> None:
    """A layer's detail multiplies its premultiplied colour (16 bits, factor in 2^-14 steps):
    within 3 of 65535 of the exact float product (the factor's rounding, at most 2^-15 of a
    value up to 65535, and the product's), and its alpha is not touched (a card's rim
    stays as transparent as its blur made it)."""
    scene = load_builtin_scene("portrait")
    r = Renderer(scene, load_preset("300mm-f2.8").optics, (640, 427), seed=3)
    subject = scene.subject
    assert subject is not None
    focus = (1.0 / subject.distance_m(0.0),)
    p = r._place(subject, 0.0, focus, r.size_px, r.preview_scale)
    cache = r._cache(subject)
    h, w = 120, 160
    ox, oy = int(p.cx) - w // 2, int(p.cy) - h // 2
    factor = r._moving_detail(cache, p, "rgb", ox, oy, (w, h))
    assert factor is not None and float(factor.std()) > 0.01  # detail is drawn here
    factor = factor.copy()
    img = np.random.default_rng(1).integers(0, 65536, (h, w, 4), dtype=np.uint16)
    img[..., 3] = np.random.default_rng(2).integers(0, 65536, (h, w), dtype=np.uint16)
    want = np.clip(img[..., :3] * factor[..., None].astype(np.float64), 0, 65535)
    got = img.copy()
    r._apply_detail(got, cache, p, "rgb", ox, oy)
    assert np.array_equal(got[..., 3], img[..., 3])
    assert np.abs(got[..., :3] - want).max() <= 3.0
