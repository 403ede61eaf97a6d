"""libcamera's Raspberry Pi AF port (`afon.focus.libcamera_af`) pinned to upstream behaviour.

Each test drives the algorithm core the way libcamera's ``prepare()`` does, one call per frame,
with statistics from a known function of the commanded lens position (an instant lens, every
frame valid: ``step_wait="frames"`` keeps upstream's step counts), and checks the frame counts
and positions worked out by hand from af.cpp (raspberrypi/libcamera v0.7.1+rpt20260429).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from afon.cameras.base import Frame
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import card_scene
from afon.focus.context import context_for
from afon.focus.drive import run_single_shot
from afon.focus.engine import AfContext, AfStatus, AfWindow, MeasurementGate
from afon.focus.libcamera_af import (
    CDAF_ONLY,
    IMX708_NORMAL,
    PDAF_D_PER_UNIT,
    Mode,
    Report,
    RpiAf,
    ScanRecord,
    ScanState,
    aggregate_phase,
    find_peak,
    libcamera_cdaf,
    libcamera_pdaf,
    region_weights,
    scaled_tuning,
)

Curve = Callable[[float], float]


def run_core(
    core: RpiAf, contrast: Curve, phase: Curve, conf: Curve, frames: int = 200
) -> tuple[int, Report, list[float]]:
    """Feed `core` one frame at a time; returns (frame of the verdict, verdict, lens trace)."""
    lenses = []
    for n in range(1, frames + 1):
        f = core.fsmooth
        report = core.prepare(contrast(f), phase(f), conf(f))
        lenses.append(core.fsmooth)
        if core.mode is Mode.AUTO and report in (Report.FOCUSED, Report.FAILED):
            return n, report, lenses
    return frames, Report.SCANNING, lenses


def gaussian(subject_d: float, amplitude: float = 1.0e5) -> Curve:
    return lambda f: amplitude * math.exp(-((f - subject_d) ** 2) / (2 * 0.5**2))


def auto_core(start_d: float, tuning=IMX708_NORMAL, started: bool = True) -> RpiAf:  # type: ignore[no-untyped-def]
    core = RpiAf(tuning, started=started, step_wait="frames")
    core.set_lens(start_d)
    core.set_mode(Mode.AUTO)
    core.trigger()
    return core


def test_tuning_is_the_imx708_block_verbatim() -> None:
    sp = IMX708_NORMAL.speed
    assert (sp.step_coarse, sp.step_fine, sp.contrast_ratio) == (1.0, 0.25, 0.75)
    assert (sp.pdaf_gain, sp.pdaf_squelch, sp.max_slew) == (-0.016, 0.125, 1.5)
    assert (sp.pdaf_frames, sp.dropout_frames, sp.step_frames) == (20, 6, 5)
    assert (sp.retrigger_ratio, sp.retrigger_delay) == (0.8, 10)
    t = IMX708_NORMAL
    assert (t.conf_epsilon, t.conf_thresh, t.conf_clip, t.skip_frames) == (8, 16, 512, 5)
    assert (t.focus_min, t.focus_max, t.focus_default) == (0.0, 12.0, 1.0)
    # other lenses: dioptre figures scale with the range, frame counts do not
    s = scaled_tuning(IMX708_NORMAL, 0.0, 0.5)
    assert s.speed.step_coarse == pytest.approx(0.5 / 12) and s.speed.step_frames == 5
    assert s.speed.max_slew == pytest.approx(1.5 / 24) and s.focus_max == 0.5
    assert scaled_tuning(IMX708_NORMAL, 0.0, 12.0) == IMX708_NORMAL


def test_pdaf_dropout_then_the_contrast_scan_ends_where_libcamera_does() -> None:
    # PDAF confidence 0: 6 dropout frames, then the scan from 0 D (slew 1.0 -> 0 in a frame);
    # coarse samples every 6 frames (5 step frames) at 0..5 D (frame 12 + 6k), 5 D < 75% of
    # the max ends it; peak 4.0; fine 4.25, 4.0, 3.75 (frames 48, 54, 60); settle: frame 66
    core = auto_core(1.0)
    n, report, lenses = run_core(core, gaussian(4.0), lambda f: 0.0, lambda f: 0.0)
    assert (n, report) == (66, Report.FOCUSED)
    assert lenses[5] == 0.0 and lenses[-1] == pytest.approx(4.0)
    assert max(lenses) == pytest.approx(5.0)


def test_contrast_only_scan_starts_at_once_and_fails_without_a_peak() -> None:
    core = auto_core(1.0, CDAF_ONLY)
    assert core.scan_state is ScanState.TRIGGER
    n, report, _ = run_core(core, gaussian(4.0), lambda f: 0.0, lambda f: 0.0)
    assert (n, report) == (66 - 6, Report.FOCUSED)  # no PDAF dropout frames first
    # a flat curve never drops by 25%: coarse samples at 0..12 D (frames 6..78); the peak is
    # the first sample (0 D), the fine scan starts at 0.25 D — 8 slew-limited frames back
    # from 12 D (1.5 D per frame), sample at frame 91 — then 0 D is the range end (frame 97),
    # and the settle at 0.25 D fails (frame 103): the floor is not 25% below the max
    core = auto_core(1.0, CDAF_ONLY)
    n, report, lenses = run_core(core, lambda f: 1000.0, lambda f: 0.0, lambda f: 0.0)
    assert report is Report.FAILED and max(lenses) == 12.0
    assert lenses[77:84] == pytest.approx([10.5, 9.0, 7.5, 6.0, 4.5, 3.0, 1.5])
    assert n == 103 and lenses[-1] == 0.25


def test_find_peak_uses_raw_sums_and_clamps_to_the_samples() -> None:
    def recs(pts: list[tuple[float, float]], scale: float = 1.0) -> list[ScanRecord]:
        return [ScanRecord(x, y * scale, 0.0, 0.0) for x, y in pts]

    pts = [(0.0, 0.2), (1.0, 1.0), (2.0, 0.6)]
    # vertex of the parabola: 1 + (-0.8 + 0.4) / -2.4 = 1.1667
    assert find_peak(recs(pts), 1) == pytest.approx(1.0 + 1.0 / 6.0)
    # the same curve on a small raw scale: |denominator| = 0.012 < 1/64 -> the best sample
    assert find_peak(recs(pts, 1.0 / 200.0), 1) == 1.0
    # at the scan's end: same-side neighbours; the vertex (-0.5) is clamped to the samples
    end = [(0.0, 1.0), (1.0, 0.7), (2.0, 0.1)]
    assert find_peak(recs(end), 0) == pytest.approx(0.0)
    # a valley: denominator × abx < 0, refused
    assert find_peak(recs([(0.0, 1.0), (1.0, 0.5), (2.0, 0.9)]), 0) == 0.0
    assert find_peak(recs(pts[:2]), 1) == 1.0  # fewer than 3 samples


def test_triggered_pdaf_moves_by_the_gain_with_slew_squelch_and_the_final_frames() -> None:
    subject = 3.0

    def phase(f: float) -> float:  # libcamera's sign: positive = move far
        return -(subject - f) / PDAF_D_PER_UNIT

    core = auto_core(1.0)
    n, report, lenses = run_core(core, lambda f: 1.0, phase, lambda f: 100.0)
    gain = -IMX708_NORMAL.speed.pdaf_gain / PDAF_D_PER_UNIT  # 0.96
    # frame 1: 0.96 × 2 D = 1.92 > slew 1.5 -> 2.5; frame 2: +0.96 × 0.5; frame 3 below the
    # squelch (0.125 D) -> 5 more frames at ×(stepCount / 5) = 0 (integer division), Idle
    assert lenses[0] == pytest.approx(2.5)
    assert lenses[1] == pytest.approx(2.5 + gain * 0.5)
    assert lenses[2] == pytest.approx(lenses[1] + gain * (subject - lenses[1]))
    assert lenses[3:] == [lenses[2]] * 5
    assert (n, report) == (8, Report.FOCUSED)


def test_pdaf_runs_at_most_pdaf_frames_iterations() -> None:
    # a reading that never falls below the squelch (it moves with the lens): 20 iterations,
    # then the last 5 hold still, and AF ends after pdaf_frames + 1 frames
    core = auto_core(6.0)
    n, report, lenses = run_core(core, lambda f: 1.0, lambda f: 100.0, lambda f: 100.0)
    assert (n, report) == (21, Report.FOCUSED)
    assert lenses[14] == lenses[-1]  # the last step frames: no move


def test_dropout_needs_dropout_frames_in_a_row() -> None:
    confs = iter([0.0] * 5 + [100.0] + [0.0] * 5 + [100.0] * 40)
    core = auto_core(2.0)
    run_core(
        core,
        lambda f: 1.0,
        lambda f: -(2.5 - f) / PDAF_D_PER_UNIT,
        lambda f: next(confs),
        frames=12,
    )
    assert core.scan_state is ScanState.PDAF  # 5 + reset + 5: never 6 in a row
    core = auto_core(2.0)
    run_core(core, lambda f: 1.0, lambda f: 0.0, lambda f: 7.9, frames=6)  # below epsilon 8
    assert core.scan_state is ScanState.COARSE2 and core.ftarget == 0.0


def test_skip_frames_only_at_start_up_not_at_a_trigger() -> None:
    subject = 3.0
    phase = lambda f: -(subject - f) / PDAF_D_PER_UNIT  # noqa: E731
    fresh = auto_core(1.0, started=False)  # the first frames after the camera started
    n_fresh, _, lenses = run_core(fresh, lambda f: 1.0, phase, lambda f: 100.0)
    assert lenses[:5] == [1.0] * 5
    streaming = auto_core(1.0)
    n, _, _ = run_core(streaming, lambda f: 1.0, phase, lambda f: 100.0)
    assert n_fresh == n + 5
    # a second trigger on the same (streaming) camera: no skip
    streaming.trigger()
    n2, report, _ = run_core(streaming, lambda f: 1.0, phase, lambda f: 100.0)
    assert report is Report.FOCUSED and n2 == 6  # in focus already: squelch, then 5 frames


def test_continuous_pdaf_needs_three_same_sign_frames_and_scales_by_confidence() -> None:
    core = RpiAf(IMX708_NORMAL, step_wait="frames")
    core.set_lens(2.0)
    core.set_mode(Mode.CONTINUOUS)
    # a constant phase of -100 units (0.96 × 100/60 D toward near before scaling)
    lenses = []
    for _ in range(5):
        core.prepare(1.0, -100.0, 8.0)
        lenses.append(core.fsmooth)
    assert lenses[:3] == [2.0, 2.0, 2.0]  # same-sign count 0, 1, 2
    step = 0.016 * 100 * 8 / (8 + 8)  # gain × phase × conf / (conf + epsilon) = 0.8 D
    assert lenses[3] == pytest.approx(2.0 + step)
    # a small step is squelched as a cube: 0.016 × 5 × 0.5 = 0.04 D -> 0.04 × (0.04/0.125)²
    core = RpiAf(IMX708_NORMAL, step_wait="frames")
    core.set_lens(2.0)
    core.set_mode(Mode.CONTINUOUS)
    for _ in range(4):
        core.prepare(1.0, -5.0, 8.0)
    assert core.fsmooth - 2.0 == pytest.approx(0.04 * (0.04 / 0.125) ** 2)
    # alternating signs never move the lens
    core = RpiAf(IMX708_NORMAL, step_wait="frames")
    core.set_lens(2.0)
    core.set_mode(Mode.CONTINUOUS)
    for k in range(10):
        core.prepare(1.0, 50.0 if k % 2 else -50.0, 100.0)
    assert core.fsmooth == 2.0


def test_continuous_contrast_only_rescans_after_a_scene_change_and_stability() -> None:
    core = RpiAf(CDAF_ONLY, step_wait="frames")
    core.set_lens(6.0)
    core.set_mode(Mode.CONTINUOUS)
    curve = gaussian(5.0)
    for _ in range(200):
        core.prepare(curve(core.fsmooth), 0.0, 0.0)
        if core.scan_state is ScanState.IDLE:
            break
    assert core.report is Report.FOCUSED and core.fsmooth == pytest.approx(5.0, abs=0.1)
    # the scene changes (contrast halves) and stays: a scan after retrigger_delay frames
    frames = 0
    while core.scan_state < ScanState.COARSE1 and frames < 20:
        core.prepare(0.5 * curve(core.fsmooth), 0.0, 0.0)
        frames += 1
    assert frames == IMX708_NORMAL.speed.retrigger_delay
    # continuous from the middle of the range: Coarse1, toward far first
    assert core.scan_state is ScanState.COARSE1 and core.scan_step < 0


def test_weights_and_phase_aggregate_follow_upstream() -> None:
    w = region_weights(12, 16, None, (480, 360))
    assert w.sum == (12 - 8) * (16 - 8)  # middle half × third, weight 1 each
    win = region_weights(12, 16, AfWindow(0.5, 0.5, 0.125, 1 / 6), (480, 360))
    assert sum(1 for x in win.w if x) == 4  # 2 × 2 cells, each fully covered
    assert set(x for x in win.w if x) == {46080 // (10 * 12 * 16)}
    t = IMX708_NORMAL
    # below conf_thresh (16) a cell does not count; above it, clipped and minus thresh/2
    phase, conf, ok = aggregate_phase(
        win, [10.0 if x else 0.0 for x in win.w], [600 if x else 0 for x in win.w], t
    )
    assert ok and phase == pytest.approx(10.0) and conf == pytest.approx(512 - 8)
    _, _, ok = aggregate_phase(win, [10.0] * len(win.w), [15] * len(win.w), t)
    assert not ok


def test_measurement_gate_waits_for_latency_travel_and_rest() -> None:
    ctx = AfContext(0.0, 12.0, 30.0, 0.4, motor_speed_d_per_s=10.0, motor_accel_d_per_s2=1000.0)
    gate = MeasurementGate(ctx)
    img = np.zeros((4, 4, 3), np.uint8)

    def frame(start: float, moving: bool = False) -> Frame:
        return Frame(0, img, start, start + 0.01, start + 0.03, 1.0, 1.0, moving)

    assert gate.ready(frame(0.0))
    gate.moved(1.0, 2.0)  # 2 D at 10 D/s: 0.21 s of travel
    assert not gate.ready(frame(1.1))  # exposed during the travel
    assert not gate.ready(frame(1.3, moving=True))  # the camera says it moves
    assert gate.ready(frame(1.3))


# --- on the simulated Camera Module 3 --------------------------------------------------------
def test_pdaf_and_cdaf_focus_a_card_within_the_depth_of_focus() -> None:
    for factory, most in ((libcamera_pdaf, 20), (libcamera_cdaf, 40)):
        cam = SimCamera(card_scene(0.3, "skimage:chelsea"), "cm3", seed=2, start_d=9.3)
        ctx = context_for(cam)
        af = factory(ctx)
        res = run_single_shot(cam, af, AfWindow(), max_frames=300)
        err = abs(float(cam.truth(cam.clock.now_s(), cam.true_lens_d())["focus_error_d"]))  # type: ignore[arg-type]
        assert res.status is AfStatus.FOCUSED, af.name
        assert res.frames <= most, (af.name, res.frames)
        assert err <= ctx.depth_of_focus_d, (af.name, err)


def test_cdaf_fails_on_a_featureless_wall() -> None:
    cam = SimCamera("wall", "cm3", seed=9, start_d=2.0)
    res = run_single_shot(cam, libcamera_cdaf(context_for(cam)), AfWindow(), max_frames=400)
    assert res.status is AfStatus.FAILED


def test_pdaf_on_another_lens_keeps_its_loop_gain() -> None:
    # the 50 mm (0-2.2 D): scaled steps, slew and squelch, the same PDAF loop gain; the
    # portrait's face within the depth of focus (a scaled PDAF unit oscillated here)
    cam = SimCamera("portrait", "50mm-f1.8", seed=0, start_d=0.0, preview_px=(480, 360))
    ctx = context_for(cam)
    face = AfWindow(cx=0.3, cy=0.5, w=0.15, h=0.2)
    res = run_single_shot(cam, libcamera_pdaf(ctx), face)
    err = abs(float(cam.truth(cam.clock.now_s(), cam.true_lens_d())["focus_error_d"]))  # type: ignore[arg-type]
    assert res.status is AfStatus.FOCUSED and res.frames <= 20
    assert err <= ctx.depth_of_focus_d
