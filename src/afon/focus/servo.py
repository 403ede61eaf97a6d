"""Servo AF (AF-C): track the subject and aim the lens where it will be at the exposure.

Per frame (`ServoAf.update(frame, window, aim_s)`):

1. **Observe.** Phase detection in the AF window gives the defocus (subject − lens, dioptres):
   the confidence-weighted mean of the window's blocks at its depth (``block_defocus_d``, as
   libcamera aggregates its PDAF cells), else the window's own reading.
   The lens position while the AF window's rows exposed is the servo's model of its own last
   command (`afon.focus.predict.LensMove`, a move that goes on from the lens's speed) while the
   frame's reports (``lens_start_d``/``lens_end_d``) agree with it, else estimated from the
   reports and the motor's kinematics (`_lens_during`), so
   ``subject_d = lens_d + defocus_d`` is an observation of the subject at those rows' exposure
   time — independent of where the lens was, so a moving lens does not disturb the track.
   Readings below `min_confidence` are not used, nor, once a track of one-depth readings is
   established, readings of a window that straddles two depths with less than `min_purity` of
   its depth-showing blocks at the reading's
   (`afon.focus.phase.measure_phase`'s ``purity``: a subject leaving a fixed AF point reads
   ever nearer the background as it goes; it is lost, not measured): lock-on treats them as
   off the track whatever they read (`afon.focus.lockon.LockOn.lost`), holding the prediction
   for the lock-on delay — the readings of the last ``rollback_s`` already pulled towards the
   other depth forgotten — and then switching to them, as a body refocuses on what its AF
   point shows once the delay is over; a track switched to such mixtures follows them. The
   reading's noise is
   modelled as ``hypot(σ₀, rel·|defocus|) / √(confidence·max(purity, ¼))`` (a phase reading
   far from focus is less precise).
   A contrast peak bracketed by the hill-climb (below) is a reading too, with the bracket's
   half-width as its noise.
2. **Lock-on** (`afon.focus.lockon.LockOn`): a reading outside every motion model's innovation
   gate whose AF area no longer shows the tracked content (an obstacle) is ignored for up to
   ``lock_on_s`` while the prediction carries on; a persistent jump is taken as the new subject
   distance; off the gate but with the same content (the subject manoeuvred) it is used.
3. **Estimate and predict** (`afon.focus.estimator.DistanceEstimator`): an IMM Kalman filter
   over the subject's distance in metres (stationary, constant-velocity and
   constant-acceleration models mixed by likelihood). The lens is commanded to the subject's
   predicted position at ``aim_s`` — the next exposure, which is the still's exposure when the
   body has a release pending (release-lag compensation) — or, if the motor cannot get there in
   time from when the command takes effect (``lens_latency_frames`` frame boundaries on, at
   the speed the lens has then), to the intercept (`afon.focus.predict.plan_target`).
   `NonPredictiveServo` commands the last valid reading (one lock-on accepted), as its name
   says: no motion model, no smoothing.
4. **Dead-band** (libcamera's ``pdaf_squelch`` idea, scaled to the depth of focus): a new command
   closer than ``squelch_dof × depth_of_focus`` to the last one is not sent. The same dead-band
   applies to reversals: a larger one would hold the lens while a subject turns round.
5. **Contrast fallback**: after `fallback_frames` frames without a confident phase reading (or on
   a camera without phase detection), a small hill-climb on the contrast measure (Tenengrad) in the
   AF window: step while contrast rises, reverse and halve the step when it falls, down to half
   the depth of focus; once the peak is bracketed the lens holds at the best position until the
   contrast drops by 15% (libcamera's CAF retrigger idea), then climbs again. Phase readings
   resume the tracking as soon as they return.
6. **Search drive** while it has no track: a confident reading that puts the subject beyond
   infinity (`afon.focus.hybrid.beyond_infinity`) sees a blur wider than the phase search
   reaches; the lens steps towards the near end from still frames (`sweep_target`) until a
   real reading starts the track.

Status (Camera2 passive states): FOCUSED (PASSIVE_FOCUSED) when the newest reading used was
itself in focus (its measured defocus, taken where the lens was during that exposure, below
``confirm_dof`` = ⅔ of the depth of focus: a confirm is a measurement, as on a real body, not a
forecast, and a phase reading is only good to about ⅓ of the depth of focus — its error on the
simulated lenses' static subjects is 0.2-0.3 DoF, a ringing voice coil adds more) and the predicted
subject and the lens's (kinematically estimated) position at ``aim_s`` differ by less than the
depth of focus — judged with the estimator for both servos; SCANNING (PASSIVE_SCAN) otherwise;
FAILED (PASSIVE_UNFOCUSED) after `fail_frames` frames with no confident measurement of any kind (no
confident phase reading and no textured contrast peak). Without a measurement the lens coasts on
the prediction for at most ``max(lock_on_s, coast_s)`` and then holds.
"""

