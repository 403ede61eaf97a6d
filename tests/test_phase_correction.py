"""The PDAF correction table: how far from focus the defocus departs from the near-focus line.

`correction_d` is checked against hand computation; `_correction_table` on synthetic wide-sweep
readings; the calibrated table of a simulated camera against its physics (crosstalk makes
far-from-focus disparities read long, so the correction shrinks them).
"""

from __future__ import annotations

import pytest

from afon.cameras.sim.camera import SimCamera
from afon.focus.calibration import _correction_table, calibrate_pdaf
from afon.focus.engine import AfContext
from afon.focus.phase import _defocus, correction_d

TABLE = ((-4.0, 0.6), (-1.0, 0.0), (1.0, 0.0), (3.0, -0.4), (5.0, -1.0))


@pytest.mark.parametrize(
    ("shift_px", "expected_d"),
    [
        (0.0, 0.0),  # inside the line's range
        (-1.0, 0.0),
        (2.0, -0.2),  # half-way from (1, 0) to (3, -0.4)
        (4.0, -0.7),  # half-way from (3, -0.4) to (5, -1.0)
        (6.0, -1.3),  # beyond the last knot: the last segment's slope (-0.3 / px)
        (-2.5, 0.3),  # half-way from (-4, 0.6) to (-1, 0)
        (-7.0, 1.2),  # beyond the first knot: the first segment's slope (-0.2 / px)
    ],
)
def test_correction_interpolates_the_knots_and_extends_the_end_segments(
    shift_px: float, expected_d: float
) -> None:
    assert correction_d(shift_px, TABLE) == pytest.approx(expected_d, abs=1e-12)


def test_no_table_no_correction_and_the_defocus_adds_it() -> None:
    assert correction_d(3.0, ()) == 0.0
    ctx = AfContext(0.0, 12.0, 30.0, 0.4, phase_d_per_px=1.5, phase_offset_d=0.1)
    assert _defocus(3.0, ctx) == pytest.approx(4.6)
    with_table = AfContext(
        0.0, 12.0, 30.0, 0.4, phase_d_per_px=1.5, phase_offset_d=0.1, phase_correction=TABLE
    )
    assert _defocus(3.0, with_table) == pytest.approx(4.6 - 0.4)
    assert _defocus(0.5, with_table) == pytest.approx(0.85)


def test_table_from_wide_readings_is_zero_inside_the_fit_and_drops_a_noisy_step() -> None:
    # line: defocus = 2 d/px * disparity + 0.1; the readings beyond it read long by 10 %/px
    gain, offset = 2.0, 0.1
    wide = [(px, (px * gain + offset) - 0.1 * px * abs(px)) for px in (-5.0, -3.0, 3.0, 5.0)]
    # a noisy step whose defocus is below its inner neighbour's: not monotonic, dropped
    wide.append((4.0, wide[2][1] - 0.5))
    table = _correction_table(wide, gain, offset, (-1.5, 1.5))
    assert table[0] == (-5.0, pytest.approx(2.5))
    assert [k[0] for k in table] == [-5.0, -3.0, -1.5, 1.5, 3.0, 5.0]
    assert [k[1] for k in table] == pytest.approx([2.5, 0.9, 0.0, 0.0, -0.9, -2.5])
    # fewer than one knot beyond the fit range: no table
    assert _correction_table([(0.5, 1.0)], gain, offset, (-1.5, 1.5)) == ()


def test_the_calibrated_table_shrinks_far_disparities() -> None:
    """On the simulated camera, crosstalk makes far disparities read long: the calibrated
    correction has the opposite sign of the disparity and grows with it."""
    cam = SimCamera("portrait", "cm3", preview_px=(480, 360))
    cal = calibrate_pdaf(cam.calibration_rig())
    assert len(cal.correction) >= 6
    far = [k for k in cal.correction if k[1] != 0.0]
    assert all(px * d < 0 for px, d in far)
    pos = sorted(k for k in far if k[0] > 0)
    assert [abs(d) for _, d in pos] == sorted(abs(d) for _, d in pos)
    # about a quarter of the line's defocus at the widest step, a few percent at the first
    px, d = pos[-1]
    assert 0.1 < abs(d) / abs(px * cal.phase_d_per_px) < 0.45
