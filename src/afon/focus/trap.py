"""Trap focus: release when the subject under the AF point comes into focus.

A custom function of real bodies (Nikon's "focus trap" with AF-ON on the back; Magic Lantern's
trap focus for manual lenses): the shutter button is held, AF is not running, the lens stays
where the photographer left it, and the body fires when what is under the AF point comes into
focus. It is decided from what the camera measures, never from the truth:

- with phase detection (calibrated): the AF window's phase reading says the residual defocus is
  within the focus tolerance (`default_tolerance_d`: half the depth of focus, at most 0.1 D)
  with a confident correlation; this is the body's focus confirm, as on a DSLR's AF sensor;
- without it: the contrast in the AF window has passed its peak (risen by `CONTRAST_RISE` over
  its lowest since the trap was armed, then fallen below `CONTRAST_FALL` of its highest) — the
  only way contrast can tell focus without moving the lens, so it fires one frame after the
  sharpest one, once per peak (a burst needs the subject to come into focus again).

The release lag still applies after the trap springs: a subject moving fast against the depth
of field (a runner on a long lens) is past the focus plane by the exposure. Trap focus is for
subjects that come into focus slowly (macro, a walker, a bird landing on a perch).
"""

from __future__ import annotations

from dataclasses import dataclass

from afon.cameras.base import Frame, luma_of
from afon.focus.engine import AfContext, AfWindow
from afon.focus.measures import tenengrad
from afon.focus.phase import default_tolerance_d, measure_phase

MIN_CONFIDENCE = 0.3
"""Phase readings below this confidence never spring the trap."""
CONTRAST_RISE = 1.5
"""The contrast must have risen to this multiple of its lowest before a peak counts."""
CONTRAST_FALL = 0.97
"""A fall below this share of the highest contrast marks the peak as passed."""


@dataclass(frozen=True)
class TrapReading:
    """What the trap saw in one frame."""

    t_s: float
    frame: int
    kind: str
    """``phase`` or ``contrast``."""
    value: float
    """Phase: the residual defocus (D); contrast: the window's Tenengrad."""
    in_focus: bool


class TrapFocus:
    """The trap's judgement, frame by frame, from the AF window's phase or contrast reading."""

    def __init__(self, ctx: AfContext) -> None:
        self.ctx = ctx
        self.tolerance_d = default_tolerance_d(ctx)
        self._low = float("inf")
        self._high = 0.0
        self.last: TrapReading | None = None

    @property
    def uses_phase(self) -> bool:
        return self.ctx.phase_d_per_px is not None

    def update(self, frame: Frame, window: AfWindow, now_s: float) -> TrapReading:
        """Read `frame`'s AF window; `in_focus` says whether to fire now."""
        if self.uses_phase and frame.phase is not None:
            m = measure_phase(frame.phase, window, self.ctx)
            defocus = m.defocus_d if m.defocus_d is not None else float("inf")
            ok = m.usable and m.confidence >= MIN_CONFIDENCE and abs(defocus) <= self.tolerance_d
            reading = TrapReading(now_s, frame.index, "phase", defocus, ok)
        else:
            height, width = frame.image.shape[:2]
            x, y, w, h = window.to_px(width, height)
            c = tenengrad(luma_of(frame.image[y : y + h, x : x + w]))
            self._low = min(self._low, c)
            self._high = max(self._high, c)
            rose = self._high >= CONTRAST_RISE * max(self._low, 1e-12)
            ok = rose and c < CONTRAST_FALL * self._high
            if ok:  # the peak is used up: the next release needs a new rise and fall
                self._low = self._high = c
            reading = TrapReading(now_s, frame.index, "contrast", c, ok)
        self.last = reading
        return reading
