"""Property-based (stateful) tests of the body's state machine on the simulated camera."""

from __future__ import annotations

import os
from collections import Counter
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.controls import Control, ControlEvent
from afon.focus.engine import AfWindow
from afon.focus.states import TABLES, Cause

BUTTONS = [Control.AF_ON, Control.AF_OFF, Control.SHUTTER_HALF, Control.SHUTTER_FULL]


class BodyMachine(RuleBasedStateMachine):
    body: Body

    @initialize(
        profile=st.sampled_from(["bbf", "nikon", "canon", "shutter-af"]),
        mode=st.sampled_from(["AF-S", "AF-C", "MF"]),
        scene=st.sampled_from(["portrait", "wall"]),
        trap=st.booleans(),
    )
    def start(self, profile: str, mode: str, scene: str, trap: bool) -> None:
        cam = SimCamera(scene, "50mm-f1.8", start_d=0.0, preview_px=(320, 240), seed=1)
        self.body = Body(cam, profile, window=AfWindow(0.3, 0.5), judge=cam.judge_still)
        self.lens_commands_s: list[float] = []
        move = cam.move_lens

        def logged_move(target_d: float) -> float:
            self.lens_commands_s.append(cam.clock.now_s())
            return move(target_d)

        cam.move_lens = logged_move  # type: ignore[method-assign]
        self.body.set_focus_mode(mode)
        self.body.set_trap_focus(trap)
        self.full_presses = 0
        self.press_times: list[float] = []
        self.records_at_press = 0
        self.checked_changes = 0

    def _send(self, control: Control, pressed: bool) -> None:
        body = self.body
        # lens commands whose frame boundary has passed are handed to the motor when the camera
        # is next asked: ask now, so that only what this event does is compared
        body.camera.lens_position_d()
        before_target = body.camera.motor.target_d  # type: ignore[attr-defined]
        before_cmds = body.stats.lens_commands
        records_before = len(body.shots)
        was_full = body.controls.held(Control.SHUTTER_FULL)
        body.handle(ControlEvent(control, pressed, body.clock.now_s()))
        if control in (Control.SHUTTER_HALF, Control.SHUTTER_FULL) and body.profile.bbf:
            # in af-on-only, a shutter press or release never moves the lens
            if not body.controls.held(Control.AF_ON):
                assert body.stats.lens_commands == before_cmds
            assert body.camera.motor.target_d == before_target or body.controls.held(  # type: ignore[attr-defined]
                Control.AF_ON
            )
        if control is Control.SHUTTER_FULL and pressed and not was_full:
            self.full_presses += 1
            self.press_times.append(body.clock.now_s())
            self.records_at_press = records_before
        if control is Control.SHUTTER_FULL and not pressed and was_full:
            # every full press ends in at least one shot or an explicit failure record, or in a
            # still still exposing / a press waiting for the camera (recorded once it is free)
            assert len(body.shots) + body.stills_in_flight > self.records_at_press

    @rule(control=st.sampled_from(BUTTONS))
    def press(self, control: Control) -> None:
        self._send(control, True)

    @rule(control=st.sampled_from(BUTTONS))
    def release(self, control: Control) -> None:
        self._send(control, False)

    @rule(dt=st.floats(0.0, 0.4))
    def wait(self, dt: float) -> None:
        body = self.body
        idle = (
            body.profile.bbf
            and not body.controls.held(Control.AF_ON)
            and not body.camera.lens_moving()
        )
        cmds = body.stats.lens_commands
        lens = body.camera.lens_position_d()
        body.run_for(dt)
        if idle:
            # nothing but AF-ON may move the lens in BBF
            assert body.stats.lens_commands == cmds
            assert body.camera.lens_position_d() == lens

    @rule(dt=st.floats(0.0, 0.07))
    def wait_into_the_lag(self, dt: float) -> None:
        """Short waits: the next control lands during a still's release lag or exposure
        (50 mm: 60 ms lag, 4 ms exposure)."""
        self.body.run_for(dt)
        pending = self.body._still
        if pending is not None:
            # the loop stopped while a still is exposing or waiting out its lag: not yet due
            assert pending.pending.due_s > self.body.clock.now_s()

    @rule()
    def tap_the_shutter(self) -> None:
        """A full press let go at once (a quick tap; during a still it waits for the camera)."""
        self._send(Control.SHUTTER_HALF, True)
        self._send(Control.SHUTTER_FULL, True)
        self._send(Control.SHUTTER_FULL, False)

    @rule()
    def into_the_exposure(self) -> None:
        """Stop the clock in the middle of a pending still's exposure: the next control comes
        while the sensor is exposing."""
        exposing = self.body._still
        if exposing is not None:
            pending = exposing.pending
            mid = 0.5 * (pending.exposure_start_s + pending.due_s)
            self.body.clock.sleep_until(mid)

    @rule(mode=st.sampled_from(["AF-S", "AF-C", "MF"]))
    def mode(self, mode: str) -> None:
        self.body.set_focus_mode(mode)

    @rule(on=st.booleans())
    def trap_focus(self, on: bool) -> None:
        self.body.set_trap_focus(on)

    @rule(d=st.floats(0.0, 2.0))
    def focus_ring_to(self, d: float) -> None:
        """Turn the ring (MF/DMF): the trap's reading must follow the lens, not a cache."""
        body = self.body
        if body.focus_ring(d - body.camera.lens_position_d()):
            body.run_for(0.15)  # the command takes effect at a frame boundary (lens latency)

    @invariant()
    def the_lens_holds_still_during_a_still(self) -> None:
        """No lens command is sent between a still's exposure start and its end: controls and
        AF frames that come then wait for the exposure to end."""
        for shot in self.body.shots:
            if shot.ok and shot.exposure_start_s is not None and shot.exposure_end_s is not None:
                start, end = shot.exposure_start_s, shot.exposure_end_s
                inside = [t for t in self.lens_commands_s if start + 1e-9 < t < end - 1e-9]
                assert not inside, (shot.index, start, end, inside)

    @invariant()
    def af_states_follow_the_camera2_tables(self) -> None:
        history = self.body.af.history
        for change in history[self.checked_changes :]:
            if change.cause is Cause.MODE_CHANGE:
                continue
            allowed = TABLES[change.mode].get((change.old, change.cause), frozenset())
            assert change.new in allowed, change
        for a, b in pairwise(history):
            assert b.old is a.new
        self.checked_changes = len(history)

    @invariant()
    def focus_priority_never_exposes_out_of_focus(self) -> None:
        for shot in self.body.shots:
            trap = shot.settings.get("trap", {})
            if shot.ok and shot.settings["priority"] == "focus" and not trap.get("armed"):
                assert shot.af_state in ("FOCUSED_LOCKED", "PASSIVE_FOCUSED")

    @invariant()
    def trap_focus_fires_only_on_an_in_focus_reading_once_per_frame(self) -> None:
        frames = []
        for shot in self.body.shots:
            trap = shot.settings.get("trap", {})
            if shot.ok and trap.get("armed"):
                # the reading is the camera's (phase or contrast), of a frame it delivered
                assert trap["in_focus"] is True and trap["kind"] in ("phase", "contrast")
                last = self.body.last_frame
                assert last is not None and trap["frame"] <= last.index
                frames.append(trap["frame"])
        assert len(frames) == len(set(frames)), "one trap release per in-focus reading"
        for r in self.body.trap_readings:
            if r.kind == "phase" and r.in_focus:
                assert abs(r.value) <= min(0.5 * self.body.context.depth_of_focus_d, 0.1)


    def teardown(self) -> None:
        """Closing the body records every still in flight: each full press has a record with
        its press time (a shot or a failure record), none is lost."""
        body = self.body
        body.close()
        assert body.stills_in_flight == 0
        recorded = Counter(shot.pressed_s for shot in body.shots)
        for t_s, n in Counter(self.press_times).items():
            assert recorded[t_s] >= n, (t_s, body.shots)
        assert all(a.index < b.index for a, b in pairwise(body.shots))


_LONG = os.environ.get("AFON_HYPOTHESIS_PROFILE") == "long"
BodyMachine.TestCase.settings = settings(
    max_examples=2000 if _LONG else 60, stateful_step_count=50 if _LONG else 20, deadline=None
)
TestBody = BodyMachine.TestCase
