"""The size of stills a live server renders (shared by `afon serve` and its trainer)."""

from __future__ import annotations

from typing import Any

from afon.errors import UsageError


def limit_stills(camera: Any, still_width: str) -> None:
    """Live shooting renders stills smaller than the sensor so a shot takes ~0.1 s, not 2 s;
    and at the live view's aspect, so the still is what the viewfinder framed (a 4:3 preview
    of a 3:2 sensor, as the trainer's drills use, gets 4:3 stills: the same centre crop)."""
    if not hasattr(camera, "still_px"):
        return
    width: int | None = None
    if still_width != "full":
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
    pw, ph = getattr(camera, "preview_px", (w, h))
    # a preview made at the sensor's aspect (`preview_px_for`, rounded to whole rows) is it
    aspect = w / h if round(pw * h / w) == ph else pw / ph
    # the largest crop of the sensor at the preview's aspect (the whole sensor when they match)
    crop_w = w if w / h <= aspect else round(h * aspect)
    if width is None or width >= crop_w:
        width = crop_w
    camera.still_px = (width, max(1, round(width / aspect)))
