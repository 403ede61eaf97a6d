"""The PDAF confirm's last move (`afon.focus.phase.confirm_step`) and what it buys on real frames.

A confirming reading within the tolerance sends its residual with the verdict when it continues
the last jump's direction, however small (libcamera's triggered PDAF applies its last step
below the squelch: af.cpp:453-455); a residual that would reverse the lens is a jump confirmed
again when it is worth a move, else nothing. The sim test is the case that made hybrid AF-S
less precise than libcamera's PDAF port: every jump on the Camera Module 3 ends 0.067 D short
(the voice coil's friction, on the side it came from), the confirming reading says so, and its
0.023 D residual — below the old tenth-of-a-depth-of-focus floor — was dropped.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import card_scene
from afon.focus.context import context_for
from afon.focus.drive import run_single_shot
from afon.focus.engine import AfContext, AfStatus, AfWindow
from afon.focus.hybrid import HybridAf
from afon.focus.phase import RESIDUAL_FLOOR_DOF, PhaseAf, confirm_step

CTX = AfContext(0.0, 12.0, 30.0, 0.4, phase_d_per_px=1.5)
FLOOR_D = RESIDUAL_FLOOR_DOF * 0.4


def test_a_residual_continuing_the_approach_goes_out_however_small() -> None:
    # after a jump towards far (-1), a reading that says 0.02 D further (below the floor)
    step = confirm_step(1.0, -0.02, -1, CTX)
    assert step.status is AfStatus.FOCUSED and step.target_d == pytest.approx(0.98)
    step = confirm_step(3.0, 0.005, +1, CTX)
    assert step.status is AfStatus.FOCUSED and step.target_d == pytest.approx(3.005)
    # within the lens range
    assert confirm_step(11.99, 0.05, +1, CTX).target_d == 12.0


def test_a_reversal_below_the_floor_is_no_move_and_above_it_a_jump_confirmed_again() -> None:
    assert confirm_step(1.0, 0.02, -1, CTX) == confirm_step(1.0, 0.02, 0, CTX)
    step = confirm_step(1.0, 0.5 * FLOOR_D, -1, CTX)
    assert step.status is AfStatus.FOCUSED and step.target_d is None
    step = confirm_step(1.0, 2.0 * FLOOR_D, -1, CTX)
    assert step.status is AfStatus.SCANNING and step.target_d == pytest.approx(1.0 + 2 * FLOOR_D)
    # no jump left: the confirm stands, the lens stays
    step = confirm_step(1.0, 2.0 * FLOOR_D, -1, CTX, may_jump=False)
    assert step.status is AfStatus.FOCUSED and step.target_d is None
    # before any jump the approach is unknown: treated as a reversal
    assert confirm_step(1.0, -2.0 * FLOOR_D, 0, CTX).status is AfStatus.SCANNING


@given(
    lens=st.floats(0.0, 12.0),
    defocus=st.floats(-0.1, 0.1),
    approach=st.sampled_from([-1, 0, 1]),
    may_jump=st.booleans(),
)
def test_a_focused_verdict_never_reverses_the_lens(
    lens: float, defocus: float, approach: int, may_jump: bool
) -> None:
    step = confirm_step(lens, defocus, approach, CTX, may_jump=may_jump)
    move = None if step.target_d is None else step.target_d - lens
    if step.status is AfStatus.FOCUSED:
        # the verdict's move, if any, continues the approach and is the reading's residual
        assert move is None or (move * approach > 0 and abs(move) <= abs(defocus) + 1e-12)
        if approach * defocus > 0 and 0.0 < lens + defocus < 12.0 and abs(defocus) > 1e-9:
            assert move == pytest.approx(defocus)
    else:
        assert step.status is AfStatus.SCANNING and may_jump and move is not None
        assert move == pytest.approx(defocus) and abs(defocus) >= FLOOR_D
        assert approach * defocus <= 0


FACE = AfWindow(cx=0.3, cy=0.5, w=0.15, h=0.2)


@pytest.mark.parametrize("kind", [PhaseAf, HybridAf])
@pytest.mark.parametrize(
    ("scene", "window", "start_d", "seed"),
    [
        ("portrait", FACE, 6.37, 0),  # jumps land 0.042 D short; the confirm reads -0.023 D
        (card_scene(0.6, "skimage:coffee"), AfWindow(), 8.13, 4),  # 0.056 D short, reads -0.034
    ],
)
def test_the_confirm_takes_out_the_shortfall_of_the_jump(
    kind: type[PhaseAf] | type[HybridAf],
    scene: object,
    window: AfWindow,
    start_d: float,
    seed: int,
) -> None:
    cam = SimCamera(scene, "cm3", seed=seed, start_d=start_d)  # type: ignore[arg-type]
    res = run_single_shot(cam, kind(context_for(cam)), window, max_frames=100)
    err = float(cam.truth(cam.clock.now_s(), cam.true_lens_d())["focus_error_d"])  # type: ignore[arg-type]
    assert res.status is AfStatus.FOCUSED and res.frames <= 8
    # one DAC code is 0.031 D: the lens ends within that of the subject (the dropped residual
    # left it 0.042 / 0.056 D off)
    assert abs(err) <= 0.031, err
