"""AF area "tracking": the AF window follows the subject across rendered frames.

The ground truth is the scene's own layer position (where the renderer draws the subject's
centre: the layer's (x, y), scaled about the frame centre by focus breathing), never shown to
the tracker.
"""

from __future__ import annotations

import numpy as np

from afon.cameras.base import Frame
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import Scene, parse_scene
from afon.clock import VirtualClock
from afon.focus.context import context_for
from afon.focus.engine import AfWindow
from afon.focus.servo_registry import make_servo
from afon.focus.tracking import Tracker

RUNNER_CROSSING = """
name = "runner-crossing"
description = "A runner approaching from 40 m at 10 m/s while crossing left to right"

[[layers]]
name = "grass"
kind = "background"
texture = "skimage:grass"
width_m = 60
distance_m = 80
fill = true

[[layers]]
name = "runner"
kind = "subject"
texture = "skimage:astronaut"
crop = [0.0, 0.0, 0.55, 1.0]
width_m = 0.6
height_m = 1.7
distance_m = { motion = "linear", start = 40, speed = -10, min = 5 }
x = { motion = "linear", start = 0.3, speed = 0.15 }
y = 0.5
"""


def follow(
    scene: str | Scene,
    preset: str,
    until_s: float,
    size: tuple[float, float],
    start_d: float | None = None,
) -> tuple[list[tuple[float, float, float]], Tracker]:
    """AF-C with the tracking AF area; per frame (t, dx, dy): the window centre's offset from
    the subject centre in units of the subject's on-screen width and height."""
    clock = VirtualClock()
    cam = SimCamera(scene, preset, clock=clock, seed=0, start_d=start_d)
    ctx = context_for(cam)
    servo = make_servo("predictive", ctx)
    subject = cam.scene.subject
    assert subject is not None
    x0, y0 = subject.position(0.0)
    window = AfWindow(x0, y0, size[0], size[1])
    tracker = Tracker()
    servo.start(cam.lens_position_d(), clock.now_s())
    w_px, h_px = cam.preview_px
    rows = []
    while clock.now_s() < until_s:
        frame = cam.next_frame(phase=True)
        window = tracker.update(frame, window)
        step = servo.update(frame, window, frame.exposure_end_s + 1.0 / ctx.frame_rate_hz)
        if step.target_d is not None:
            cam.move_lens(step.target_d)
        mid = 0.5 * (frame.exposure_start_s + frame.exposure_end_s)
        x, y = subject.position(mid)
        breathing = cam.optics.image_distance_mm(frame.lens_d) / cam.optics.focal_length_mm
        xs, ys = 0.5 + (x - 0.5) * breathing, 0.5 + (y - 0.5) * breathing
        sw, sh = cam.renderer.layer_size_px(subject, mid, frame.lens_d)
        rows.append((mid, (window.cx - xs) / (sw / w_px), (window.cy - ys) / (sh / h_px)))
    return rows, tracker


def test_window_follows_a_bird_taking_off_across_the_frame_until_it_is_lost() -> None:
    # perched at 12 m until t = 2 s, then accelerates away, right and up (300 mm lens); it
    # leaves the frame at the right edge around t = 3.25 s
    rows, tracker = follow("bird", "300mm-f2.8", 3.6, (0.08, 0.08), start_d=1 / 12)
    in_frame = [r for r in rows if r[0] < 3.15]
    assert len([r for r in in_frame if r[0] > 2.0]) >= 30
    # the bird crosses ~0.4 frame widths in that time; the window stays on it
    assert all(abs(dx) < 0.25 and abs(dy) < 0.25 for _, dx, dy in in_frame)
    # once it has gone, the tracker says so and holds the window where it was last seen
    assert tracker.lost
    last = tracker.last
    assert last is not None and last.window.cx > 0.85


def test_window_follows_an_approaching_subject_that_grows_fourfold() -> None:
    scene = parse_scene(RUNNER_CROSSING, "runner-crossing")
    rows, tracker = follow(scene, "300mm-f2.8", 3.0, (0.08, 0.16))
    assert all(abs(dx) < 0.2 and abs(dy) < 0.2 for _, dx, dy in rows)
    assert not tracker.lost


def test_a_new_af_point_restarts_tracking_there() -> None:
    cam = SimCamera("portrait", "50mm-f1.8", clock=VirtualClock(), seed=0)
    tracker = Tracker()
    first = AfWindow(0.3, 0.5, 0.1, 0.1)
    frame = cam.next_frame()
    assert tracker.update(frame, first) == first
    frame = cam.next_frame()
    held = tracker.update(frame, first)
    assert abs(held.cx - 0.3) < 0.01 and abs(held.cy - 0.5) < 0.01  # static subject
    moved = AfWindow(0.7, 0.4, 0.1, 0.1)  # the photographer moves the AF point
    assert tracker.update(cam.next_frame(), moved) == moved


