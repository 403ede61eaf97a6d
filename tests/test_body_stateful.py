"""Property-based (stateful) tests of the body's state machine on the simulated camera."""

from __future__ import annotations

import os
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
    )
    def start(self, profile: str, mode: str, scene: str) -> None:
        cam = SimCamera(scene, "50mm-f1.8", start_d=0.0, preview_px=(320, 240), seed=1)
        self.body = Body(cam, profile, window=AfWindow(0.3, 0.5), judge=cam.judge_still)
        self.body.set_focus_mode(mode)
        self.full_presses = 0
        self.records_at_press = 0
        self.checked_changes = 0

    def _send(self, control: Control, pressed: bool) -> None:
        body = self.body
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
            self.records_at_press = records_before
        if control is Control.SHUTTER_FULL and not pressed and was_full:
            # every full press ends in at least one shot or an explicit failure record
            assert len(body.shots) > self.records_at_press

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

    @rule(mode=st.sampled_from(["AF-S", "AF-C", "MF"]))
    def mode(self, mode: str) -> None:
        self.body.set_focus_mode(mode)

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
            if shot.ok and shot.settings["priority"] == "focus":
                assert shot.af_state in ("FOCUSED_LOCKED", "PASSIVE_FOCUSED")


_LONG = os.environ.get("AFON_HYPOTHESIS_PROFILE") == "long"
BodyMachine.TestCase.settings = settings(
    max_examples=2000 if _LONG else 60, stateful_step_count=50 if _LONG else 20, deadline=None
)
TestBody = BodyMachine.TestCase
