"""PDAF calibration of every built-in preset: calibrated against ideal gain, and the offset.

For each preset, `afon.focus.calibration.calibrate_pdaf` sweeps the lens over the chart of
`SimCamera.calibration_rig()` (the routine the AF context uses). Printed per preset, as JSON:
the calibrated gain (dioptres per preview pixel of disparity), the ideal half-pupil gain
1 / (4/(3π) × blur px per dioptre), their ratio beside the preset's `gain_ratio`, the
calibrated phase-zero offset beside the preset's (in dioptres and depth-of-focus units), the
fit's residual and the wall time of the sweep.

    python benchmarks/pdaf_calibration.py [--width 640 --height 480]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.preset import builtin_preset_names
from afon.focus.calibration import calibrate_pdaf


def ideal_gain_d_per_px(cam: SimCamera) -> float:
    o = cam.optics
    f_mm = o.effective_focal_length_mm(0.0)
    blur_mm_per_d = (o.aperture_mm * f_mm) / 1000.0
    blur_px_per_d = blur_mm_per_d / o.pixel_pitch_mm * o.preview_scale(cam.preview_px)
    return float(1.0 / (4.0 / (3.0 * math.pi) * blur_px_per_d))


def run(preset: str, preview_px: tuple[int, int]) -> dict[str, Any]:
    cam = SimCamera("portrait", preset, preview_px=preview_px)
    t0 = time.perf_counter()
    cal = calibrate_pdaf(cam.calibration_rig())
    wall_s = time.perf_counter() - t0
    ideal = ideal_gain_d_per_px(cam)
    dof = cam.capabilities.depth_of_focus_d or 1.0
    phase = cam.preset.phase
    return {
        "preset": preset,
        "calibrated_gain_d_per_px": round(cal.phase_d_per_px, 6),
        "ideal_gain_d_per_px": round(ideal, 6),
        "disparity_ratio_measured": round(ideal / cal.phase_d_per_px, 3),
        "disparity_ratio_preset": phase.gain_ratio,
        "offset_d_measured": round(cal.phase_offset_d, 6),
        "offset_d_preset": -phase.zero_offset_d,
        "offset_dof_measured": round(cal.phase_offset_d / dof, 3),
        "offset_dof_preset": round(-phase.zero_offset_d / dof, 3),
        "fit_steps": cal.steps,
        "rms_residual_px": round(cal.rms_residual_px, 4),
        "wall_s": round(wall_s, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    args = ap.parse_args()
    px = (args.width, args.height)
    rows = [run(name, px) for name in builtin_preset_names()]
    print(json.dumps({"preview_px": list(px), "load": os.getloadavg()[0], "presets": rows},
                     indent=1))


if __name__ == "__main__":
    main()
