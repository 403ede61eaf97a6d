"""The camera's own autofocus as a strategy: who focuses, the camera or afon.

A tethered DSLR/mirrorless body (gphoto2) focuses with its own AF; a Camera Module 3 has
libcamera's PDAF; afon keeps the back-button logic (when AF runs, what the shutter does) and
delegates the focusing itself. `af_method` decides who focuses from the user's choice
(``--af`` / the profile's ``af``):

- ``camera``: the camera's own AF (an error where it has none);
- ``afon``: afon's engine drives the lens (an error where afon cannot drive it);
- ``auto`` (default): the camera's own AF where afon cannot drive the lens, or where the camera
  says its own AF is the better one (`prefers_own_af`: a Pi camera with PDAF), else afon's.
 The camera must
offer the optional hardware-AF methods documented in `afon.cameras.gphoto2` and
`afon.cameras.picamera2`: `af_trigger()`, `af_continuous(on)`, `af_cancel()` and `af_state()`
(a Camera2 state name).
"""

from __future__ import annotations

from typing import Any

from afon.cameras.base import Frame
from afon.errors import UsageError
from afon.focus.engine import Acquisition, AfStatus, AfStep, AfWindow

AF_CHOICES = ("auto", "camera", "afon")

_SINGLE = {"FOCUSED_LOCKED": AfStatus.FOCUSED, "NOT_FOCUSED_LOCKED": AfStatus.FAILED}
_SERVO = {
    "PASSIVE_FOCUSED": AfStatus.FOCUSED,
    "FOCUSED_LOCKED": AfStatus.FOCUSED,
    "PASSIVE_UNFOCUSED": AfStatus.FAILED,
    "NOT_FOCUSED_LOCKED": AfStatus.FAILED,
}


def _has_own_af(camera: Any) -> bool:
    caps = camera.capabilities
    return bool(caps.hardware_af and hasattr(camera, "af_trigger") and hasattr(camera, "af_state"))


def af_method(camera: Any, choice: str = "auto") -> str | None:
    """ "camera", "afon", or None (nothing can focus: fixed focus) for `choice`."""
    if choice not in AF_CHOICES:
        raise UsageError(f"unknown AF choice {choice!r} (choices: {', '.join(AF_CHOICES)})")
    caps = camera.capabilities
    own = _has_own_af(camera)
    if choice == "camera":
        if not own:
            raise UsageError(
                "af=camera: this camera has no AF of its own that afon can trigger "
                "(use af=afon or af=auto)"
            )
        return "camera"
    if choice == "afon":
        if not caps.lens_drive:
            raise UsageError(
                "af=afon: afon cannot drive this camera's lens (use af=camera or af=auto)"
            )
        return "afon"
    if own and (not caps.lens_drive or bool(getattr(camera, "prefers_own_af", False))):
        return "camera"
    if caps.lens_drive:
        return "afon"
    return None


def has_hardware_af(camera: Any, choice: str = "auto") -> bool:
    """True when the camera's own AF focuses (see `af_method`)."""
    return af_method(camera, choice) == "camera"


class CameraAf(Acquisition):
    """AF-S by the camera: AF-ON triggers one AF cycle; the result comes from its AF state."""

    name = "camera"
    wants_phase = False

    def __init__(self, camera: Any) -> None:
        self.camera = camera
        self._reset_acquisition()

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._reset_acquisition()
        self.camera.af_trigger()
        return None

    def cancel(self) -> None:
        super().cancel()
        self.camera.af_cancel()

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        status = _SINGLE.get(str(self.camera.af_state()))
        return self._end(status) if status is not None else AfStep(AfStatus.SCANNING)


class CameraServo:
    """AF-C by the camera: continuous AF while AF-ON is held, paused when it is let go."""

    name = "camera"
    wants_phase = False

    def __init__(self, camera: Any) -> None:
        self.camera = camera

    def start(self, lens_d: float, now_s: float) -> float | None:
        self.camera.af_continuous(True)
        return None

    def stop(self) -> None:
        """AF-ON let go: the camera pauses its AF where it is."""
        self.camera.af_continuous(False)

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        return AfStep(_SERVO.get(str(self.camera.af_state()), AfStatus.SCANNING))
