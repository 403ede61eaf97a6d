"""The live body draws its phase images only where the AF engine reads them
(`SimCamera.phase_reader`, `afon.focus.footprint.phase_read_region`), and AF does exactly what
it does on whole phase images: same lens commands, same AF states, frame for frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.clock import VirtualClock


def _run(
    scene: str, preset: str, mode: str, out: Path, regioned: bool, af_area: str | None = None
) -> tuple[list[tuple[float, str]], int]:
    camera = SimCamera(scene, preset, clock=VirtualClock(), seed=3)
    body = Body(camera, "bbf", shots_dir=out)
    if af_area is not None:
        body.set_af_area(af_area)
    if not regioned:
        camera.phase_reader = None
    body.set_focus_mode(mode)
    body.af_on.press()
    trace: list[tuple[float, str]] = []
    blank_rows = 0
    for _ in range(45):
        frame = body.step()
        trace.append((camera.lens_position_d(), body.state.value))
        if frame.phase is not None:
            # rows of the phase image drawn black: what the region left out
            blank_rows += int(np.sum(~frame.phase.left.any(axis=1)))
    return trace, blank_rows


@pytest.mark.parametrize(
    ("scene", "preset", "mode"),
    [
        ("portrait", "50mm-f1.8", "AF-C"),
        ("desk", "50mm-f1.8", "AF-S"),
        ("bird", "300mm-f2.8", "AF-C"),
    ],
)
def test_af_on_regioned_phase_images_is_af_on_whole_ones(
    tmp_path: Path, scene: str, preset: str, mode: str
) -> None:
    whole, whole_blank = _run(scene, preset, mode, tmp_path / "whole", regioned=False)
    part, part_blank = _run(scene, preset, mode, tmp_path / "part", regioned=True)
    assert whole_blank == 0
    assert part_blank > 0  # the region did leave rows out (the comparison is not vacuous)
    assert part == whole
    assert len({lens for lens, _ in whole}) > 1  # the lens moved: AF acted on what it read


def test_the_tracking_area_reads_whole_phase_images(tmp_path: Path) -> None:
    # the tracker moves the window after the frame is drawn: nothing may be left out
    _, blank = _run("runner", "cm3", "AF-C", tmp_path, regioned=True, af_area="tracking")
    assert blank == 0
