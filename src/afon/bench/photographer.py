"""Photographer models: pressing a body's controls the way people do with each technique.

Four techniques, each a way of holding a camera:

============  =========================================================================
technique     what the photographer does
============  =========================================================================
shutter-af-s  Classic half-press AF-S, focus priority (profile ``shutter-af``). Half-press
              on the subject early and hold it (prefocus), full press at the first moment,
              let go. Every later frame: half-press, wait for the focus confirmation,
              react, full press, let go — so AF runs again before every frame.
shutter-af-c  Half-press AF-C (profile ``shutter-af`` in AF-C, release priority): half-press
              early and keep it held — through a recompose too, so the servo follows
              whatever is under the AF point — and press fully at the moments.
bbf-af-s      Back-button AF-S focus-and-recompose (profile ``bbf`` in AF-S): press AF-ON,
              let go when focus is confirmed (the lens stays locked), recompose, and press
              the shutter at the moments; the shutter never refocuses.
bbf-af-c      Back-button AF-C hold-to-track (profile ``bbf``): hold AF-ON (the servo
              tracks) and press the shutter at the moments; before a recompose the
              photographer lets go of AF-ON, which locks focus where it is.
============  =========================================================================

Bursts (a scenario with ``burst_fps``) use continuous drive at that rate, the shutter held
from the first moment to the last — except shutter-af-s, which has to let go between frames
and so takes one frame per AF cycle (moments that pass while it is busy are skipped).

Human timing (`HumanTiming`)
----------------------------
Each decision the photographer takes in response to something — the moment arriving, the
focus-confirmation beep — comes a reaction time later. Reaction times are drawn from a
log-normal distribution, median 0.2 s, log-σ 0.25 (so ~90% fall within 0.13–0.30 s), clipped
to 0.1–0.6 s. The median follows the classic simple-reaction-time figures (≈0.19 s to a light,
≈0.16 s to a sound, for young adults: R. J. Kosinski, "A Literature Review on Reaction
Time", Clemson University, after Welford 1980); the log-normal shape (reaction times are
skewed to the right) and its spread are an assumption. A tap of the shutter stays down
`hold_s` (0.1 s) and a finger needs `regrip_s` (0.1 s) between letting go and pressing again
— both assumptions.

Reaction times come from random streams seeded by (scenario, seed) only: every technique and
strategy of a trial meets the same photographer — the same reaction to each moment (common
random numbers), which makes the side-by-side comparison fairer than independent draws.

What the model records (`PhotographerLog`): for each moment, when the photographer pressed
for it (the moment plus their reaction); for each shot attempt, when they decided (the
half-press that started it with shutter-af-s, else the full press) and when the full press
went down. Shutter lag is measured from the decision to the exposure; missed moments from
the press for the moment.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from afon.bench.scenario import Scenario
from afon.body import Body
from afon.controls import Control, ControlEvent
from afon.focus.states import AfState
from afon.profile import Profile, load_profile


@dataclass(frozen=True)
class Technique:
    name: str
    label: str
    profile: str
    focus_mode: str
    description: str

    @property
    def bbf(self) -> bool:
        return self.profile == "bbf"


TECHNIQUES: dict[str, Technique] = {
    t.name: t
    for t in (
        Technique(
            "shutter-af-s",
            "shutter AF-S",
            "shutter-af",
            "AF-S",
            "half-press, wait for confirm, full press, let go between frames",
        ),
        Technique(
            "shutter-af-c",
            "shutter AF-C",
            "shutter-af",
            "AF-C",
            "half-press held (servo), full press at the moments",
        ),
        Technique(
            "bbf-af-s",
            "BBF AF-S",
            "bbf",
            "AF-S",
            "AF-ON until confirm, let go (locked), recompose, shoot",
        ),
        Technique(
            "bbf-af-c",
            "BBF AF-C",
            "bbf",
            "AF-C",
            "AF-ON held (servo), shoot at the moments; let go to lock before a recompose",
        ),
    )
}
"""The techniques, in report order."""


@dataclass(frozen=True)
class HumanTiming:
    """How fast the modelled photographer is (see the module docstring for the sources)."""

    reaction_median_s: float = 0.2
    reaction_log_sigma: float = 0.25
    reaction_min_s: float = 0.1
    reaction_max_s: float = 0.6
    hold_s: float = 0.1
    regrip_s: float = 0.1
    af_attempts: int = 2
    """AF-S tries before giving up (a failed AF-S is let go and pressed again)."""
    patience_s: float = 1.0
    """How long past the moment the photographer waits for a focus confirmation before
    pressing anyway."""


class Human:
    """Seeded reaction times: one stream for moments, one for reactions to the camera."""

    def __init__(self, key: str, timing: HumanTiming | None = None) -> None:
        self.timing = timing if timing is not None else HumanTiming()
        self._moments = random.Random(f"{key}:moments")
        self._camera = random.Random(f"{key}:camera")

    def _draw(self, rng: random.Random) -> float:
        t = self.timing
        r = t.reaction_median_s * math.exp(rng.gauss(0.0, t.reaction_log_sigma))
        return min(max(r, t.reaction_min_s), t.reaction_max_s)

    def moment_reaction(self) -> float:
        return self._draw(self._moments)

    def camera_reaction(self) -> float:
        return self._draw(self._camera)


@dataclass(frozen=True)
class Attempt:
    """One shot the photographer went for."""

    decision_s: float
    """When they started pressing for it."""
    full_s: float | None
    """When the full press went down (None: they never got to it)."""


@dataclass
class PhotographerLog:
    moment_press_s: list[float] = field(default_factory=list)
    """For each moment of the scenario: when the photographer pressed for it."""
    attempts: list[Attempt] = field(default_factory=list)
    af_confirm_s: list[float] = field(default_factory=list)
    """When the photographer saw an AF-S focus confirmation."""

    def decision_for(self, pressed_s: float) -> float:
        """The decision behind a shot whose full press was at `pressed_s` (burst frames after
        the first have their own due time, and no decision of their own)."""
        for a in self.attempts:
            if a.full_s is not None and abs(a.full_s - pressed_s) < 1e-9:
                return a.decision_s
        return pressed_s


# --- helpers that drive a body on its clock ----------------------------------------------------
def _advance(body: Body, t_s: float) -> None:
    if t_s > body.clock.now_s():
        body.run_until(t_s)


def _event(body: Body, control: Control, pressed: bool, t_s: float) -> float:
    _advance(body, t_s)
    now = body.clock.now_s()
    body.handle(ControlEvent(control, pressed, now))
    return now


def _held(body: Body, control: Control) -> bool:
    return body.controls.held(control)


_VERDICTS = (AfState.FOCUSED_LOCKED, AfState.NOT_FOCUSED_LOCKED)


def _await_af_s(body: Body, since: int, until_s: float) -> tuple[AfState | None, float]:
    """Run frames until an AF-S verdict appears in the AF history after entry `since`, or
    `until_s`; returns (verdict or None, its time)."""
    period = 1.0 / (body.camera.capabilities.frame_rate_hz or 30.0)
    while True:
        for change in body.af.history[since:]:
            if change.new in _VERDICTS:
                return change.new, change.t_s
        now = body.clock.now_s()
        if now >= until_s:
            return None, now
        body.run_until(min(now + period, until_s))


class Photographer:
    """Drives a body through a scenario with one technique."""

    def __init__(self, technique: str, scenario: Scenario, human: Human) -> None:
        if technique not in TECHNIQUES:
            raise ValueError(f"unknown technique {technique!r}; known: {', '.join(TECHNIQUES)}")
        self.technique = TECHNIQUES[technique]
        self.scenario = scenario
        self.human = human
        self.timing = human.timing
        self.log = PhotographerLog()
        shoot = scenario.shoot
        # reactions to the moments are drawn first and in a fixed order (common random numbers)
        self._start_s = scenario.start_s + human.moment_reaction()
        if shoot.burst:
            r = human.moment_reaction()
            self._moment_press = [t + r for t in shoot.moments_s]
        else:
            self._moment_press = [t + human.moment_reaction() for t in shoot.moments_s]
        self.log.moment_press_s = list(self._moment_press)
        # the reaction to the next focus confirmation is drawn ahead, so the plan can say it
        self._next_reaction = human.camera_reaction()
        self._plan_future: list[float] = []
        self._plan_await: float | None = None

    def _react(self) -> float:
        """The reaction to what the camera just did (drawn one ahead: see `planned_presses`)."""
        r = self._next_reaction
        self._next_reaction = self.human.camera_reaction()
        return r

    def planned_presses(self, confirm_s: float) -> list[float]:
        """The full presses the photographer intends from now on, as far as they are planned:
        every moment for the techniques that do not refocus between frames, the next frame
        only for shutter-af-s — pressed a reaction time after the focus confirmation, which
        the caller estimates as `confirm_s` (only the clairvoyant limit asks: see
        `afon.bench.oracle`)."""
        out = []
        if self._plan_await is not None:
            out.append(max(self._plan_await, confirm_s + self._next_reaction))
        out.extend(self._plan_future)
        return out

    # --- the profile the technique uses -------------------------------------------------------
    def profile(self, base: Profile | None = None) -> Profile:
        """The body's custom functions for this technique and scenario."""
        t = self.technique
        p = base if base is not None else load_profile(t.profile)
        shoot = self.scenario.shoot
        burst = shoot.burst and t.name != "shutter-af-s"
        changes: dict[str, object] = {
            "focus_mode": t.focus_mode,
            "af_area": self.scenario.af_area,
            "drive": "continuous" if burst else "single",
        }
        if burst and shoot.burst_fps is not None:
            changes["burst_fps"] = shoot.burst_fps
        if t.name == "shutter-af-s":
            changes["af_s_priority"] = "focus"
        else:
            changes["af_s_priority"] = "release"
            changes["af_c_priority"] = "release"
        return p.with_(**changes)

    # --- running ------------------------------------------------------------------------------
    @property
    def end_s(self) -> float:
        return self.scenario.duration_s

    def run(self, body: Body) -> PhotographerLog:
        name = self.technique.name
        if name == "shutter-af-s":
            self._shutter_af_s(body)
        elif name == "shutter-af-c":
            self._hold_and_shoot(body, Control.SHUTTER_HALF)
        elif name == "bbf-af-s":
            self._bbf_af_s(body)
        else:
            self._hold_and_shoot(body, Control.AF_ON)
        self._let_go_of_everything(body)
        _advance(body, self.end_s)
        return self.log

    def _let_go_of_everything(self, body: Body) -> None:
        now = body.clock.now_s()
        for control in (Control.SHUTTER_FULL, Control.SHUTTER_HALF, Control.AF_ON):
            if _held(body, control):
                _event(body, control, False, now)

    def _focus_af_s(
        self, body: Body, control: Control, t_s: float, deadline_s: float
    ) -> tuple[bool, float]:
        """Press `control` (AF-ON or half-press) at `t_s` and keep trying until AF-S confirms
        (up to `af_attempts` tries) or `deadline_s` passes; returns (confirmed, when the
        photographer saw the verdict or gave up). The control is still held on return."""
        attempts = 0
        deadline_s = min(deadline_s, self.end_s)
        while True:
            attempts += 1
            since = len(body.af.history)
            _event(body, control, True, t_s)
            verdict, when = _await_af_s(body, since, deadline_s)
            if verdict is AfState.FOCUSED_LOCKED:
                self.log.af_confirm_s.append(when)
                return True, when
            if verdict is None or attempts >= self.timing.af_attempts:
                return False, when
            let_go = when + self._react()
            _event(body, control, False, let_go)
            t_s = let_go + self.timing.regrip_s
            if t_s >= deadline_s:
                return False, body.clock.now_s()

    def _full_press(self, body: Body, t_s: float, decision_s: float | None = None) -> float:
        _advance(body, t_s)
        now = body.clock.now_s()
        if not _held(body, Control.SHUTTER_HALF):
            body.handle(ControlEvent(Control.SHUTTER_HALF, True, now))
        body.handle(ControlEvent(Control.SHUTTER_FULL, True, now))
        self.log.attempts.append(Attempt(decision_s if decision_s is not None else now, now))
        return now

    def _full_release(self, body: Body, t_s: float, keep_half: bool) -> float:
        now = _event(body, Control.SHUTTER_FULL, False, t_s)
        if not keep_half and _held(body, Control.SHUTTER_HALF):
            body.handle(ControlEvent(Control.SHUTTER_HALF, False, now))
        return now

    def _shoot_moments(self, body: Body, ready_s: float, keep_half: bool) -> None:
        """Shoot the moments with the focus already taken care of (BBF, AF-C held)."""
        shoot = self.scenario.shoot
        presses = self._moment_press
        if shoot.burst and shoot.burst_fps is not None:
            delay = max(0.0, ready_s - presses[0])
            start = presses[0] + delay
            stop = presses[-1] + delay + 0.5 / shoot.burst_fps
            if start >= self.end_s:
                return
            self._full_press(body, start)
            self._full_release(body, min(stop, self.end_s), keep_half)
            return
        free_s = ready_s
        for p in presses:
            t = max(p, free_s)
            if t >= self.end_s:
                break
            self._full_press(body, t)
            released = self._full_release(body, t + self.timing.hold_s, keep_half)
            free_s = released + self.timing.regrip_s

    def _hold_and_shoot(self, body: Body, hold: Control) -> None:
        """AF-C: hold `hold` (AF-ON or the half-press) and shoot at the moments."""
        self._plan_future = list(self._moment_press)
        _event(body, hold, True, self._start_s)
        rec = self.scenario.recompose
        keep_half = hold is Control.SHUTTER_HALF
        if rec is not None and hold is Control.AF_ON:
            # BBF: let go of AF-ON to lock focus before turning the camera
            _event(body, Control.AF_ON, False, max(rec.t_s, self._start_s))
        self._shoot_moments(body, self._start_s, keep_half)

    def _bbf_af_s(self, body: Body) -> None:
        self._plan_future = list(self._moment_press)
        patience = self._moment_press[0] + self.timing.patience_s
        _confirmed, when = self._focus_af_s(body, Control.AF_ON, self._start_s, patience)
        let_go = when + self._react()
        _event(body, Control.AF_ON, False, let_go)
        # (not confirmed after the tries: the photographer shoots anyway, release priority)
        self._shoot_moments(body, let_go, keep_half=False)

    def _shutter_af_s(self, body: Body) -> None:
        """Half-press, wait for confirm, full press, let go: AF before every frame."""
        presses = self._moment_press
        timing = self.timing
        # prefocus: half-press early and hold it until the first moment
        self._plan_await = presses[0]
        _confirmed, seen = self._focus_af_s(
            body, Control.SHUTTER_HALF, self._start_s, presses[0] + timing.patience_s
        )
        ready = seen + self._react()
        free_s = 0.0
        for k, p in enumerate(presses):
            if k > 0:
                start = max(p, free_s)
                if k + 1 < len(presses) and start >= presses[k + 1]:
                    continue  # still busy when the next moment comes: go for that one
                if start >= self.end_s:
                    break
                self._plan_await = p
                _confirmed, seen = self._focus_af_s(
                    body, Control.SHUTTER_HALF, start, start + timing.patience_s
                )
                ready = seen + self._react()
                decision = start
            else:
                decision = p
            full_at = max(p, ready)
            if full_at >= self.end_s:
                break
            # not confirmed after the tries: pressed anyway; focus priority records a failure
            self._full_press(body, full_at, decision_s=decision)
            self._plan_await = None
            released = self._full_release(body, full_at + timing.hold_s, keep_half=False)
            free_s = released + timing.regrip_s
