"""The body's loop in one background thread, and the hand-over to the web server.

`BodyRunner` owns the body: only its thread ever touches it. The loop waits (on the real clock)
for the camera's next frame while applying queued jobs (control events, settings) as they arrive,
so a key press reaches the body within a few milliseconds instead of at the next frame; then
`body.step()` processes the frame, and the frame and a state snapshot are handed to the
`FrameEncoder`, which JPEG-encodes it in its own thread (once for all viewers; the loop goes on
meanwhile) and hands it to the `Hub`, which wakes the server's WebSocket senders.

Real time: the loop also wakes when a release is due (a burst's next frame, a release waiting
out its lag), so stills are exposed at their time, not at the next preview frame; their
rendering and writing happen in the body's still buffer (`afon.still_buffer`), off the loop.
When the loop's work per frame nears the frame period anyway (a slow machine), and the clock
is a `PacedClock`, the simulation is slowed down (`time_scale` in the state, shown by the page)
rather than dropping frames and releasing late; it speeds up again once there is room.

Physical inputs (`afon serve --inputs`, or the key map's [gpio], [encoder] and [evdev]): the
`InputHub` is polled on this loop (every wake, and at once when a source has an edge: it wakes
the loop), its control events counted under one holder ("inputs"), so a GPIO AF-ON and the
page's AF-ON combine like two of the page's holders. The encoder turns the focus ring (MF, DMF
after AF-S); with the profile's `mf_assist` a turn that moves the lens opens the magnifier at
5× (MF assist, as Sony's and Fujifilm's bodies do) and it closes `mf_assist_s` (body clock)
after the last turn; the encoder's button, and the page's M, cycle the magnifier (off, 5×,
10×) and take it over (no timed close).

Held controls are counted by holder: a control is pressed on the body when its first holder
(a client and a source such as `key:KeyA`) presses it and released when the last lets go. A
holder's controls are released when its client says so, when its connection closes, or when its
client has been silent for `lease_s` (a phone that locked its screen): a missed release can never
leave AF running.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import math
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from afon.body import Body, live_loop_threads, warm_up
from afon.cameras.base import Frame, Image
from afon.cameras.magnify import crop_fraction, magnify_rect
from afon.controls import Control, ControlEvent
from afon.errors import AfonError, StateConflict
from afon.focus.engine import AfWindow
from afon.inputs import InputHub
from afon.shots import ShotRecord, delete_shot_files
from afon.still_buffer import STALL_S
from afon.web.protocol import ControlMessage

log = logging.getLogger("afon.web")

HOLD_LEASE_S = 3.0
"""A client that holds controls and says nothing (not even a ping) for this long is let go."""

JPEG_QUALITY = 70

TIME_SCALES = (1.0, 0.75, 0.5)
"""The slow-motion steps the loop can take when it cannot keep up; below half speed the
simulation would stop feeling like a camera, so a still busier machine drops frames again."""
SLOW_DOWN_LOAD = 0.9
"""Loop work per frame (smoothed) above this share of the frame period: slow down a step."""
SPEED_UP_LOAD = 0.45
"""Below this share at the next faster step, for `SPEED_UP_AFTER_S`: speed up a step."""
SPEED_UP_AFTER_S = 2.0
PACE_AFTER_FRAMES = 15
"""The first frames build the renderer's caches: they are not the machine being slow."""
BUFFER_POLL_S = 0.005
"""While the still buffer is full, a due release is retried this often."""
GIL_SWITCH_S = 0.001

MAGNIFY_STEPS = (0, 5, 10)
"""The magnifier's cycle (the page's M, the encoder's button)."""
MF_ASSIST_ZOOM = 5
"""The magnification MF assist opens at."""
INPUTS_HOLDER: tuple[str, str] = ("inputs", "hub")
"""The holder the physical inputs' controls are counted under."""

JOBS_PER_FRAME = 32
"""Jobs applied once a frame is due before the loop takes it; the rest wait for the next."""

MAX_PENDING_JOBS = 1000
"""Jobs waiting for the body thread beyond this are refused (a flooding client)."""

T = TypeVar("T")