from __future__ import annotations

import math
from collections import deque

from afon.cameras.base import Frame
from afon.focus.context import lens_still
from afon.focus.engine import AfContext, AfStatus, AfStep, AfWindow
from afon.focus.estimator import DistanceEstimator, Snapshot
from afon.focus.hybrid import beyond_infinity, sweep_target
from afon.focus.lockon import DEFAULT_LOCK_ON_S, AreaContent, LockOn, Verdict
from afon.focus.measures import tenengrad, texture_confidence
from afon.focus.phase import PhaseMeasurement, measure_phase
from afon.focus.predict import LensMove, Observation, lens_position_at, plan_target


def _window_tuple(window: AfWindow) -> tuple[float, float, float, float]:
    w = window.clamped()
    return (w.cx - w.w / 2, w.cy - w.h / 2, w.w, w.h)


class _HillClimb:
    """Contrast hill-climb used when phase detection has nothing to say.

    Steps while contrast rises; on a fall it reverses and halves the step, down to
    `min_step_d`. After `peak_reversals` reversals at the finest step the peak is bracketed:
    the lens goes to the best position seen and holds there (FOCUSED) while the contrast stays
    above `retrigger_ratio` × the peak's; a larger drop (the subject moved, as libcamera's CAF
    retrigger rule has it) restarts the climb from there with a medium step.
    """

    peak_reversals = 3
    retrigger_ratio = 0.85
    rise_ratio = 1.002
    """A contrast counts as higher only above this ratio (ignores noise on a flat top)."""

    def __init__(self, ctx: AfContext) -> None:
        dof = max(ctx.depth_of_focus_d, 1e-6)
        span = ctx.lens_max_d - ctx.lens_min_d
        self.ctx = ctx
        self.min_step_d = 0.5 * dof
        self.start_step_d = max(4.0 * dof, span / 32.0)
        self.reset()

    def reset(self, step_d: float | None = None) -> None:
        self.step_d = self.start_step_d if step_d is None else step_d
        self.direction = 1.0
        self.best: tuple[float, float] | None = None
        self.reversals = 0
        self.pending: float | None = None
        self.holding = False

    @property
    def peaked(self) -> bool:
        return self.holding

    def update(self, frame: Frame, fom: float) -> float | None:
        """Consume a contrast value measured with the lens still; return the next target."""
        lens = frame.lens_d
        if self.pending is not None and abs(lens - self.pending) > max(self.min_step_d, 1e-6):
            return None  # exposed before the lens got to the last target
        if self.holding:
            assert self.best is not None
            if fom >= self.retrigger_ratio * self.best[1]:
                return None
            self.reset(max(self.start_step_d / 4.0, 2.0 * self.min_step_d))
        lo, hi = self.ctx.lens_min_d, self.ctx.lens_max_d
        if self.best is None or fom > self.best[1] * self.rise_ratio:
            self.best = (lens, fom)
            base = lens
        else:
            if self.step_d <= self.min_step_d * 1.0001:
                self.reversals += 1
            self.direction = -self.direction
            self.step_d = max(self.step_d / 2.0, self.min_step_d)
            base = self.best[0]
            if self.reversals >= self.peak_reversals:
                self.holding = True
                self.pending = base
                return base
        target = base + self.direction * self.step_d
        if target > hi or target < lo:
            self.direction = -self.direction
            target = min(max(base + self.direction * self.step_d, lo), hi)
        self.pending = target
        return target


