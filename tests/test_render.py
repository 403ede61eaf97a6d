"""The simulated camera's renderer: disk blur, phase disparity, occlusion, perspective, noise."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import brentq, least_squares

from afon.cameras.sim.optics import Optics
from afon.cameras.sim.render import PHASE_K, Renderer, disk_kernel
from afon.cameras.sim.scene import Crossing, Layer, Linear, Scene, Static
from afon.cameras.sim.textures import load_texture, prepare_texture

F32 = npt.NDArray[np.float32]

PI_CAM = Optics(4.74, 1.8, 6.45, 3.63, (4608, 2592), 1.0 / 12.0)
"""Raspberry Pi Camera Module 3-like module, 0–12 D."""
FF50 = Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000), 0.45)
"""50 mm f/1.8 on full frame."""


def card(
    name: str,
    texture: str,
    width_m: float,
    distance: float | Linear,
    *,
    kind: str = "subject",
    x: float | Crossing = 0.5,
    y: float = 0.5,
    fill: bool = False,
    contrast: float = 1.0,
) -> Layer:
    image = prepare_texture(load_texture(texture), contrast=contrast, opaque=fill)
    dist = Static(distance) if isinstance(distance, int | float) else distance
    xm = Static(x) if isinstance(x, int | float) else x
    return Layer(name, kind, image, width_m, dist, xm, Static(y), fill, texture)


def scene_of(*layers: Layer, light_lux: float = 10000.0) -> Scene:
    return Scene("test", "", light_lux, tuple(layers))


def luma(img: npt.NDArray[np.uint8]) -> F32:
    return (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def focus_for_blur(optics: Optics, distance_m: float, blur_px: float, scale: float) -> float:
    """Lens position (nearer than the subject) giving `blur_px` on an image of `scale`."""

    def f(focus_d: float) -> float:
        return optics.blur_diameter_px(distance_m, focus_d, scale) - blur_px

    return float(brentq(f, 1.0 / distance_m, optics.max_focus_d))


# --- edge spread of a disk PSF ----------------------------------------------------------------
def disk_esf(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Fraction of a unit-radius disk left of the line x = u (edge spread of a pillbox)."""
    c = np.clip(u, -1.0, 1.0)
    return 0.5 + (c * np.sqrt(1.0 - c * c) + np.arcsin(c)) / math.pi


def disk_10_90_ratio() -> float:
    """10–90 % edge width of a disk PSF over its diameter: u90 with disk_esf(u90) = 0.9."""
    return float(brentq(lambda u: float(disk_esf(np.array(u))) - 0.9, 0.0, 1.0))


def model_esf(
    x: npt.NDArray[np.float64], x0: float, diameter: float, lo: float, hi: float
) -> npt.NDArray[np.float64]:
    """Disk ESF seen through a one-pixel box aperture (pixel integration)."""
    sub = (np.arange(16) + 0.5) / 16 - 0.5
    r = max(diameter / 2.0, 1e-3)
    e = disk_esf(((x[:, None] + sub[None, :]) - x0) / r).mean(axis=1)
    return lo + (hi - lo) * e


