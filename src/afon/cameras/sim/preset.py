"""Camera presets: optics, lens motor and timing of a simulated camera, kept as TOML data."""

from __future__ import annotations

import math
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
    """Sensor, pipeline and shutter timing."""

    frame_rate_hz: float = 30.0
    exposure_s: float = 1 / 60
    """Exposure budget: the longest integration the auto exposure may use for a frame."""
    readout_s: float = 0.010
    release_lag_s: float = 0.050
    still_exposure_s: float = 1 / 250
    pipeline_latency_s: float = 0.0
    """End of readout to the frame's statistics reaching the AF engine."""
    lens_latency_frames: int = 0
    """Frame boundaries a lens command waits for before it takes effect (0: at once)."""


@dataclass(frozen=True)
class Phase:
    """Phase-detect pixels: present or not, and how far from ideal they are."""

    available: bool = False
    gain_ratio: float = 1.0
    """Disparity per blur diameter as a fraction of the ideal half-pupil 4/(3π)."""
    zero_offset_d: float = 0.0
    """Lens position of zero disparity minus that of best contrast (dioptres)."""


@dataclass(frozen=True)
class CameraPreset:
    """Everything physical about one simulated camera."""

    name: str
    description: str
    optics: Optics
    motor: MotorSpec
    timing: Timing
    phase: Phase

    @property
    def phase_available(self) -> bool:
        return self.phase.available


GRAVITY_M_S2 = 9.81

MAX_PIXELS = 110_000_000
"""Largest sensor a preset may describe (a 102 MP medium-format body fits)."""


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
    optics = _optics(doc.table("optics"))
    motor = _motor(doc.table("motor"), optics)
    t = doc.table("timing", {})
    rate = t.number("frame_rate_hz", 30.0, min=0.1, max=1000.0)
    period = 1.0 / rate
    timing = Timing(
        frame_rate_hz=rate,
        exposure_s=t.number("exposure_s", min(1 / 60, period), min=1e-6, max=period),
        readout_s=t.number("readout_s", min(0.010, period), min=0.0, max=period),
        release_lag_s=t.number("release_lag_s", 0.050, min=0.0, max=2.0),
        still_exposure_s=t.number("still_exposure_s", 1 / 250, min=1e-6, max=30.0),
        pipeline_latency_s=t.number("pipeline_latency_s", 0.0, min=0.0, max=1.0),
        lens_latency_frames=t.integer("lens_latency_frames", 0, min=0, max=10),
    )
    t.finish()
    p = doc.table("phase", {})
    phase = Phase(
        available=p.boolean("available", False),
        gain_ratio=p.number("gain_ratio", 1.0, min=0.05, max=1.0),
        zero_offset_d=p.number("zero_offset_d", 0.0, min=-2.0, max=2.0),
    )
    p.finish()
    doc.finish()
    return CameraPreset(name, description, optics, motor, timing, phase)


def _optics(o: Table) -> Optics:
    w_px, h_px = o.number_pair("resolution_px")
    for v in (w_px, h_px):
        if not math.isfinite(v) or v != int(v) or not 16 <= v <= 20_000:
            raise o.error(
                "resolution_px", f"expected two integers in 16..20000, got {[w_px, h_px]}"
            )
    if w_px * h_px > MAX_PIXELS:
        raise o.error(
            "resolution_px", f"{w_px * h_px / 1e6:.0f} MP is more than {MAX_PIXELS / 1e6:.0f} MP"
        )
    focal_mm = o.number("focal_length_mm", min=0.5, max=2000.0)
    closest_m = o.number("closest_focus_m", min=0.0, min_exclusive=True, max=1000.0)
    if closest_m * 1000.0 <= 4.0 * focal_mm:
        raise o.error(
            "closest_focus_m", "must be longer than four focal lengths (it is measured from the "
            "sensor plane; 1:1 macro is at four focal lengths)"
        )
    focusing = o.string("focusing", "unit", choices=("unit", "internal"))
    max_mag = o.number("max_magnification", 0.0, min=0.0, max=0.99)
    if focusing == "internal" and max_mag <= 0:
        raise o.error("max_magnification", "an internal-focus lens needs the maker's figure (> 0)")
    optics = Optics(
        focal_length_mm=focal_mm,
        f_number=o.number("f_number", min=0.5, max=64.0),
        sensor_width_mm=o.number("sensor_width_mm", min=0.5, max=100.0),
        sensor_height_mm=o.number("sensor_height_mm", min=0.5, max=100.0),
        resolution_px=(int(w_px), int(h_px)),
        closest_focus_m=closest_m,
        coc_mm=o.number("coc_mm", 0.0, min=0.0, max=1.0),
        focusing=focusing,
        max_magnification=max_mag,
    )
    o.finish()
    return optics