def encode_jpeg(image: Image, quality: int = JPEG_QUALITY) -> bytes:
    """An RGB (or grey) uint8 image as JPEG bytes."""
    return encode_bgr(to_bgr(image), quality)


def to_bgr(image: Image) -> Any:
    """A new array holding `image` in OpenCV's channel order (RGB → BGR; grey copied): the
    encoder's own copy, whatever the camera does with its buffer afterwards."""
    import cv2

    if image.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    return np.array(image, copy=True)


def encode_bgr(bgr: Any, quality: int = JPEG_QUALITY) -> bytes:
    """A BGR (or grey) uint8 array as JPEG bytes (OpenCV releases the GIL while it encodes)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise AfonError("JPEG encoding failed")
    return buf.tobytes()


class FrameEncoder:
    """Encodes the live view off the body loop, once per frame for every viewer.

    The body thread hands each frame over (`submit`: its pixels converted to BGR, its state)
    and goes on with the next one; this thread JPEG-encodes it, serialises its state and
    publishes both to the `Hub`, which wakes the viewers: each gets the same bytes. OpenCV
    releases the GIL while it encodes, so on two cores the encoding overlaps the next frame's
    rendering and AF instead of adding to them. Latest frame only: a frame still waiting when a
    newer one arrives is skipped (`skipped`), so a slow encoder never delays the loop."""

    def __init__(self, hub: Hub, quality: int = JPEG_QUALITY) -> None:
        self.hub = hub
        self.quality = quality
        self.encoded = 0
        self.skipped = 0
        self.failed = 0
        self.cpu_s = 0.0
        """This thread's CPU seconds (encoding, state JSON, waking the viewers)."""
        self._cv = threading.Condition()
        self._pending: tuple[int, Any, dict[str, Any]] | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="afon-encode", daemon=True)

    def start(self) -> None:
        if not self.thread.is_alive():
            self.thread.start()

    def submit(self, seq: int, bgr: Any, state: dict[str, Any]) -> None:
        """Queue frame `seq` (a BGR array this encoder now owns, and its state snapshot)."""
        with self._cv:
            if self._pending is not None:
                self.skipped += 1
            self._pending = (seq, bgr, state)
            self._cv.notify()

    def stop(self, timeout_s: float = 2.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self.thread.is_alive():
            self.thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                assert self._pending is not None
                (seq, bgr, state), self._pending = self._pending, None
            cpu0 = time.thread_time()
            try:
                self.hub.publish_frame(seq, encode_bgr(bgr, self.quality), json.dumps(state))
                self.encoded += 1
            except Exception:  # one bad frame must not end the live view
                self.failed += 1
                log.exception("encoding a live-view frame failed")
            finally:
                self.cpu_s += time.thread_time() - cpu0


@dataclass
class Subscriber:
    """One viewer (a WebSocket): woken when a frame or an event is there for it."""

    loop: Any
    wake: Any  # asyncio.Event, set from the body thread through loop.call_soon_threadsafe
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=512))
    last_seq: int = -1
    dropped: int = 0
    """Messages pushed out of the full `events` deque since the last send (said to the viewer)."""

    def post(self, message: dict[str, Any]) -> None:
        """Queue a message for this viewer (from any thread)."""
        if self.events.maxlen is not None and len(self.events) >= self.events.maxlen:
            self.dropped += 1
        self.events.append(message)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop has closed
            self.loop.call_soon_threadsafe(self.wake.set)


