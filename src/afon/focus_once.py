"""Focus once, then lock: `afon focus` for timelapse and 3D-printer webcams and Pi cameras.

One AF-S acquisition runs on the camera — afon's own engine
(`afon.focus.drive.run_single_shot`) where afon drives the lens (V4L2 absolute focus, sim,
stack, a Pi camera with ``af="afon"``), or the camera's own AF (`af_trigger` / `af_state`, see
`afon.focus.hardware`). With ``lock`` the camera's `lock_focus()` then fixes the lens and saves
it (`afon.cameras.focus_lock`: the saved-lock files); the camera re-applies a saved lock
whenever it is opened (and a V4L2 webcam after a reconnect). `clear_saved_lock` forgets it;
`apply_saved_lock` (``afon focus --apply``) only re-applies it, for cameras another program
streams from (see `afon.cameras.v4l2`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from afon.clock import Clock, VirtualClock
from afon.errors import UsageError

DEFAULT_TIMEOUT_S = 10.0
"""Longest a single acquisition may take before it is reported as failed."""

_SCANNING = ("ACTIVE_SCAN", "PASSIVE_SCAN")


@dataclass(frozen=True)
class FocusResult:
    """What `afon focus` did."""

    camera: str
    action: str
    """"focus", "lock", "clear" or "apply"."""
    method: str | None = None
    """"afon" (afon's engine drove the lens) or "camera" (the camera's own AF); None for clear."""
    state: str | None = None
    """Camera2 AF state name after the acquisition (FOCUSED_LOCKED / NOT_FOCUSED_LOCKED)."""
    lens_d: float | None = None
    locked_d: float | None = None
    locked_value: float | None = None
    """The saved control value (V4L2 focus_absolute, Picamera2 LensPosition)."""
    lock_file: str | None = None
    verified: bool | None = None
    """For "apply": the value read back from the camera matched the saved one."""
    frames: int = 0
    time_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "action": self.action,
            "method": self.method,
            "state": self.state,
            "lens_d": self.lens_d,
            "locked_d": self.locked_d,
            "locked_value": self.locked_value,
            "lock_file": self.lock_file,
            "verified": self.verified,
            "frames": self.frames,
            "time_s": self.time_s,
        }

    def describe(self) -> str:
        if self.action == "clear":
            where = f" ({self.lock_file})" if self.lock_file else ""
            return f"{self.camera}: saved focus lock cleared{where}"
        if self.action == "apply":
            if self.locked_value is None:
                return f"{self.camera}: no saved focus lock to apply ({self.lock_file})"
            check = "read back OK" if self.verified else "NOT confirmed by the read-back"
            return (
                f"{self.camera}: saved focus lock applied (control value "
                f"{self.locked_value:g}, {check}; {self.lock_file})"
            )
        lens = "unknown" if self.lens_d is None else f"{self.lens_d:.3f} D"
        text = f"{self.camera}: AF {self.state} by {self.method} AF; lens at {lens}"
        if self.action == "lock":
            text += "; locked" if self.locked_d is None else f"; locked at {self.locked_d:.3f} D"
            if self.locked_value is not None:
                text += f" (control value {self.locked_value:g})"
            if self.lock_file:
                text += f"; saved to {self.lock_file}"
        elif self.locked_value is not None:
            text += (
                f"; a saved lock (control value {self.locked_value:g}"
                + (f", {self.lock_file}" if self.lock_file else "")
                + ") is re-applied on the next open: --lock to replace it, --clear to remove it"
            )
        return text


def _label(camera: Any, url: str | None) -> str:
    if url:
        return url
    device = getattr(camera, "device", None)
    return f"{type(camera).__name__}({device})" if device else type(camera).__name__


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _lock_file(camera: Any) -> str | None:
    path = getattr(camera, "lock_path", None)
    return str(path) if path is not None else None


def _focus_afon(camera: Any, timeout_s: float) -> tuple[str, int]:
    from afon.focus.context import context_for
    from afon.focus.drive import run_single_shot
    from afon.focus.engine import AfStatus
    from afon.focus.strategies import DEFAULT_SINGLE_SHOT, make_single_shot

    ctx = context_for(camera)
    strategy = make_single_shot(DEFAULT_SINGLE_SHOT, ctx)
    max_frames = max(1, math.ceil(timeout_s * max(ctx.frame_rate_hz, 1.0)))
    result = run_single_shot(camera, strategy, max_frames=max_frames)
    state = "FOCUSED_LOCKED" if result.status is AfStatus.FOCUSED else "NOT_FOCUSED_LOCKED"
    return state, result.frames


def _focus_camera(camera: Any, clock: Clock, timeout_s: float) -> tuple[str, int]:
    state = str(camera.af_trigger())
    deadline = clock.now_s() + timeout_s
    frames = 0
    while state in _SCANNING and clock.now_s() < deadline:
        camera.next_frame()
        frames += 1
        state = str(camera.af_state())
    if state in _SCANNING:
        cancel = getattr(camera, "af_cancel", None)
        if callable(cancel):
            cancel()
        state = "NOT_FOCUSED_LOCKED"
    return state, frames


def focus_once(
    camera: Any,
    *,
    lock: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    url: str | None = None,
    af: str = "auto",
) -> FocusResult:
    """Run one AF-S on an open `camera` (who focuses: `af`, see `afon.focus.hardware`); with
    `lock`, lock the focus where it ended (and save it)."""
    from afon.focus.hardware import af_method

    if timeout_s <= 0:
        raise UsageError(f"--timeout-s must be positive (got {timeout_s})")
    label = _label(camera, url)
    lock_fn = getattr(camera, "lock_focus", None)
    if lock and not callable(lock_fn):
        raise UsageError(
            f"{label}: this camera cannot lock its focus (no lock_focus); "
            "focus locking is offered by v4l2: webcams and picamera2: cameras"
        )
    clock: Clock = camera.clock
    t0 = clock.now_s()
    method = af_method(camera, af)
    if method == "afon":
        state, frames = _focus_afon(camera, timeout_s)
    elif method == "camera":
        state, frames = _focus_camera(camera, clock, timeout_s)
    else:
        raise UsageError(
            f"{label}: cannot focus — the camera has neither a lens afon can drive nor its own "
            "autofocus (a fixed-focus camera?)"
        )
    elapsed = clock.now_s() - t0
    lens_d = _finite(float(camera.lens_position_d()))
    locked_d: float | None = None
    locked_value: float | None = None
    lock_file: str | None = None
    if lock and callable(lock_fn):
        locked_d = _finite(float(lock_fn()))
    raw = getattr(camera, "locked_value", None)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # after --lock the new lock; without, a saved lock that the next open re-applies
        locked_value = raw
        lock_file = _lock_file(camera)
    return FocusResult(
        camera=label,
        action="lock" if lock else "focus",
        method=method,
        state=state,
        lens_d=lens_d,
        locked_d=locked_d,
        locked_value=locked_value,
        lock_file=lock_file,
        frames=frames,
        time_s=round(elapsed, 4),
    )


def clear_saved_lock(camera: Any, *, url: str | None = None) -> FocusResult:
    """Forget the camera's saved focus lock (the lens stays where it is)."""
    label = _label(camera, url)
    clear = getattr(camera, "clear_lock", None)
    if not callable(clear):
        raise UsageError(
            f"{label}: this camera has no saved focus lock to clear (no clear_lock); "
            "focus locking is offered by v4l2: webcams and picamera2: cameras"
        )
    clear()
    return FocusResult(camera=label, action="clear", lock_file=_lock_file(camera))


