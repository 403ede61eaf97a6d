"""The camera's own autofocus as a strategy, for bodies whose lens afon cannot drive.

A tethered DSLR/mirrorless body (gphoto2) focuses with its own AF; afon keeps the back-button
logic (when AF runs, what the shutter does) and delegates the focusing itself. The camera must
offer the optional hardware-AF methods documented in `afon.cameras.gphoto2` and
`afon.cameras.picamera2`: `af_trigger()`, `af_continuous(on)`, `af_cancel()` and `af_state()`
(a Camera2 state name).
"""

from __future__ import annotations

from typing import Any

from afon.cameras.base import Frame
from afon.focus.engine import Acquisition, AfStatus, AfStep, AfWindow

_SINGLE = {"FOCUSED_LOCKED": AfStatus.FOCUSED, "NOT_FOCUSED_LOCKED": AfStatus.FAILED}
_SERVO = {
    "PASSIVE_FOCUSED": AfStatus.FOCUSED,
    "FOCUSED_LOCKED": AfStatus.FOCUSED,
    "PASSIVE_UNFOCUSED": AfStatus.FAILED,
    "NOT_FOCUSED_LOCKED": AfStatus.FAILED,
}


def has_hardware_af(camera: Any) -> bool:
    """True for a camera that focuses itself and whose lens afon cannot set."""
    caps = camera.capabilities
    return bool(caps.hardware_af and not caps.lens_drive and hasattr(camera, "af_trigger"))


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
