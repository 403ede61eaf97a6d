"""The focus magnifier's geometry, for every camera: which region of the frame 5× or 10× shows.

A camera that can read that region at its sensor's resolution offers
``magnified(frame, rect, zoom)``, answering the image (the simulated camera:
`afon.cameras.sim.magnify`), or the image and the region it really shows (Picamera2's
ScalerCrop as a frame reports it, Canon's live-view zoom), or None while it cannot (the crop is
not there yet, or this body has no way); ``end_magnify()``, where offered, gives the camera's
stream its whole field back. Otherwise the viewfinder shows `crop_fraction` of the largest
image it gets (`afon.web.runner`).
"""

from __future__ import annotations

from afon.cameras.base import Image


def magnify_rect(cx: float, cy: float, zoom: float) -> tuple[float, float, float, float]:
    """The magnified region (x0, y0, w, h) in frame fractions: 1/zoom of the frame around
    (cx, cy), kept inside the frame."""
    if not zoom >= 1:
        raise ValueError(f"zoom must be >= 1, got {zoom}")
    w = h = 1.0 / zoom
    x0 = min(max(cx - w / 2, 0.0), 1.0 - w)
    y0 = min(max(cy - h / 2, 0.0), 1.0 - h)
    return x0, y0, w, h


def crop_fraction(image: Image, rect: tuple[float, float, float, float]) -> Image:
    """The pixels of `image` inside `rect` (frame fractions), at least 2×2."""
    h, w = image.shape[:2]
    x0, y0, rw, rh = rect
    i0 = min(max(round(x0 * w), 0), w - 2)
    j0 = min(max(round(y0 * h), 0), h - 2)
    i1 = max(min(round((x0 + rw) * w), w), i0 + 2)
    j1 = max(min(round((y0 + rh) * h), h), j0 + 2)
    return image[j0:j1, i0:i1]
