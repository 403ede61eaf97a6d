"""Camera presets: optics, lens motor and timing of a simulated camera, kept as TOML data."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from afon.cameras.sim.motor import MotorSpec
from afon.cameras.sim.optics import Optics
from afon.config import Table, load_toml, parse_toml
from afon.errors import ConfigError

MOTOR_KINDS = ("vcm", "stepper", "ring-usm", "dc")


@dataclass(frozen=True)
class Timing:
    """Sensor and shutter timing."""

    frame_rate_hz: float = 30.0
    exposure_s: float = 1 / 60
    readout_s: float = 0.010
    release_lag_s: float = 0.050
    still_exposure_s: float = 1 / 250


@dataclass(frozen=True)
class CameraPreset:
    """Everything physical about one simulated camera."""

    name: str
    description: str
    optics: Optics
    motor: MotorSpec
    timing: Timing
    phase_available: bool


def builtin_preset_names() -> list[str]:
    """Names of the presets shipped with afon."""
    folder = resources.files("afon.cameras.sim") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str | Path) -> CameraPreset:
    """Load a built-in preset by name, or a preset TOML file by path."""
    text = str(name_or_path)
    if text in builtin_preset_names():
        res = resources.files("afon.cameras.sim") / "presets" / f"{text}.toml"
        return _parse(parse_toml(res.read_text(encoding="utf-8"), f"preset {text}"))
    path = Path(text)
    if path.suffix == ".toml" or path.exists():
        return _parse(load_toml(path))
    known = ", ".join(builtin_preset_names())
    raise ConfigError(text, "", f"no such camera preset (built-in presets: {known})")


def _parse(doc: Table) -> CameraPreset:
    name = doc.string("name")
    description = doc.string("description", "")
    o = doc.table("optics")
    w_px, h_px = o.number_pair("resolution_px")
    if w_px < 1 or h_px < 1 or w_px != int(w_px) or h_px != int(h_px):
        raise o.error("resolution_px", f"expected two positive integers, got {[w_px, h_px]}")
    focal_mm = o.number("focal_length_mm", min=0.0, min_exclusive=True)
    closest_m = o.number("closest_focus_m", min=0.0, min_exclusive=True)
    if closest_m * 1000.0 <= focal_mm:
        raise o.error("closest_focus_m", "must be longer than the focal length")
    optics = Optics(
        focal_length_mm=focal_mm,
        f_number=o.number("f_number", min=0.5),
        sensor_width_mm=o.number("sensor_width_mm", min=0.0, min_exclusive=True),
        sensor_height_mm=o.number("sensor_height_mm", min=0.0, min_exclusive=True),
        resolution_px=(int(w_px), int(h_px)),
        closest_focus_m=closest_m,
        coc_mm=o.number("coc_mm", 0.0, min=0.0),
    )
    o.finish()
    m = doc.table("motor")
    min_d = m.number("min_d", 0.0, min=0.0)
    max_d = m.number("max_d", optics.max_focus_d, min=0.0, min_exclusive=True)
    if max_d <= min_d:
        raise m.error("max_d", f"must be greater than min_d ({min_d:g})")
    if max_d > optics.max_focus_d * 1.0001:
        raise m.error("max_d", f"beyond the closest focus ({optics.max_focus_d:.4g} D)")
    motor = MotorSpec(
        kind=m.string("kind", choices=MOTOR_KINDS),
        min_d=min_d,
        max_d=max_d,
        max_speed_d_per_s=m.number("max_speed_d_per_s", min=0.0, min_exclusive=True),
        accel_d_per_s2=m.number("accel_d_per_s2", min=0.0, min_exclusive=True),
        backlash_d=m.number("backlash_d", 0.0, min=0.0),
        step_d=m.number("step_d", 0.0, min=0.0),
        settle_s=m.number("settle_s", 0.0, min=0.0),
    )
    m.finish()
    t = doc.table("timing", {})
    rate = t.number("frame_rate_hz", 30.0, min=0.1, max=1000.0)
    timing = Timing(
        frame_rate_hz=rate,
        exposure_s=t.number("exposure_s", 1 / 60, min=1e-6, max=1.0 / rate),
        readout_s=t.number("readout_s", 0.010, min=0.0, max=1.0),
        release_lag_s=t.number("release_lag_s", 0.050, min=0.0, max=2.0),
        still_exposure_s=t.number("still_exposure_s", 1 / 250, min=1e-6, max=30.0),
    )
    t.finish()
    p = doc.table("phase", {})
    phase_available = p.boolean("available", False)
    p.finish()
    doc.finish()
    return CameraPreset(name, description, optics, motor, timing, phase_available)
