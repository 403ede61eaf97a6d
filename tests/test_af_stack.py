"""The AF engine on real focal stacks (StackCamera): a centre-window AF-S ends on the sharpest
slice.

Which slice is sharpest in the centre window (libcamera's default AF window: the middle half
of the width, the middle third of the height) was decided before writing these tests, in two
independent ways:

- by five focus measures on the 640×480 previews (`test_the_measures_agree_on_the_answer`
  re-checks it): Tenengrad, Brenner, LAPV, LAPM and normalised variance all peak on the same
  slice — pcb-depthmap 4 (Tenengrad 1.00 vs 0.74 / 0.46 for slices 3 / 5), pcb-macro 4 (1.00
  vs 0.87 / 0.88), ring 1 (1.00 vs 0.97 / 0.90: the closest call);
- by eye on full-resolution crops of the window: pcb-depthmap slice 4 has the button body and
  its dust sharp over most of the window (slice 6 sharpens only the button top, slice 5 is in
  between); pcb-macro slice 4 has the pads and silk-screen text sharp; ring slice 1 has the
  middle row of stones sharper than slice 0 (which is sharp on the front stones only).

The stacks are the downscaled copies (longest side 640 px) in tests/data/focal-stacks, with
their sources and licences in its README.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from afon.cameras.stack import StackCamera
from afon.focus import measures
from afon.focus.context import DiscreteAfContext, context_for
from afon.focus.drive import run_single_shot
from afon.focus.engine import AfStatus, AfWindow
from afon.focus.strategies import make_single_shot

STACKS = Path(__file__).resolve().parent / "data" / "focal-stacks"

SHARPEST = {"pcb-depthmap": 4, "pcb-macro": 4, "ring": 1}
"""Sharpest slice (index from 0) in the default centre window; see the module docstring."""


@functools.cache
def stack(name: str) -> StackCamera:
    folder = STACKS / name
    if not folder.is_dir():
        pytest.fail(f"focal stack {folder} missing from tests/data")
    return StackCamera(folder)


def park(cam: StackCamera, lens_d: float) -> None:
    """Put the lens at `lens_d` and wait until it has settled."""
    cam.move_lens(lens_d)
    while cam.lens_moving():
        cam.clock.sleep_until(cam.clock.now_s() + 0.005)


@pytest.mark.parametrize("name", sorted(SHARPEST))
def test_the_measures_agree_on_the_answer(name: str) -> None:
    cam = stack(name)
    for m in measures.MEASURES:
        values = [
            measures.measure(m, measures.luma_of(cam.slice_image(i)), measures.DEFAULT_WINDOW)
            for i in range(cam.n_slices)
        ]
        assert int(np.argmax(values)) == SHARPEST[name], (m, values)


def test_stack_context_lists_the_slices() -> None:
    cam = stack("pcb-macro")
    ctx = context_for(cam)
    assert isinstance(ctx, DiscreteAfContext)
    assert ctx.phase_d_per_px is None
    assert ctx.positions_d == tuple(cam.slice_position_d(i) for i in range(cam.n_slices))
    assert ctx.depth_of_focus_d == pytest.approx(1.0)  # 7 slices over 0–12 D: 2 D apart


@pytest.mark.parametrize("name", sorted(SHARPEST))
@pytest.mark.parametrize("start_d", [0.0, 5.0, 12.0])
def test_contrast_af_ends_on_the_sharpest_slice(name: str, start_d: float) -> None:
    cam = stack(name)
    park(cam, start_d)
    af = make_single_shot("contrast", context_for(cam))
    res = run_single_shot(cam, af, AfWindow(), max_frames=200)
    assert res.status is AfStatus.FOCUSED
    assert cam.nearest_slice(res.lens_d) == SHARPEST[name]
    assert res.lens_d == pytest.approx(cam.slice_position_d(SHARPEST[name]), abs=1e-6)
    assert res.last_frame is not None and res.last_frame.meta["slice"] == SHARPEST[name]
    assert res.frames <= 30


@pytest.mark.parametrize("name", sorted(SHARPEST))
def test_hybrid_without_phase_falls_back_to_contrast_on_a_stack(name: str) -> None:
    cam = stack(name)
    park(cam, 7.0)
    res = run_single_shot(cam, make_single_shot("hybrid", context_for(cam)), AfWindow())
    assert res.status is AfStatus.FOCUSED
    assert cam.nearest_slice(res.lens_d) == SHARPEST[name]
