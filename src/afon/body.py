"""The body: the back-button-focus controller.

One body drives one camera. Control events (AF-ON, AF-OFF, the two-stage shutter, AF-point
moves) go in through `handle` or the gpiozero-style buttons (`body.af_on.press()`); each frame,
`step` takes the next read-out frame from the camera, lets the focus engine decide the next lens
move while AF is activated, and releases the shutter when a release is due. Every full press
ends in shots or in explicit failure records, never in silence.

Threads: the body runs on one thread, the *loop thread* (the one that calls `step`/`run_for`).
From any other thread (gpiozero callbacks, a web server, a timer) use `submit(event)` or the
buttons: `body.af_on.press()` called off the loop thread queues the event with the time of the
call, and the loop applies it before its next frame. So ``gpio_button.when_pressed =
body.af_on.press`` is safe as it stands. `handle` itself belongs to the loop thread.

AF activation follows the profile: with `af-on-only` (BBF) only AF-ON starts AF, so a shutter
press never moves the lens; with `shutter-and-af-on` a half press does too. AF-S runs one
acquisition and locks; AF-C tracks while activated and locks where it is when let go.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from afon.cameras.base import Camera, Frame, PendingStill, Still, begin_still
from afon.clock import Clock
from afon.controls import AF_POINT_STEPS, Control, ControlEvent, ControlStates
from afon.errors import AfonError, CameraError
from afon.focus.engine import AfContext, AfStatus, AfStep, AfWindow, ServoAf, SingleShotAf
from afon.focus.footprint import phase_read_region
from afon.focus.hardware import CameraAf, CameraServo, has_hardware_af
from afon.focus.states import AfState, AfStateChange, AfStateMachine, CameraAfMode, Cause
from afon.focus.tracking import Tracker
from afon.focus.trap import TrapFocus, TrapReading
from afon.profile import FOCUS_MODES, Profile, load_profile
from afon.shots import ShotRecord, ShotStore
from afon.still_buffer import DEFAULT_DEPTH, StillBuffer

AF_AREA_SIZES = {"single": (0.1, 0.12), "zone": (0.5, 1.0 / 3.0), "tracking": (0.12, 0.16)}
"""AF window size (normalised width, height) per AF area; zone is libcamera's default window."""

AF_S_TIMEOUT_S = 4.0
"""An AF-S acquisition that has not ended by then is stopped and reported NOT_FOCUSED_LOCKED."""
TRAP_READINGS = 600
"""Trap focus readings kept (`Body.trap_readings`): 20 s at 30 fps."""


LIVE_OPENCV_THREADS = 1
"""OpenCV threads in a process that runs a live body loop (`live_loop_threads`)."""


def live_loop_threads() -> None:
    """Run OpenCV single-threaded in this process (process-wide), as a live loop wants.

    A live frame's OpenCV calls are small (a 640×480 warp, a window's match): OpenCV's thread
    pool does not shorten them, it spins a second core while the body thread waits. Measured on
    2 cores, AF-C on the 50 mm `desk`: 18.9 ms wall per frame with 2 threads and 19.2 with one,
    but 29.8 ms of CPU against 19.2 — the other core is the JPEG encoder's, the still buffer's
    and the web server's. The benchmark's workers do the same (`afon.bench.runner`)."""
    cv2.setNumThreads(LIVE_OPENCV_THREADS)


def warm_up(camera: object) -> None:
    """Let a camera that keeps real time prepare ahead, if it can (`SimCamera.warm_up`: its
    blur ladders for the whole focus range, in the background)."""
    start = getattr(camera, "warm_up", None)
    if callable(start):
        start()


class Button:
    """A control of the body, used like a gpiozero button: `press()`, `release()`, `is_pressed`.

    `press` and `release` may be called from any thread (they queue through `Body.submit` when
    called off the loop thread), so they can be gpiozero callbacks. `press_for(seconds)` is a
    scripting helper (press, run the body for `seconds`, release) on the loop thread; it is not
    gpiozero's *hold* (`hold_time`/`when_held`, a callback after a press has lasted a while).
    """

    def __init__(self, body: Body, controls: tuple[Control, ...]) -> None:
        self._body = body
        self._controls = controls

    def press(self) -> None:
        for control in self._controls:
            self._body.submit(ControlEvent(control, True, self._body.clock.now_s()))

    def release(self) -> None:
        for control in reversed(self._controls):
            self._body.submit(ControlEvent(control, False, self._body.clock.now_s()))

    def press_for(self, seconds: float) -> None:
        """Press, let the body run for `seconds` (on its clock), release (loop thread only)."""
        self.press()
        self._body.run_for(seconds)
        self.release()

    @property
    def is_pressed(self) -> bool:
        return self._body.controls.held(self._controls[-1])