def _synthetic(index: int, patch_x: int) -> Frame:
    """A noise-textured patch on a different noise background, 320x240, patch at patch_x."""
    rng = np.random.default_rng(7)
    patch = rng.uniform(40, 220, (40, 40))
    img = np.random.default_rng(100 + index).uniform(90, 110, (240, 320))
    img[100:140, patch_x : patch_x + 40] = patch
    t = index / 30
    return Frame(index, img.astype(np.uint8), t, t + 0.01, t + 0.02, 0.0, 0.0, False)


def test_tracking_carries_on_whether_or_not_the_window_is_passed_back() -> None:
    point = AfWindow(120 / 320, 0.5, 30 / 320, 30 / 240)  # on the patch (x 100..140)
    for feed_back in (True, False):
        tracker = Tracker()
        window = point
        for i in range(12):
            got = tracker.update(_synthetic(i, 100 + 6 * i), window if feed_back else point)
            window = got
        # the patch moved 66 px (0.21 frame widths); its centre is at x = 186 px
        assert abs(window.cx * 320 - 186) < 2, feed_back


def _growing(index: int) -> Frame:
    """A noise-textured patch growing 6 % every other frame about (160, 120) on noise."""
    import cv2

    side = round(60 * 1.06 ** (index // 2))
    patch = cv2.resize(np.random.default_rng(7).uniform(40, 220, (60, 60)), (side, side),
                       interpolation=cv2.INTER_LINEAR)
    img = np.random.default_rng(100 + index).uniform(90, 110, (240, 320))
    y0, x0 = 120 - side // 2, 160 - side // 2
    img[y0 : y0 + side, x0 : x0 + side] = patch
    t = index / 30
    return Frame(index, img.astype(np.uint8), t, t + 0.01, t + 0.02, 0.0, 0.0, False)


def test_a_refreshed_template_is_cut_from_the_frame_band_passed_at_the_new_scale() -> None:
    """On a confident match the template is re-cut at the new window, from the frame
    band-passed at that window's working scale: the searched frame while the scale stays, a
    new pass once the growing subject has changed it (both happen here)."""
    from afon.focus.tracking import _prep

    tracker = Tracker()
    window = tracker.update(_growing(0), AfWindow(0.5, 0.5, 50 / 320, 50 / 240))
    same = changed = 0
    for i in range(1, 12):
        frame = _growing(i)
        before = tracker._factor_used
        window = tracker.update(frame, window)
        last = tracker.last
        if last is None or last.lost or last.score < tracker.refresh_score:
            continue
        fresh = tracker._cut(_prep(frame.luma, tracker._factor_used, last.window), last.window)
        assert tracker._template is not None and np.array_equal(tracker._template, fresh)
        same += tracker._factor_used == before
        changed += tracker._factor_used != before
    assert same >= 1 and changed >= 3, (same, changed)


def test_band_pass_over_a_box_equals_the_whole_frames_pixels_there() -> None:
    """The tracker high-passes only its window and search regions: those pixels are the whole
    frame's (to float rounding), at the frame's edges too, and nothing outside is computed."""
    from afon.focus.tracking import _band_pass

    rng = np.random.default_rng(5)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(40, 260, 2))
        img = (rng.random((h, w)) * 255).astype(np.float32)
        whole = _band_pass(img)
        x0, y0 = int(rng.integers(0, w - 4)), int(rng.integers(0, h - 4))
        x1, y1 = int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))
        part = _band_pass(img, (x0, y0, x1, y1))
        np.testing.assert_allclose(part[y0:y1, x0:x1], whole[y0:y1, x0:x1], rtol=0, atol=1e-3)
        outside = np.ones((h, w), bool)
        outside[y0:y1, x0:x1] = False
        assert not part[outside].any()


