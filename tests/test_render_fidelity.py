"""What makes the simulated camera's frames honest: sub-pixel blur, noise below 1 DN, focus
curves with a peak at true focus (issue #9, rendering half)."""

from __future__ import annotations

import importlib.util
import math
import statistics
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from afon.cameras.base import luma_of
from afon.cameras.sim.optics import Optics
from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import Renderer, disk_kernel
from afon.cameras.sim.scene import (
    Layer,
    Scene,
    Static,
    builtin_scene_names,
    load_builtin_scene,
)
from afon.cameras.sim.textures import load_texture, prepare_texture

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
