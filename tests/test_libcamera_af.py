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
from hypothesis import given
from hypothesis import strategies as st

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
    LibcameraServo,
    Mode,
    Report,
    RpiAf,
    ScanRecord,
    ScanState,
    aggregate_phase,
    find_peak,
    libcamera_cdaf,
    libcamera_pdaf,
    libcamera_servo,
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


# --- continuous mode (AF-C) --------------------------------------------------------------------
def continuous_core(start_d: float, tuning=IMX708_NORMAL) -> RpiAf:  # type: ignore[no-untyped-def]
    core = RpiAf(tuning)  # step_wait "gate": the adapter's timing rule decides `valid`
    core.set_lens(start_d)
    core.set_mode(Mode.CONTINUOUS)
    return core


def test_continuous_same_sign_rule_counts_readings_not_rejected_frames() -> None:
    # af.cpp:597-602, 616: a move after the 4th reading of one sign (count 0, 1, 2, 3). Frames
    # the timing rule rejects (exposed before the lens reached fsmooth) are no readings: their
    # phase, whatever its sign, neither counts nor resets the count
    core = continuous_core(2.0)
    seq = [(-100.0, True), (100.0, False), (-100.0, True), (100.0, False), (-100.0, True)]
    for phase, valid in seq:
        core.prepare(1.0, phase, 100.0, valid)
    assert core.fsmooth == 2.0 and core.same_sign_count == 2
    core.prepare(1.0, -100.0, 100.0, True)
    step = 0.016 * 100 * 100 / (100 + 8)  # gain × phase × conf / (conf + conf_epsilon)
    assert core.same_sign_count == 3 and core.fsmooth == pytest.approx(2.0 + step)
    assert core.report is Report.FOCUSED  # within max_slew (af.cpp:470-471)
    # a reading of the other sign resets the count: no move until 4 readings agree again
    core.prepare(1.0, 100.0, 100.0, True)
    before = core.fsmooth
    for _ in range(3):
        core.prepare(1.0, -100.0, 100.0, True)
    assert core.fsmooth == before
    core.prepare(1.0, -100.0, 100.0, True)
    assert core.fsmooth > before
    # a step beyond max_slew: clipped to it, and reported Scanning (af.cpp:462-469)
    before = core.fsmooth
    core.prepare(1.0, -300.0, 100.0, True)
    assert core.fsmooth == pytest.approx(before + IMX708_NORMAL.speed.max_slew)
    assert core.report is Report.SCANNING


@given(
    st.lists(
        st.tuples(st.floats(-500.0, 500.0), st.floats(0.0, 600.0), st.floats(0.0, 1.0e6)),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 5),
)
def test_continuous_pdaf_ignores_every_rejected_frame(
    frames: list[tuple[float, float, float]], warmup: int
) -> None:
    # the timing rule's "a frame exposed while the lens moved carries no new reading" holds in
    # the continuous PDAF loop too: nothing a rejected frame says moves the lens, counts a
    # same-sign or dropout frame, or starts a scan
    core = continuous_core(5.0)
    for _ in range(warmup):
        core.prepare(1000.0, -30.0, 200.0, True)
    core.ftarget = core.fsmooth  # the lens has arrived: only rejected frames follow
    keys = ("fsmooth", "ftarget", "same_sign_count", "drop_count", "prev_phase", "scan_state")
    before = {k: getattr(core, k) for k in keys}
    for phase, conf, contrast in frames:
        core.prepare(contrast, phase, conf, False)
    assert {k: getattr(core, k) for k in keys} == before


def frames_until_scan(core: RpiAf, contrast: float, most: int = 40) -> int:
    """Frames of zero confidence at `contrast` until the core leaves PDAF (`most` + 1: never)."""
    for n in range(1, most + 1):
        core.prepare(contrast, 0.0, 0.0, True)
        if core.scan_state is not ScanState.PDAF:
            return n
    return most + 1


