"""Thin-lens optics: blur circles, magnification and depth of field.

All functions are pure. Focus positions are in dioptres (1/m of the focused object distance,
0 = infinity); lengths on the sensor are in millimetres; subject distances in metres, measured
from the lens (thin-lens object distance). Only `closest_focus_m` is measured from the sensor
(focal) plane, as makers specify it.

Two ways of focusing:

- ``unit``: the whole lens moves away from the sensor (thin lens of fixed focal length f at
  image distance v = f·u/(u − f)); the image grows as the lens racks out (focus breathing
  with magnification v/u).
- ``internal``: an inner group moves and the effective focal length shortens as the lens
  focuses closer (internal-focus telephotos), with the image distance held at f. The effective
  focal length at closest focus follows from the maker's `max_magnification` at
  `closest_focus_m`: u + v = closest, v = m·u ⇒ f_close = closest·m / (1 + m)²; in between it
  is interpolated linearly in dioptres. The image shrinks as the lens focuses closer
  (magnification f_eff(D) / (u − f)), the blur is A·f·(S − D) for a subject at S dioptres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Optics:
    """A lens on a sensor.

    `resolution_px` is the full sensor resolution (width, height). `coc_mm` is the circle of
    confusion used to decide whether something is in focus; by convention the sensor diagonal
    divided by 1500 when not given.
    """

    focal_length_mm: float
    f_number: float
    sensor_width_mm: float
    sensor_height_mm: float
    resolution_px: tuple[int, int]
    closest_focus_m: float
    """Closest focus, measured from the sensor plane (as makers specify it)."""
    coc_mm: float = 0.0
    focusing: str = "unit"
    """``unit`` (whole lens moves) or ``internal`` (inner group; see the module docstring)."""
    max_magnification: float = 0.0
    """Maker's maximum magnification at closest focus (internal focusing only)."""

    def __post_init__(self) -> None:
        for name in ("focal_length_mm", "f_number", "sensor_width_mm", "sensor_height_mm",
                     "closest_focus_m", "coc_mm", "max_magnification"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        if self.focusing not in ("unit", "internal"):
            raise ValueError(f"focusing must be 'unit' or 'internal', got {self.focusing!r}")
        if self.focusing == "internal" and not 0 < self.max_magnification < 1:
            raise ValueError("an internal-focus lens needs max_magnification in (0, 1)")
        if self.focal_length_mm <= 0:
            raise ValueError(f"focal_length_mm must be > 0, got {self.focal_length_mm}")
        if self.f_number <= 0:
            raise ValueError(f"f_number must be > 0, got {self.f_number}")
        if self.sensor_width_mm <= 0 or self.sensor_height_mm <= 0:
            raise ValueError("sensor size must be > 0 mm")
        if self.resolution_px[0] <= 0 or self.resolution_px[1] <= 0:
            raise ValueError(f"resolution_px must be positive, got {self.resolution_px}")
        if self.closest_focus_m * 1000.0 <= 4.0 * self.focal_length_mm:
            raise ValueError(
                f"closest_focus_m ({self.closest_focus_m} m, from the sensor) must exceed four "
                "focal lengths (1:1 macro)"
            )
        if self.coc_mm <= 0:
            object.__setattr__(self, "coc_mm", self.sensor_diagonal_mm / 1500.0)

    # --- derived constants -------------------------------------------------------------
    @property
    def sensor_diagonal_mm(self) -> float:
        return math.hypot(self.sensor_width_mm, self.sensor_height_mm)

    @property
    def aperture_mm(self) -> float:
        """Entrance pupil diameter."""
        return self.focal_length_mm / self.f_number

    @property
    def pixel_pitch_mm(self) -> float:
        return self.sensor_width_mm / self.resolution_px[0]

    @property
    def closest_object_m(self) -> float:
        """Closest focus measured from the lens (the object distance u at closest focus).

        Unit focusing: u + f·u/(u − f) = closest (the larger root); internal focusing:
        u = closest / (1 + max_magnification).
        """
        c = self.closest_focus_m * 1000.0
        if self.focusing == "internal":
            return c / (1.0 + self.max_magnification) / 1000.0
        f = self.focal_length_mm
        return (c + math.sqrt(c * c - 4.0 * c * f)) / 2.0 / 1000.0

    @property
    def max_focus_d(self) -> float:
        """Nearest focus position in dioptres (1 / `closest_object_m`)."""
        return 1.0 / self.closest_object_m

    def effective_focal_length_mm(self, focus_d: float) -> float:
        """Focal length at focus `focus_d`: f for unit focusing; shortening towards closest
        focus for internal focusing (see the module docstring)."""
        f = self.focal_length_mm
        if self.focusing != "internal":
            return f
        m = self.max_magnification
        f_close = self.closest_focus_m * 1000.0 * m / (1.0 + m) ** 2
        x = min(max(focus_d / self.max_focus_d, 0.0), 1.0)
        return f + (f_close - f) * x

    @property
    def hyperfocal_m(self) -> float:
        """Hyperfocal distance H = f²/(N·c) + f."""
        f = self.focal_length_mm
        return (f * f / (self.f_number * self.coc_mm) + f) / 1000.0

    # --- imaging -----------------------------------------------------------------------
    def image_distance_mm(self, focus_d: float) -> float:
        """Lens-to-sensor distance when focused at `focus_d` (thin lens; f when internal)."""
        f = self.focal_length_mm
        if focus_d <= 0 or self.focusing == "internal":
            return f
        s_mm = 1000.0 / focus_d
        if s_mm <= f:
            raise ValueError(f"cannot focus at {focus_d} D: nearer than the focal length")
        return f * s_mm / (s_mm - f)

    def blur_diameter_mm(self, subject_m: float, focus_d: float) -> float:
        """Diameter of the blur circle on the sensor for a point at `subject_m`.

        Exact thin-lens result c = A·|v_u − v_s| / v_u with A the aperture, v_s the sensor
        distance and v_u the point's image distance.
        """
        return abs(self.signed_blur_diameter_mm(subject_m, focus_d))

    def signed_blur_diameter_mm(self, subject_m: float, focus_d: float) -> float:
        """Blur diameter with a sign: positive when the subject is nearer than the focus."""
        f = self.focal_length_mm
        if self.focusing == "internal":
            s_d = 0.0 if math.isinf(subject_m) else 1.0 / subject_m
            return self.aperture_mm * f * (s_d - focus_d) / 1000.0
        v_s = self.image_distance_mm(focus_d)
        if math.isinf(subject_m):
            v_u = f
        else:
            u_mm = subject_m * 1000.0
            if u_mm <= f:
                raise ValueError(f"subject at {subject_m} m is inside the focal length")
            v_u = f * u_mm / (u_mm - f)
        return self.aperture_mm * (v_u - v_s) / v_u

    def blur_diameter_px(self, subject_m: float, focus_d: float, scale: float = 1.0) -> float:
        """Blur circle diameter in pixels of an image `scale` times the sensor's resolution."""
        return self.blur_diameter_mm(subject_m, focus_d) / self.pixel_pitch_mm * scale

    def magnification(self, subject_m: float, focus_d: float) -> float:
        """Image size / object size for a subject at `subject_m` with the lens at `focus_d`.

        Unit focusing: chief-ray scale v_s/u (the image grows as the lens racks out). Internal
        focusing: f_eff(D)/(u − f) (the image shrinks as the lens focuses closer).
        """
        u_mm = subject_m * 1000.0
        if self.focusing == "internal":
            return self.effective_focal_length_mm(focus_d) / max(u_mm - self.focal_length_mm, 1e-9)
        return self.image_distance_mm(focus_d) / u_mm

    def size_on_sensor_px(
        self, size_m: float, subject_m: float, focus_d: float, scale: float = 1.0
    ) -> float:
        """Size in pixels (of an image `scale` × full resolution) of an object `size_m` across."""
        size_mm = size_m * 1000.0 * self.magnification(subject_m, focus_d)
        return size_mm / self.pixel_pitch_mm * scale

    # --- depth of field ----------------------------------------------------------------
    def depth_of_field_m(self, focus_d: float, coc_mm: float | None = None) -> tuple[float, float]:
        """Near and far limits (m) of acceptable sharpness; far is inf beyond hyperfocal."""
        c = self.coc_mm if coc_mm is None else coc_mm
        f = self.focal_length_mm
        if self.focusing == "internal":
            # blur A·f·|S − D| ≤ c  ⇔  |S − D| ≤ c·N/f² (dioptres)
            half_d = c * self.f_number / (f * f) * 1000.0
            near_d, far_d = focus_d + half_d, focus_d - half_d
            return 1.0 / near_d, math.inf if far_d <= 0 else 1.0 / far_d
        h_mm = f * f / (self.f_number * c) + f
        if focus_d <= 0:
            return (h_mm - f) / 1000.0 if h_mm > f else 0.0, math.inf
        s_mm = 1000.0 / focus_d
        near_mm = s_mm * (h_mm - f) / (h_mm + s_mm - 2.0 * f)
        far_mm = math.inf if s_mm >= h_mm else s_mm * (h_mm - f) / (h_mm - s_mm)
        return near_mm / 1000.0, far_mm / 1000.0

    def in_focus(self, subject_m: float, focus_d: float, coc_mm: float | None = None) -> bool:
        """True when a subject at `subject_m` lies within the depth of field at `focus_d`."""
        near_m, far_m = self.depth_of_field_m(focus_d, coc_mm)
        return near_m <= subject_m <= far_m

    def focus_error_d(self, subject_m: float, focus_d: float) -> float:
        """Signed focus error in dioptres: subject position minus lens position."""
        subject_d = 0.0 if math.isinf(subject_m) else 1.0 / subject_m
        return subject_d - focus_d

    def preview_scale(self, preview_px: tuple[int, int]) -> float:
        """Preview pixels per sensor pixel for a centre crop at the preview's aspect ratio."""
        w, h = self.resolution_px
        return max(preview_px[0] / w, preview_px[1] / h)
