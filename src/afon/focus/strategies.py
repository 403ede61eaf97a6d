"""AF-S strategies by name: the registry the body, the CLI and the benchmark choose from.

``SINGLE_SHOT[name](ctx)`` builds a fresh strategy for one acquisition (one AF-ON press):

- ``contrast`` — afon's contrast-detection search (`afon.focus.contrast.ContrastAf`);
- ``phase`` — phase detection: jump and confirm (`afon.focus.phase.PhaseAf`);
- ``hybrid`` — phase to jump, contrast to confirm / fine-tune, contrast search without phase
  (`afon.focus.hybrid.HybridAf`);
- ``libcamera`` — libcamera's Raspberry Pi AF as it runs on this camera, "normal" speed: PDAF
  with the contrast scan as fall-back on a camera with phase detection, the contrast scan alone
  otherwise (`afon.focus.libcamera_af`);
- ``libcamera_pdaf`` / ``libcamera_cdaf`` — the PDAF path / the contrast-only variant by name;
- ``libcamera-fast`` — libcamera's "fast" tuning.
"""

from __future__ import annotations

from collections.abc import Callable

from afon.errors import AfonError
from afon.focus.contrast import ContrastAf
from afon.focus.engine import AfContext, SingleShotAf
from afon.focus.hybrid import HybridAf
from afon.focus.libcamera_af import (
    IMX708_FAST,
    LibcameraAf,
    libcamera_af,
    libcamera_cdaf,
    libcamera_pdaf,
)
from afon.focus.phase import PhaseAf

SINGLE_SHOT: dict[str, Callable[[AfContext], SingleShotAf]] = {
    "contrast": ContrastAf,
    "phase": PhaseAf,
    "hybrid": HybridAf,
    "libcamera": libcamera_af,
    "libcamera_pdaf": libcamera_pdaf,
    "libcamera_cdaf": libcamera_cdaf,
    "libcamera-fast": lambda ctx: LibcameraAf(ctx, IMX708_FAST, name="libcamera-fast"),
}
"""AF-S strategy factories by name."""

DEFAULT_SINGLE_SHOT = "hybrid"
"""The strategy the body uses unless told otherwise (falls back to contrast without phase)."""


def make_single_shot(name: str, ctx: AfContext) -> SingleShotAf:
    """A new AF-S strategy called `name` for a camera described by `ctx`."""
    try:
        factory = SINGLE_SHOT[name]
    except KeyError:
        known = ", ".join(sorted(SINGLE_SHOT))
        raise AfonError(f"unknown AF-S strategy {name!r}; known: {known}") from None
    return factory(ctx)