def apply_saved_lock(
    url: str, *, device_api: Any = None, clock: Clock | None = None
) -> FocusResult:
    """Re-apply the saved lock of a V4L2 webcam *without streaming* (``afon focus --apply``).

    For cameras another program streams from (crowsnest, ustreamer, camera-streamer): V4L2
    controls can be set through a second open of the device while it streams. Continuous AF is
    switched off and the saved focus_absolute written the C920 way (see `afon.cameras.v4l2`),
    then read back; a mismatch is reported (``verified`` False), not hidden.
    """
    scheme, _, rest = url.partition(":")
    if scheme != "v4l2":
        raise UsageError(
            f"--apply is for v4l2: webcams that another program streams from (got {url!r}); "
            "picamera2: and v4l2: cameras re-apply their saved lock whenever afon opens them"
        )
    from afon.cameras.v4l2 import apply_lock

    device = rest.strip() or "/dev/video0"
    value, verified, path = apply_lock(device, device_api=device_api, clock=clock)
    return FocusResult(
        camera=url,
        action="apply",
        locked_value=value,
        lock_file=str(path),
        verified=verified,
    )


def run_focus(
    url: str,
    *,
    lock: bool = False,
    clear: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    preset: str = "cm3",
    seed: int = 0,
    camera: Any = None,
    af: str = "auto",
) -> FocusResult:
    """Open the camera at `url` (or use the already-open `camera`), then focus/lock or clear.

    Simulated cameras (``sim:``, ``stack:`` or a bare scene name) run on a virtual clock,
    hardware on the real one. A camera passed in is left open; one opened here is closed.
    """
    if lock and clear:
        raise UsageError("--lock and --clear are mutually exclusive")
    opened = camera is None
    if camera is None:
        from afon.cameras.url import open_camera

        scheme = url.split(":", 1)[0] if ":" in url else "sim"
        clock = VirtualClock() if scheme in ("sim", "stack") else None
        camera = open_camera(url, clock=clock, preset=preset, seed=seed)
    try:
        if clear:
            return clear_saved_lock(camera, url=url)
        return focus_once(camera, lock=lock, timeout_s=timeout_s, url=url, af=af)
    finally:
        close = getattr(camera, "close", None)
        if opened and callable(close):
            close()
