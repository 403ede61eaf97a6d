"""Camera presets: optics, lens motor and timing of a simulated camera, kept as TOML data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from afon.cameras.sim.motor import MotorSpec
from afon.cameras.sim.optics import Optics
from afon.config import FieldProblem, NumberPair, TomlDoc, UserModel, load_toml, parse_toml
from afon.errors import ConfigError

MotorKind = Literal["vcm", "stepper", "ring-usm", "dc"]
MOTOR_KINDS: tuple[str, ...] = get_args(MotorKind)


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


# --- the file, field by field ----------------------------------------------------------------


class OpticsFile(UserModel):
    """The ``[optics]`` table."""

    resolution_px: NumberPair
    focal_length_mm: float = Field(ge=0.5, le=2000.0)
    f_number: float = Field(ge=0.5, le=64.0)
    sensor_width_mm: float = Field(ge=0.5, le=100.0)
    sensor_height_mm: float = Field(ge=0.5, le=100.0)
    closest_focus_m: float = Field(gt=0.0, le=1000.0)
    coc_mm: float = Field(0.0, ge=0.0, le=1.0)
    focusing: Literal["unit", "internal"] = "unit"
    max_magnification: float = Field(0.0, ge=0.0, le=0.99)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        w_px, h_px = self.resolution_px
        for v in (w_px, h_px):
            if v != int(v) or not 16 <= v <= 20_000:
                raise FieldProblem(
                    "resolution_px", f"expected two integers in 16..20000, got {[w_px, h_px]}"
                )
        if w_px * h_px > MAX_PIXELS:
            raise FieldProblem(
                "resolution_px",
                f"{w_px * h_px / 1e6:.0f} MP is more than {MAX_PIXELS / 1e6:.0f} MP",
            )
        if self.closest_focus_m * 1000.0 <= 4.0 * self.focal_length_mm:
            raise FieldProblem(
                "closest_focus_m",
                "must be longer than four focal lengths (it is measured from the sensor plane; "
                "1:1 macro is at four focal lengths)",
            )
        if self.focusing == "internal" and self.max_magnification <= 0:
            raise FieldProblem(
                "max_magnification", "an internal-focus lens needs the maker's figure (> 0)"
            )
        return self

    def optics(self) -> Optics:
        w_px, h_px = self.resolution_px
        return Optics(
            focal_length_mm=self.focal_length_mm,
            f_number=self.f_number,
            sensor_width_mm=self.sensor_width_mm,
            sensor_height_mm=self.sensor_height_mm,
            resolution_px=(int(w_px), int(h_px)),
            closest_focus_m=self.closest_focus_m,
            coc_mm=self.coc_mm,
            focusing=self.focusing,
            max_magnification=self.max_magnification,
        )


class MotorFile(UserModel):
    """The ``[motor]`` table; the limits that depend on the optics are checked by `_motor`."""

    kind: MotorKind
    max_speed_d_per_s: float = Field(ge=1e-3, le=1e5)
    accel_d_per_s2: float = Field(ge=1e-3, le=1e8)
    min_d: float = Field(0.0, ge=0.0, le=1000.0)
    max_d: float | None = Field(None, gt=0.0, le=1000.0)
    resonance_hz: float = Field(0.0, ge=0.0, le=5000.0)
    damping_ratio: float | None = Field(None, ge=0.0, le=1.0)
    backlash_d: float = Field(0.0, ge=0.0)
    step_d: float = Field(0.0, ge=0.0)
    settle_s: float = Field(0.0, ge=0.0, le=2.0)
    position_sensor: bool = False
    posture_pitch_deg: float = Field(0.0, ge=-90.0, le=90.0)
    hysteresis_um: float = Field(0.0, ge=0.0, le=100.0)


class TimingFile(UserModel):
    """The ``[timing]`` table (optional; each field has a default)."""

    frame_rate_hz: float = Field(30.0, ge=0.1, le=1000.0)
    exposure_s: float | None = Field(None, ge=1e-6)
    readout_s: float | None = Field(None, ge=0.0)
    release_lag_s: float = Field(0.050, ge=0.0, le=2.0)
    still_exposure_s: float = Field(1 / 250, ge=1e-6, le=30.0)
    pipeline_latency_s: float = Field(0.0, ge=0.0, le=1.0)
    lens_latency_frames: int = Field(0, ge=0, le=10)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        period = 1.0 / self.frame_rate_hz
        for key in ("exposure_s", "readout_s"):
            value = getattr(self, key)
            if value is not None and value > period:
                raise FieldProblem(key, f"must be <= {period:g}, got {value:g}")
        return self

    def timing(self) -> Timing:
        period = 1.0 / self.frame_rate_hz
        return Timing(
            frame_rate_hz=self.frame_rate_hz,
            exposure_s=min(1 / 60, period) if self.exposure_s is None else self.exposure_s,
            readout_s=min(0.010, period) if self.readout_s is None else self.readout_s,
            release_lag_s=self.release_lag_s,
            still_exposure_s=self.still_exposure_s,
            pipeline_latency_s=self.pipeline_latency_s,
            lens_latency_frames=self.lens_latency_frames,
        )


class PhaseFile(UserModel):
    """The ``[phase]`` table (optional)."""

    available: bool = False
    gain_ratio: float = Field(1.0, ge=0.05, le=1.0)
    zero_offset_d: float = Field(0.0, ge=-2.0, le=2.0)


class PresetFile(UserModel):
    """A camera preset TOML file."""

    name: str
    description: str = ""
    optics: OpticsFile
    motor: MotorFile
    timing: TimingFile = TimingFile.model_validate({})
    phase: PhaseFile = PhaseFile.model_validate({})


def _parse(doc: TomlDoc) -> CameraPreset:
    f = doc.validate(PresetFile)
    optics = f.optics.optics()
    motor = _motor(f.motor, optics, doc.source)
    phase = Phase(f.phase.available, f.phase.gain_ratio, f.phase.zero_offset_d)
    return CameraPreset(f.name, f.description, optics, motor, f.timing.timing(), phase)


def _motor(m: MotorFile, optics: Optics, source: str) -> MotorSpec:
    """Motor figures checked against the optics; posture offset and hysteresis are given on the
    image side (µm) and converted to dioptres with the image travel per dioptre, f² (22.5 µm/D
    at 4.74 mm)."""

    def error(key: str, problem: str) -> ConfigError:
        return ConfigError(source, f"motor.{key}", problem)

    min_d = m.min_d
    max_d = optics.max_focus_d if m.max_d is None else m.max_d
    if max_d <= min_d:
        raise error("max_d", f"must be greater than min_d ({min_d:g})")
    if max_d > optics.max_focus_d * 1.0001:
        raise error("max_d", f"beyond the closest focus ({optics.max_focus_d:.4g} D)")
    span = max_d - min_d
    resonance = m.resonance_hz
    if 0 < resonance < 10:
        raise error("resonance_hz", f"0 (no resonance) or 10..5000 Hz, got {resonance:g}")
    damping = (0.5 if resonance > 0 else 1.0) if m.damping_ratio is None else m.damping_ratio
    if resonance > 0 and not 0 < damping < 1:
        raise error("damping_ratio", "must be in (0, 1) for a resonant (voice-coil) motor")
    for key in ("backlash_d", "step_d"):
        value = getattr(m, key)
        if value > span:
            raise error(key, f"must be <= {span:g}, got {value:g}")
    if resonance > 0 and m.backlash_d > 0:
        raise error("backlash_d", "a resonant (voice-coil) motor has no backlash")
    um_per_d = optics.focal_length_mm**2  # image-side µm per dioptre (f in mm)
    sag_um = 0.0
    if resonance > 0:
        # a spring-held lens sags by g/ω² along its axis (pointing down: away from the sensor)
        sag_um = GRAVITY_M_S2 / (2.0 * math.pi * resonance) ** 2 * 1e6
    posture_um = sag_um * math.sin(math.radians(m.posture_pitch_deg))
    if abs(posture_um / um_per_d) > 0.25 * span:
        raise error(
            "posture_pitch_deg",
            f"the lens would sag {posture_um:.3g} µm ({posture_um / um_per_d:.3g} D), more than "
            "a quarter of its travel",
        )
    if m.hysteresis_um / um_per_d > 0.25 * span:
        raise error(
            "hysteresis_um",
            f"{m.hysteresis_um / um_per_d:.3g} D is more than a quarter of the travel",
        )
    return MotorSpec(
        kind=m.kind,
        min_d=min_d,
        max_d=max_d,
        max_speed_d_per_s=m.max_speed_d_per_s,
        accel_d_per_s2=m.accel_d_per_s2,
        backlash_d=m.backlash_d,
        step_d=m.step_d,
        settle_s=m.settle_s,
        position_sensor=m.position_sensor,
        resonance_hz=resonance,
        damping_ratio=damping,
        posture_offset_d=posture_um / um_per_d,
        hysteresis_d=m.hysteresis_um / um_per_d,
    )