def _motor(m: Table, optics: Optics) -> MotorSpec:
    """Motor figures; posture offset and hysteresis are given on the image side (µm) and
    converted to dioptres with the image travel per dioptre, f² (22.5 µm/D at 4.74 mm)."""
    min_d = m.number("min_d", 0.0, min=0.0, max=1000.0)
    max_d = m.number("max_d", optics.max_focus_d, min=0.0, min_exclusive=True, max=1000.0)
    if max_d <= min_d:
        raise m.error("max_d", f"must be greater than min_d ({min_d:g})")
    if max_d > optics.max_focus_d * 1.0001:
        raise m.error("max_d", f"beyond the closest focus ({optics.max_focus_d:.4g} D)")
    span = max_d - min_d
    kind = m.string("kind", choices=MOTOR_KINDS)
    resonance = m.number("resonance_hz", 0.0, min=0.0, max=5000.0)
    if 0 < resonance < 10:
        raise m.error("resonance_hz", f"0 (no resonance) or 10..5000 Hz, got {resonance:g}")
    damping = m.number("damping_ratio", 0.5 if resonance > 0 else 1.0, min=0.0, max=1.0)
    if resonance > 0 and not 0 < damping < 1:
        raise m.error("damping_ratio", "must be in (0, 1) for a resonant (voice-coil) motor")
    backlash = m.number("backlash_d", 0.0, min=0.0, max=span)
    if resonance > 0 and backlash > 0:
        raise m.error("backlash_d", "a resonant (voice-coil) motor has no backlash")
    um_per_d = optics.focal_length_mm**2  # image-side µm per dioptre (f in mm)
    pitch = m.number("posture_pitch_deg", 0.0, min=-90.0, max=90.0)
    sag_um = 0.0
    if resonance > 0:
        # a spring-held lens sags by g/ω² along its axis (pointing down: away from the sensor)
        sag_um = GRAVITY_M_S2 / (2.0 * math.pi * resonance) ** 2 * 1e6
    posture_um = sag_um * math.sin(math.radians(pitch))
    if abs(posture_um / um_per_d) > 0.25 * span:
        raise m.error(
            "posture_pitch_deg",
            f"the lens would sag {posture_um:.3g} µm ({posture_um / um_per_d:.3g} D), more than "
            "a quarter of its travel",
        )
    hysteresis_um = m.number("hysteresis_um", 0.0, min=0.0, max=100.0)
    if hysteresis_um / um_per_d > 0.25 * span:
        raise m.error(
            "hysteresis_um",
            f"{hysteresis_um / um_per_d:.3g} D is more than a quarter of the travel",
        )
    motor = MotorSpec(
        kind=kind,
        min_d=min_d,
        max_d=max_d,
        max_speed_d_per_s=m.number("max_speed_d_per_s", min=1e-3, max=1e5),
        accel_d_per_s2=m.number("accel_d_per_s2", min=1e-3, max=1e8),
        backlash_d=backlash,
        step_d=m.number("step_d", 0.0, min=0.0, max=span),
        settle_s=m.number("settle_s", 0.0, min=0.0, max=2.0),
        position_sensor=m.boolean("position_sensor", False),
        resonance_hz=resonance,
        damping_ratio=damping,
        posture_offset_d=posture_um / um_per_d,
        hysteresis_d=hysteresis_um / um_per_d,
    )
    m.finish()
    return motor
