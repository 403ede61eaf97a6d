"""The focus magnifier reads the sensor, and the live view shows what the still records."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from afon.cameras.magnify import crop_fraction, magnify_rect
from afon.cameras.sim.camera import SimCamera, preview_px_for
from afon.cameras.sim.preset import builtin_preset_names
from afon.cameras.sim.scene import card_scene
from afon.cameras.url import open_camera
from afon.clock import VirtualClock
from afon.web.stills import limit_stills


def _grey(img: Any) -> Any:
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _sharpness(img: Any) -> float:
    """Mean |Laplacian| after a 1 px Gaussian (per-pixel noise mostly smoothed away)."""
    g = cv2.GaussianBlur(_grey(img), (0, 0), 1.0)
    return float(np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean())


def _best_shift_px(small: Any, big: Any) -> tuple[int, int]:
    """Offset of `small` inside `big` (matchTemplate), relative to `big`'s centre."""
    res = cv2.matchTemplate(_grey(big), _grey(small), cv2.TM_CCOEFF_NORMED)
    _, _, _, (x, y) = cv2.minMaxLoc(res)
    return x - (big.shape[1] - small.shape[1]) // 2, y - (big.shape[0] - small.shape[0]) // 2


def test_magnify_rect_stays_in_the_frame() -> None:
    assert magnify_rect(0.5, 0.5, 10) == pytest.approx((0.45, 0.45, 0.1, 0.1))
    assert magnify_rect(0.0, 1.0, 5) == pytest.approx((0.0, 0.8, 0.2, 0.2))
    with pytest.raises(ValueError):
        magnify_rect(0.5, 0.5, 0.5)
    img = np.zeros((480, 640, 3), np.uint8)
    assert crop_fraction(img, magnify_rect(0.5, 0.5, 10)).shape == (48, 64, 3)


@pytest.mark.parametrize("zoom", [5, 10])
def test_magnified_region_is_where_the_af_point_is(zoom: int) -> None:
    """The sensor-resolution region, scaled down, lands on the preview's pixels around the AF
    point (no shift, no different crop)."""
    cam = SimCamera("portrait", "50mm-f1.8", preview_px=preview_px_for("50mm-f1.8"), seed=3)
    frame = cam.next_frame()
    rect = magnify_rect(0.32, 0.4, zoom)
    mag = cam.magnified(frame, rect, zoom)
    assert mag.shape[:2] == cam._magnifier.output_px(zoom)[::-1]  # type: ignore[union-attr]
    crop = crop_fraction(frame.image, rect)
    down = cv2.resize(mag, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_AREA)
    corr = np.corrcoef(_grey(down).ravel(), _grey(crop).ravel())[0, 1]
    assert corr > 0.95
    # located: within one preview pixel of the AF point's region, searched over ±8 px
    x0, y0, _, _ = rect
    H, W = frame.image.shape[:2]
    pad = 8
    i0, j0 = round(x0 * W) - pad, round(y0 * H) - pad
    around = frame.image[j0 : j0 + crop.shape[0] + 2 * pad, i0 : i0 + crop.shape[1] + 2 * pad]
    dx, dy = _best_shift_px(down, around)
    assert abs(dx) <= 1 and abs(dy) <= 1, (dx, dy)


def test_magnify_at_10x_shows_what_the_preview_cannot() -> None:
    """In focus, the native region has the detail an enlarged preview lacks; 0.1 D off focus
    (invisible in the preview) it loses it: that is what a magnifier is for."""

    def views(lens_d: float) -> tuple[float, float]:
        cam = SimCamera(
            card_scene(2.0, "skimage:astronaut"),
            "50mm-f1.8",
            preview_px=preview_px_for("50mm-f1.8"),
            start_d=lens_d,
            seed=2,
        )
        cam.next_frame()
        frame = cam.next_frame()
        rect = magnify_rect(0.4, 0.45, 10)
        mag = cam.magnified(frame, rect, 10)
        assert mag.shape[:2] == (400, 600)  # 1:1 sensor pixels (6000 × 4000 sensor, 10×)
        up = cv2.resize(
            crop_fraction(frame.image, rect), (mag.shape[1], mag.shape[0]), cv2.INTER_LINEAR
        )
        return _sharpness(mag), _sharpness(up)

    native, enlarged = views(0.5)  # the card at 2 m: in focus
    native_off, enlarged_off = views(0.6)
    assert native > 3.0 * enlarged
    assert native > 3.0 * native_off
    assert enlarged < 2.0 * enlarged_off  # the enlarged preview barely tells them apart


@pytest.mark.parametrize("preset", builtin_preset_names())
def test_live_preview_has_the_stills_aspect_and_framing(preset: str) -> None:
    """What `afon serve` / `shoot` / `run` open: the live view is the still, smaller."""
    cam: Any = open_camera("sim:portrait", clock=VirtualClock(), preset=preset, seed=1)
    limit_stills(cam, "320")
    pw, ph = cam.preview_px
    sw, sh = cam.still_px
    assert abs(pw / ph - sw / sh) < 2.0 / ph  # same aspect, to a pixel
    frame = cam.next_frame()
    still = cam.capture_still(cam.clock.now_s())
    image = still.image if still.image is not None else still.develop()
    small = cv2.resize(image, (pw, ph), interpolation=cv2.INTER_AREA)
    corr = np.corrcoef(_grey(small).ravel(), _grey(frame.image).ravel())[0, 1]
    assert corr > 0.9
    # the same framing: the still's middle half is found where the preview's middle half is
    q = small[ph // 4 : ph - ph // 4, pw // 4 : pw - pw // 4]
    dx, dy = _best_shift_px(q, frame.image)
    assert abs(dx) <= 2 and abs(dy) <= 2, (dx, dy)


def test_full_size_stills_of_the_live_camera_are_the_whole_sensor() -> None:
    cam: Any = open_camera("sim:portrait", clock=VirtualClock(), preset="50mm-f1.8")
    limit_stills(cam, "full")
    assert cam.still_px == (6000, 4000)
    limit_stills(cam, "960")
    assert cam.still_px == (960, 640)


def test_magnify_of_a_camera_without_frames_is_blank() -> None:
    cam = SimCamera("portrait", "cm3", preview_px=preview_px_for("cm3"), render_frames=False)
    frame = cam.next_frame()
    img = cam.magnified(frame, magnify_rect(0.5, 0.5, 5), 5)
    assert img.shape == (360, 640, 3) and not img.any()


def test_drill_stills_take_the_drill_previews_aspect() -> None:
    """The trainer's drills keep the benchmark's 640×480 previews: their stills are the same
    4:3 centre crop of the 3:2 sensor, at --still-width and at full size."""
    from afon.bench.runner import make_camera
    from afon.bench.scenario import load_builtin_scenario

    scn = load_builtin_scenario("portrait")
    cam: Any = make_camera(scn, 0, VirtualClock(), preview_px=(640, 480))[0]
    limit_stills(cam, "960")
    assert cam.still_px == (960, 720)
    limit_stills(cam, "full")
    h = cam.optics.resolution_px[1]
    assert cam.still_px == (round(h * 4 / 3), h)
    frame = cam.next_frame()
    limit_stills(cam, "320")
    still = cam.capture_still(cam.clock.now_s())
    image = still.image if still.image is not None else still.develop()
    small = cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
    q = small[120:360, 160:480]
    dx, dy = _best_shift_px(q, frame.image)
    assert abs(dx) <= 2 and abs(dy) <= 2, (dx, dy)
