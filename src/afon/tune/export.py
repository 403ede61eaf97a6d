"""Tuned libcamera parameters in libcamera's own tuning format (the ``rpi.af`` algorithm).

libcamera's Raspberry Pi AF reads its tuning in ``Af::CfgParams::read`` and
``Af::SpeedDependentParams::read`` (raspberrypi/libcamera v0.7.1+rpt20260429,
src/ipa/rpi/controller/rpi/af.cpp lines 80–151): ``ranges.{normal,macro,full}.{min,max,default}``
as doubles; ``speeds.{normal,fast}`` with the doubles ``step_coarse``, ``step_fine``,
``contrast_ratio``, ``retrigger_ratio``, ``pdaf_gain``, ``pdaf_squelch``, ``max_slew`` and the
uint32s ``retrigger_delay``, ``pdaf_frames``, ``dropout_frames``, ``step_frames``; the top-level
uint32s ``conf_epsilon``, ``conf_thresh``, ``conf_clip``, ``skip_frames``, the bool
``check_for_ir`` and the piecewise-linear ``map`` (dioptres → lens driver code). A missing key
keeps its compiled-in default with a warning, so the section written here is complete: tuned
keys from the study, the rest from the IMX708's "normal" tuning (src/ipa/rpi/vc4/data/imx708.json).

The ranges and the ``map`` belong to the real lens and its driver, not to the tuning:
`merge_into` keeps the ones in the user's own tuning file and replaces only the tuned keys.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afon.errors import ConfigError
from afon.focus.libcamera_af import IMX708_NORMAL as _IMX708

SPEED_DOUBLES = (
    "step_coarse",
    "step_fine",
    "contrast_ratio",
    "retrigger_ratio",
    "pdaf_gain",
    "pdaf_squelch",
    "max_slew",
)
SPEED_UINTS = ("retrigger_delay", "pdaf_frames", "dropout_frames", "step_frames")
TOP_UINTS = ("conf_epsilon", "conf_thresh", "conf_clip", "skip_frames")
RANGE_DOUBLES = ("min", "max", "default")
"""What af.cpp reads, by type (lines 80–151 of the file named in the module docstring)."""

IMX708_NORMAL: dict[str, float | int] = dataclasses.asdict(_IMX708.speed)
"""The IMX708's "normal" speed (src/ipa/rpi/vc4/data/imx708.json), as the libcamera port
transcribed it (`afon.focus.libcamera_af.IMX708_NORMAL`)."""

IMX708_TOP: dict[str, int | bool] = {
    "conf_epsilon": _IMX708.conf_epsilon,
    "conf_thresh": _IMX708.conf_thresh,
    "conf_clip": _IMX708.conf_clip,
    "skip_frames": _IMX708.skip_frames,
    "check_for_ir": False,
}


def rpi_af_section(
    tuned: Mapping[str, float | int], lens_range_d: tuple[float, float], default_d: float
) -> dict[str, Any]:
    """A complete ``{"rpi.af": {...}}`` algorithm entry for a lens of `lens_range_d` dioptres,
    with `tuned` (values already in that lens's dioptres) over the IMX708's normal speed."""
    speed: dict[str, float | int] = dict(IMX708_NORMAL)
    top: dict[str, Any] = dict(IMX708_TOP)
    for key, value in tuned.items():
        if key in SPEED_UINTS:
            speed[key] = int(value)
        elif key in SPEED_DOUBLES:
            speed[key] = float(value)
        elif key in TOP_UINTS:
            top[key] = int(value)
        else:
            raise ValueError(f"{key!r} is not an rpi.af tuning key")
    lo, hi = lens_range_d
    section = {
        "ranges": {"normal": {"min": float(lo), "max": float(hi), "default": float(default_d)}},
        "speeds": {"normal": speed},
        **top,
    }
    return {"rpi.af": section}


def check_rpi_af(entry: Mapping[str, Any]) -> list[str]:
    """Problems libcamera's parser would have with an ``{"rpi.af": ...}`` entry (empty: none).

    Every key must be one af.cpp reads, of the type it reads it as (a uint32 is a whole number
    0..2³²−1, a double any finite number); keys it would warn about as missing count too.
    """
    problems: list[str] = []
    sec = entry.get("rpi.af")
    if not isinstance(sec, dict):
        return ["no 'rpi.af' object"]

    def want_double(where: str, v: object) -> None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            problems.append(f"{where}: expected a number, got {v!r}")

    def want_uint(where: str, v: object) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32:
            problems.append(f"{where}: expected a whole number 0..2^32-1, got {v!r}")

    known_top = {"ranges", "speeds", "map", "check_for_ir", *TOP_UINTS}
    problems += [f"{k}: not read by af.cpp" for k in sec if k not in known_top]
    ranges = sec.get("ranges", {})
    if "normal" not in ranges:
        problems.append("ranges.normal: missing")
    for rname, r in ranges.items():
        if rname not in ("normal", "macro", "full"):
            problems.append(f"ranges.{rname}: not read by af.cpp")
            continue
        for k in RANGE_DOUBLES:
            if k not in r:
                problems.append(f"ranges.{rname}.{k}: missing")
            else:
                want_double(f"ranges.{rname}.{k}", r[k])
    speeds = sec.get("speeds", {})
    if "normal" not in speeds:
        problems.append("speeds.normal: missing")
    for sname, s in speeds.items():
        if sname not in ("normal", "fast"):
            problems.append(f"speeds.{sname}: not read by af.cpp")
            continue
        for k in s:
            if k not in SPEED_DOUBLES and k not in SPEED_UINTS:
                problems.append(f"speeds.{sname}.{k}: not read by af.cpp")
        for k in SPEED_DOUBLES:
            if k not in s:
                problems.append(f"speeds.{sname}.{k}: missing")
            else:
                want_double(f"speeds.{sname}.{k}", s[k])
        for k in SPEED_UINTS:
            if k not in s:
                problems.append(f"speeds.{sname}.{k}: missing")
            else:
                want_uint(f"speeds.{sname}.{k}", s[k])
    for k in TOP_UINTS:
        if k in sec:
            want_uint(k, sec[k])
    if "check_for_ir" in sec and not isinstance(sec["check_for_ir"], bool):
        problems.append(f"check_for_ir: expected true or false, got {sec['check_for_ir']!r}")
    if "map" in sec:
        m = sec["map"]
        if not isinstance(m, list) or len(m) < 4 or len(m) % 2:
            problems.append("map: expected an even list of numbers [d0, code0, d1, code1, ...]")
    return problems


def merge_into(tuning_file: str | Path, tuned: Mapping[str, float | int]) -> dict[str, Any]:
    """The user's libcamera tuning file with the `tuned` keys of its ``rpi.af`` "normal" speed
    replaced (its ranges, ``map`` and other algorithms kept)."""
    path = Path(tuning_file)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(path, "", f"cannot read a libcamera tuning file: {exc}") from None
    algos = doc.get("algorithms") if isinstance(doc, dict) else None
    if not isinstance(algos, list):
        raise ConfigError(path, "algorithms", "expected a list of algorithms (tuning version 2)")
    out = copy.deepcopy(doc)
    for algo in out["algorithms"]:
        if isinstance(algo, dict) and "rpi.af" in algo:
            normal = algo["rpi.af"].setdefault("speeds", {}).setdefault("normal", {})
            for key, value in tuned.items():
                if key in SPEED_UINTS:
                    normal[key] = int(value)
                elif key in SPEED_DOUBLES:
                    normal[key] = float(value)
                elif key in TOP_UINTS:
                    algo["rpi.af"][key] = int(value)
                else:
                    raise ValueError(f"{key!r} is not an rpi.af tuning key")
            return dict(out)
    raise ConfigError(path, "algorithms", "no rpi.af entry (this sensor has no AF algorithm)")