def _wandering(index: int) -> Frame:
    """A noise-textured patch that grows, moves right and down, and is gone for frames
    9-11 (the tracker loses it and widens its search), on a noise background, 320x240."""
    import cv2

    side = round(56 * 1.05 ** (index // 2))
    patch = cv2.resize(np.random.default_rng(7).uniform(40, 220, (56, 56)), (side, side),
                       interpolation=cv2.INTER_LINEAR)
    img = np.random.default_rng(100 + index).uniform(90, 110, (240, 320))
    if not 9 <= index <= 11:
        x0, y0 = 90 + 7 * index - side // 2, 100 + 2 * index - side // 2
        img[y0 : y0 + side, x0 : x0 + side] = patch
    t = index / 30
    return Frame(index, img.astype(np.uint8), t, t + 0.01, t + 0.02, 0.0, 0.0, False)


def test_the_tracker_reads_only_its_footprint() -> None:
    """`Tracker.footprint` names every pixel `track` reads: a tracker shown only those (the
    rest of each frame replaced by other noise) returns the same windows, scores and templates
    as one shown whole frames, through growth, a lost subject and an AF-point move; every
    window returned lies within the footprint's extremes, and the footprint is a part of the
    frame, not all of it."""
    whole, part = Tracker(), Tracker()
    window = AfWindow(90 / 320, 100 / 240, 50 / 320, 50 / 240)
    rng = np.random.default_rng(3)
    fractions = []
    for i in range(20):
        frame = _wandering(i)
        if i == 15:
            window = AfWindow(0.6, 0.5, 60 / 320, 60 / 240)  # the photographer moves the point
        t_s = 0.5 * (frame.exposure_start_s + frame.exposure_end_s)
        fp = part.footprint(window, t_s, (320, 240))
        assert fp == whole.footprint(window, t_s, (320, 240))
        x0, y0, x1, y1 = fp.read_px
        shown = rng.uniform(0, 255, (240, 320)).astype(np.uint8)
        shown[y0:y1, x0:x1] = frame.image[y0:y1, x0:x1]
        other = Frame(i, shown, frame.exposure_start_s, frame.exposure_end_s, frame.ready_s,
                      0.0, 0.0, False)
        got_whole = whole.track(frame, window)
        assert part.track(other, window) == got_whole, i
        assert whole._template is not None and part._template is not None
        assert np.array_equal(whole._template, part._template), i
        lo, hi = fp.windows
        got = got_whole.window
        assert lo.cx - 1e-9 <= got.cx <= hi.cx + 1e-9 and lo.cy - 1e-9 <= got.cy <= hi.cy + 1e-9
        assert got.w <= lo.w + 1e-9 and got.h <= lo.h + 1e-9
        fractions.append((x1 - x0) * (y1 - y0) / (320 * 240))
        window = got_whole.window
    # while the subject is held the search is a part of the frame (a new point: its window)
    assert whole.lost is False and max(fractions[:9]) < 0.95 and fractions[15] < 0.35, fractions


def test_a_coarse_to_fine_search_finds_the_whole_searchs_peak() -> None:
    """A large search starts at half resolution and refines its best peaks: on photographs,
    band-passed as the tracker sees them, with a noisy and slightly blurred template, it lands
    on the peak a search of every position finds, with that search's full-resolution score."""
    import cv2
    import skimage.data

    from afon.focus.tracking import _band_pass, _match, _ncc, _refined

    rng = np.random.default_rng(11)
    found = 0
    for photo in (skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()):
        luma = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
        luma = cv2.resize(luma, (320, 240), interpolation=cv2.INTER_AREA)
        img = _band_pass(luma)
        for _ in range(15):
            size = int(rng.integers(20, 49))
            x, y = int(rng.integers(50, 320 - 50 - size)), int(rng.integers(50, 240 - 50 - size))
            tpl = cv2.GaussianBlur(img[y : y + size, x : x + size], (0, 0), 0.7)
            tpl = (tpl + rng.normal(0, 2.0, tpl.shape)).astype(np.float32)
            rx0, ry0 = x - int(rng.integers(10, 50)), y - int(rng.integers(10, 50))
            region = np.ascontiguousarray(img[ry0 : ry0 + size + 60, rx0 : rx0 + size + 60])
            whole = _ncc(region, tpl)
            _, best, _, loc = cv2.minMaxLoc(whole)
            score, px, py = _match(region, tpl)
            assert abs(score - best) < 1e-5, (score, best)  # (float rounding of a sub-search)
            wx, wy = _refined(whole, loc[0], loc[1])
            assert abs(px - wx) < 1e-3 and abs(py - wy) < 1e-3, ((px, py), (wx, wy))
            found += abs(px - (x - rx0)) < 1 and abs(py - (y - ry0)) < 1
    assert found >= 43, found  # and it is where the template was cut (but on a repeat)


def test_the_shading_low_pass_is_a_wide_smooth_blur_of_the_reach_it_declares() -> None:
    """The low-pass subtracted before matching (three box filters) spreads a point over
    σ ≈ 7.8 px as a Gaussian of σ 8 would, with unit gain, peaked at the point, and reaches
    exactly `_HIGHPASS_REACH_PX` (what the footprint grows by)."""
    from afon.focus.tracking import _HIGHPASS_REACH_PX, _low_pass

    n = 101
    img = np.zeros((n, n), np.float32)
    img[n // 2, n // 2] = 1.0
    psf = _low_pass(img).astype(np.float64)
    assert abs(psf.sum() - 1.0) < 1e-5
    ys, xs = np.nonzero(psf > 1e-9)
    assert max(abs(xs - n // 2).max(), abs(ys - n // 2).max()) == _HIGHPASS_REACH_PX
    r = np.arange(n) - n // 2
    sigma_x = float(np.sqrt((psf.sum(axis=0) * r * r).sum()))
    assert 7.5 < sigma_x < 8.2, sigma_x
    assert np.unravel_index(np.argmax(psf), psf.shape) == (n // 2, n // 2)
