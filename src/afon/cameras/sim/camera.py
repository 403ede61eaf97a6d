"""SimCamera: the physically based simulated camera (afon's default).

Two channels, never mixed (docs/simulated-camera.md, "What the camera reports"):

- What it *reports* (`Frame`, `Still`, `lens_position_d`, `lens_moving`, `capabilities`):
  exposure times, the lens position the hardware reports (the commanded trajectory for a
  voice-coil lens without position sensing, the encoder for a lens that has one), the driver's
  busy flag, and the images. This is all the body and the focus engine get.
- The *truth* (`truth_of(frame_or_still)`, `true_lens_d`, `subject_distance_m`, `judge_still`):
  the true lens position during each exposure (ringing, posture offset, hysteresis included)
  and the subject's distance, for the benchmark's judge, the trainer's scorer and tests.

Timing follows a rolling-readout sensor under auto exposure: frame n's first row stops
integrating at ``t0 + n / frame_rate + exposure budget`` and starts `integration_s` before (the
AE's choice for the scene's light: far shorter than the budget in daylight, the whole budget
plus gain in low light); the rows are read out over `readout_s`, and the frame reaches the AF
engine `pipeline_latency_s` after its last row (`Frame.ready_s`). A lens command takes effect
at once, or at the `lens_latency_frames`-th frame boundary after it (as a pipeline that applies
controls at start of frame does); the lens then moves on its motor's profile while frames
expose, so a frame exposed while the lens moves has mixed focus.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from afon.cameras.base import (
    CalibrationRig,
    Capabilities,
    DeferredFrame,
    Frame,
    Image,
    PendingStill,
    PhaseData,
    Still,
)
from afon.cameras.frame_schedule import FrameSchedule
from afon.cameras.sim.magnify import Magnifier
from afon.cameras.sim.motor import HISTORY_PLANS, LensMotor
from afon.cameras.sim.preset import CameraPreset, load_preset
from afon.cameras.sim.render import Renderer, RowTiming, focus_samples
from afon.cameras.sim.scene import Scene, parse_scene, resolve_scene
from afon.cameras.sim.warm_up import LadderWarmUp
from afon.clock import Clock, VirtualClock
from afon.errors import CameraError

TRUTH_FRAMES = 512
"""Frames whose truth is kept for `truth_of` (the newest ones)."""

CHART_TEXTURE = "pattern:siemens"
"""Texture of the PDAF calibration chart."""


@dataclass(frozen=True)
class ExposureTruth:
    """What was true during one exposure (for the judge; never for the focus engine)."""

    lens_start_d: float
    lens_end_d: float
    lens_d: float
    """Mean true lens position over the exposure."""
    subject_distance_m: float
    focus_distance_m: float
    focus_error_d: float
    """Subject minus mean true lens position (dioptres)."""
    dof_near_m: float
    dof_far_m: float
    in_focus: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def preview_px_for(preset: CameraPreset | str | Path, width_px: int = 640) -> tuple[int, int]:
    """A preview `width_px` wide at the sensor's aspect: the live view then shows what the
    still records (no 4:3 centre crop of a 3:2 or 16:9 sensor)."""
    p = preset if isinstance(preset, CameraPreset) else load_preset(preset)
    w, h = p.optics.resolution_px
    return width_px, max(2, round(width_px * h / w))


def _region_px(region: tuple[float, float, float, float] | None, size_px: tuple[int, int]
               ) -> tuple[int, int, int, int] | None:
    """A region in fractions of an image as the pixels that cover it."""
    if region is None:
        return None
    w, h = size_px
    return (math.floor(region[0] * w), math.floor(region[1] * h), math.ceil(region[2] * w),
            math.ceil(region[3] * h))


class SimCamera:
    """A simulated camera looking at a `Scene` through a preset's optics and motor."""

    deferred_stills = True
    """`capture_still(defer=True)` leaves the rendering to `Still.develop` (the still buffer)."""

    render_region: tuple[float, float, float, float] | None = None
    """Draw only this part of each frame (x0, y0, x1, y1: fractions of its width and height),
    every pixel of it as in the whole frame, the rest black: for a consumer that reads only
    there (the benchmark's AF engine, `afon.focus.footprint`). None: the whole frame."""

    defer_frames: bool = False
    """Return `DeferredFrame`s: a frame's image and phase images are drawn when first read
    (the same pixels), so frames nobody reads cost nothing (the benchmark). Only for a reader
    on the camera's own thread; the live view reads every frame anyway."""

    phase_reader: Callable[[tuple[int, int]], tuple[float, float, float, float] | None] | None
    phase_reader = None
    """Where the AF engine will read this frame's phase images of the given size (fractions,
    as `render_region`), asked per frame when `render_region` is None: the live view is drawn
    whole, its phase images (read by the AF engine alone) only there. None, or an answer None:
    whole."""

    def __init__(
        self,
        scene: Scene | str | Path = "portrait",
        preset: CameraPreset | str | Path = "cm3",
        *,
        clock: Clock | None = None,
        preview_px: tuple[int, int] = (640, 480),
        seed: int = 0,
        start_d: float | None = None,
        render_frames: bool = True,
        still_px: tuple[int, int] | None = None,
    ) -> None:
        self.scene = scene if isinstance(scene, Scene) else resolve_scene(str(scene))
        self.preset = preset if isinstance(preset, CameraPreset) else load_preset(preset)
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.optics = self.preset.optics
        self.timing = self.preset.timing
        self.preview_px = preview_px
        self.seed = seed
        self.render_frames = render_frames
        self.still_px = still_px
        self.renderer = Renderer(self.scene, self.optics, preview_px, seed=seed)
        spec = self.preset.motor
        self.motor = LensMotor(spec, start_d if start_d is not None else spec.min_d)
        # auto exposure: the integration the sensor's AE picks for this scene's light
        self.integration_s = self.renderer.exposure(self.timing.exposure_s).integration_s
        self.schedule = FrameSchedule(
            self.clock.now_s(),
            self.timing.frame_rate_hz,
            self.timing.exposure_s,
            self.timing.readout_s,
            integration_s=self.integration_s,
            pipeline_s=self.timing.pipeline_latency_s,
        )
        self._still_index = 0
        self._still_renderer: Renderer | None = None
        self._frame_truth: OrderedDict[int, ExposureTruth] = OrderedDict()
        self._still_truth: dict[int, ExposureTruth] = {}
        self._pending: list[tuple[float, float]] = []
        """Lens commands (apply time, target) waiting for their frame boundary."""
        self._queued: list[tuple[float, float]] = []
        """(issued, applied) times of recent delayed commands: the pipeline reports the lens
        as moving from a request until it takes effect (as Android's LENS_STATE does)."""
        self._commanded_d = self.motor.target_d
        self._magnifier: Magnifier | None = None
        self._exposing: PendingStill | None = None
        """The still begun and not yet finished (one at a time, as one sensor takes them)."""
        self._warm_up: LadderWarmUp | None = None
        """The blur ladders being built ahead (`warm_up`), once started."""

    # --- capabilities ----------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        spec = self.preset.motor
        notes = [] if self.preset.phase_available else ["this preset has no phase-detect pixels"]
        f_mm = self.optics.focal_length_mm
        return Capabilities(
            lens_drive=True,
            phase_detect=self.preset.phase_available,
            still_capture=True,
            live_view=True,
            hardware_af=False,
            lens_range_d=(spec.min_d, spec.max_d),
            frame_rate_hz=self.timing.frame_rate_hz,
            release_lag_s=self.timing.release_lag_s,
            still_exposure_s=self.timing.still_exposure_s,
            notes=tuple(notes),
            depth_of_focus_d=self.optics.coc_mm * self.optics.f_number / (f_mm * f_mm) * 1000.0,
            motor_speed_d_per_s=spec.max_speed_d_per_s,
            motor_accel_d_per_s2=spec.accel_d_per_s2,
            pipeline_latency_s=self.timing.pipeline_latency_s,
            lens_latency_frames=self.timing.lens_latency_frames,
        )

    # --- frames ----------------------------------------------------------------------------
    def next_frame_ready_s(self) -> float:
        """When `next_frame` would return (if called now)."""
        return self.schedule.next_ready_s(self.clock.now_s())

    def next_frame(self, phase: bool = False) -> Frame:
        """Wait until the next frame reaches software and return it (late callers drop frames)."""
        n = self.schedule.take(self.clock.now_s())
        self.clock.sleep_until(self.schedule.ready_s(n))
        self._apply_pending(self.clock.now_s())
        start_s = self.schedule.exposure_start_s(n)
        end_s = self.schedule.exposure_end_s(n)
        mid_s = 0.5 * (start_s + end_s)
        # the centre row integrates for `integration_s` around the frame's mid-time
        half = 0.5 * self.integration_s
        focus = self._focus_samples(mid_s - half, mid_s + half)
        # --- renderer call (rolling shutter: each row sees the lens during its own window) ---
        rows = RowTiming(start_s, self.integration_s, self.timing.readout_s)
        region = self.render_region
        drawn = self.render_frames

        def draw_image() -> Image:
            if not drawn:
                return self._blank()
            return self.renderer.render(
                mid_s, focus, exposure_s=self.timing.exposure_s, frame_index=n,
                lens_d=self.motor.position_d, rows=rows,
                region=_region_px(region, self.preview_px))

        # --- end of renderer call ---
        with_phase = phase and self.preset.phase_available and drawn
        phase_region = region
        if with_phase and phase_region is None and self.phase_reader is not None:
            phase_region = self.phase_reader(self.renderer.phase_px)

        def draw_phase() -> PhaseData | None:
            if not with_phase:
                return None
            return self.renderer.render_phase(
                mid_s,
                sum(focus) / len(focus),
                exposure_s=self.timing.exposure_s,
                frame_index=n,
                gain_ratio=self.preset.phase.gain_ratio,
                zero_offset_d=self.preset.phase.zero_offset_d,
                lens_d=self.motor.position_d,
                rows=rows,  # the PDAF pixels are on the image rows: the same rolling shutter
                region=_region_px(phase_region, self.renderer.phase_px),
            )

        self._frame_truth[n] = self._truth(start_s, end_s, focus)
        while len(self._frame_truth) > TRUTH_FRAMES:
            self._frame_truth.popitem(last=False)
        values: dict[str, Any] = {
            "index": n,
            "exposure_start_s": start_s,
            "exposure_end_s": end_s,
            "ready_s": self.schedule.ready_s(n),
            "lens_start_d": self.motor.reported_d(start_s),
            "lens_end_d": self.motor.reported_d(end_s),
            "lens_moving": self._moving_during(start_s, end_s),
            "meta": {"integration_s": self.integration_s},
            "readout_s": self.timing.readout_s,
        }
        if not (self.defer_frames and drawn):
            return Frame(image=draw_image(), phase=draw_phase(), **values)

        def develop(name: str) -> Any:
            # the lens history of the exposure must still be there (bit for bit as eager)
            if not self.motor.remembers(start_s):
                raise CameraError(f"frame {n} was read after its lens history was dropped "
                                  f"(read a deferred frame before {HISTORY_PLANS} more moves)")
            return draw_image() if name == "image" else draw_phase()

        if not with_phase:
            values["phase"] = None
        return DeferredFrame(develop, **values)

    def magnified(
        self, frame: Frame, rect: tuple[float, float, float, float], zoom: float
    ) -> Image:
        """The focus magnifier: region `rect` (preview fractions, `magnify.magnify_rect`) of
        `frame`'s exposure, rendered at the sensor's resolution (`afon.cameras.sim.magnify`)."""
        if self._magnifier is None:
            self._magnifier = Magnifier(self.renderer)
        if not self.render_frames:
            w, h = self._magnifier.output_px(zoom)
            return np.zeros((h, w, 3), np.uint8)
        start_s, end_s = frame.exposure_start_s, frame.exposure_end_s
        mid_s = 0.5 * (start_s + end_s)
        half = 0.5 * self.integration_s
        return self._magnifier.render(
            rect,
            zoom,
            focus_d=self._focus_samples(mid_s - half, mid_s + half),
            lens_d=self.motor.position_d,
            start_s=start_s,
            integration_s=self.integration_s,
            readout_s=self.timing.readout_s,
            exposure_s=self.timing.exposure_s,
            frame_index=frame.index,
            mid_s=mid_s,
        )

    def _focus_samples(self, start_s: float, end_s: float) -> list[float]:
        """True lens positions integrating [start_s, end_s] with equal weight in time (the
        renderer's `focus_samples`, spaced for a quarter-pixel blur step on a still)."""
        size = self.still_px if self.still_px is not None else self.optics.resolution_px
        step = self.renderer.focus_step_d(self.optics.preview_scale(size))
        return list(focus_samples(self.motor.position_d, start_s, end_s, step))

    def _moving_during(self, start_s: float, end_s: float) -> bool:
        """The driver's busy flag at either end of the exposure, or a command queued during it."""
        if self.motor.is_moving(start_s) or self.motor.is_moving(end_s):
            return True
        return any(issued <= end_s and applied > start_s for issued, applied in self._queued)

    def _blank(self) -> Image:
        return np.zeros((self.preview_px[1], self.preview_px[0], 3), np.uint8)

    # --- lens ------------------------------------------------------------------------------
    def _apply_time_s(self, now_s: float) -> float:
        """When a command issued at `now_s` takes effect (frame boundaries, as delayed controls)."""
        k = self.timing.lens_latency_frames
        if k <= 0:
            return now_s
        period = 1.0 / self.timing.frame_rate_hz
        t0 = self.schedule.t0_s
        boundary = math.floor((now_s - t0) / period + 1e-9) + k
        return t0 + boundary * period

    def _apply_pending(self, now_s: float) -> None:
        """Hand the motor every queued command whose frame boundary has come."""
        while self._pending and self._pending[0][0] <= now_s + 1e-12:
            t_s, target = self._pending.pop(0)
            self.motor.command(target, t_s)

    def move_lens(self, target_d: float) -> float:
        """Command the lens to `target_d`; it takes effect after the lens latency."""
        now = self.clock.now_s()
        self._apply_pending(now)
        target = self.preset.motor.quantise(target_d)
        t_apply = self._apply_time_s(now)
        if t_apply <= now:
            self.motor.command(target, now)
        else:
            # a later command for the same boundary replaces the earlier one
            self._pending = [(t, d) for t, d in self._pending if t < t_apply - 1e-12]
            self._pending.append((t_apply, target))
            self._queued = [q for q in self._queued if q[1] > now - 1.0]
            self._queued.append((now, t_apply))
        self._commanded_d = target
        return target

    def lens_position_d(self) -> float:
        """The lens position the hardware reports now."""
        now = self.clock.now_s()
        self._apply_pending(now)
        return self.motor.reported_d(now)

    def lens_moving(self) -> bool:
        """The driver's busy flag now (a queued command counts as a move)."""
        now = self.clock.now_s()
        self._apply_pending(now)
        return bool(self._pending) or self.motor.is_moving(now)

    # --- stills ----------------------------------------------------------------------------
    def capture_still(self, release_s: float, render: bool = True, defer: bool = False) -> Still:
        """Release at `release_s`: expose after the release lag, return when exposed (one
        blocking call: `begin_still(...).finish()`)."""
        return self.begin_still(release_s, render=render, defer=defer).finish()

    def begin_still(
        self, release_s: float, render: bool = True, defer: bool = False
    ) -> PendingStill:
        """Release at `release_s` and return at once: the exposure runs from the release lag
        after it for `still_exposure_s`; `finish()` waits for its end and returns the still.
        Live view goes on through the lag: only preview frames whose exposure overlaps the
        still's exposure and its readout (the sensor's `readout_s`) are blacked out. With
        `defer`, the image is rendered later by `Still.develop` (the still buffer's worker)."""
        if self._exposing is not None and not self._exposing.finished:
            raise CameraError("SimCamera: a still is already being exposed (finish it first)")
        start_s = max(release_s, self.clock.now_s()) + self.timing.release_lag_s
        end_s = start_s + self.timing.still_exposure_s
        self.schedule.black_out(start_s, end_s + self.timing.readout_s)
        index = self._still_index
        self._still_index += 1
        pending = PendingStill(
            release_s, start_s, end_s,
            lambda: self._finish_still(index, start_s, end_s, render, defer),
        )
        self._exposing = pending
        return pending

    def _finish_still(
        self, index: int, start_s: float, end_s: float, render: bool, defer: bool
    ) -> Still:
        self.clock.sleep_until(end_s)
        self._apply_pending(end_s)
        focus = self._focus_samples(start_s, end_s)
        mid_s = 0.5 * (start_s + end_s)
        image: Image | None = None
        develop: Callable[[], Image] | None = None
        if render:
            frame_index = 1_000_000 + index
            size_px = self.still_px
            # deferred stills develop in another thread: they get their own renderer (its
            # scratch buffers and blur caches are not shared with the preview's)
            renderer = self._developer() if defer else self.renderer

            def _develop() -> Image:
                return renderer.render_still(
                    mid_s,
                    focus,
                    size_px=size_px,
                    exposure_s=self.timing.still_exposure_s,
                    frame_index=frame_index,
                )

            if defer:
                develop = _develop
            else:
                image = _develop()
        self._still_truth[index] = self._truth(start_s, end_s, focus)
        return Still(
            image=image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            lens_start_d=self.motor.reported_d(start_s),
            lens_end_d=self.motor.reported_d(end_s),
            index=index,
            develop=develop,
        )

    def _developer(self) -> Renderer:
        if self._still_renderer is None:
            self._still_renderer = Renderer(
                self.scene, self.optics, self.preview_px, seed=self.seed
            )
        return self._still_renderer

    # --- ground truth (for the judge, the scorer and tests; never for the focus engine) ----
    def _truth(self, start_s: float, end_s: float, focus: list[float]) -> ExposureTruth:
        mid_s = 0.5 * (start_s + end_s)
        lens_d = sum(focus) / len(focus)
        t = self.truth(mid_s, lens_d)
        return ExposureTruth(
            lens_start_d=self.motor.position_d(start_s),
            lens_end_d=self.motor.position_d(end_s),
            lens_d=lens_d,
            subject_distance_m=float(t["subject_distance_m"]),  # type: ignore[arg-type]
            focus_distance_m=float(t["focus_distance_m"]),  # type: ignore[arg-type]
            focus_error_d=float(t["focus_error_d"]),  # type: ignore[arg-type]
            dof_near_m=float(t["dof_near_m"]),  # type: ignore[arg-type]
            dof_far_m=float(t["dof_far_m"]),  # type: ignore[arg-type]
            in_focus=bool(t["in_focus"]),
        )

    def truth_of(self, item: Frame | Still) -> ExposureTruth:
        """The truth of a frame (one of the newest `TRUTH_FRAMES`) or a still of this camera."""
        table: dict[int, ExposureTruth] | OrderedDict[int, ExposureTruth]
        if isinstance(item, Still):
            table, key = self._still_truth, item.index
        else:
            table, key = self._frame_truth, item.index
        if key not in table:
            raise KeyError(f"no truth kept for {type(item).__name__.lower()} {key}")
        return table[key]

    def judge_still(self, still: Still) -> dict[str, Any]:
        """The truth of a still as a shot record's ``truth`` (give it to `Body(judge=...)`)."""
        return self.truth_of(still).as_dict()

    def true_lens_d(self, t_s: float | None = None) -> float:
        """True optical lens position at `t_s` (default: now)."""
        t = self.clock.now_s() if t_s is None else t_s
        self._apply_pending(max(t, self.clock.now_s()))
        return self.motor.position_d(t)

    def subject_distance_m(self, t_s: float) -> float:
        return self.scene.subject_distance_m(t_s)

    def truth(self, t_s: float, lens_d: float) -> dict[str, object]:
        """What the simulation knows at `t_s` for a true lens position `lens_d`."""
        subject_m = self.subject_distance_m(t_s)
        near_m, far_m = self.optics.depth_of_field_m(lens_d)
        return {
            "subject_distance_m": subject_m,
            "focus_distance_m": math.inf if lens_d <= 0 else 1.0 / lens_d,
            "focus_error_d": self.optics.focus_error_d(subject_m, lens_d),
            "dof_near_m": near_m,
            "dof_far_m": far_m,
            "in_focus": self.optics.in_focus(subject_m, lens_d),
        }

    # --- factory calibration ---------------------------------------------------------------
    def calibration_rig(self) -> CalibrationRig:
        """A camera of this model (preset and preview size) facing a chart, for calibration.

        The chart (a Siemens star half the frame wide on a grey wall, in bright light) stands
        at the middle of the lens range (dioptres).
        """
        spec = self.preset.motor
        chart_d = 0.5 * (spec.min_d + spec.max_d)
        preset, preview_px = self.preset, self.preview_px
        distance_m = 1.0 / chart_d
        mag = self.optics.magnification(distance_m, chart_d)
        frame_w_m = self.optics.sensor_width_mm / 1000.0 / mag

        def make() -> SimCamera:
            chart = parse_scene(
                f"""
name = "pdaf-chart"
light_lux = 3000
[[layers]]
name = "wall"
kind = "background"
texture = "flat:0.5"
width_m = {frame_w_m * 4.0}
distance_m = {distance_m * 1.5}
fill = true
[[layers]]
name = "chart"
kind = "subject"
texture = "{CHART_TEXTURE}"
width_m = {frame_w_m * 0.5}
distance_m = {distance_m}
""",
                source="<pdaf chart>",
            )
            return SimCamera(chart, preset, preview_px=preview_px, seed=7, start_d=chart_d)

        return CalibrationRig(make, chart_d, ("sim", preset, tuple(preview_px)))

    def warm_up(self) -> LadderWarmUp | None:
        """Start building the blur ladders of the whole focus range in the background (a
        camera that keeps real time: `afon serve`, `afon run`); the running or finished
        warm-up (None when frames are not rendered). Idempotent."""
        if not self.render_frames:
            return None
        if self._warm_up is None:
            spec = self.preset.motor
            self._warm_up = LadderWarmUp(
                self.renderer, (spec.min_d, spec.max_d),
                spec.max_speed_d_per_s * self.integration_s, self.clock.now_s())
            self._warm_up.start()
        return self._warm_up

    def close(self) -> None:
        """Stop the ladder warm-up, if running (nothing else to release for a simulation)."""
        if self._warm_up is not None:
            self._warm_up.stop()

    def shot_facts(self, still: Still) -> dict[str, object]:
        """EXIF facts of a still: the preset's lens, the sensor's integration and gain."""
        exposure = self.renderer.exposure(self.timing.still_exposure_s)
        return {
            "make": "afon",
            "model": f"SimCamera {self.preset.name}",
            "focal_length_mm": self.optics.focal_length_mm,
            "f_number": self.optics.f_number,
            "exposure_s": exposure.integration_s,
            "iso": round(100 * exposure.gain),
        }

    def __enter__(self) -> SimCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
