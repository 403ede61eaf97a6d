"""The benchmark's keeper judge at the edge of the depth of field: a still is a keeper when the
subject lies inside the depth of field (simulated scenes) or the lens is nearer the subject's
slice than any other (focal stacks) — not within twice that. Stills are taken through the
bench's own cameras (`afon.bench.runner.make_camera`) and judged by their `judge_still`, as
`run_trial` judges every shot; the edge is computed here from the optics by hand."""

from __future__ import annotations

from typing import Any

import pytest

from afon.bench.runner import BenchStackCamera, make_camera
from afon.bench.scenario import load_builtin_scenario
from afon.clock import VirtualClock


def _still_at(cam: Any, clock: VirtualClock, lens_d: float) -> Any:
    cam.move_lens(lens_d)
    while cam.lens_moving():
        clock.sleep_until(clock.now_s() + 0.01)
    return cam.capture_still(clock.now_s(), render=False)


# multiples of the half-width of the depth of field (1.0: its edge) between lens and subject
INSIDE = (-0.6, 0.0, 0.6)
OUTSIDE = (-1.5, 1.5, -1.9, 1.9)  # a judge using twice the depth of field keeps these


@pytest.mark.parametrize("k", INSIDE + OUTSIDE)
def test_a_simulated_still_is_a_keeper_only_inside_the_depth_of_field(k: float) -> None:
    clock = VirtualClock()
    cam, subject_d = make_camera(load_builtin_scenario("portrait"), 0, clock, render=False)
    s_d = subject_d(clock.now_s())
    near_m, far_m = cam.optics.depth_of_field_m(s_d)  # type: ignore[union-attr]
    # the lens positions whose near / far limit is the subject: the edge on either side
    half_d = 1.0 / near_m - s_d if k < 0 else s_d - 1.0 / far_m
    assert 0.0 < half_d < 0.2  # 50 mm f/1.8 at a few metres: hundredths of a dioptre
    still = _still_at(cam, clock, s_d - k * half_d)
    truth = cam.judge_still(still)
    assert truth["in_focus"] is (abs(k) < 1.0), (k, truth)
    error_d = abs(truth["focus_error_d"])
    assert error_d == pytest.approx(abs(k) * half_d, rel=0.1, abs=2e-3)  # the motor steps


# in slices, multiples of the stack motor's step (1/8 slice)
@pytest.mark.parametrize("k", (-0.375, 0.0, 0.375, -0.625, 0.625, -0.875, 0.875))
def test_a_stack_still_is_a_keeper_only_nearer_the_subjects_slice_than_any_other(k: float) -> None:
    clock = VirtualClock()
    scn = load_builtin_scenario("stack")
    if scn.skip_reason():
        pytest.skip(scn.skip_reason() or "")
    cam, _ = make_camera(scn, 0, clock, render=False)
    assert isinstance(cam, BenchStackCamera)
    spacing_d = cam.slice_position_d(1) - cam.slice_position_d(0)
    still = _still_at(cam, clock, cam.subject_d() + k * spacing_d)
    assert still.meta["slice_position"] == pytest.approx(cam.subject_slice + k, abs=1e-6)
    assert cam.judge_still(still)["in_focus"] is (abs(k) < 0.5), k
