"""SimCamera: the physically based simulated camera (afon's default).

Timing follows a real rolling-readout sensor: frame n is exposed from `t0 + n/frame_rate` for
`exposure_s` and becomes available `readout_s` after its exposure ends. The lens keeps moving on
its own motor profile while frames expose, so a frame records the lens positions during its
exposure, a lens that moves during an exposure gives a frame of mixed focus, and a focus
measurement is only available once its frame is read out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from afon.cameras.base import Capabilities, Frame, Image, Still
from afon.cameras.frame_schedule import FrameSchedule
from afon.cameras.sim.motor import LensMotor
from afon.cameras.sim.preset import CameraPreset, load_preset
from afon.cameras.sim.render import Renderer
from afon.cameras.sim.scene import Scene, resolve_scene
from afon.clock import Clock, VirtualClock

_MOVING_SAMPLES = 3
"""Lens positions averaged into a frame exposed while the lens moves."""


class SimCamera:
    """A simulated camera looking at a `Scene` through a preset's optics and motor."""

    deferred_stills = True
    """`capture_still(defer=True)` leaves the rendering to `Still.develop` (the still buffer)."""

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
        self.schedule = FrameSchedule(
            self.clock.now_s(),
            self.timing.frame_rate_hz,
            self.timing.exposure_s,
            self.timing.readout_s,
        )
        self._still_index = 0
        self._still_renderer: Renderer | None = None

    # --- capabilities ----------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        spec = self.preset.motor
        notes = [] if self.preset.phase_available else ["this preset has no phase-detect pixels"]
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
        )

    # --- frames ----------------------------------------------------------------------------
    def next_frame_ready_s(self) -> float:
        """When `next_frame` would return (if called now)."""
        return self.schedule.next_ready_s(self.clock.now_s())

    def next_frame(self, phase: bool = False) -> Frame:
        """Wait until the next frame is read out and return it (late callers drop frames)."""
        n = self.schedule.take(self.clock.now_s())
        self.clock.sleep_until(self.schedule.ready_s(n))
        start_s = self.schedule.exposure_start_s(n)
        end_s = start_s + self.timing.exposure_s
        lens_start = self.motor.position_d(start_s)
        lens_end = self.motor.position_d(end_s)
        moving = self.motor.is_moving(start_s) or self.motor.is_moving(end_s)
        focus = self._focus_samples(start_s, end_s, lens_start, lens_end)
        mid_s = 0.5 * (start_s + end_s)
        image = (
            self.renderer.render(mid_s, focus, exposure_s=self.timing.exposure_s, frame_index=n)
            if self.render_frames
            else self._blank()
        )
        phase_data = None
        if phase and self.preset.phase_available and self.render_frames:
            phase_data = self.renderer.render_phase(
                mid_s, sum(focus) / len(focus), exposure_s=self.timing.exposure_s, frame_index=n
            )
        return Frame(
            index=n,
            image=image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            ready_s=self.schedule.ready_s(n),
            lens_start_d=lens_start,
            lens_end_d=lens_end,
            lens_moving=moving,
            phase=phase_data,
        )

    def _focus_samples(
        self, start_s: float, end_s: float, lens_start: float, lens_end: float
    ) -> list[float]:
        if (
            abs(lens_end - lens_start) < 1e-9
            and abs(self.motor.position_d(0.5 * (start_s + end_s)) - lens_start) < 1e-9
        ):
            return [lens_start]
        times = [
            start_s + (end_s - start_s) * k / (_MOVING_SAMPLES - 1) for k in range(_MOVING_SAMPLES)
        ]
        return [self.motor.position_d(t) for t in times]

    def _blank(self) -> Image:
        return np.zeros((self.preview_px[1], self.preview_px[0], 3), np.uint8)

    # --- lens ------------------------------------------------------------------------------
    def move_lens(self, target_d: float) -> float:
        return self.motor.command(target_d, self.clock.now_s())

    def lens_position_d(self) -> float:
        return self.motor.position_d(self.clock.now_s())

    def lens_moving(self) -> bool:
        return self.motor.is_moving(self.clock.now_s())

    # --- stills ----------------------------------------------------------------------------
    def capture_still(self, release_s: float, render: bool = True, defer: bool = False) -> Still:
        """Release at `release_s`: expose after the release lag, return when exposed. With
        `defer`, the image is rendered later by `Still.develop` (the still buffer's worker)."""
        start_s = max(release_s, self.clock.now_s()) + self.timing.release_lag_s
        end_s = start_s + self.timing.still_exposure_s
        self.clock.sleep_until(end_s)
        self.schedule.black_out_until(end_s)
        lens_start = self.motor.position_d(start_s)
        lens_end = self.motor.position_d(end_s)
        focus = self._focus_samples(start_s, end_s, lens_start, lens_end)
        mid_s = 0.5 * (start_s + end_s)
        image: Image | None = None
        develop: Callable[[], Image] | None = None
        if render:
            index = 1_000_000 + self._still_index
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
                    frame_index=index,
                )

            if defer:
                develop = _develop
            else:
                image = _develop()
        self._still_index += 1
        return Still(
            image=image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            lens_start_d=lens_start,
            lens_end_d=lens_end,
            meta=self.truth(mid_s, sum(focus) / len(focus)),
            develop=develop,
        )

    def _developer(self) -> Renderer:
        if self._still_renderer is None:
            self._still_renderer = Renderer(
                self.scene, self.optics, self.preview_px, seed=self.seed
            )
        return self._still_renderer

    # --- ground truth (for judging shots; never used by the focus engine) -----------------
    def subject_distance_m(self, t_s: float) -> float:
        return self.scene.subject_distance_m(t_s)

    def truth(self, t_s: float, lens_d: float) -> dict[str, object]:
        """What the simulation knows at `t_s`: subject distance, focus error, in-focus verdict."""
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

    def close(self) -> None:
        """Nothing to release for a simulation."""

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