class PredictiveServo:
    """AF-C with predictive tracking (see the module docstring)."""

    name = "predictive"
    wants_phase = True
    predictive = True

    def __init__(
        self,
        ctx: AfContext,
        *,
        lock_on_s: float = DEFAULT_LOCK_ON_S,
        min_confidence: float = 0.3,
        squelch_dof: float = 0.25,
        sigma0_dof: float = 0.1,
        sigma_rel: float = 0.15,
        fallback_frames: int = 4,
        fail_frames: int = 15,
        coast_s: float = 0.3,
        manoeuvre_speed_m_s: float = 2.0,
        manoeuvre_accel_m_s2: float = 10.0,
        rollback_s: float = 0.15,
        confirm_dof: float = 2.0 / 3.0,
        min_purity: float = 0.5,
    ) -> None:
        self.min_purity = min_purity
        self.rollback_s = rollback_s
        self.ctx = ctx
        self.dof_d = max(ctx.depth_of_focus_d, 1e-9)
        self.confirm_d = confirm_dof * self.dof_d
        self.min_confidence = min_confidence
        self.squelch_d = squelch_dof * self.dof_d
        self.sigma0_d = sigma0_dof * self.dof_d
        self.sigma_rel = sigma_rel
        self.fallback_frames = fallback_frames
        self.fail_frames = fail_frames
        self.manoeuvre = (manoeuvre_speed_m_s, manoeuvre_accel_m_s2)
        self.lock_on = LockOn(lock_on_s)
        self.coast_s = max(coast_s, self.lock_on.lock_on_s)
        self.track = DistanceEstimator()
        self.content = AreaContent()
        self.climb = _HillClimb(ctx)
        self.start(ctx.lens_min_d, 0.0)

    # --- protocol -----------------------------------------------------------------------
    def start(self, lens_d: float, now_s: float) -> float | None:
        self.track.reset()
        self.lock_on.reset()
        self.content.reset()
        self.climb.reset()
        self.frames = 0
        self.no_phase_frames = 0
        self.no_measure_frames = 0
        self.commanded_d: float | None = None
        self.last_valid: Observation | None = None
        self.last_defocus_d: float | None = None
        """Subject minus lens during the exposure of the newest reading used (the confirm)."""
        self._history: deque[tuple[Observation, float, float, Snapshot, float]] = deque(
            maxlen=8
        )
        """Recent readings used: (reading, mixed innovation, its variance, state before, the
        window's purity then)."""
        """The last reading lock-on let through (what the non-predictive servo follows)."""
        self.last_phase: PhaseMeasurement | None = None
        self.lost: Observation | None = None
        """This frame's reading of a window that lost the subject (`_observe`), if any."""
        self.track_pure = True
        """The newest reading used showed one depth (purity ≥ `min_purity`): a mixed reading
        is then the subject leaving the window, not more of what the track follows."""
        self.last_verdict: Verdict | None = None
        self.last_content: float | None = None
        """The AF area's similarity to the subject's in the last reading lock-on compared it
        (None: not compared)."""
        self.in_fallback = False
        self._prev_lens_end_d: float | None = None
        self._move: LensMove | None = None
        """The servo's own last command as the driver carries it out (`_lens_state`)."""
        return None

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        self.frames += 1
        now_s = frame.ready_s
        mid_s = 0.5 * (frame.exposure_start_s + frame.exposure_end_s)
        heading = self.commanded_d if self.commanded_d is not None else frame.lens_end_d
        period_s = 1.0 / max(self.ctx.frame_rate_hz, 1e-9)
        move = self._tracked_move(frame)
        lens_now = self._lens_state(now_s, frame, heading, move)[0]
        # a command takes effect at the lens_latency_frames-th frame boundary: no later than
        # that many periods after this frame's exposure started
        apply_s = max(now_s, frame.exposure_start_s + self.ctx.lens_latency_frames * period_s)
        lens_apply, speed_apply = self._lens_state(apply_s, frame, heading, move)

        self.lost = None
        obs, lens_d = self._observe(frame, window, heading, move)
        measured = False
        self.last_verdict = None
        if obs is None and self.lost is not None:
            # a phase reading, of a window that lost the subject: lock-on holds, then switches
            self._lose(self.lost)
            self.no_phase_frames = 0
            measured = True
        elif obs is not None:
            self.no_phase_frames = 0
            if self.in_fallback:
                self.in_fallback = False
                self.climb.reset()
            purity = self.last_phase.purity if self.last_phase is not None else 1.0
            if self._use(obs, frame, window, purity):
                self.last_defocus_d = obs.focus_d - lens_d
                self.track_pure = purity >= self.min_purity
            measured = True
        else:
            self.no_phase_frames += 1

        command: float | None = None
        sweep = self._sweep_step(frame, lens_d) if obs is None and self.last_valid is None else None
        if sweep is not None:
            command = sweep
        elif self.no_phase_frames >= self.fallback_frames and not self._coasting(mid_s):
            # contrast steps are deliberate: no dead-band
            self.in_fallback = True
            command, textured = self._contrast_step(frame, window, mid_s)
            measured = measured or textured
        elif self.last_valid is not None:
            command = self._squelch(
                self._servo_target(lens_apply, apply_s, aim_s, speed_apply)
            )

        self.no_measure_frames = 0 if measured else self.no_measure_frames + 1
        if command is not None:
            self.commanded_d = command
            self._move = LensMove(
                apply_s,
                lens_apply,
                speed_apply,
                command,
                self.ctx.motor_speed_d_per_s,
                self.ctx.motor_accel_d_per_s2,
            )
        model = self._move if command is not None or move is not None else None
        return AfStep(self._status(now_s, aim_s, lens_now, model), command)

    # --- the lens -----------------------------------------------------------------------
    def _tracked_move(self, frame: Frame) -> LensMove | None:
        """The model of the last command, if the lens still follows it: its position at the
        end of this frame's exposure agrees with what the camera reported then (within half
        a depth of focus; a reversal's backlash, a command of someone else's, or a lens
        without the published figures breaks the agreement)."""
        move = self._move
        if move is None or not move.finite:
            return None
        follows = move.agrees(frame.exposure_end_s, frame.lens_end_d, 0.5 * self.dof_d)
        return move if follows else None

    def _lens_state(
        self, t_s: float, frame: Frame, heading_d: float, move: LensMove | None
    ) -> tuple[float, float]:
        """Lens position and speed at `t_s`: along the servo's own last command while the
        camera's reports follow it (a command given mid-move goes on at the lens's speed),
        else a rest-to-rest move from the last report towards `heading_d`."""
        if move is not None:
            return move.at(t_s)
        return self._lens_at(t_s, frame, heading_d), 0.0

    # --- observation --------------------------------------------------------------------
    def _lens_during(
        self, frame: Frame, window: AfWindow, heading_d: float, move: LensMove | None = None
    ) -> tuple[float, float, float]:
        """When the AF window's rows exposed (rolling shutter), where the lens was then, and
        how uncertain that is (dioptres, 1σ).

        The frame reports the lens at the first row's start and the last row's end only. A
        lens at rest at the start (where the previous frame left it) was set off by a command
        at the frame boundary: a short move accelerates, brakes and is over within a few ms,
        so it is modelled as a rest-to-rest move from the start towards the commanded target,
        bounded by the reported end. A lens already travelling is taken at constant speed
        between the two reports. Half the two models' disagreement is the position's spread.
        When the reports at both ends agree with the servo's model of its own last command
        (`_tracked_move`), the model gives the position.
        """
        t0, t1 = frame.row_window_s(window.clamped().cy)
        t_s = 0.5 * (t0 + t1)
        start, end = frame.lens_start_d, frame.lens_end_d
        prev = self._prev_lens_end_d
        self._prev_lens_end_d = end
        if abs(end - start) < 1e-12:
            return t_s, start, 0.0
        if move is not None and move.agrees(frame.exposure_start_s, start, 0.5 * self.dof_d):
            # the lens followed the servo's own command through the exposure
            return t_s, move.at(t_s)[0], 0.0
        span_s = max(frame.exposure_end_s - frame.exposure_start_s, 1e-9)
        linear = start + (end - start) * min(max((t_s - frame.exposure_start_s) / span_s, 0.0), 1.0)
        goal = heading_d if (heading_d - start) * (end - start) > 0 else end
        moved = lens_position_at(
            t_s,
            from_d=start,
            from_s=frame.exposure_start_s,
            target_d=goal,
            speed_d_per_s=self.ctx.motor_speed_d_per_s,
            accel_d_per_s2=self.ctx.motor_accel_d_per_s2,
        )
        kinematic = min(max(moved, min(start, end)), max(start, end))
        at_rest = prev is not None and abs(start - prev) <= 0.1 * self.dof_d
        lens_d = kinematic if at_rest else linear
        return t_s, lens_d, 0.5 * abs(kinematic - linear)

    def _observe(
        self, frame: Frame, window: AfWindow, heading_d: float, move: LensMove | None = None
    ) -> tuple[Observation | None, float]:
        """A phase reading of the subject (None if not confident) and the lens position it
        was taken at."""
        t_s, lens_d, lens_sigma_d = self._lens_during(frame, window, heading_d, move)
        if frame.phase is None or self.ctx.phase_d_per_px is None:
            return None, lens_d
        m = measure_phase(frame.phase, window, self.ctx, blocks=True)
        self.last_phase = m
        if m.defocus_d is None or m.confidence < self.min_confidence:
            return None, lens_d
        if beyond_infinity(lens_d, m, self.ctx):
            return None, lens_d  # no subject's reading (`afon.focus.hybrid.beyond_infinity`)
        sigma = math.hypot(
            math.hypot(self.sigma0_d, self.sigma_rel * m.defocus_d)
            / math.sqrt(m.confidence * max(m.purity, 0.25)),
            lens_sigma_d,
        )
        # the blocks at the window's depth, weighted by their confidence, as libcamera
        # aggregates its PDAF cells (af.cpp:331-366): the rest of the window (a blurred
        # background beyond the search, an edge) no longer skews the reading
        defocus = m.defocus_d if m.block_defocus_d is None else m.block_defocus_d
        obs = Observation(t_s, lens_d + defocus, sigma)
        if (
            m.purity < self.min_purity
            and self.track_pure
            and self.lock_on.established(obs, self.track)
        ):
            # the window straddles two depths and most of it no longer shows the one it
            # read: the tracked subject leaving the AF point (or something else taking it).
            # The reading is a mixture of the two: no reading of the subject (it is lost, not
            # measured at the background's pull); lock-on judges it (`_lose`). Without a
            # track (acquiring), or on one that lock-on switched to such mixtures, the mixture
            # is all there is: it is used
            self.lost = obs
            return None, lens_d
        return obs, lens_d

    def _lose(self, obs: Observation) -> None:
        """A reading of a window that no longer shows the subject (`_observe`): lock-on holds
        the prediction for its delay as for an obstacle — forgetting the readings of the last
        `rollback_s` that had already been pulled towards the other depth as the subject's
        edge left the window — then switches to what the AF point sees
        (`afon.focus.lockon.LockOn.lost`)."""
        verdict = self.lock_on.lost(obs, self.track)
        self.last_verdict = verdict
        if verdict is Verdict.REJECT and self.lock_on.rejected_in_a_row == 1:
            self._roll_back(obs, mixed=True)
        elif verdict is Verdict.SWITCH:
            self._history.clear()
            self.last_valid = obs
            self.track_pure = False

    def _use(
        self, obs: Observation, frame: Frame, window: AfWindow, purity: float = 1.0
    ) -> bool:
        """Judge a reading (of a window of that `purity`) with lock-on and feed the
        estimator; False if it was rejected."""
        seen: list[float | None] = []

        def content() -> float | None:
            # the AF area against the subject's: lock-on asks only on an established track,
            # when its verdict depends on it
            seen.append(self.content.similarity(frame, window))
            return seen[-1]

        verdict = self.lock_on.check(obs, self.track, content)
        self.last_verdict = verdict
        self.last_content = seen[-1] if seen else None
        if verdict is Verdict.REJECT:
            if self.lock_on.rejected_in_a_row == 1:
                self._roll_back(obs)
            return False
        if verdict is Verdict.MANOEUVRE:
            self.track.inflate(*self.manoeuvre)
        else:
            # the content the subject shows on the track (a manoeuvre does not move it)
            self.content.remember(frame, window)
        if verdict is Verdict.SWITCH:
            self._history.clear()
        else:
            inn = self.track.innovation(obs)
            if inn is not None:
                self._history.append((obs, *inn.mixed, self.track.snapshot(), purity))
            self.track.update(obs)
        self.last_valid = obs
        return True

    def _roll_back(self, jump: Observation, *, mixed: bool = False) -> None:
        """An obstacle was just detected: readings of the last `rollback_s` that already led
        towards it (more than 2σ off the prediction, on the jump's side) were its edge sliding
        into the AF window; forget them, going back to the estimate before the first. With
        `mixed` (the subject has left the window, `_lose`), the readings of that time since the
        last one whose blocks all agreed go too, whichever way they pulled: as the subject's
        edge left the window its blocks began to disagree (purity below 1), each reading a
        mixture with what is behind it."""
        expected = self.track.predict_d(jump.t_s)
        if expected is None:
            return
        side = math.copysign(1.0, jump.focus_d - expected)
        history = list(self._history)
        pure = [i for i, h in enumerate(history) if h[4] >= 1.0]
        leaving = pure[-1] + 1 if pure else 0
        for i, (obs, y, s, snap, _) in enumerate(history):
            if jump.t_s - obs.t_s > self.rollback_s:
                continue
            if y * side > 2.0 * math.sqrt(s) or (mixed and i >= leaving):
                self.track.restore(snap)
                before = [h[0] for h in history[:i]]
                self.last_valid = before[-1] if before else self.last_valid
                self._history.clear()
                return

    def _coasting(self, t_s: float) -> bool:
        """Still within the time the prediction may carry on without readings."""
        last = self.last_valid
        return last is not None and t_s - last.t_s <= self.coast_s and self.predictive

    # --- commands -----------------------------------------------------------------------
    def _servo_target(
        self, lens_now: float, now_s: float, aim_s: float, lens_speed_d_per_s: float = 0.0
    ) -> float | None:
        last = self.last_valid
        assert last is not None
        if self.predictive and self.track.last is not None:
            # coast on the prediction for at most coast_s past the last reading, then hold
            t_aim = max(min(aim_s, last.t_s + self.coast_s), now_s)
            target = plan_target(
                self.track.predict_d,
                lens_d=lens_now,
                now_s=now_s,
                aim_s=t_aim,
                speed_d_per_s=self.ctx.motor_speed_d_per_s,
                accel_d_per_s2=self.ctx.motor_accel_d_per_s2,
                lens_speed_d_per_s=lens_speed_d_per_s,
            )
        else:
            target = last.focus_d
        if target is None:
            return None
        return min(max(target, self.ctx.lens_min_d), self.ctx.lens_max_d)

    def _squelch(self, target: float | None) -> float | None:
        if target is None:
            return None
        if self.commanded_d is not None and abs(target - self.commanded_d) < self.squelch_d:
            return None
        return target

    def _sweep_step(self, frame: Frame, lens_d: float) -> float | None:
        """Search drive while acquiring (`afon.focus.hybrid.HybridAf._sweep`): a confident
        phase reading beyond infinity sees a blur wider than the search reaches, so the lens
        steps towards the near end by most of that reach (from a still lens)."""
        m = self.last_phase
        if m is None or frame.phase is None or frame.lens_moving:
            return None
        if m.confidence < self.min_confidence or not beyond_infinity(lens_d, m, self.ctx):
            return None
        return sweep_target(lens_d, m, self.ctx)

    def _contrast_step(
        self, frame: Frame, window: AfWindow, mid_s: float
    ) -> tuple[float | None, bool]:
        if not lens_still(frame):
            return None, True
        win = _window_tuple(window)
        luma = frame.luma
        if texture_confidence(luma, win) < 0.5:
            return None, False
        was_peaked = self.climb.peaked
        target = self.climb.update(frame, tenengrad(luma, win))
        if self.climb.peaked and not was_peaked and self.climb.best is not None:
            # the bracketed peak is a reading of the subject, as precise as the bracket
            peak = Observation(mid_s, self.climb.best[0], max(self.climb.min_step_d, 1e-9))
            self._use(peak, frame, window)
        return target, True

    # --- status -------------------------------------------------------------------------
    def _lens_at(self, t_s: float, frame: Frame, heading_d: float) -> float:
        return lens_position_at(
            t_s,
            from_d=frame.lens_end_d,
            from_s=frame.exposure_end_s,
            target_d=heading_d,
            speed_d_per_s=self.ctx.motor_speed_d_per_s,
            accel_d_per_s2=self.ctx.motor_accel_d_per_s2,
        )

    def _status(
        self, now_s: float, aim_s: float, lens_now: float, move: LensMove | None = None
    ) -> AfStatus:
        if self.no_measure_frames >= self.fail_frames:
            return AfStatus.FAILED
        if self.in_fallback:
            return AfStatus.FOCUSED if self.climb.peaked else AfStatus.SCANNING
        expected = self.track.predict_d(aim_s)
        if expected is None or self.commanded_d is None:
            return AfStatus.SCANNING
        if self.last_defocus_d is None or abs(self.last_defocus_d) >= self.confirm_d:
            return AfStatus.SCANNING  # not yet measured in focus
        if move is not None:
            lens_aim = move.at(aim_s)[0]  # along the last command, from the lens's speed
        else:
            lens_aim = lens_position_at(
                aim_s,
                from_d=lens_now,
                from_s=now_s,
                target_d=self.commanded_d,
                speed_d_per_s=self.ctx.motor_speed_d_per_s,
                accel_d_per_s2=self.ctx.motor_accel_d_per_s2,
            )
        if abs(expected - lens_aim) < self.dof_d:
            return AfStatus.FOCUSED
        return AfStatus.SCANNING


class NonPredictiveServo(PredictiveServo):
    """The same servo with prediction off: commands the last valid reading."""

    name = "non-predictive"
    predictive = False
