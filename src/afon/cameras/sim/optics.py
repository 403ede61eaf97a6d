"""Thin-lens optics: blur circles, magnification and depth of field.

All functions are pure. Focus positions are in dioptres (1/m of the focused object distance,
0 = infinity); lengths on the sensor are in millimetres; subject distances in metres, measured
from the lens (thin-lens object distance).
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
    coc_mm: float = 0.0

    def __post_init__(self) -> None:
        if self.focal_length_mm <= 0:
            raise ValueError(f"focal_length_mm must be > 0, got {self.focal_length_mm}")
        if self.f_number <= 0:
            raise ValueError(f"f_number must be > 0, got {self.f_number}")
        if self.sensor_width_mm <= 0 or self.sensor_height_mm <= 0:
            raise ValueError("sensor size must be > 0 mm")
        if self.resolution_px[0] <= 0 or self.resolution_px[1] <= 0:
            raise ValueError(f"resolution_px must be positive, got {self.resolution_px}")
        if self.closest_focus_m * 1000.0 <= self.focal_length_mm:
            raise ValueError(
                f"closest_focus_m ({self.closest_focus_m} m) must exceed the focal length"
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
    def max_focus_d(self) -> float:
        """Nearest focus position in dioptres."""
        return 1.0 / self.closest_focus_m

    @property
    def hyperfocal_m(self) -> float:
        """Hyperfocal distance H = f²/(N·c) + f."""
        f = self.focal_length_mm
        return (f * f / (self.f_number * self.coc_mm) + f) / 1000.0

    # --- imaging -----------------------------------------------------------------------
    def image_distance_mm(self, focus_d: float) -> float:
        """Lens-to-sensor distance when focused at `focus_d` (thin lens)."""
        f = self.focal_length_mm
        if focus_d <= 0:
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

        Chief-ray scale v_s/u: includes focus breathing (the image grows as the lens racks out).
        """
        return self.image_distance_mm(focus_d) / (subject_m * 1000.0)

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
