"""AF-S strategies by name: the registry the body, the CLI and the benchmark choose from.

``SINGLE_SHOT[name](ctx)`` builds a fresh strategy for one acquisition (one AF-ON press):

- ``contrast`` — afon's contrast-detection search (`afon.focus.contrast.ContrastAf`);
- ``phase`` — phase detection: jump and confirm (`afon.focus.phase.PhaseAf`);
- ``hybrid`` — phase to jump, contrast to confirm / fine-tune, contrast search without phase
  (`afon.focus.hybrid.HybridAf`);
- ``libcamera`` — libcamera's Raspberry Pi contrast scan, "normal" speed, as a baseline
  (`afon.focus.libcamera_scan.LibcameraScan`);
- ``libcamera-fast`` — the same with libcamera's "fast" tuning.
"""

from __future__ import annotations

from collections.abc import Callable

from afon.errors import AfonError
from afon.focus.contrast import ContrastAf
from afon.focus.engine import AfContext, SingleShotAf
from afon.focus.hybrid import HybridAf
from afon.focus.libcamera_scan import LibcameraScan, libcamera_fast
from afon.focus.phase import PhaseAf

SINGLE_SHOT: dict[str, Callable[[AfContext], SingleShotAf]] = {
    "contrast": ContrastAf,
    "phase": PhaseAf,
    "hybrid": HybridAf,
    "libcamera": LibcameraScan,
    "libcamera-fast": libcamera_fast,
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
