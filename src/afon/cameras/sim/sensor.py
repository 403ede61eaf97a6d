"""Sensor model: electrons from light, auto exposure, shot and read noise, binning, clipping.

Signal
    A texture value ρ in 0..1 is read as the reflectance of a Lambertian surface under the scene
    illuminance E (lux). The lens puts E_s = E·ρ·T / (4N²) on the sensor (T = lens transmission,
    0.9; N = f-number; cos⁴ fall-off and the close-up factor (1+m)² are ignored). One pixel of
    area a (µm²) integrating for t seconds collects

        e = K · E_s · t · a   electrons (per colour channel),

    with K = 1800 e⁻/(lx·s·µm²): daylight carries ≈1.1·10⁴ photons/(lx·s·µm²) between 400 and
    700 nm (1 lx ≈ 0.0185 µmol m⁻² s⁻¹ of PAR), times a quantum efficiency of 0.5, times 1/3 for
    the colour filter. Full well: 2000 e⁻ per µm² of pixel (≈3900 e⁻ for a 1.4 µm phone pixel,
    ≈72000 e⁻ for a 6 µm full-frame pixel) unless given.

Auto exposure
    Like a camera's AE with an exposure budget (the longest integration the frame rate allows):
    it aims to put white (ρ = 1) at full scale (DN 255) times an exposure compensation. In
    bright light it shortens the integration (gain 1); when the budget is used up it raises the
    analog gain, up to `max_gain` (32, about ISO 3200 on an ISO 100 base); beyond that the frame
    simply gets darker. So low light is dark and noisy but visible.

Noise
    Per pixel, Poisson shot noise (Gaussian with variance = e) and Gaussian read noise σ_r
    (2.5 e⁻). With c = DN per electron = gain·255/full_well, a pixel of mean DN x has
    σ²_DN = c·x + c²·σ_r². A preview pixel averages n sensor pixels (n = 1/scale², the binning of
    the downscale), which divides the variance by n; real preview pipelines bin only partly
    (2×2 in the sensor, a few taps in the ISP scaler), so n is capped at `preview_binning_max`
    (16; None = ideal averaging). Stills average fully. Signals clip at the full well and at the
    8-bit ADC (DN 255).

Phase (dual-pixel) halves
    Each half-photodiode sees half the light through half the pupil: at the same DN scale as
    the full pixel, σ²_DN = (2·c·x + 4·c²·σ_r²)/n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from afon.cameras.sim.optics import Optics

ELECTRONS_PER_LUX_S_UM2 = 1800.0
"""K: electrons per (lux · second · µm²) of sensor-plane illuminance, per colour channel."""

FULL_WELL_E_PER_UM2 = 2000.0
LENS_TRANSMISSION = 0.9


@dataclass(frozen=True)
class Exposure:
    """What the auto exposure chose for one frame."""

    integration_s: float
    gain: float
    electrons_white: float
    """Electrons per sensor pixel for reflectance 1 during the integration (before clipping)."""
    full_well_e: float
    read_noise_e: float

    @property
    def dn_per_e(self) -> float:
        """8-bit DN per electron of one sensor pixel."""
        return self.gain * 255.0 / self.full_well_e

    @property
    def white_dn(self) -> float:
        """DN of reflectance 1 (before ADC clipping): 255 when there is light enough."""
        return self.electrons_white * self.dn_per_e

    @property
    def clip_dn(self) -> float:
        """DN where the signal clips: the full well or the ADC, whichever comes first."""
        return min(255.0, self.full_well_e * self.dn_per_e)


@dataclass(frozen=True)
class SensorModel:
    """Noise and exposure figures of an image sensor (see the module docstring)."""

    read_noise_e: float = 2.5
    full_well_e: float | None = None
    """Full-well capacity; None = 2000 e⁻/µm² × pixel area."""
    max_gain: float = 32.0
    electrons_constant: float = ELECTRONS_PER_LUX_S_UM2
    transmission: float = LENS_TRANSMISSION
    preview_binning_max: float | None = 16.0

    def __post_init__(self) -> None:
        if self.read_noise_e < 0 or self.max_gain < 1 or self.electrons_constant <= 0:
            raise ValueError("read_noise_e must be >= 0, max_gain >= 1, electrons_constant > 0")
        if self.full_well_e is not None and self.full_well_e <= 0:
            raise ValueError("full_well_e must be > 0")

    def full_well(self, optics: Optics) -> float:
        if self.full_well_e is not None:
            return self.full_well_e
        pitch_um = optics.pixel_pitch_mm * 1000.0
        return FULL_WELL_E_PER_UM2 * pitch_um * pitch_um

    def electrons_per_s(self, light_lux: float, optics: Optics) -> float:
        """Electron rate of one sensor pixel looking at reflectance 1 under `light_lux`."""
        pitch_um = optics.pixel_pitch_mm * 1000.0
        e_sensor_lux = light_lux * self.transmission / (4.0 * optics.f_number**2)
        return self.electrons_constant * e_sensor_lux * pitch_um * pitch_um

    def auto_exposure(
        self, light_lux: float, optics: Optics, exposure_s: float, compensation: float = 1.0
    ) -> Exposure:
        """Integration and gain for a frame whose exposure budget is `exposure_s`."""
        if exposure_s <= 0 or compensation <= 0:
            raise ValueError("exposure_s and compensation must be > 0")
        fw = self.full_well(optics)
        rate = self.electrons_per_s(light_lux, optics)
        target_e = fw * compensation  # electrons × gain wanted for white
        t_needed = target_e / rate if rate > 0 else math.inf
        if t_needed <= exposure_s:
            integration, gain = t_needed, 1.0
        else:
            integration = exposure_s
            gain = min(self.max_gain, t_needed / exposure_s)
        return Exposure(integration, gain, rate * integration, fw, self.read_noise_e)

    def binned(self, scale: float, *, preview: bool = True) -> float:
        """Sensor pixels averaged into one output pixel at `scale` output px per sensor px."""
        n = 1.0 / (scale * scale) if scale > 0 else 1.0
        if preview and self.preview_binning_max is not None:
            n = min(n, self.preview_binning_max)
        return max(n, 1.0)

    def sigma_dn(
        self,
        x_dn: npt.NDArray[np.float32],
        exposure: Exposure,
        n_binned: float,
        sub_aperture: float = 1.0,
    ) -> npt.NDArray[np.float32]:
        """Noise σ (DN) of pixels of mean `x_dn` averaged over `n_binned` sensor pixels.

        `sub_aperture` is the fraction of the light each value's photodiode gets (0.5 for one
        half of a dual pixel), at the same DN scale as a full pixel.
        """
        c = exposure.dn_per_e / sub_aperture
        x = np.clip(x_dn, 0.0, exposure.full_well_e * exposure.dn_per_e)
        var = (c * x + (c * c) * exposure.read_noise_e**2) / n_binned
        return np.asarray(np.sqrt(var), dtype=np.float32)

    def sigma_lut(self, exposure: Exposure, n_binned: float) -> npt.NDArray[np.float32]:
        """σ (DN) for each 8-bit reflectance level 0..255 (ρ = level/255), as a 256×1 table."""
        x = np.arange(256, dtype=np.float32) / 255.0 * exposure.white_dn
        return self.sigma_dn(x, exposure, n_binned).reshape(256, 1)
