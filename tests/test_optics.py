"""Optics checked against hand-computed thin-lens values."""

from __future__ import annotations

import math

import pytest

from afon.cameras.sim.optics import Optics


def full_frame_50mm() -> Optics:
    return Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000), closest_focus_m=0.45, coc_mm=0.03)


def test_depth_of_field_50mm_f18_at_3m() -> None:
    # By hand: H = f²/(N c) + f = 2500/(1.8·0.03) + 50 = 46346.3 mm
    # near = s(H−f)/(H+s−2f) = 3000·46296.3/49246.3 = 2820.3 mm
    # far  = s(H−f)/(H−s)    = 3000·46296.3/43346.3 = 3204.2 mm
    optics = full_frame_50mm()
    near_m, far_m = optics.depth_of_field_m(1 / 3.0)
    assert near_m == pytest.approx(2.8203, abs=2e-4)
    assert far_m == pytest.approx(3.2042, abs=2e-4)
    assert optics.hyperfocal_m == pytest.approx(46.3463, abs=1e-3)
    assert optics.in_focus(2.9, 1 / 3.0)
    assert not optics.in_focus(2.7, 1 / 3.0)
    assert not optics.in_focus(3.3, 1 / 3.0)


def test_far_limit_is_infinite_beyond_hyperfocal() -> None:
    optics = full_frame_50mm()
    near_m, far_m = optics.depth_of_field_m(1 / 50.0)
    assert math.isinf(far_m)
    # near = s(H−f)/(H+s−2f) = 50000·46296.3/96246.3 mm = 24.051 m
    assert near_m == pytest.approx(24.051, rel=1e-4)
    assert optics.in_focus(math.inf, 0.0)


def test_blur_circle_of_infinity_when_focused_at_3m() -> None:
    # c = f²/(N (s − f)) = 2500 / (1.8 · 2950) = 0.47081 mm
    optics = full_frame_50mm()
    assert optics.blur_diameter_mm(math.inf, 1 / 3.0) == pytest.approx(0.47081, rel=1e-4)
    # background behind the focus has negative sign, foreground positive
    assert optics.signed_blur_diameter_mm(math.inf, 1 / 3.0) < 0
    assert optics.signed_blur_diameter_mm(1.0, 1 / 3.0) > 0
    assert optics.blur_diameter_mm(3.0, 1 / 3.0) == pytest.approx(0.0, abs=1e-12)


def test_blur_at_the_dof_limits_equals_the_coc() -> None:
    optics = full_frame_50mm()
    near_m, far_m = optics.depth_of_field_m(1 / 3.0)
    # the DoF formulas are the thin-lens blur = CoC condition (to first order in f/s)
    assert optics.blur_diameter_mm(near_m, 1 / 3.0) == pytest.approx(0.03, rel=0.02)
    assert optics.blur_diameter_mm(far_m, 1 / 3.0) == pytest.approx(0.03, rel=0.02)


def test_magnification_and_size_on_sensor() -> None:
    optics = full_frame_50mm()
    # v_s = f s/(s−f) = 50·3000/2950 = 50.847 mm; m = v_s/u
    assert optics.magnification(3.0, 1 / 3.0) == pytest.approx(50.847 / 3000, rel=1e-4)
    # a 1.7 m person at 3 m: 28.81 mm on sensor = 4802 px at 6 µm pitch
    assert optics.size_on_sensor_px(1.7, 3.0, 1 / 3.0) == pytest.approx(4802, rel=1e-3)
    # half the distance, twice the size
    assert optics.size_on_sensor_px(1.0, 1.5, 0.5) == pytest.approx(
        2 * optics.size_on_sensor_px(1.0, 3.0, 0.5)
    )


def test_camera_module_3_blur_per_dioptre() -> None:
    # af-anchors.md §5.1: blur ≈ f²·ΔD/N = 12.5 µm per dioptre ≈ 8.9 px per dioptre at 1.4 µm
    optics = Optics(4.74, 1.8, 6.45, 3.63, (4608, 2592), closest_focus_m=0.0833)
    px = optics.blur_diameter_px(1 / 3.0, 2.0)
    assert px == pytest.approx(8.9, rel=0.03)
    assert optics.pixel_pitch_mm == pytest.approx(0.0014, rel=1e-3)
    # default CoC is the diagonal / 1500
    assert optics.coc_mm == pytest.approx(math.hypot(6.45, 3.63) / 1500)
    # 640×480 preview is a 4:3 centre crop 3456×2592 binned 5.4×
    assert optics.preview_scale((640, 480)) == pytest.approx(480 / 2592)


def test_invalid_optics_are_rejected() -> None:
    with pytest.raises(ValueError, match="focal_length"):
        Optics(0.0, 1.8, 36, 24, (10, 10), 0.45)
    with pytest.raises(ValueError, match="closest_focus"):
        Optics(50.0, 1.8, 36, 24, (10, 10), 0.04)
    with pytest.raises(ValueError, match="cannot focus"):
        full_frame_50mm().image_distance_mm(25.0)
