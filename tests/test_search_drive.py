"""Search drive: a 300 mm lens parked at infinity, the AF point on a face 2.5 m away (0.4 D:
a blur a third of the frame wide, beyond what the phase search reaches). The phase reading
then puts the subject beyond infinity, which no subject is; AF steps the lens towards the
near end, reading phase at each stop, until a real reading takes over. Before the search
drive, AF-S ended at once "out of reach" and AF-C never moved the lens."""

from __future__ import annotations

import statistics
from pathlib import Path

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.clock import VirtualClock
from afon.focus.drive import run_single_shot
from afon.focus.engine import AfStatus
from afon.focus.hybrid import HybridAf, beyond_infinity
from afon.focus.phase import PhaseMeasurement, measure_phase

FACE_D = 1 / 2.5


def _camera() -> SimCamera:
    return SimCamera("portrait", "300mm-f2.8", clock=VirtualClock(), seed=3, start_d=0.0)


def _body(tmp_path: Path, mode: str) -> tuple[SimCamera, Body]:
    cam = _camera()
    body = Body(cam, "bbf", shots_dir=tmp_path)  # its context carries the PDAF calibration
    body.set_focus_mode(mode)
    return cam, body


def _in_focus(cam: SimCamera) -> bool:
    return bool(cam.truth(cam.clock.now_s(), cam.true_lens_d())["in_focus"])


def test_the_reading_at_infinity_puts_the_face_beyond_it(tmp_path: Path) -> None:
    # the premise: a confident reading that no subject can give (else the drive never runs)
    cam, body = _body(tmp_path, "AF-S")
    ctx = body.context
    frame = cam.next_frame(phase=True)
    assert frame.phase is not None
    m = measure_phase(frame.phase, body.window, ctx)  # the single point (bbf's AF area)
    assert m.confidence > 0.5
    assert beyond_infinity(frame.lens_end_d, m, ctx)
    assert abs(m.defocus_d or 0.0) < 0.1 * FACE_D  # nowhere near the face's 0.4 D


def test_beyond_infinity_is_beyond_by_more_than_the_depth_of_focus(tmp_path: Path) -> None:
    ctx = _body(tmp_path, "AF-S")[1].context
    dof = ctx.depth_of_focus_d

    def reading(defocus_d: float) -> PhaseMeasurement:
        return PhaseMeasurement(0.0, 0.9, defocus_d, 0.9, 0.5, 20.0, False)

    assert beyond_infinity(0.0, reading(-1.5 * dof), ctx)
    assert not beyond_infinity(0.0, reading(-0.5 * dof), ctx)  # a calibration's error
    assert not beyond_infinity(0.05, reading(-0.04), ctx)  # a subject at 100 m


def test_hybrid_af_s_finds_the_face_from_infinity(tmp_path: Path) -> None:
    cam, body = _body(tmp_path, "AF-S")
    assert body.profile.af_s_strategy == "hybrid"
    res = run_single_shot(cam, HybridAf(body.context), body.window, max_frames=120)
    assert res.status is AfStatus.FOCUSED
    assert res.frames <= 45  # a few drive steps, then the usual jump and confirm
    assert _in_focus(cam)


def test_af_c_finds_the_face_from_infinity(tmp_path: Path) -> None:
    cam, body = _body(tmp_path, "AF-C")
    body.af_on.press()
    errors_dof, states = [], []
    for i in range(240):  # 8 s
        body.step()
        if i >= 120:  # after 4 s: on the face, the servo's own jitter around it
            truth = cam.truth(cam.clock.now_s(), cam.true_lens_d())
            errors_dof.append(abs(float(truth["focus_error_d"])) / body.context.depth_of_focus_d)
            states.append(body.state.value)
    # (the servo's jitter on a static face at 300 mm reaches a few depths of focus: the
    # search drive is judged by reaching the face, not by the servo's steadiness)
    assert statistics.median(errors_dof) < 1.0
    assert max(errors_dof) < 8.0
    assert states.count("PASSIVE_FOCUSED") > len(states) / 2


def test_hybrid_af_s_finds_the_face_from_infinity_with_the_zone_area(tmp_path: Path) -> None:
    """The zone area (half the frame wide) from infinity: its phase search reaches the face,
    and reads 0.31 of its 0.4 D with confidence 0.24, unsure. A local contrast search of
    ±4 DoF around that misses the face by 100 DoF (FAILED at 0.305 D); a jump there and a
    second reading (confident, 0.07 D) do not. The 0.3 D moves of the 300 mm take 10 frames
    each, which the 20-frame phase bound counted until it ran out at 2 DoF from the face."""
    cam, body = _body(tmp_path, "AF-S")
    body.set_af_area("zone")
    frame = cam.next_frame(phase=True)
    assert frame.phase is not None
    first = measure_phase(frame.phase, body.window, body.context)
    assert 0.15 <= first.confidence < 0.5 and (first.defocus_d or 0.0) > 0.5 * FACE_D  # unsure
    res = run_single_shot(cam, HybridAf(body.context), body.window, max_frames=120)
    assert res.status is AfStatus.FOCUSED
    assert _in_focus(cam)
