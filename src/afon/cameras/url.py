"""Open a camera from a URL-like argument: `sim:SCENE`, `stack:PATH`.

Hardware backends (`picamera2:`, `v4l2:`, `gphoto2:`) are named here so users get a clear
answer; they are not part of this build yet.
"""

from __future__ import annotations

from afon.cameras.base import Camera
from afon.clock import Clock
from afon.errors import AfonError

SCHEMES = ("sim", "stack")
PLANNED = ("picamera2", "v4l2", "gphoto2")


def open_camera(
    url: str, *, clock: Clock | None = None, preset: str = "cm3", seed: int = 0
) -> Camera:
    """Open `sim:SCENE` (a built-in scene or a scene TOML) or `stack:PATH` (a focal stack)."""
    scheme, sep, rest = url.partition(":")
    if not sep:
        scheme, rest = "sim", url
    if scheme == "sim":
        from afon.cameras.sim.camera import SimCamera

        return SimCamera(rest or "portrait", preset, clock=clock, seed=seed)
    if scheme == "stack":
        if not rest:
            raise AfonError("stack: needs a folder, e.g. stack:../shared/data/focal-stacks/ring")
        from afon.cameras.stack import StackCamera

        return StackCamera(rest, clock=clock)
    if scheme in PLANNED:
        raise AfonError(
            f"camera backend {scheme!r} is not available in this version of afon "
            f"(available: {', '.join(s + ':' for s in SCHEMES)})"
        )
    raise AfonError(f"unknown camera {url!r} (use sim:SCENE or stack:PATH)")
