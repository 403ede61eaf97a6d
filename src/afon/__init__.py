"""afon: back-button focus for any camera.

The flat face of the library::

    from afon import Body, open_camera

    with open_camera("sim:portrait") as camera, Body(camera, "bbf") as body:
        body.af_on.press_for(0.5)

`open_camera` takes the camera URLs of the command line (``sim:SCENE``, ``stack:PATH``,
``picamera2:N``, ``v4l2:DEV``, ``gphoto2:[PORT]``). Everything here is imported lazily, so
``import afon`` stays cheap and a hardware backend loads only when its URL is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from afon.body import Body, Button
    from afon.cameras.base import Camera, Frame, Still
    from afon.cameras.sim.camera import SimCamera
    from afon.cameras.stack import StackCamera
    from afon.cameras.url import open_camera
    from afon.clock import RealClock, VirtualClock
    from afon.controls import Control, ControlEvent
    from afon.errors import AfonError, CameraError, ConfigError
    from afon.focus.engine import AfWindow
    from afon.focus.states import AfState
    from afon.profile import Profile, load_profile
    from afon.shots import ShotRecord

_EXPORTS = {
    "Body": "afon.body",
    "Button": "afon.body",
    "Camera": "afon.cameras.base",
    "Frame": "afon.cameras.base",
    "Still": "afon.cameras.base",
    "SimCamera": "afon.cameras.sim.camera",
    "StackCamera": "afon.cameras.stack",
    "open_camera": "afon.cameras.url",
    "RealClock": "afon.clock",
    "VirtualClock": "afon.clock",
    "Control": "afon.controls",
    "ControlEvent": "afon.controls",
    "AfonError": "afon.errors",
    "CameraError": "afon.errors",
    "ConfigError": "afon.errors",
    "AfWindow": "afon.focus.engine",
    "AfState": "afon.focus.states",
    "Profile": "afon.profile",
    "load_profile": "afon.profile",
    "ShotRecord": "afon.shots",
}

__all__ = [
    "AfState",
    "AfWindow",
    "AfonError",
    "Body",
    "Button",
    "Camera",
    "CameraError",
    "ConfigError",
    "Control",
    "ControlEvent",
    "Frame",
    "Profile",
    "RealClock",
    "ShotRecord",
    "SimCamera",
    "StackCamera",
    "Still",
    "VirtualClock",
    "__version__",
    "load_profile",
    "open_camera",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'afon' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
