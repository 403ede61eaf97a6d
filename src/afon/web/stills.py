"""The size of stills a live server renders (shared by `afon serve` and its trainer)."""

from __future__ import annotations

from typing import Any

from afon.errors import UsageError


def limit_stills(camera: Any, still_width: str) -> None:
    """Live shooting renders stills smaller than the sensor so a shot takes ~0.1 s, not 2 s."""
    if still_width == "full" or not hasattr(camera, "still_px"):
        return
    try:
        width = int(still_width)
    except ValueError:
        raise UsageError(
            f"--still-width expects a number of pixels or 'full', got {still_width!r}"
        ) from None
    if not 64 <= width <= 20000:
        raise UsageError(f"--still-width {width}: expected 64–20000 pixels")
    optics = getattr(camera, "optics", None)
    native = getattr(optics, "resolution_px", None)
    if native is None:
        return
    w, h = int(native[0]), int(native[1])
    if width < w:
        camera.still_px = (width, max(1, round(width * h / w)))