def test_continuous_dropout_then_a_scene_change_rescans_and_lens_motion_does_not() -> None:
    # af.cpp:615-657: confident frames keep refreshing the scene's contrast, so the contrast
    # change the lens's own PDAF moves cause is no scene change; after dropout_frames (6) low-
    # confidence frames the contrast is compared with the last confident frame's: a change
    # beyond retrigger_ratio (0.8) counts 1, each later frame +1, and at retrigger_delay (10)
    # the contrast scan starts — from the lens position, toward far first (af.cpp:747-749)
    core = continuous_core(2.0)
    for k in range(6):  # PDAF at work: the lens moves (3 steps) and the contrast with it
        core.prepare(2000.0 * (k + 1), -30.0, 100.0, True)
    assert core.scan_state is ScanState.PDAF and 3.0 < core.fsmooth < 4.0
    for _ in range(100):  # PDAF drops out, the scene stays: wait, never scan
        core.prepare(12000.0, 0.0, 0.0, True)
    assert core.scan_state is ScanState.PDAF
    lens = core.fsmooth
    # the scene changes (contrast halves) and stays
    assert frames_until_scan(core, 6000.0) == IMX708_NORMAL.speed.retrigger_delay
    assert core.scan_state is ScanState.COARSE1 and core.scan_step < 0
    assert core.report is Report.SCANNING and core.fsmooth == lens
    # with dropout from the start: the 6th low-confidence frame is the first compared
    core = continuous_core(2.0)
    core.prepare(12000.0, -60.0, 100.0, True)
    sp = IMX708_NORMAL.speed
    assert frames_until_scan(core, 6000.0) == sp.dropout_frames + sp.retrigger_delay - 1


def run_servo(cam: SimCamera, servo: LibcameraServo, frames: int) -> list[tuple[float, AfStatus]]:
    """The body's AF-C loop (`next_frame → update → move_lens`) for `frames` frames: (focus
    error, status) per frame, the error the judge's (true lens against the subject)."""
    out = []
    for _ in range(frames):
        frame = cam.next_frame(phase=servo.wants_phase)
        step = servo.update(frame, AfWindow(), frame.exposure_end_s)
        if step.target_d is not None:
            cam.move_lens(step.target_d)
        err = cam.truth(cam.clock.now_s(), cam.true_lens_d())["focus_error_d"]
        out.append((abs(float(err)), step.status))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(
    ("preset", "distance_m", "start_d"), [("cm3", 0.3, 9.3), ("50mm-f1.8", 2.5, 0.0)]
)
def test_continuous_converges_on_a_static_card_and_stays(
    preset: str, distance_m: float, start_d: float
) -> None:
    # Continuous AF on a still subject: the PDAF loop brings the lens within the depth of
    # focus and then holds it — af.cpp's loop (a move of gain × phase after 4 same-sign
    # readings, cubed below the squelch) has nothing left to correct — reporting Focused, and
    # never starts a contrast scan. Fed the frames exposed while the lens was still on its way
    # (readings of an old lens position taken as the present one, af.cpp:473) the same loop
    # applied each correction 2-4 times and hunted ±1.3 D on cm3, ±0.5 D on the 50 mm
    cam = SimCamera(card_scene(distance_m, "skimage:chelsea"), preset, seed=1, start_d=start_d)
    ctx = context_for(cam)
    servo = libcamera_servo(ctx)
    servo.start(cam.lens_position_d(), cam.clock.now_s())
    trace = run_servo(cam, servo, 60)
    dof = ctx.depth_of_focus_d
    first = next(i for i, (err, _) in enumerate(trace) if err <= dof)
    assert first <= 20
    travel, reversals = cam.motor.travel_d, cam.motor.reversals
    tail = run_servo(cam, servo, 30)
    assert all(err <= dof for err, _ in trace[first:] + tail)
    assert cam.motor.reversals - reversals == 0
    assert cam.motor.travel_d - travel <= 0.25 * dof
    assert tail[-1][1] is AfStatus.FOCUSED
    assert servo.core.scan_state is ScanState.PDAF
