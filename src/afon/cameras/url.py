"""Open a camera from a URL-like argument.

- ``sim:SCENE`` — the simulated camera (a built-in scene or a scene TOML); a bare name means sim.
- ``stack:PATH`` — a focal stack replayed as a camera.
- ``picamera2:N`` — Raspberry Pi camera N through Picamera2/libcamera (``picamera2:`` = 0).
- ``v4l2:/dev/videoN`` — a UVC webcam (``v4l2:`` = /dev/video0; a ``/dev/v4l/by-id/...`` path
  survives re-plugging).
- ``gphoto2:`` — the first tethered camera libgphoto2 detects; ``gphoto2:PORT`` — the one on
  PORT (e.g. ``gphoto2:usb:001,004``, as `gphoto2 --auto-detect` lists it).

Hardware backends are imported only when asked for. A missing library or device is an
`AfonError` that names what to install or connect.
"""

from __future__ import annotations

from afon.cameras.base import Camera
from afon.clock import Clock, RealClock
from afon.errors import UsageError

SCHEMES = ("sim", "stack", "picamera2", "v4l2", "gphoto2")

URL_FORMS = """camera URLs (--camera):
  sim:SCENE        the simulated camera: a built-in scene (afon scenes) or a scene TOML;
                   a bare name means sim:
  stack:PATH       a focal stack folder replayed as a camera
  picamera2:N      Raspberry Pi camera N through Picamera2/libcamera (picamera2: = 0)
  v4l2:DEV         a UVC webcam: v4l2:/dev/video0, or /dev/v4l/by-id/... (survives re-plugging)
  gphoto2:[PORT]   a tethered camera through libgphoto2: the first found, or PORT
                   (e.g. gphoto2:usb:001,004 as `gphoto2 --auto-detect` lists it)"""
"""The URL forms, as the command line's --help lists them."""


def open_camera(
    url: str, *, clock: Clock | None = None, preset: str = "cm3", seed: int = 0
) -> Camera:
    """Open the camera named by `url` (see the module docstring)."""
    scheme, sep, rest = url.partition(":")
    if not sep:
        scheme, rest = "sim", url
    if scheme == "sim":
        from afon.cameras.sim.camera import SimCamera, preview_px_for

        # live use: the preview at the stills' aspect (the viewfinder shows what is recorded)
        return SimCamera(
            rest or "portrait", preset, clock=clock, seed=seed, preview_px=preview_px_for(preset)
        )
    if scheme == "stack":
        if not rest:
            raise UsageError("stack: needs a folder, e.g. stack:../shared/data/focal-stacks/ring")
        from afon.cameras.stack import StackCamera

        return StackCamera(rest, clock=clock)
    if scheme == "picamera2":
        index_text = rest.strip() or "0"
        try:
            index = int(index_text)
        except ValueError:
            raise UsageError(
                f"picamera2: expects a camera number, e.g. picamera2:0 (got {url!r})"
            ) from None
        from afon.cameras.picamera2 import Picamera2Camera

        return Picamera2Camera(index, clock=clock if clock is not None else RealClock())
    if scheme == "v4l2":
        from afon.cameras.v4l2 import V4l2Camera

        device = rest.strip() or "/dev/video0"
        return V4l2Camera(device, clock=clock if clock is not None else RealClock())
    if scheme == "gphoto2":
        from afon.cameras.gphoto2 import Gphoto2Camera

        port = rest.strip() or None
        return Gphoto2Camera(port, clock=clock if clock is not None else RealClock())
    raise UsageError(
        f"unknown camera {url!r} (use one of: {', '.join(s + ':' for s in SCHEMES)}; "
        "e.g. sim:portrait, picamera2:0, v4l2:/dev/video0, gphoto2:)"
    )
