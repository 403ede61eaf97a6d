"""A fake UVC webcam implementing afon's `DeviceApi` with the kernel's documented semantics.

Sources: ``ext-ctrls-camera.rst`` and ``uvc_ctrl.c`` as summarised in camera-apis.md §5, and the
cameractrls#93 / crowsnest#96 reports:

- ``focus_absolute``: integer, min/max/step/default (Logitech C920-like 0..250 step 5 by default);
  writes are clamped to the range and rounded to the step, as uvcvideo does.
- the continuous-AF control is ``focus_automatic_continuous`` (Linux >= 5.16) or ``focus_auto``
  (older), boolean, default on. While it is on, ``focus_absolute`` is flagged INACTIVE and a
  write to it fails with EACCES (``refuse_errno``; EBUSY on some drivers).
- while continuous AF is on the camera moves the focus itself (towards `subject_value`, by
  `af_speed` units per frame), and reading ``focus_absolute`` reports where it is.
- `run_once_auto`: the camera switches its "auto" back off after one cycle (The Imaging
  Source's behaviour).
- unplugged: every call fails with ENODEV, opening with ENOENT; a re-plugged camera has
  forgotten its controls (defaults again).
- `stalled`: frames stop; `read_frame` raises TimeoutError once its timeout has passed (on the
  virtual clock — no real waiting).
- `ignore_after_af_off_s` (C920, crowsnest#96): a focus_absolute written sooner than this after
  continuous AF was switched off is accepted but ignored (the camera keeps its value, and a
  read reports that value); `ignore_always` models a camera that never takes it.
- Frames: a texture blurred in proportion to |lens - subject_value|, RGB, buffer timestamps on
  a "monotonic" clock offset from the test's virtual clock (`MONOTONIC_OFFSET_S`). uvcvideo
  stamps the *start of exposure* on CLOCK_MONOTONIC and flags V4L2_BUF_FLAG_TSTAMP_SRC_SOE |
  TIMESTAMP_MONOTONIC (``uvc_queue.c``); `timestamp_flags` may say EOF instead, and the stamp
  then marks the end. A frame arrives `transfer_s` after its exposure ended.
"""

from __future__ import annotations

import errno

import cv2
import numpy as np

from afon.cameras.v4l2 import TIMESTAMP_MONOTONIC, TSTAMP_SRC_SOE, ControlInfo, RawFrame
from afon.clock import VirtualClock

MONOTONIC_OFFSET_S = 5000.0
"""The fake's CLOCK_MONOTONIC reads the virtual clock plus this."""