class Hub:
    """Latest frame and state, and the viewers to wake when they change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscriber] = []
        self.frame: tuple[int, bytes, str] | None = None
        """(sequence, JPEG, state JSON) of the latest frame."""

    @property
    def viewers(self) -> int:
        return len(self._subs)

    def subscribe(self, sub: Subscriber) -> Subscriber:
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish_frame(self, seq: int, jpeg: bytes, state_json: str) -> None:
        self.frame = (seq, jpeg, state_json)
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub._wake()

    def broadcast(self, message: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.post(message)


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: concurrent.futures.Future[Any]


@dataclass
class LoopStats:
    """What the body loop did (benchmarks, the HUD): frames, CPU and wall time spent."""

    frames: int = 0
    dropped: int = 0
    cpu_s: float = 0.0
    work_s: float = 0.0
    slowed: int = 0


Holder = tuple[str, str]
"""(owner, source): a client and what pressed the control there."""


class BodyRunner:
    """Runs `body` in a background thread; everything else talks to it through jobs."""

    def __init__(
        self,
        body: Body,
        *,
        camera_name: str = "",
        profiles: Sequence[str] = (),
        lease_s: float = HOLD_LEASE_S,
        jpeg_quality: int = JPEG_QUALITY,
        buffer_depth: int | None = None,
        inputs: InputHub | None = None,
    ) -> None:
        self.body = body
        self.camera_name = camera_name
        self.profiles = tuple(profiles)
        self.lease_s = lease_s
        self.jpeg_quality = jpeg_quality
        self.hub = Hub()
        self.encoder = FrameEncoder(self.hub, jpeg_quality)
        self.shots: list[dict[str, Any]] = []
        self.shot_files: dict[int, Path] = {}
        self.shot_records: dict[int, ShotRecord] = {}
        self._shots_lock = threading.Lock()
        self.shots_dir = body.store.folder if body.store is not None else None
        self.latency: deque[dict[str, Any]] = deque(maxlen=10_000)
        """Control events with a client time: t_ms (client input) and body_ms (body received)."""
        self.watchdog_releases = 0
        self.state: dict[str, Any] = {}
        self.error: str | None = None
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._holders: dict[Control, set[Holder]] = {}
        self._lease: dict[str, float] = {}
        self._fps = 0.0
        self._last_frame_wall: float | None = None
        self._frame: Frame | None = None
        self.buffer_depth = buffer_depth
        self.loop = LoopStats()
        self._load = 0.0
        self._room_since: float | None = None
        self._shots_seen = 0
        self._still_end_s = -math.inf
        """End of the latest still's exposure (drops of frames it blacked out are no overload)."""
        self.magnify = 0
        """Focus magnifier (0 = off, 5, 10): the viewfinder shows a sensor region around the AF
        point, read at the sensor's resolution where the camera can (`magnified`)."""
        self.magnify_native: bool | None = None
        self._magnify_rect: tuple[float, float, float, float] | None = None
        self._camera_magnifies = False
        self.mf_assist_on = False
        """The magnifier is open because the focus ring turned (MF assist): it closes by itself."""
        self._last_turn_s = 0.0
        self._ring_refused = False
        self.input_notice: str | None = None
        """The latest thing the physical inputs said (a repaired release, a refused turn)."""
        self.inputs = inputs
        self._inputs_due = threading.Event()
        if inputs is not None:
            inputs.on_put = self._wake_for_inputs
            for source in inputs.sources:
                if hasattr(source, "on_change"):
                    source.on_change = self._wake_for_inputs  # type: ignore[attr-defined]
        self._attach(body)

    def _attach(self, body: Body) -> None:
        """Make `body` the one this loop runs: its shots come here, its stills are buffered."""
        if self._camera_magnifies and body is not self.body:
            self._camera_magnifies = False
            end = getattr(self.body.camera, "end_magnify", None)
            if callable(end):
                end()
        self.body = body
        if self._thread is not None:  # a body swapped into the running loop (a drill's)
            warm_up(body.camera)
        self._shots_seen, self._still_end_s = 0, -math.inf  # this body's shots and clock
        body.on_shot = self._on_shot
        if self.buffer_depth is not None:
            body.use_still_buffer(self.buffer_depth)
        else:
            body.use_still_buffer()
        if body.store is not None:
            # the gallery survives a restart: every record already in the shots folder
            for line in body.store.repaired:
                log.warning("shots folder %s: %s", body.store.folder, line)
            for record in body.store.records():
                self._add_shot(record)

    # --- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self.state = self._snapshot()
        # the still buffer's worker renders in Python too: hand the GIL over sooner than the
        # default 5 ms so that a key press or a due frame waits less for it (process-wide)
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        live_loop_threads()
        self.encoder.start()
        warm_up(self.body.camera)
        self._thread = threading.Thread(target=self._run, name="afon-body", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0, stall_s: float = STALL_S) -> None:
        """Stop the loop: every held control is released and the body closed. Closing writes
        every buffered still, so while the still buffer keeps writing (`stall_s`, see
        `StillBuffer.close`) this waits beyond `timeout_s`: nothing captured is lost."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            buf = self.body.still_buffer
            written = -1
            while (self._thread.is_alive() and buf is not None and buf.pending > 0
                   and buf.written != written):
                if written < 0:
                    log.info("writing %d buffered still(s) before stopping", buf.pending)
                written = buf.written
                self._thread.join(stall_s)
        self.encoder.stop()
        while True:  # jobs that will never run
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            job.future.set_exception(AfonError("the body loop has stopped"))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- jobs (any thread) -----------------------------------------------------------------
    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `fn` in the body thread; its result or exception lands in the future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._stop.is_set():
            future.set_exception(AfonError("the body loop has stopped"))
            return future
        if self._jobs.qsize() > MAX_PENDING_JOBS:
            future.set_exception(AfonError("busy: too many pending requests"))
            return future
        self._jobs.put(_Job(fn, future))
        return future

    def control(self, owner: str, msg: ControlMessage) -> concurrent.futures.Future[dict[str, Any]]:
        return self.submit(lambda: self._control(owner, msg))

    def release_all(self, owner: str) -> concurrent.futures.Future[list[str]]:
        return self.submit(lambda: self._release_owner(owner))

    def touch(self, owner: str) -> concurrent.futures.Future[None]:
        return self.submit(lambda: self._touch(owner))

    def settings(self, changes: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
        return self.submit(lambda: self._settings(changes))

    # --- the loop (body thread) ------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                release = self._wait_for_frame()
                if self._stop.is_set():
                    break
                cpu0 = time.thread_time()
                wall0 = time.perf_counter()
                try:
                    if release:
                        self.body.service_release()
                        self.state = self._snapshot()
                        continue
                    frame = self.body.step()
                except Exception as exc:  # a camera that fails must not end the server
                    self.error = f"camera: {exc}"
                    log.exception("body.step failed")
                    self.state = self._snapshot()
                    self._stop.wait(0.5)
                    continue
                finally:
                    self.loop.cpu_s += time.thread_time() - cpu0
                if not release:
                    self.error = None
                    dropped = self._count_frame(frame)
                    self._frame = frame
                    self._publish(frame)
                    self.loop.work_s += time.perf_counter() - wall0
                    self._pace(time.thread_time() - cpu0, dropped)
        finally:
            self._shutdown()

    def _wait_for_frame(self) -> bool:
        """Apply jobs as they come until the camera's next frame is ready (False) or a release
        is due before it (True)."""
        while not self._stop.is_set():
            self._check_leases()
            self._poll_inputs()
            body = self.body  # a drill may swap it meanwhile
            clock = body.clock
            probe = getattr(body.camera, "next_frame_ready_s", None)
            ready_s = float(probe()) if callable(probe) else -math.inf
            due_s = body.next_release_due_s()
            now = clock.now_s()  # after the probes: a frame already there is ready "now"
            if body.release_waiting:
                due_s = now + BUFFER_POLL_S  # poll for the buffer to make room
            release = due_s < ready_s
            scale = float(getattr(clock, "scale", 1.0))
            wait_s = (min(ready_s, due_s) - now) / scale
            if wait_s <= 0:
                # apply what is already queued, up to the per-frame budget, then take the frame
                # (or release): a flood of jobs delays the rest, never the frames
                for _ in range(JOBS_PER_FRAME):
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    self._do(job)
                return release
            try:
                job = self._jobs.get(timeout=min(wait_s, 0.1))
            except queue.Empty:
                continue
            self._do(job)
        return False

    def _count_frame(self, frame: Frame) -> int:
        """Count the frame; returns how many frames the camera dropped before it."""
        last = self._frame
        self.loop.frames += 1
        shots = self.body.shots
        for record in shots[self._shots_seen :]:
            if record.exposure_end_s is not None:
                self._still_end_s = max(self._still_end_s, record.exposure_end_s)
        self._shots_seen = len(shots)
        if last is None or frame.index <= last.index + 1:
            return 0
        dropped = frame.index - last.index - 1
        if self._still_end_s > last.exposure_start_s:
            # a still exposed after the last frame: the viewfinder blacked out for it (its
            # record may come before that last frame, which reaches software a pipeline
            # latency after its exposure): that is no overload
            return 0
        self.loop.dropped += dropped
        return dropped

    def _pace(self, cpu_s: float, dropped: int) -> None:
        """Slow the simulation down a step when the loop's CPU per frame nears the frame period
        or frames are being dropped (the machine is busy); speed it up again once the next
        faster step has had room for a while."""
        clock = self.body.clock
        set_scale = getattr(clock, "set_scale", None)
        rate = self.body.camera.capabilities.frame_rate_hz or 30.0
        scale = float(getattr(clock, "scale", 1.0))
        period_s = 1.0 / (rate * scale)  # wall time between frames at this scale
        # a dropped frame counts as a frame period of work the loop did not have time for
        self._load = 0.8 * self._load + 0.2 * ((cpu_s + dropped * period_s) / period_s)
        if not callable(set_scale) or self.loop.frames < PACE_AFTER_FRAMES:
            return
        i = min(range(len(TIME_SCALES)), key=lambda k: abs(TIME_SCALES[k] - scale))
        now = time.monotonic()
        if self._load > SLOW_DOWN_LOAD and i + 1 < len(TIME_SCALES):
            set_scale(TIME_SCALES[i + 1])
            self.loop.slowed += 1
            self._load *= TIME_SCALES[i + 1] / scale
            self._room_since = None
        elif i > 0 and self._load * TIME_SCALES[i - 1] / scale < SPEED_UP_LOAD:
            if self._room_since is None:
                self._room_since = now
            elif now - self._room_since > SPEED_UP_AFTER_S:
                set_scale(TIME_SCALES[i - 1])
                self._load *= TIME_SCALES[i - 1] / scale
                self._room_since = None
        else:
            self._room_since = None

    def _do(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.fn()
        except Exception as exc:
            if not isinstance(exc, AfonError):
                log.exception("job failed in the body thread")
            self.state = self._snapshot()
            job.future.set_exception(exc)
        else:
            # the state is published before the answer: a client that reads GET /api/state
            # after its POST is answered sees its own change (read-your-writes)
            self.state = self._snapshot()
            job.future.set_result(result)

    # --- physical inputs (body thread) -----------------------------------------------------
    def _wake_for_inputs(self) -> None:
        """An input source has something (any thread): poll the hub on the loop soon."""
        if not self._inputs_due.is_set():
            self._inputs_due.set()
            self.submit(lambda: None)  # a job wakes the loop, which polls before the next wait

    def _poll_inputs(self) -> None:
        """Apply the physical inputs' edges, turns and presses; close MF assist when idle."""
        hub = self.inputs
        if hub is None:
            return
        self._inputs_due.clear()
        body = self.body
        events, notices = hub.poll(body.clock.now_s())
        for notice in notices:
            self._input_says(str(notice))
        for event in events:
            self._input_event(event.control, event.pressed)
        for source in hub.sources:
            take = getattr(source, "take_steps", None)
            steps = take() if callable(take) else 0
            if steps:
                self._turn_ring(steps * float(getattr(source, "step_d", 0.0)))
            take_presses = getattr(source, "take_presses", None)
            for _ in range(take_presses() if callable(take_presses) else 0):
                self.cycle_magnify()
            error = getattr(source, "error", None)
            if isinstance(error, str) and error != self.input_notice:
                self._input_says(error)
        if (
            self.mf_assist_on
            and body.profile.mf_assist_s > 0
            and body.clock.now_s() - self._last_turn_s >= body.profile.mf_assist_s
        ):
            self.mf_assist_on = False
            self.magnify = 0

    def _input_says(self, text: str) -> None:
        self.input_notice = text
        log.warning("%s", text)

    def _input_event(self, control: Control, pressed: bool) -> None:
        """A control event of the physical inputs, counted under their holder."""
        holders = self._holders.setdefault(control, set())
        if pressed and INPUTS_HOLDER not in holders:
            holders.add(INPUTS_HOLDER)
            if len(holders) == 1:
                self._event(control, True)
        elif not pressed and INPUTS_HOLDER in holders:
            holders.discard(INPUTS_HOLDER)
            if not holders:
                self._event(control, False)

    def _turn_ring(self, delta_d: float) -> None:
        """The encoder's turn: the focus ring where it works (MF, DMF), with MF assist; said
        once where it does not (until it works again)."""
        body = self.body
        if body.focus_ring(delta_d):
            self._ring_refused = False
            self._last_turn_s = body.clock.now_s()
            if body.profile.mf_assist and self.magnify == 0:
                self.magnify = MF_ASSIST_ZOOM
                self.mf_assist_on = True
        elif not self._ring_refused:
            self._ring_refused = True
            self._input_says(
                "focus ring ignored: manual focus needs MF, or AF-S with manual override after "
                f"focus locked (now {body.focus_mode}, {body.state.value})"
            )

    def cycle_magnify(self) -> None:
        """The magnify button: off, 5×, 10×, off (body thread); the photographer's from now on."""
        i = MAGNIFY_STEPS.index(self.magnify) if self.magnify in MAGNIFY_STEPS else 0
        self.magnify = MAGNIFY_STEPS[(i + 1) % len(MAGNIFY_STEPS)]
        self.mf_assist_on = False

    def _shutdown(self) -> None:
        for owner in {h[0] for holders in self._holders.values() for h in holders}:
            try:
                self._release_owner(owner)
            except Exception:
                log.exception("releasing controls at shutdown")
        try:
            self.body.close()
        except Exception:
            log.exception("closing the body")
        if self.inputs is not None:
            self.inputs.close()

    # --- controls (body thread) ------------------------------------------------------------
    def _event(self, control: Control, pressed: bool) -> None:
        self.body.handle(ControlEvent(control, pressed, self.body.clock.now_s()))

    def _control(self, owner: str, msg: ControlMessage) -> dict[str, Any]:
        body_ms = time.time() * 1000.0
        self._touch(owner)
        holder = (owner, msg.source)
        applied: list[str] = []
        for control in msg.controls if msg.pressed else tuple(reversed(msg.controls)):
            holders = self._holders.setdefault(control, set())
            if msg.pressed and holder not in holders:
                holders.add(holder)
                if len(holders) == 1:
                    self._event(control, True)
                    applied.append(control.value)
            elif not msg.pressed and holder in holders:
                holders.discard(holder)
                if not holders:
                    self._event(control, False)
                    applied.append(control.value)
        if msg.t_ms is not None:
            self.latency.append(
                {
                    "control": msg.name,
                    "action": "press" if msg.pressed else "release",
                    "t_ms": msg.t_ms,
                    "body_ms": body_ms,
                }
            )
        return {
            "type": "ack",
            "id": msg.id,
            "control": msg.name,
            "action": "press" if msg.pressed else "release",
            "applied": applied,
            "t_ms": msg.t_ms,
            "body_ms": body_ms,
            "held": self._held_names(),
        }

    def _touch(self, owner: str) -> None:
        self._lease[owner] = time.monotonic() + self.lease_s

    def _release_owner(self, owner: str) -> list[str]:
        """Let go of every control `owner` holds; returns those released on the body."""
        released: list[str] = []
        # shutter full before half, AF-ON and the rest in any order
        order = sorted(self._holders, key=lambda c: c is not Control.SHUTTER_FULL)
        for control in order:
            holders = self._holders[control]
            mine = {h for h in holders if h[0] == owner}
            if not mine:
                continue
            holders -= mine
            if not holders:
                self._event(control, False)
                released.append(control.value)
        self._lease.pop(owner, None)
        return released

    def _check_leases(self) -> None:
        now = time.monotonic()
        for owner, expiry in list(self._lease.items()):
            if expiry < now:
                released = self._release_owner(owner)
                if released:
                    self.watchdog_releases += 1
                    log.warning("client %s went silent: released %s", owner, ", ".join(released))

    def _held_names(self) -> list[str]:
        return [c.value for c in self.body.controls.held_controls()]

    # --- settings (body thread) ------------------------------------------------------------
    def _settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        body = self.body
        if "profile" in changes and changes["profile"] not in self.profiles:
            raise AfonError(
                f"profile: {changes['profile']!r} is not available "
                f"(profiles: {', '.join(self.profiles)})"
            )
        if "profile" in changes:
            body.set_profile(changes["profile"])
        if "focus_mode" in changes:
            body.set_focus_mode(changes["focus_mode"])
        if "drive" in changes or "burst_fps" in changes:
            body.set_drive(changes.get("drive", body.profile.drive), changes.get("burst_fps"))
        if "af_area" in changes:
            body.set_af_area(changes["af_area"])
        if "af_point" in changes:
            x, y = changes["af_point"]
            body.window = AfWindow(x, y, body.window.w, body.window.h).clamped()
        if "focus_ring_d" in changes or "lens_d" in changes:
            # manual focus: MF always, DMF (AF-S with manual override) once AF-S has locked
            delta = changes.get("focus_ring_d")
            if delta is None:
                delta = float(changes["lens_d"]) - float(body.camera.lens_position_d())
            if not body.focus_ring(float(delta)):
                raise StateConflict(
                    "focus_ring_d: manual focus needs MF, or AF-S with manual override "
                    f"(DMF) after focus locked (now {body.focus_mode}, {body.state.value})"
                )
        if "trap_focus" in changes:
            body.set_trap_focus(bool(changes["trap_focus"]))
        if "magnify" in changes:
            self.magnify = int(changes["magnify"])
            self._magnify_rect = None
            self.mf_assist_on = False  # the photographer's choice: no timed close
        return self._snapshot()

    # --- output (body thread) --------------------------------------------------------------
    def _publish(self, frame: Frame) -> None:
        now = time.monotonic()
        if self._last_frame_wall is not None:
            dt = now - self._last_frame_wall
            if dt > 0:
                self._fps = 1.0 / dt if self._fps == 0 else 0.9 * self._fps + 0.1 / dt
        self._last_frame_wall = now
        image = frame.image
        if self.magnify and self.hub.viewers:
            image = self._magnified(frame)
        else:
            self._magnify_rect = None
            if self._camera_magnifies:
                self._camera_magnifies = False
                end = getattr(self.body.camera, "end_magnify", None)
                if callable(end):
                    end()  # a camera that reads the region itself gives its stream back
        self.state = state = self._snapshot()
        if self.hub.viewers:
            # once per frame for all viewers, encoded off this thread (`FrameEncoder`)
            self.encoder.submit(frame.index, to_bgr(image), state)

    def _magnified(self, frame: Frame) -> Image:
        """The magnified view of `frame`: the camera's sensor-resolution region where it has
        one (`magnified`: an image, or an image and the region it shows, or None while it
        cannot), else a crop of the frame (the largest stream the loop gets)."""
        win = self.body.window
        zoom = float(self.magnify)
        rect = magnify_rect(win.cx, win.cy, zoom)
        self._magnify_rect = rect
        native = getattr(self.body.camera, "magnified", None)
        out = native(frame, rect, zoom) if callable(native) else None
        self._camera_magnifies = callable(native)
        if isinstance(out, tuple):
            image, shown = out
            x0, y0, w, h = (float(v) for v in shown)
            self._magnify_rect = (x0, y0, w, h)
            self.magnify_native = True
            return cast(Image, image)
        if out is not None:
            self.magnify_native = True
            return cast(Image, out)
        self.magnify_native = False
        return crop_fraction(frame.image, rect)

    def _snapshot(self) -> dict[str, Any]:
        body = self.body
        cam = body.camera
        lens_d = float(cam.lens_position_d())
        frame = self._frame
        win = body.window
        p = body.profile
        buf = body.still_buffer
        return {
            "type": "state",
            "t_s": round(body.clock.now_s(), 4),
            "frame": frame.index if frame is not None else None,
            "frame_size": [int(frame.image.shape[1]), int(frame.image.shape[0])]
            if frame is not None
            else None,
            "fps": round(self._fps, 1),
            "camera": self.camera_name,
            "af_state": body.state.value,
            "focused": body.state.focused,
            "locked": body.state.locked,
            "lens_d": round(lens_d, 4),
            "lens_m": round(1.0 / lens_d, 3) if lens_d > 1e-6 else None,
            "lens_moving": bool(cam.lens_moving()),
            "lens_range_d": list(cam.capabilities.lens_range_d),
            "profile": p.name,
            "af_activation": p.af_activation,
            "focus_mode": body.focus_mode,
            "drive": p.drive,
            "burst_fps": p.burst_fps,
            "af_area": p.af_area,
            "trap_focus": p.trap_focus,
            "trap_armed": body.trap_armed,
            "manual_focus": body.focus_mode == "MF"
            or (p.manual_override and body.focus_mode == "AF-S" and body.state.locked),
            "af_window": [round(v, 4) for v in (win.cx, win.cy, win.w, win.h)],
            "held": self._held_names(),
            "shots": sum(1 for s in self.shots if s["ok"] and not s.get("deleted")),
            "failures": sum(1 for s in self.shots if not s["ok"] and not s.get("deleted")),
            "watchdog_releases": self.watchdog_releases,
            "error": self.error or body.storage_error,
            "storage_error": body.storage_error,
            "time_scale": round(float(getattr(body.clock, "scale", 1.0)), 3),
            "buffer": [buf.pending, buf.depth] if buf is not None else None,
            "buffer_full": body.buffer_full,
            "dropped_frames": self.loop.dropped,
            "magnify": self.magnify,
            "magnify_rect": [round(v, 5) for v in self._magnify_rect]
            if self._magnify_rect is not None
            else None,
            "magnify_native": self.magnify_native if self._magnify_rect is not None else None,
            "mf_assist": self.mf_assist_on,
            "input_notice": self.input_notice,
        }

    def _add_shot(self, record: ShotRecord) -> dict[str, Any]:
        with self._shots_lock:
            n = len(self.shots)
            if record.image_path:
                self.shot_files[n] = Path(record.image_path)
            self.shot_records[n] = record
            shot = shot_json(n, record)
            self.shots.append(shot)
        return shot

    def visible_shots(self) -> list[dict[str, Any]]:
        """The shots not deleted, oldest first (`n` stays each shot's number)."""
        with self._shots_lock:
            return [s for s in self.shots if not s.get("deleted")]

    def delete_shot(self, n: int) -> list[str]:
        """Delete shot `n`'s JPEG and sidecar from the shots folder and the gallery (every
        viewer is told); KeyError for a shot that is not there (or already deleted)."""
        with self._shots_lock:
            record = self.shot_records.get(n)
            if record is None or self.shots[n].get("deleted") or self.shots_dir is None:
                raise KeyError(n)
            deleted = delete_shot_files(self.shots_dir, record)
            self.shots[n] = self.shots[n] | {"deleted": True}
            self.shot_files.pop(n, None)
            del self.shot_records[n]
        self.hub.broadcast({"type": "shot_deleted", "n": n, "files": deleted})
        return deleted

    def _on_shot(self, record: ShotRecord) -> None:
        self.hub.broadcast({"type": "shot", "shot": self._add_shot(record)})


