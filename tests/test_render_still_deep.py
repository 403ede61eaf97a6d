"""Stills of a layer with depth far out of focus: its slices blurred and blended at a reduced
resolution (`_deep_blur_reduced`) look as the exact per-slice blur at full resolution does."""

from __future__ import annotations

import numpy as np
import pytest

from afon.cameras.sim import render
from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import Renderer
from afon.cameras.sim.scene import load_builtin_scene


def _still(scene: str, preset: str, focus_d: float, reduced: bool) -> np.ndarray:
    r = Renderer(load_builtin_scene(scene), load_preset(preset).optics, (320, 213), seed=1)
    r.reduced_deep_stills = reduced
    return r.render_still(0.0, focus_d, size_px=(480, 320), noise=False).astype(np.int16)


@pytest.mark.parametrize(("scene", "preset", "focus_d"), [
    ("desk", "300mm-f2.8", 0.5),  # the page inside the closest focus: ~400 px of blur
    ("portrait", "300mm-f2.8", 0.0),  # the relieved face at 2.5 m, the lens at infinity
])
def test_a_far_defocused_deep_layer_is_blurred_as_its_exact_slices_are(
    scene: str, preset: str, focus_d: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[float] = []
    reduced_blur = render._deep_blur_reduced

    def spy(*args: object) -> object:
        used.append(float(args[3]))  # type: ignore[arg-type]
        return reduced_blur(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "_deep_blur_reduced", spy)
    fast = _still(scene, preset, focus_d, reduced=True)
    assert used and min(used) > render._EXACT_MAX_PX  # the reduced path drew it
    exact = _still(scene, preset, focus_d, reduced=False)
    d = np.abs(fast - exact)
    assert float(np.sqrt((d.astype(np.float64) ** 2).mean())) < 0.5
    assert float((d > 1).mean()) < 1e-3
    assert int(d.max()) <= 3


def test_a_deep_layer_near_focus_keeps_the_exact_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> object:
        raise AssertionError("a slice within _EXACT_MAX_PX of focus was drawn reduced")

    monkeypatch.setattr(render, "_deep_blur_reduced", fail)
    # the 50 mm focused on the desk's page: its slices span the focus
    _still("desk", "50mm-f1.8", 1 / 0.6, reduced=True)