class FakeUvcDevice:
    def __init__(
        self,
        clock: VirtualClock,
        *,
        path: str = "/dev/video0",
        auto_name: str | None = "focus_automatic_continuous",
        focus_range: tuple[int, int, int] | None = (0, 250, 5),
        default_value: int = 0,
        subject_value: int = 120,
        af_speed: int = 10,
        lens_speed: int = 60,
        fps: float = 30.0,
        refuse_errno: int = errno.EACCES,
        run_once_auto: bool = False,
        device_id: str = "usb-Fake_Webcam_C920_1234-video-index0",
        ignore_after_af_off_s: float = 0.0,
        ignore_always: bool = False,
        timestamp_flags: int = TSTAMP_SRC_SOE | TIMESTAMP_MONOTONIC,
        transfer_s: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.ignore_after_af_off_s = ignore_after_af_off_s
        self.ignore_always = ignore_always
        self.timestamp_flags = timestamp_flags
        self.transfer_s = transfer_s
        self.af_off_s: float | None = None
        self.ignored: list[int] = []
        self.clock = clock
        self.path = path
        self.auto_name = auto_name
        self.focus_range = focus_range
        self.default_value = default_value
        self.subject_value = subject_value
        self.af_speed = af_speed
        self.lens_speed = lens_speed
        self.period = 1.0 / fps
        self.refuse_errno = refuse_errno
        self.run_once_auto = run_once_auto
        self._device_id = device_id
        self.plugged = True
        self.opened = False
        self.stalled = False
        self.streaming = False
        self.open_attempts = 0
        self.replug_after_attempts: int | None = None
        self.refused: list[tuple[str, int]] = []
        self.writes: list[tuple[str, int]] = []
        self.size = (160, 120)
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, 1.0, (120, 160)).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=1.6)
        smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6)
        self._texture = np.clip(128 + 60 * smooth, 0, 255).astype(np.uint8)
        self._reset()
        self._next_t = clock.now_s() + self.period
        self.sequence = 0

    def _reset(self) -> None:
        """Power-on defaults (a webcam forgets its controls when unplugged)."""
        self.values: dict[str, int] = {}
        if self.focus_range is not None:
            self.values["focus_absolute"] = self.default_value
        if self.auto_name is not None:
            self.values[self.auto_name] = 1
        self.lens = float(self.default_value)
        self._af_done = False

    # --- plugging --------------------------------------------------------------------------
    def unplug(self) -> None:
        self.plugged = False
        self.opened = False
        self.streaming = False

    def replug(self) -> None:
        self.plugged = True
        self._reset()

    def _gone(self) -> None:
        if not self.plugged or not self.opened:
            raise OSError(errno.ENODEV, "No such device")

    # --- DeviceApi -------------------------------------------------------------------------
    def open(self) -> None:
        self.open_attempts += 1
        if (
            not self.plugged
            and self.replug_after_attempts is not None
            and self.open_attempts >= self.replug_after_attempts
        ):
            self.replug()
        if not self.plugged:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.path)
        self.opened = True

    def close(self) -> None:
        self.opened = False
        self.streaming = False

    def device_id(self) -> str:
        self._gone()
        return self._device_id

    def _auto(self) -> bool:
        return self.auto_name is not None and bool(self.values.get(self.auto_name, 0))

    def controls(self) -> dict[str, ControlInfo]:
        self._gone()
        out: dict[str, ControlInfo] = {}
        if self.focus_range is not None:
            lo, hi, step = self.focus_range
            out["focus_absolute"] = ControlInfo(
                "focus_absolute", lo, hi, step, self.default_value, inactive=self._auto()
            )
        if self.auto_name is not None:
            out[self.auto_name] = ControlInfo(self.auto_name, 0, 1, 1, 1)
        out["brightness"] = ControlInfo("brightness", 0, 255, 1, 128)
        return out

    def get_control(self, name: str) -> int:
        self._gone()
        if name not in self.values:
            raise OSError(errno.EINVAL, "Invalid argument")
        return self.values[name]

    def set_control(self, name: str, value: int) -> None:
        self._gone()
        if name not in self.values:
            raise OSError(errno.EINVAL, "Invalid argument")
        if name == "focus_absolute":
            if self._auto():
                self.refused.append((name, value))
                raise OSError(self.refuse_errno, "Permission denied")
            assert self.focus_range is not None
            lo, hi, step = self.focus_range
            value = min(max(lo + round((value - lo) / step) * step, lo), hi)
            recent = (
                self.af_off_s is not None
                and self.clock.now_s() - self.af_off_s < self.ignore_after_af_off_s
            )
            if recent or self.ignore_always:
                self.ignored.append(value)  # accepted, not applied (no error: silent)
                return
        else:
            value = 1 if value else 0
            if name == self.auto_name and value:
                self._af_done = False
            if name == self.auto_name and not value and self.values.get(name):
                self.af_off_s = self.clock.now_s()
        self.writes.append((name, value))
        self.values[name] = value

    def start_stream(self, size: tuple[int, int], fps: float) -> tuple[int, int]:
        self._gone()
        self.streaming = True
        return self.size

    def read_frame(self, timeout_s: float) -> RawFrame:
        self._gone()
        if self.stalled:
            self.clock.sleep_until(self.clock.now_s() + timeout_s)
            raise TimeoutError(f"{self.path}: no frame within {timeout_s:g} s")
        self.clock.sleep_until(self._next_t)
        now = self.clock.now_s()
        self._next_t = now + self.period
        self._step_camera()
        self.sequence += 1
        # the exposure ran for one frame period and ended `transfer_s` (readout + USB) before
        # the frame arrived; uvcvideo stamps its start
        end = now - self.transfer_s
        soe = self.timestamp_flags & 0x70000 == TSTAMP_SRC_SOE
        stamp = (end - self.period if soe else end) + MONOTONIC_OFFSET_S
        return RawFrame(self._render(), stamp, self.sequence, self.timestamp_flags)

    # --- the camera's own behaviour --------------------------------------------------------
    def _step_camera(self) -> None:
        if self.focus_range is None:
            return
        if self._auto():
            value = self.values["focus_absolute"]
            goal = self.subject_value
            if value != goal:
                delta = max(-self.af_speed, min(self.af_speed, goal - value))
                self.values["focus_absolute"] = value + delta
            elif self.run_once_auto and self.auto_name is not None:
                self.values[self.auto_name] = 0  # run-once: switches itself back off
        target = float(self.values["focus_absolute"])
        step = target - self.lens
        self.lens = (
            target
            if abs(step) <= self.lens_speed
            else self.lens + np.sign(step) * (self.lens_speed)
        )

    def _render(self) -> np.ndarray:
        if self.focus_range is None:
            sigma = 1.0
        else:
            lo, hi, _ = self.focus_range
            sigma = 0.3 + 6.0 * abs(self.lens - self.subject_value) / (hi - lo)
        blurred = cv2.GaussianBlur(self._texture, (0, 0), sigmaX=sigma)
        return np.dstack([blurred, blurred, blurred])