def shot_json(n: int, record: ShotRecord) -> dict[str, Any]:
    """What the page and `GET /api/shots` show of a shot: verdict, timing, settings."""
    s = record.settings
    lag = record.lag_s
    truth = record.truth
    error_d = truth.get("focus_error_d")
    files = [p for p in (record.image_path, record.record_path) if p]
    return {
        "n": n,
        "ok": record.ok,
        "failure": record.failure,
        "in_focus": record.in_focus,
        "af_state": record.af_state,
        "lag_ms": round(lag * 1000.0, 1) if lag is not None else None,
        "lens_d": _finite(record.lens_d),
        "focus_error_d": _finite(error_d),
        "subject_m": _finite(truth.get("subject_distance_m")),
        "settings": {
            k: s.get(k)
            for k in ("profile", "focus_mode", "priority", "drive", "burst_fps", "af_area")
        }
        | {"af_window": s.get("af_window")},
        "file": Path(files[0]).name if files else None,
        "image": f"/api/shots/{n}/image" if record.image_path else None,
        "thumb": f"/api/shots/{n}/thumb" if record.image_path else None,
    }


def _finite(value: Any, digits: int = 4) -> float | None:
    """A JSON-safe number: rounded, or None for missing, infinite or NaN values."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(float(value), digits)