def measured_blur_diameter(img: npt.NDArray[np.uint8], guess: float) -> float:
    """Fit the disk-ESF model to the mean row profile of a vertical dark-to-light edge."""
    y = luma(img)
    h = y.shape[0]
    profile = y[h // 3 : 2 * h // 3].mean(axis=0).astype(np.float64)
    x = np.arange(profile.size, dtype=np.float64)
    mid = 0.5 * (profile.min() + profile.max())
    q = profile.size // 4
    x_mid = float(q + np.argmin(np.abs(profile[q:-q] - mid)))  # the edge near the centre
    half = guess + 12
    sel = (x > x_mid - half) & (x < x_mid + half)

    def resid(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return model_esf(x[sel], p[0], p[1], p[2], p[3]) - profile[sel]

    fit = least_squares(resid, [x_mid, guess, profile.min(), profile.max()])
    return float(fit.x[1])


def test_disk_kernel_is_a_normalised_pillbox() -> None:
    k = disk_kernel(20.0)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    n = k.shape[0]
    assert k[n // 2, n // 2] == pytest.approx(k.max())  # flat top (not Gaussian)
    assert k[n // 2, n // 2 + 8] == pytest.approx(k.max())
    assert k[n // 2, n // 2 + 11] == 0.0
    left, right = disk_kernel(20.0, -1), disk_kernel(20.0, 1)
    xs = np.arange(n) - n // 2
    c_left, c_right = float((left.sum(0) * xs).sum()), float((right.sum(0) * xs).sum())
    assert c_right - c_left == pytest.approx(PHASE_K * 20.0, rel=0.03)


def width_10_90(esf: npt.NDArray[np.float64]) -> float:
    """10–90 % rise width (samples, linear interpolation) of a rising normalised ESF."""
    x = np.arange(esf.size, dtype=np.float64)
    return float(np.interp(0.9, esf, x) - np.interp(0.1, esf, x))


def test_disk_10_90_ratio() -> None:
    # pillbox: the 10–90 % edge width is 2·u90·R = u90·D with u90 = 0.687 (a Gaussian of the
    # same second moment would give 0.64·D): computed, and checked on the renderer's kernel
    ratio = disk_10_90_ratio()
    assert ratio == pytest.approx(0.6870, abs=5e-4)
    esf = np.cumsum(disk_kernel(60.0).sum(axis=0)).astype(np.float64)
    assert width_10_90(esf) == pytest.approx(ratio * 60.0, rel=0.02)


def test_still_edge_10_90_width() -> None:
    edge = card("edge", "pattern:edge", 1.5, 3.0)
    r = Renderer(scene_of(edge), FF50)
    size = (600, 400)
    focus = focus_for_blur(FF50, 3.0, 30.0, FF50.preview_scale(size))
    y = luma(r.render_still(0.0, focus, size_px=size, noise=False))
    prof = y[150:250, 240:360].mean(axis=0).astype(np.float64)  # the edge is at x ≈ 300
    esf = (prof - prof.min()) / (prof.max() - prof.min())
    assert width_10_90(esf) / disk_10_90_ratio() == pytest.approx(30.0, rel=0.10)


@pytest.mark.parametrize("target_px", [4.0, 8.0, 16.0, 30.0])
def test_preview_edge_blur_matches_optics(target_px: float) -> None:
    edge = card("edge", "pattern:edge", 1.5, 3.0)
    r = Renderer(scene_of(edge), FF50)
    focus = focus_for_blur(FF50, 3.0, target_px, r.preview_scale)
    assert abs(r.layer_blur_px(edge, 0.0, focus)) == pytest.approx(target_px, rel=1e-6)
    img = r.render(0.0, focus, noise=False)
    measured = measured_blur_diameter(img, target_px)
    print(f"preview: optics {target_px} px, measured {measured:.2f} px")
    assert measured == pytest.approx(target_px, rel=0.10)


@pytest.mark.parametrize("target_px", [4.0, 8.0, 16.0, 30.0])
def test_still_edge_blur_matches_optics(target_px: float) -> None:
    edge = card("edge", "pattern:edge", 1.5, 3.0)
    r = Renderer(scene_of(edge), FF50)
    size = (600, 400)
    scale = FF50.preview_scale(size)
    focus = focus_for_blur(FF50, 3.0, target_px, scale)
    img = r.render_still(0.0, focus, size_px=size, noise=False)
    assert img.shape == (400, 600, 3)
    measured = measured_blur_diameter(img, target_px)
    print(f"still: optics {target_px} px, measured {measured:.2f} px")
    assert measured == pytest.approx(target_px, rel=0.10)


def test_mixed_focus_is_the_mean_of_the_positions() -> None:
    r = Renderer(scene_of(card("bg", "skimage:astronaut", 3.0, 3.0, fill=True)), FF50)
    a = r.render(0.0, 0.4, noise=False).astype(np.float32)
    b = r.render(0.0, 1.0, noise=False).astype(np.float32)
    mixed = r.render(0.0, [0.4, 1.0], noise=False).astype(np.float32)
    # centre only: the blur is mixed exactly, but the geometry is that of the mean position
    # (focus breathing during the exposure is not smeared)
    c = (slice(210, 270), slice(290, 350))
    assert np.abs(mixed[c] - (a[c] + b[c]) / 2).mean() < 2.0
    assert np.abs(mixed[c] - a[c]).mean() > 5 and np.abs(mixed[c] - b[c]).mean() > 5


# --- phase detection ---------------------------------------------------------------------------
def phase_disparity(
    left: F32, right: F32, box: tuple[int, int, int, int], max_shift: int
) -> tuple[float, float]:
    """(x_right − x_left, peak NCC) of the patch `box` = (x0, y0, x1, y1) of `left`."""
    x0, y0, x1, y1 = box
    patch = np.ascontiguousarray(left[y0:y1, x0:x1])
    search = np.ascontiguousarray(right[y0:y1, x0 - max_shift : x1 + max_shift])
    res = cv2.matchTemplate(search, patch, cv2.TM_CCOEFF_NORMED)[0]
    i = int(np.argmax(res))
    delta = 0.0
    if 0 < i < res.size - 1:
        a, b, c = res[i - 1], res[i], res[i + 1]
        den = a - 2 * b + c
        delta = 0.5 * (a - c) / den if den != 0 else 0.0
    return i - max_shift + delta, float(res[i])


def test_phase_disparity_sign_and_linearity() -> None:
    subject = card("subject", "skimage:astronaut", 0.5, 1.0)
    bg = card("bg", "skimage:grass", 20.0, 30.0, kind="background", fill=True)
    r = Renderer(scene_of(bg, subject), FF50)
    focus = np.linspace(0.0, 2.0, 11)  # lens range 0..2.2 D; subject at 1 D
    disp, expected = [], []
    for i, f in enumerate(focus):
        ph = r.render_phase(0.0, float(f), frame_index=i)
        h, w = ph.left.shape
        box = (w // 2 - 32, h // 2 - 24, w // 2 + 32, h // 2 + 24)
        d, peak = phase_disparity(ph.left, ph.right, box, 16)
        assert peak > 0.8
        disp.append(d)
        expected.append(PHASE_K * r.layer_blur_px(subject, 0.0, float(f)) * ph.scale)
    disp_a, exp_a = np.array(disp), np.array(expected)
    # sign: positive while the subject is nearer than the focus (focus_d < 1 D), then negative
    assert (disp_a[focus < 0.95] > 0.3).all()
    assert (disp_a[focus > 1.05] < -0.3).all()
    assert abs(disp_a[np.argmin(np.abs(focus - 1.0))]) < 0.3
    # linear in the lens position
    slope, icpt = np.polyfit(focus, disp_a, 1)
    pred = slope * focus + icpt
    r2 = 1.0 - ((disp_a - pred) ** 2).sum() / ((disp_a - disp_a.mean()) ** 2).sum()
    assert r2 > 0.98
    assert slope < 0
    # and of the size the optics say: PHASE_K × blur diameter
    assert np.abs(disp_a - exp_a).max() < 0.15 * np.abs(exp_a).max() + 0.3


def test_phase_disparity_is_resolved_below_one_pixel() -> None:
    """Small defocus (a blur under 2 phase pixels) still shows its sub-pixel disparity."""
    subject = card("subject", "skimage:astronaut", 0.5, 1.0)
    bg = card("bg", "skimage:grass", 20.0, 30.0, kind="background", fill=True)
    r = Renderer(scene_of(bg, subject), FF50)
    for offset_d in (0.04, 0.08, 0.15):  # ≈0.2–0.8 phase px of expected disparity
        for sign in (1.0, -1.0):
            f = 1.0 - sign * offset_d
            ph = r.render_phase(0.0, f, noise=False)
            h, w = ph.left.shape
            box = (w // 2 - 32, h // 2 - 24, w // 2 + 32, h // 2 + 24)
            d, _ = phase_disparity(ph.left, ph.right, box, 8)
            expected = PHASE_K * r.layer_blur_px(subject, 0.0, f) * ph.scale
            assert np.sign(d) == np.sign(expected) == sign
            assert d == pytest.approx(expected, rel=0.35)


def _phase_peak(scene: Scene, optics: Optics, focus_d: float) -> float:
    r = Renderer(scene, optics, seed=3)
    peaks = []
    for i in range(3):
        ph = r.render_phase(0.0, focus_d, frame_index=i)
        h, w = ph.left.shape
        box = (w // 2 - 16, h // 2 - 12, w // 2 + 16, h // 2 + 12)
        peaks.append(phase_disparity(ph.left, ph.right, box, 8)[1])
    return float(np.mean(peaks))


def test_phase_confidence_falls_on_flat_texture_and_low_light() -> None:
    focus = 1.0 / 2.0 + 1.5  # subject at 2 m, moderately defocused
    textured = scene_of(card("s", "skimage:astronaut", 0.5, 2.0, contrast=0.25))
    flat = scene_of(card("s", "flat:0.5", 0.5, 2.0))
    dim = scene_of(card("s", "skimage:astronaut", 0.5, 2.0, contrast=0.25), light_lux=10.0)
    day, featureless, low = (_phase_peak(s, PI_CAM, focus) for s in (textured, flat, dim))
    assert day > 0.9
    assert featureless < 0.5 * day
    assert low < day - 0.05


def test_phase_data_has_no_disparity_field() -> None:
    r = Renderer(scene_of(card("s", "skimage:astronaut", 0.5, 2.0)), PI_CAM)
    ph = r.render_phase(0.0, 3.0)
    assert set(vars(ph)) == {"left", "right", "scale"}
    assert ph.left.dtype == np.float32 and ph.left.shape == (240, 320)
    assert ph.scale == 0.5


# --- geometry ----------------------------------------------------------------------------------
def _width_at_half(img: npt.NDArray[np.uint8]) -> float:
    row = luma(img)[img.shape[0] // 2]
    above = row > 0.5 * row.max()
    return float(above.sum())


def test_perspective_half_distance_twice_as_large() -> None:
    for d in (4.0, 8.0):
        near = card("c", "flat:1.0", 0.3, d / 2)
        far = card("c", "flat:1.0", 0.3, d)
        wn = _width_at_half(Renderer(scene_of(near), PI_CAM).render(0.0, 0.0, noise=False))
        wf = _width_at_half(Renderer(scene_of(far), PI_CAM).render(0.0, 0.0, noise=False))
        assert wn / wf == pytest.approx(2.0, rel=0.04)
        expected = PI_CAM.size_on_sensor_px(0.3, d, 0.0, PI_CAM.preview_scale((640, 480)))
        assert wf == pytest.approx(expected, abs=1.5)


def test_obstacle_covers_subject_when_in_front() -> None:
    subject = card("subject", "pattern:checker", 0.5, 6.0)
    obstacle = card("post", "flat:1.0", 0.6, 3.0, kind="obstacle", x=Crossing(-0.7, 1.7, 0.0, 4.0))
    r = Renderer(scene_of(subject, obstacle), FF50)
    focus = 1.0 / 3.0
    centre = (slice(220, 260), slice(300, 340))
    covered = r.render(2.0, focus, noise=False)[centre]
    assert covered.min() >= 250  # only the white obstacle
    clear = r.render(0.0, focus, noise=False)[centre]
    assert clear.std() > 40  # the checkerboard


def test_draw_order_follows_distance_over_time() -> None:
    a = card("a", "flat:1.0", 0.5, 5.0)
    b = card("b", "flat:0.2", 0.5, Linear(8.0, -2.0, min=2.0))  # passes a at t = 1.5 s
    r = Renderer(scene_of(a, b), PI_CAM)
    centre = (slice(235, 245), slice(315, 325))
    assert r.render(0.0, 0.0, noise=False)[centre].mean() > 240  # b behind a
    assert r.render(3.0, 0.0, noise=False)[centre].mean() == pytest.approx(51, abs=2)


def test_focus_breathing_changes_size() -> None:
    c = card("c", "flat:1.0", 0.3, 1.0)
    r = Renderer(scene_of(c), FF50)
    w_inf, _ = r.layer_size_px(c, 0.0, 0.0)
    w_near, _ = r.layer_size_px(c, 0.0, 2.0)
    assert w_near / w_inf == pytest.approx(FF50.image_distance_mm(2.0) / 50.0, rel=1e-6)


# --- noise and determinism ---------------------------------------------------------------------
def _wall(light_lux: float) -> Scene:
    return scene_of(
        card("wall", "flat:0.5", 3.0, 1.5, kind="background", fill=True), light_lux=light_lux
    )


def test_same_seed_same_frames_and_new_noise_per_frame() -> None:
    scene = scene_of(card("s", "skimage:astronaut", 0.5, 2.0))
    r1, r2 = Renderer(scene, PI_CAM, seed=7), Renderer(scene, PI_CAM, seed=7)
    for i, f in enumerate([0.5, 0.6, 3.0]):
        np.testing.assert_array_equal(
            r1.render(0.1 * i, f, frame_index=i), r2.render(0.1 * i, f, frame_index=i)
        )
    p1, p2 = r1.render_phase(0.0, 1.0, frame_index=5), r2.render_phase(0.0, 1.0, frame_index=5)
    np.testing.assert_array_equal(p1.left, p2.left)
    np.testing.assert_array_equal(p1.right, p2.right)
    wall = Renderer(_wall(20.0), PI_CAM, seed=7)
    a = wall.render(0.0, 1.0, frame_index=0).astype(np.float32)
    b = wall.render(0.0, 1.0, frame_index=1).astype(np.float32)
    assert np.abs(a - b).mean() > 0.5
    # consecutive frames' noise is independent (no fixed pattern), also under shifts
    na, nb = a[..., 1] - a[..., 1].mean(), b[..., 1] - b[..., 1].mean()
    corr = cv2.matchTemplate(nb[40:-40, 40:-40], na[60:-60, 60:-60], cv2.TM_CCOEFF_NORMED)
    assert np.abs(corr).max() < 0.1
    c = Renderer(_wall(20.0), PI_CAM, seed=8).render(0.0, 1.0, frame_index=0)
    assert not np.array_equal(a.astype(np.uint8), c)


def test_noise_falls_with_light_and_low_light_is_dark() -> None:
    rel = []
    means = []
    for lux in (5.0, 50.0, 500.0, 5000.0):
        img = Renderer(_wall(lux), PI_CAM).render(0.0, 1.0, exposure_s=1 / 30).astype(np.float32)
        g = img[..., 1]
        rel.append(float(g.std() / g.mean()))
        means.append(float(g.mean()))
    assert rel[0] > rel[1] > rel[2] >= rel[3] * 0.9
    assert means[0] < 0.6 * means[3]  # low light: out of gain, darker
    assert means[0] > 20  # but visible
    assert means[2] == pytest.approx(0.5 * 255, abs=3)
    quiet = Renderer(_wall(5.0), PI_CAM).render(0.0, 1.0, noise=False)
    assert quiet.std() == 0.0


def test_exposure_follows_light() -> None:
    bright = Renderer(_wall(10000.0), PI_CAM).exposure(1 / 60)
    dim = Renderer(_wall(10.0), PI_CAM).exposure(1 / 60)
    assert bright.gain == 1.0 and bright.integration_s < 1 / 60
    assert bright.white_dn == pytest.approx(255.0)
    assert dim.integration_s == pytest.approx(1 / 60) and dim.gain == 32.0
    assert dim.white_dn < 255.0
