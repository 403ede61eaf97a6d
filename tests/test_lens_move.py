"""The servo's model of its own lens commands (`afon.focus.predict.LensMove`): a command given
while the lens travels goes on from the lens's speed, as the driver does, so the servo neither
misplaces the lens nor leads it to an intercept a rest-to-rest move would need (the runner's
last stills were 2.3-3.3 DoF ahead of the subject)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.bench.runner import TrialJob, load_scenarios, run_trial
from afon.cameras.sim.motor import LensMotor, MotorSpec
from afon.focus.predict import LensMove, move_time_s, plan_target, travel_time_s

SPEC = MotorSpec("ring-usm", 0.0, 0.6, max_speed_d_per_s=1.07, accel_d_per_s2=40.0)
"""The 300 mm's published speed and acceleration, without backlash or steps (exact driver)."""


@settings(max_examples=60, deadline=None)
@given(
    first_d=st.floats(0.0, 0.6),
    t_cmd_s=st.floats(0.001, 0.6),
    second_d=st.floats(0.0, 0.6),
)
def test_a_command_mid_move_follows_the_driver(
    first_d: float, t_cmd_s: float, second_d: float
) -> None:
    """Whatever the lens is doing when the second command arrives (accelerating, cruising,
    braking, at rest; towards the new target, away from it, or unable to stop before it), the
    model's position is the driver's, and it arrives when the driver does."""
    motor = LensMotor(SPEC, start_d=0.1)
    motor.command(first_d, 0.0)
    motor.command(second_d, t_cmd_s)
    first = LensMove(0.0, 0.1, 0.0, first_d, SPEC.max_speed_d_per_s, SPEC.accel_d_per_s2)
    pos, speed = first.at(t_cmd_s)
    assert pos == pytest.approx(motor.planned_d(t_cmd_s), abs=1e-9)
    second = LensMove(t_cmd_s, pos, speed, second_d, SPEC.max_speed_d_per_s, SPEC.accel_d_per_s2)
    for k in range(41):
        t = t_cmd_s + k * 0.02
        assert second.at(t)[0] == pytest.approx(motor.planned_d(t), abs=1e-9), t
    assert second.arrive_s() == pytest.approx(max(motor.arrival_s(), t_cmd_s), abs=1e-9)


def test_from_rest_the_move_time_is_the_trapezoid_and_a_moving_start_is_quicker() -> None:
    v, a = SPEC.max_speed_d_per_s, SPEC.accel_d_per_s2
    assert move_time_s(0.0125, 0.0, v, a) == pytest.approx(travel_time_s(0.0125, v, a))
    assert move_time_s(0.0125, 0.6, v, a) < 0.75 * travel_time_s(0.0125, v, a)
    # moving away first brakes: slower than from rest
    assert move_time_s(0.0125, -0.6, v, a) > travel_time_s(0.0125, v, a)


def test_a_lens_already_moving_is_sent_to_the_subject_not_beyond() -> None:
    """The subject at 0.1 D + 0.25 D/s; the lens 12.5 mD short and moving at 0.6 D/s, 30 ms
    before the exposure: from rest it could not make it (35 ms) and would be sent to a later
    intercept; at its speed it gets there in 26 ms, so the command is the subject itself."""

    def subject(t_s: float) -> float:
        return 0.1 + 0.25 * t_s

    kw = {
        "lens_d": 0.095, "now_s": 0.0, "aim_s": 0.03,
        "speed_d_per_s": SPEC.max_speed_d_per_s, "accel_d_per_s2": SPEC.accel_d_per_s2,
    }
    assert plan_target(subject, lens_speed_d_per_s=0.6, **kw) == pytest.approx(subject(0.03))
    from_rest = plan_target(subject, **kw)
    assert from_rest is not None and from_rest > subject(0.03) + 1e-3


def test_the_runner_burst_ends_sharp() -> None:
    """The bench's runner (300 mm, 8 fps, seeds 2, 4 and 5): the last still of each burst,
    the subject 6 m away and closing at 0.25 D/s, missed by 2.3-3.3 DoF, the lens ahead of
    the runner, when the servo took a lens commanded mid-move to start from rest."""
    scn = load_scenarios(["runner"])[0]
    for seed in (2, 4, 5):
        shots = run_trial(TrialJob(scn, "bbf-af-c", "predictive", seed)).shots
        assert all(s.in_focus for s in shots), (seed, [round(s.error_dof or 0, 2) for s in shots])


def test_the_servo_judges_focus_where_its_moving_lens_will_be() -> None:
    """The status looks at the lens at the exposure along the last command as the driver
    carries it out: a lens 4 DoF short but closing at 0.5 D/s is 0.3 DoF short 10 ms later
    (FOCUSED); from rest it would still be 1.9 DoF short (SCANNING)."""
    from afon.focus.engine import AfContext, AfStatus
    from afon.focus.predict import Observation
    from afon.focus.servo import PredictiveServo

    dof = 0.00093
    ctx = AfContext(0.0, 0.6, 30.0, dof, None, SPEC.max_speed_d_per_s, SPEC.accel_d_per_s2)
    servo = PredictiveServo(ctx)
    subject = 0.1
    servo.track.seed([Observation(0.1 * k, subject, 0.1 * dof) for k in range(10)])
    servo.commanded_d, servo.last_defocus_d = subject, 0.0
    lens_now, now_s, aim_s = subject - 4 * dof, 1.0, 1.01
    arriving = LensMove(now_s, lens_now, 0.5, subject, SPEC.max_speed_d_per_s, SPEC.accel_d_per_s2)
    assert abs(arriving.at(aim_s)[0] - subject) < 0.5 * dof
    assert servo._status(now_s, aim_s, lens_now, arriving) is AfStatus.FOCUSED
    assert servo._status(now_s, aim_s, lens_now, None) is AfStatus.SCANNING
