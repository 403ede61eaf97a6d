"""The focus magnifier of the simulated camera: a region of the sensor read at its own pixels.

A real body's 5×/10× magnify reads the sensor around the AF point at full resolution; it is not
the live view enlarged. Here the region is rendered by a second `Renderer` that looks at the
same scene through a *cropped sensor*: the same lens and pixel pitch (so blur, size and noise
per pixel are those of the full-resolution sensor), a sensor only as large as the region, and
the scene's layers moved so that the region's centre is on its axis. Nothing in the renderer
changes; it is given a smaller sensor and a shifted view (its public API only).

The region is rendered at one sensor pixel per output pixel when it is no wider than the
preview (10× on most presets), else at the preview's size (never enlarged): either way every
output pixel comes from the sensor's resolution, not from the preview's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from afon.cameras.base import Image
from afon.cameras.sim.optics import Optics
from afon.cameras.sim.render import Renderer, RowTiming
from afon.cameras.sim.scene import Layer, Motion

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@dataclass
class _View:
    """Where the cropped sensor looks (mutable: one set of layers serves every frame, so the
    renderer's texture caches, keyed by layer, survive)."""

    centre_x: float = 0.5
    centre_y: float = 0.5
    zoom_x: float = 1.0
    zoom_y: float = 1.0
    breathing: float = 1.0


@dataclass(frozen=True)
class _Shifted:
    """A layer coordinate in the preview's fractions, seen in the cropped sensor's fractions."""

    inner: Motion
    view: _View
    axis: int

    def _map(self, v: float) -> float:
        view = self.view
        c, z = (view.centre_x, view.zoom_x) if self.axis == 0 else (view.centre_y, view.zoom_y)
        # the renderer scales positions about the axis by the focus breathing; the region's
        # centre is a fixed place on the sensor, so it is divided out of the shift
        return 0.5 + z * (v - 0.5 - (c - 0.5) / view.breathing)

    def __call__(self, t_s: float) -> float:
        return self._map(self.inner(t_s))

    def bounds(self) -> tuple[float, float]:
        lo, hi = self.inner.bounds()
        return self._map(lo), self._map(hi)


class Magnifier:
    """Renders sensor regions of `preview`'s scene at the sensor's resolution."""

    def __init__(self, preview: Renderer) -> None:
        self.preview = preview
        self._view = _View()
        self._renderers: dict[tuple[int, int, int, int], Renderer] = {}
        scene = preview.scene
        self._scene = dataclasses.replace(
            scene, layers=tuple(self._shift(layer) for layer in scene.layers)
        )

    def _shift(self, layer: Layer) -> Layer:
        return dataclasses.replace(
            layer, x=_Shifted(layer.x, self._view, 0), y=_Shifted(layer.y, self._view, 1)
        )

    def region_px(self, zoom: float) -> tuple[float, float]:
        """Width and height, in sensor pixels, of the region shown at `zoom`."""
        pw, ph = self.preview.size_px
        s0 = self.preview.preview_scale
        return pw / s0 / zoom, ph / s0 / zoom

    def output_px(self, zoom: float) -> tuple[int, int]:
        """Size of the rendered region: its sensor pixels, or the preview's size if smaller."""
        pw, ph = self.preview.size_px
        cw, _ = self.region_px(zoom)
        k = min(1.0, cw / pw)
        return max(2, round(pw * k)), max(2, round(ph * k))

    def _renderer(self, zoom: float) -> Renderer:
        out = self.output_px(zoom)
        cw, ch = self.region_px(zoom)
        res = (max(2, round(cw)), max(2, round(ch)))
        key = (*out, *res)
        r = self._renderers.get(key)
        if r is None:
            o = self.preview.optics
            w, h = o.resolution_px
            cropped: Optics = dataclasses.replace(
                o,
                sensor_width_mm=o.sensor_width_mm * res[0] / w,  # same pixel pitch
                sensor_height_mm=o.sensor_height_mm * res[1] / h,
                resolution_px=res,
                coc_mm=o.coc_mm,  # the same in-focus criterion as the full sensor's
            )
            r = Renderer(
                self._scene, cropped, out, seed=self.preview.seed, sensor=self.preview.sensor
            )
            self._renderers = {key: r}  # one zoom at a time: drop the other's caches
        return r

    def render(
        self,
        rect: tuple[float, float, float, float],
        zoom: float,
        *,
        focus_d: Sequence[float],
        lens_d: Callable[[float], float],
        start_s: float,
        integration_s: float,
        readout_s: float,
        exposure_s: float,
        frame_index: int,
        mid_s: float,
    ) -> Image:
        """The region `rect` (`afon.cameras.magnify.magnify_rect`) of the frame exposed from
        `start_s`."""
        r = self._renderer(zoom)
        x0, y0, w, h = rect
        view = self._view
        pw, ph = self.preview.size_px
        s0 = self.preview.preview_scale
        qw, qh = r.size_px
        # the cropped renderer's frame spans qw / s1 sensor pixels; the preview's, pw / s0
        view.zoom_x = (pw / s0) / (qw / r.preview_scale)
        view.zoom_y = (ph / s0) / (qh / r.preview_scale)
        view.centre_x = x0 + w / 2
        view.centre_y = y0 + h / 2
        o = self.preview.optics
        mean_focus = sum(focus_d) / len(focus_d)
        view.breathing = o.image_distance_mm(mean_focus) / o.focal_length_mm
        # the region's rows are read out during their share of the frame's readout
        rows = RowTiming(start_s + y0 * readout_s, integration_s, h * readout_s)
        return r.render(
            mid_s,
            focus_d,
            exposure_s=exposure_s,
            frame_index=frame_index,
            lens_d=lens_d,
            rows=rows,
        )