@dataclass
class _PendingRelease:
    pressed_s: float
    due_s: float
    shots: int = 0


@dataclass
class _Exposing:
    """A still released and not yet finished: what its record says, taken at the release."""

    pending: PendingStill
    pressed_s: float
    release_s: float
    af_state: AfState
    settings: dict[str, Any]


@dataclass
class BodyStats:
    """Counters for benchmarks and the summary."""

    frames: int = 0
    af_frames: int = 0
    lens_commands: int = 0
    af_state_changes: int = 0
    failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Body:
    """A camera body with back-button focus."""

    def __init__(
        self,
        camera: Camera,
        profile: str | Path | Profile = "bbf",
        *,
        shots_dir: str | Path | None = None,
        save_images: bool = True,
        window: AfWindow | None = None,
        context: AfContext | None = None,
        on_af_state: Callable[[AfStateChange], None] | None = None,
        on_shot: Callable[[ShotRecord], None] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        single_shot_factory: Callable[[AfContext], SingleShotAf] | None = None,
        servo_factory: Callable[[AfContext], ServoAf] | None = None,
        af: str | None = None,
        judge: Callable[[Still], Mapping[str, Any]] | None = None,
    ) -> None:
        """`judge` (benchmarks, the trainer, tests) gives a still's ground truth for its shot
        record (``ShotRecord.truth``), e.g. `SimCamera.judge_still`; the body only files it."""
        from afon.focus.context import context_for

        self.camera = camera
        self.clock: Clock = camera.clock
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.context = context if context is not None else context_for(camera)
        self.store = ShotStore(shots_dir) if shots_dir is not None else None
        self.save_images = save_images and self.store is not None
        self.on_af_state = on_af_state
        self.on_shot = on_shot
        self.on_frame = on_frame
        self._single_factory = single_shot_factory
        self._servo_factory = servo_factory
        self._judge = judge
        self.af_choice = af if af is not None else self.profile.af
        if (
            single_shot_factory is None
            and servo_factory is None
            and has_hardware_af(camera, self.af_choice)
        ):
            # the camera's own AF (gphoto2, a Pi camera with PDAF): afon decides when, the
            # camera focuses
            self._single_factory = lambda _ctx: CameraAf(camera)
            self._servo_factory = lambda _ctx: CameraServo(camera)
        self.controls = ControlStates()
        self.focus_mode = self.profile.focus_mode
        self.af = AfStateMachine(self._camera2_mode(), self._af_changed)
        size = AF_AREA_SIZES[self.profile.af_area]
        base = window if window is not None else AfWindow()
        self.window = AfWindow(base.cx, base.cy, *size).clamped()
        self.shots: list[ShotRecord] = []
        self.stats = BodyStats()
        self.last_frame: Frame | None = None
        self.still_buffer: StillBuffer | None = None
        """None: stills are developed and saved at once (deterministic; tests, benchmarks)."""
        self._single: SingleShotAf | None = None
        self._servo: ServoAf | None = None
        self._tracker: Tracker | None = None
        self._af_started_s = 0.0
        self._af_active = False
        self._release: _PendingRelease | None = None
        self._still: _Exposing | None = None
        """The still being exposed (two-phase capture): the loop goes on until it is due."""
        self._latched: deque[_PendingRelease] = deque()
        """Presses let go while the camera was busy with a still: each is released (or gets a
        failure record) as soon as the camera is free, in order."""
        self._last_af_status = AfStatus.SCANNING
        self._wall_offset_s = time.time() - self.clock.now_s()
        """Wall-clock epoch seconds minus the body's clock (a virtual clock starts at creation)."""
        self._inbox: queue.SimpleQueue[ControlEvent] = queue.SimpleQueue()
        self._loop_thread = threading.get_ident()
        self._storage_error: str | None = None
        self._trap: TrapFocus | None = None
        self._trap_ok = False
        self.trap_readings: deque[TrapReading] = deque(maxlen=TRAP_READINGS)
        """The trap focus readings of the frames while it was armed (newest last)."""
        self.af_on = Button(self, (Control.AF_ON,))
        self.af_off = Button(self, (Control.AF_OFF,))
        self.shutter_half = Button(self, (Control.SHUTTER_HALF,))
        self.shutter = Button(self, (Control.SHUTTER_HALF, Control.SHUTTER_FULL))
        self._check_strategies()
        if hasattr(camera, "phase_reader"):
            # a camera that draws its phase images (the simulated one) draws only what AF reads
            camera.phase_reader = self._phase_read_region

    def _phase_read_region(
        self, phase_px: tuple[int, int]
    ) -> tuple[float, float, float, float] | None:
        """Where this frame's phase images are read (`afon.focus.footprint`); None (all of them)
        when the window moves after the frame is drawn (the tracking area) or trap focus reads."""
        if self.profile.af_area == "tracking" or self._trap_armed():
            return None
        return phase_read_region(self.window, phase_px)

    # --- settings --------------------------------------------------------------------------
    def _check_strategies(self) -> None:
        """Unknown strategy names in the profile are reported when the body is built."""
        from afon.focus.servo_registry import SERVO
        from afon.focus.strategies import SINGLE_SHOT

        if self.profile.af_s_strategy not in SINGLE_SHOT:
            raise AfonError(
                f"profile {self.profile.name}: af_s_strategy {self.profile.af_s_strategy!r} "
                f"unknown (strategies: {', '.join(sorted(SINGLE_SHOT))})"
            )
        if self.profile.af_c_strategy not in SERVO:
            raise AfonError(
                f"profile {self.profile.name}: af_c_strategy {self.profile.af_c_strategy!r} "
                f"unknown (servos: {', '.join(sorted(SERVO))})"
            )

    def _camera2_mode(self) -> CameraAfMode:
        return {
            "AF-S": CameraAfMode.AUTO,
            "AF-C": CameraAfMode.CONTINUOUS_PICTURE,
            "MF": CameraAfMode.OFF,
        }[self.focus_mode]

    def set_focus_mode(self, mode: str) -> None:
        """Switch AF-S / AF-C / MF (a mode change resets the AF state to INACTIVE)."""
        if mode not in FOCUS_MODES:
            raise AfonError(f"unknown focus mode {mode!r} (modes: {', '.join(FOCUS_MODES)})")
        if mode == self.focus_mode:
            return
        self._deactivate(mode_change=True)
        self.focus_mode = mode
        self.af.change_mode(self._camera2_mode(), self.clock.now_s())
        self._update_activation()

    def set_profile(self, profile: str | Path | Profile) -> None:
        """Load another profile: custom functions and focus mode change together."""
        new = profile if isinstance(profile, Profile) else load_profile(profile)
        self._deactivate(mode_change=True)
        old_mode = self.focus_mode
        self.profile = new
        self._check_strategies()
        size = AF_AREA_SIZES[new.af_area]
        self.window = AfWindow(self.window.cx, self.window.cy, *size).clamped()
        self.focus_mode = new.focus_mode
        if new.focus_mode != old_mode or self.af.state is not AfState.INACTIVE:
            self.af.change_mode(self._camera2_mode(), self.clock.now_s())
        self._update_activation()

    def set_af_area(self, area: str) -> None:
        if area not in AF_AREA_SIZES:
            raise AfonError(f"unknown AF area {area!r} (areas: {', '.join(AF_AREA_SIZES)})")
        self.profile = self.profile.with_(af_area=area)
        self.window = AfWindow(self.window.cx, self.window.cy, *AF_AREA_SIZES[area]).clamped()

    def set_drive(self, drive: str, burst_fps: float | None = None) -> None:
        if drive not in ("single", "continuous"):
            raise AfonError(f"unknown drive {drive!r} (drives: single, continuous)")
        fps = self.profile.burst_fps if burst_fps is None else burst_fps
        if not 0.1 <= fps <= 120:
            raise AfonError(f"burst rate {fps} fps out of range 0.1–120")
        self.profile = self.profile.with_(drive=drive, burst_fps=fps)

    def use_still_buffer(self, depth: int = DEFAULT_DEPTH) -> StillBuffer:
        """Develop and save stills off the loop, in a buffer of `depth` stills (live use)."""
        if self.still_buffer is None:
            self.still_buffer = StillBuffer(self.store, self._still_saved, depth=depth)
        return self.still_buffer

    @property
    def storage_error(self) -> str | None:
        """Why the last shot could not be written (folder full, read-only...); None once one is."""
        if self.still_buffer is not None:
            return self.still_buffer.storage_error
        return self._storage_error

    @property
    def buffer_full(self) -> bool:
        return self.still_buffer is not None and self.still_buffer.full

    @property
    def release_waiting(self) -> bool:
        """A release is due but waits for room in the still buffer."""
        rel = self._release
        return (
            self._still is None
            and self.buffer_full
            and (bool(self._latched) or (rel is not None and rel.due_s <= self.clock.now_s()))
        )

    @property
    def state(self) -> AfState:
        return self.af.state

    @property
    def tracker(self) -> Tracker | None:
        """The AF area's tracker while AF runs with the tracking area (`afon.focus.tracking`);
        None otherwise."""
        return self._tracker

    @property
    def release_due_s(self) -> float | None:
        """When the pending shutter release is due (None: no release requested)."""
        return None if self._release is None else self._release.due_s

    # --- control events --------------------------------------------------------------------
    def submit(self, event: ControlEvent) -> None:
        """Apply `event` from any thread: at once on the loop thread, else before the next frame.

        Stamp `event.t_s` with `body.clock.now_s()` when it happens (the buttons do)."""
        if threading.get_ident() == self._loop_thread:
            self._drain()
            self.handle(event)
        else:
            self._inbox.put(event)

    def _drain(self) -> None:
        """Apply the events other threads submitted, in the order they came."""
        while True:
            try:
                event = self._inbox.get_nowait()
            except queue.Empty:
                return
            self.handle(event)

    def handle(self, event: ControlEvent) -> None:
        """Apply one control event at its time (key auto-repeat is ignored)."""
        self.clock.sleep_until(event.t_s)
        if not self.controls.accept(event):
            return
        c = event.control
        if c in AF_POINT_STEPS and event.pressed:
            dx, dy = AF_POINT_STEPS[c]
            self.window = self.window.moved(dx, dy)
            return
        if c is Control.AF_POINT_CENTRE and event.pressed:
            self.window = AfWindow(0.5, 0.5, self.window.w, self.window.h)
            return
        if c is Control.SHUTTER_FULL:
            if event.pressed:
                self._trap, self._trap_ok = None, False  # a new press arms a fresh trap
                self._release = _PendingRelease(pressed_s=event.t_s, due_s=event.t_s)
                self._update_activation()
                self._service_release(event.t_s)
            else:
                self._end_release(event.t_s)
            return
        self._update_activation()

    def _af_requested(self) -> bool:
        if self.controls.held(Control.AF_ON):
            return True
        return not self.profile.bbf and (
            self.controls.held(Control.SHUTTER_HALF) or self.controls.held(Control.SHUTTER_FULL)
        )

    def _update_activation(self) -> None:
        active = (
            self._af_requested()
            and not self.controls.held(Control.AF_OFF)
            and self.focus_mode != "MF"
        )
        if active and not self._af_active:
            self._activate()
        elif not active and self._af_active:
            self._deactivate(mode_change=False)

    def _activate(self) -> None:
        from afon.focus.servo_registry import make_servo
        from afon.focus.strategies import make_single_shot

        now = self.clock.now_s()
        lens_d = self.camera.lens_position_d()
        self._af_active = True
        self._trap_ok = False  # a trap re-armed after AF-ON needs a new reading
        self._af_started_s = now
        if self.focus_mode == "AF-S":
            self.af.apply(Cause.AF_TRIGGER, AfState.ACTIVE_SCAN, now)
            self._single = (
                self._single_factory(self.context)
                if self._single_factory is not None
                else make_single_shot(self.profile.af_s_strategy, self.context)
            )
            self._command(self._single.start(lens_d, now))
        else:
            if self.af.state.locked:
                self.af.apply(Cause.AF_CANCEL, AfState.INACTIVE, now)
            self.af.apply(Cause.NEW_SCAN, AfState.PASSIVE_SCAN, now)
            self._servo = (
                self._servo_factory(self.context)
                if self._servo_factory is not None
                else make_servo(
                    self.profile.af_c_strategy, self.context, lock_on_s=self.profile.lock_on_s
                )
            )
            self._last_af_status = AfStatus.SCANNING
            self._command(self._servo.start(lens_d, now))
        if self.profile.af_area == "tracking":
            self._tracker = Tracker()

    def _deactivate(self, mode_change: bool) -> None:
        if not self._af_active:
            return
        now = self.clock.now_s()
        self._af_active = False
        self._tracker = None
        if self.focus_mode == "AF-S":
            if self._single is not None:
                cancel = getattr(self._single, "cancel", None)
                if callable(cancel):
                    cancel()
            self._single = None
            if self.af.state is AfState.ACTIVE_SCAN and not mode_change:
                # libcamera semantics: the lens stays where it is
                self.af.apply(Cause.AF_CANCEL, AfState.INACTIVE, now)
        else:
            stop = getattr(self._servo, "stop", None)
            if callable(stop):
                stop()
            self._servo = None
            if not mode_change:
                st = self.af.state
                if st is AfState.PASSIVE_FOCUSED or (
                    st is AfState.PASSIVE_SCAN and self._last_af_status is AfStatus.FOCUSED
                ):
                    self.af.apply(Cause.AF_TRIGGER, AfState.FOCUSED_LOCKED, now)
                else:
                    self.af.apply(Cause.AF_TRIGGER, AfState.NOT_FOCUSED_LOCKED, now)
            self._hold_lens()

    def _hold_lens(self) -> None:
        """Stop the lens where it is (libcamera AfPause Immediate)."""
        if self.camera.lens_moving():
            self._command(self.camera.lens_position_d())

    def _command(self, target_d: float | None) -> None:
        if target_d is None or not math.isfinite(target_d):
            return
        if self._exposure_under_way():
            # the lens stays put while a still exposes: the command waits for the end of the
            # exposure (at most `still_exposure_s`), then the still is recorded
            self._finish_still(wait=True)
        self.camera.move_lens(target_d)
        self.stats.lens_commands += 1

    def _exposure_under_way(self) -> bool:
        still = self._still
        return still is not None and still.pending.exposure_start_s <= self.clock.now_s()

    def focus_ring(self, delta_d: float) -> bool:
        """Turn the focus ring by `delta_d` dioptres: MF always, AF-S+M after AF-S locked."""
        allowed = self.focus_mode == "MF" or (
            self.focus_mode == "AF-S"
            and self.profile.manual_override
            and self.af.state.locked
            and not self._af_active
        )
        if allowed:
            self._command(self.camera.lens_position_d() + delta_d)
        return allowed

    # --- the loop --------------------------------------------------------------------------
    def step(self) -> Frame:
        """Process one frame: submitted events, AF update, due releases. Returns the frame."""
        self._loop_thread = threading.get_ident()
        self._drain()
        try:
            frame = self.camera.next_frame(phase=self._wants_phase())
        except CameraError:
            # the camera dropped out: reconnect (with its backoff) and go on, or give up loudly
            if not self._reconnect():
                raise
            frame = self.camera.next_frame(phase=self._wants_phase())
        self._finish_still()  # a still whose exposure ended before this frame came
        self.last_frame = frame
        self.stats.frames += 1
        if self._af_active:
            self.stats.af_frames += 1
            self._af_frame(frame)
        if self._trap_armed():
            self._trap_frame(frame)
        self._service_release(self.clock.now_s())
        if self.on_frame is not None:
            self.on_frame(frame)
        return frame

    def _wants_phase(self) -> bool:
        if self._trap_armed():
            return self.context.phase_d_per_px is not None
        if not self._af_active:
            return False
        strat: Any = self._single if self.focus_mode == "AF-S" else self._servo
        return bool(getattr(strat, "wants_phase", False))

    def _af_frame(self, frame: Frame) -> None:
        now = self.clock.now_s()
        if self._tracker is not None:
            self.window = self._tracker.update(frame, self.window)
        if self.focus_mode == "AF-S" and self._single is not None:
            if self.af.state is not AfState.ACTIVE_SCAN:
                return
            step = self._single.update(frame, self.window)
            if step.status is AfStatus.SCANNING and now - self._af_started_s > AF_S_TIMEOUT_S:
                cancel = getattr(self._single, "cancel", None)
                if callable(cancel):
                    cancel()
                step = AfStep(AfStatus.FAILED)
            self._command(step.target_d)
            if step.status is AfStatus.FOCUSED:
                self.af.apply(Cause.SWEEP_DONE_FOCUSED, AfState.FOCUSED_LOCKED, now)
            elif step.status is AfStatus.FAILED:
                self.af.apply(Cause.SWEEP_DONE_NOT_FOCUSED, AfState.NOT_FOCUSED_LOCKED, now)
        elif self.focus_mode == "AF-C" and self._servo is not None:
            step = self._servo.update(frame, self.window, self._aim_s(frame))
            self._command(step.target_d)
            self._last_af_status = step.status
            st = self.af.state
            if step.status is AfStatus.SCANNING and st in (
                AfState.PASSIVE_FOCUSED,
                AfState.PASSIVE_UNFOCUSED,
            ):
                self.af.apply(Cause.NEW_SCAN, AfState.PASSIVE_SCAN, now)
            elif step.status is AfStatus.FOCUSED and st is not AfState.PASSIVE_FOCUSED:
                if st is not AfState.PASSIVE_SCAN:
                    self.af.apply(Cause.NEW_SCAN, AfState.PASSIVE_SCAN, now)
                self.af.apply(Cause.SCAN_DONE, AfState.PASSIVE_FOCUSED, now)
            elif step.status is AfStatus.FAILED and st is not AfState.PASSIVE_UNFOCUSED:
                if st is not AfState.PASSIVE_SCAN:
                    self.af.apply(Cause.NEW_SCAN, AfState.PASSIVE_SCAN, now)
                self.af.apply(Cause.SCAN_FAILED, AfState.PASSIVE_UNFOCUSED, now)

    # --- trap focus ------------------------------------------------------------------------
    def set_trap_focus(self, on: bool) -> None:
        """Switch the trap focus custom function (`afon.focus.trap`)."""
        self.profile = self.profile.with_(trap_focus=bool(on))
        self._trap, self._trap_ok = None, False

    @property
    def trap_armed(self) -> bool:
        """The shutter is held with trap focus on and AF not running: waiting for focus."""
        return self._trap_armed()

    def _trap_armed(self) -> bool:
        """Trap focus is on, the shutter button is fully pressed and AF is not running: the
        release waits for the AF point's reading to say "in focus"."""
        return self.profile.trap_focus and self._release is not None and not self._af_active

    def _trap_frame(self, frame: Frame) -> None:
        if self._trap is None:
            self._trap = TrapFocus(self.context)
        reading = self._trap.update(frame, self.window, self.clock.now_s())
        self._trap_ok = reading.in_focus
        self.trap_readings.append(reading)

    def _aim_s(self, frame: Frame) -> float:
        """When the next exposure will happen: a still due by the next frame; else the still
        of a press during the next frame (half a frame from now on average, the release lag
        later: the exposure a servo cannot foresee but must be ready for), and never before
        the next preview frame."""
        period = frame.exposure_end_s - frame.exposure_start_s
        rate = self.camera.capabilities.frame_rate_hz or 30.0
        next_mid = frame.exposure_start_s + 1.0 / rate + period / 2
        caps = self.camera.capabilities
        still = self._still
        if still is not None and still.pending.exposure_start_s > frame.ready_s:
            # a still released and not yet exposing: the lens must be right for it
            return 0.5 * (still.pending.exposure_start_s + still.pending.due_s)
        if self._release is not None:
            due = max(self._release.due_s, self.clock.now_s())
            still_mid = due + caps.release_lag_s + caps.still_exposure_s / 2
            if due <= frame.ready_s + 1.0 / rate:
                return still_mid
        press_mid = frame.ready_s + 0.5 / rate + caps.release_lag_s + caps.still_exposure_s / 2
        return max(next_mid, press_mid)

    def run_until(self, t_s: float) -> None:
        """Run frames (and due releases) until the clock reaches `t_s`."""
        self._loop_thread = threading.get_ident()
        while True:
            self._drain()
            ready = self._next_ready_s()
            due = self._next_due_s()
            if min(ready, due) > t_s:
                break
            if due < ready:
                self.clock.sleep_until(due)
                self._service_release(self.clock.now_s())
            else:
                self.step()
        self.clock.sleep_until(t_s)

    def next_release_due_s(self) -> float:
        """When the body next wants to release (inf: none pending); for a real-time loop."""
        return self._next_due_s()

    def service_release(self) -> None:
        """Release now if a release is due (a real-time loop calls this at the due time)."""
        self._service_release(self.clock.now_s())

    def _next_due_s(self) -> float:
        """When the next release is due; a release waiting for focus is re-checked each frame."""
        if self._still is not None:
            return self._still.pending.due_s  # the camera is busy until this still is done
        if self._latched:
            return math.inf if self.buffer_full else self.clock.now_s()
        rel = self._release
        if rel is None:
            return math.inf
        if rel.due_s <= self.clock.now_s() and not self._may_release():
            return math.inf
        if self.buffer_full:
            return math.inf  # re-checked each frame (a real-time loop polls `release_waiting`)
        return rel.due_s

    def run_for(self, dt_s: float) -> None:
        self.run_until(self.clock.now_s() + dt_s)

    def _next_ready_s(self) -> float:
        probe = getattr(self.camera, "next_frame_ready_s", None)
        if callable(probe):
            return float(probe())
        rate = self.camera.capabilities.frame_rate_hz or 30.0
        return self.clock.now_s() + 1.0 / rate

    # --- shutter ---------------------------------------------------------------------------
    def _priority(self) -> str:
        if self.focus_mode == "AF-S":
            return self.profile.af_s_priority
        if self.focus_mode == "AF-C":
            return self.profile.af_c_priority
        return "release"

    def _focus_ok(self) -> bool:
        return self.af.state.focused

    def _may_release(self) -> bool:
        """Trap focus armed: only on an in-focus reading of this frame; else focus priority
        waits for the AF state to say focused; release priority never waits."""
        if self._trap_armed():
            return self._trap_ok
        return self._priority() != "focus" or self._focus_ok()

    def _service_release(self, now: float) -> None:
        self._finish_still()
        if self._still is not None:
            return  # the camera is busy with a still: the next release waits for it
        now = max(now, self.clock.now_s())
        if self._latched:
            if self.buffer_full:
                self.stats.extra["buffer_waits"] = int(self.stats.extra.get("buffer_waits", 0)) + 1
                return
            self._release_latched(now)
            return
        rel = self._release
        if rel is None or now < rel.due_s:
            return
        if not self._may_release():
            return  # wait for focus; a release of the button without exposure is recorded
        if self.buffer_full:
            # the buffer is full: the burst waits for the card, as a real body's does
            self.stats.extra["buffer_waits"] = int(self.stats.extra.get("buffer_waits", 0)) + 1
            return
        rel.shots += 1  # an attempt: it ends in a shot or a failure record
        self._expose(rel.pressed_s if rel.shots == 1 else rel.due_s, now)
        self._trap_ok = False  # the next shot of a burst needs a new in-focus reading
        if self.profile.drive == "continuous" and self.controls.held(Control.SHUTTER_FULL):
            rel.due_s = rel.due_s + 1.0 / self.profile.burst_fps
            if rel.due_s < self.clock.now_s():
                rel.due_s = self.clock.now_s()
        else:
            self._release = None if not self.controls.held(Control.SHUTTER_FULL) else rel
            if self._release is not None:
                rel.due_s = math.inf  # single drive: one shot per full press

    def _end_release(self, now: float) -> None:
        trap = self._trap_armed()
        rel = self._release
        if (
            rel is not None
            and rel.shots == 0
            and self._still is not None
            and rel.due_s <= now
            and not trap
            and self._may_release()
        ):
            # pressed and let go while the camera was busy with the previous still: the press is
            # kept and released as soon as the camera is free (as a body does)
            self._latched.append(rel)
            self._release = None
            self._update_activation()
            return
        self._release = None
        if rel is not None and rel.shots == 0:
            busy = self._still is not None
            if trap and not (busy and self._trap_ok):
                reason = (
                    "trap focus: the subject under the AF point did not come into focus "
                    "before the shutter button was let go"
                )
            elif busy and self._may_release():
                reason = (
                    "the shutter button was let go while the camera was still taking the "
                    "previous shot"
                )
            elif self._priority() == "focus":
                reason = (
                    f"focus priority: not focused (AF state {self.af.state.value}) "
                    "before the shutter button was let go"
                )
            else:
                reason = "the shutter button was let go before the release was due"
            self._record_failure(rel.pressed_s, reason)
        self._update_activation()

    def _release_latched(self, now: float) -> None:
        """Release the oldest press that was let go while the camera was busy: a shot, or a
        failure record if focus priority now says no (the focus mode changed meanwhile)."""
        rel = self._latched.popleft()
        if self._priority() == "focus" and not self._focus_ok():
            self._record_failure(
                rel.pressed_s,
                f"focus priority: not focused (AF state {self.af.state.value}) when the camera "
                "was free for a press let go during the previous shot",
            )
            return
        rel.shots += 1
        self._expose(rel.pressed_s, now, by_trap=False)  # let go before: not the trap's

    @property
    def stills_in_flight(self) -> int:
        """Releases begun or pressed that have no record yet: a still being exposed, and presses
        let go while the camera was busy (each ends in a shot or a failure record)."""
        return (self._still is not None) + len(self._latched)

    def _expose(self, pressed_s: float, now: float, by_trap: bool = True) -> None:
        """Release the shutter (two-phase: the still finishes when its exposure is done).
        `by_trap` False: a press let go earlier, which an armed trap did not release."""
        state = self.af.state
        settings = self._settings(trap_armed=None if by_trap else False)
        try:
            pending = begin_still(
                self.camera, now, render=self.save_images, defer=self.still_buffer is not None
            )
        except CameraError as exc:
            # nothing already captured is lost; this frame is a failure record, and the burst
            # goes on once the camera is back
            self._record_failure(pressed_s, f"camera error: {exc}")
            self._reconnect()
            return
        self._still = _Exposing(pending, pressed_s, now, state, settings)
        self._finish_still()

    def _finish_still(self, wait: bool = False) -> None:
        """Record the pending still once its exposure is done (`wait`: wait for it)."""
        exposing = self._still
        if exposing is None:
            return
        pending = exposing.pending
        if not (wait or pending.finished or pending.due_s <= self.clock.now_s()):
            return
        self._still = None
        try:
            still = pending.finish()
        except CameraError as exc:
            self._record_failure(exposing.pressed_s, f"camera error: {exc}", exposing.settings)
            self._reconnect()
            return
        self._record_shot(
            exposing.pressed_s, exposing.release_s, still, exposing.af_state, exposing.settings
        )

    def _reconnect(self) -> bool:
        """Reconnect a camera that supports it (backoff and re-applying its focus lock are the
        adapter's); False when it cannot or did not come back."""
        reconnect = getattr(self.camera, "reconnect", None)
        if not callable(reconnect):
            return False
        try:
            reconnect()
        except CameraError:
            return False
        self.stats.extra["reconnects"] = int(self.stats.extra.get("reconnects", 0)) + 1
        return True

    def _settings(self, trap_armed: bool | None = None) -> dict[str, Any]:
        p = self.profile
        return {
            "profile": p.name,
            "af_activation": p.af_activation,
            "focus_mode": self.focus_mode,
            "priority": self._priority(),
            "drive": p.drive,
            "burst_fps": p.burst_fps,
            "af_area": p.af_area,
            "lock_on_s": p.lock_on_s,
            "af_window": [self.window.cx, self.window.cy, self.window.w, self.window.h],
            "strategy": p.af_s_strategy if self.focus_mode == "AF-S" else p.af_c_strategy,
        } | ({"trap": self._trap_facts(trap_armed)} if p.trap_focus else {})

    def _trap_facts(self, armed: bool | None = None) -> dict[str, Any]:
        """Whether trap focus released this shot, and the reading it went by."""
        reading = self._trap.last if self._trap is not None else None
        armed = self._trap_armed() if armed is None else armed
        if not armed or reading is None:
            return {"armed": armed}
        return {
            "armed": True,
            "kind": reading.kind,
            "value": reading.value,
            "in_focus": reading.in_focus,
            "frame": reading.frame,
        }

    def _record_shot(
        self,
        pressed_s: float,
        release_s: float,
        still: Still,
        state: AfState,
        settings: dict[str, Any],
    ) -> None:
        record = ShotRecord(
            index=len(self.shots),
            pressed_s=pressed_s,
            release_s=release_s,
            exposure_start_s=still.exposure_start_s,
            exposure_end_s=still.exposure_end_s,
            lens_d=still.lens_d,
            af_state=state.value,
            settings=settings,
            truth=dict(self._judge(still)) if self._judge is not None else {},
            exposure=self._exposure_facts(still),
        )
        image = still.image if self.save_images else None
        develop = still.develop if self.save_images else None
        self._keep(record, image, develop)

    def _keep(
        self,
        record: ShotRecord,
        image: Any = None,
        develop: Callable[[], Any] | None = None,
    ) -> None:
        """Save and report a record: at once, or through the still buffer."""
        self.shots.append(record)
        if self.still_buffer is not None:
            self.still_buffer.put(record, image, develop)
            return
        if self.store is not None:
            was_ok = record.ok
            record, error = self.store.keep(record, image)
            self._storage_error = None if error is None else str(error)
            if was_ok and not record.ok:
                self.stats.failures += 1
            self.shots[record.index] = record
        if self.on_shot is not None:
            self.on_shot(record)

    def _still_saved(self, record: ShotRecord) -> None:
        """The still buffer wrote `record` (its worker thread)."""
        if record.index < len(self.shots):
            if self.shots[record.index].ok and not record.ok:
                self.stats.failures += 1
            self.shots[record.index] = record
        if self.on_shot is not None:
            self.on_shot(record)

    def _exposure_facts(self, still: Still) -> dict[str, Any]:
        from afon.metadata import camera_facts, wall_time

        facts = camera_facts(self.camera, still)
        facts["time"] = wall_time(self._wall_offset_s + still.exposure_start_s)
        return facts

    def _record_failure(
        self, pressed_s: float, reason: str, settings: dict[str, Any] | None = None
    ) -> None:
        now = self.clock.now_s()
        record = ShotRecord(
            index=len(self.shots),
            pressed_s=pressed_s,
            release_s=now,
            exposure_start_s=None,
            exposure_end_s=None,
            lens_d=self.camera.lens_position_d(),
            af_state=self.af.state.value,
            settings=settings if settings is not None else self._settings(),
            failure=reason,
        )
        self.stats.failures += 1
        self._keep(record)

    # --- events ----------------------------------------------------------------------------
    def _af_changed(self, change: AfStateChange) -> None:
        self.stats.af_state_changes += 1
        if self.on_af_state is not None:
            self.on_af_state(change)

    def __enter__(self) -> Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End AF and any pending release (recording it), then close the camera."""
        self._drain()
        self._finish_still(wait=True)  # a still being exposed is finished and kept
        while self._latched:  # presses already let go get their shots (the buffer takes them)
            self._release_latched(self.clock.now_s())
            self._finish_still(wait=True)
        if self._release is not None:
            self._end_release(self.clock.now_s())
        if self.still_buffer is not None:
            self.still_buffer.close()  # write what is buffered: nothing captured is lost
        self.camera.close()
