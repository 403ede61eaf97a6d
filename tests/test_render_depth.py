"""Depth the flat cards lacked: phase images on a rolling shutter and with motion blur, and
layers with depth (tilt, relief) rendered in depth slices (issue #9, items 4, 6, 7)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from afon.cameras.sim.optics import Optics
from afon.cameras.sim.render import PHASE_K, Renderer, RowTiming
from afon.cameras.sim.scene import Layer, Linear, Motion, Scene, Static
from afon.cameras.sim.textures import load_texture, prepare_texture

F32 = npt.NDArray[np.float32]
FF50 = Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000), 0.45)


def _card_scene(texture: str = "skimage:astronaut", distance_m: float = 2.0,
                x: Motion | None = None, width_m: float = 1.2) -> Scene:
    image = prepare_texture(load_texture(texture))
    card = Layer("card", "subject", image, width_m, Static(distance_m),
                 x if x is not None else Static(0.5), Static(0.5), False, texture)
    bg = prepare_texture(load_texture("flat:0.5"), opaque=True)
    wall = Layer("wall", "background", bg, 10.0, Static(20.0), fill=True, texture="flat:0.5")
    return Scene("card", "", 10000.0, (wall, card))


def phase_disparity(left: F32, right: F32, box: tuple[int, int, int, int],
                    max_shift: int) -> tuple[float, float]:
    """(x_right − x_left, peak NCC) of the patch `box` = (x0, y0, x1, y1) of `left`."""
    x0, y0, x1, y1 = box
    patch = np.ascontiguousarray(left[y0:y1, x0:x1])
    search = np.ascontiguousarray(right[y0:y1, x0 - max_shift : x1 + max_shift])
    res = cv2.matchTemplate(search, patch, cv2.TM_CCOEFF_NORMED)[0]
    i = int(np.argmax(res))
    delta = 0.0
    if 0 < i < res.size - 1:
        a, b, c = res[i - 1], res[i], res[i + 1]
        den = a - 2 * b + c
        delta = 0.5 * (a - c) / den if den != 0 else 0.0
    return i - max_shift + delta, float(res[i])


# --- phase images: rolling shutter and motion blur -------------------------------------------
def test_phase_images_of_a_moving_lens_have_the_per_row_focus_gradient() -> None:
    """The lens sweeps through the card's focus during the 15 ms readout (±8 preview px of
    blur from top to bottom). The PDAF pixels sit on the image rows, so each band of the phase
    images has the disparity of the lens during its own rows' window: PHASE_K × blur at that
    lens position — negative at the top (lens focused nearer than the card), about 0 in the
    middle, positive at the bottom. With a global shutter the disparity is the same in
    every band."""
    scene = _card_scene()
    card = scene.layers[1]
    r = Renderer(scene, FF50, (320, 240))
    rows = RowTiming(0.0, 0.001, 0.015)
    t_mid = rows.window_s(105 / 240)[0] + 0.0005
    rate = 8.0 * r.focus_step_d(r.preview_scale) / 0.25 / 0.0075  # 8 px of blur per 7.5 ms

    def lens(t: float) -> float:
        return 0.5 - rate * (t - t_mid)

    ph = r.render_phase(0.0, 0.0, noise=False, lens_d=lens, rows=rows)
    assert ph.left.shape == (120, 160)
    measured, expected = [], []
    for y in (10, 45, 85):  # phase rows of preview bands 20-50, 90-120, 170-200
        d, peak = phase_disparity(ph.left, ph.right, (55, y, 105, y + 15), 8)
        assert peak > 0.8
        t0, t1 = rows.window_s((2 * y + 15) / 240)
        blur = r.layer_blur_px(card, 0.0, lens(0.5 * (t0 + t1)))
        measured.append(d)
        expected.append(PHASE_K * blur * ph.scale)
    assert expected[0] < -1.0 and expected[2] > 1.0 and abs(expected[1]) < 0.3
    for d, e in zip(measured, expected, strict=True):
        assert d == pytest.approx(e, abs=0.15 * abs(expected[0]) + 0.2), (measured, expected)
    # a global shutter with the same lens motion: one disparity down the frame
    flat = r.render_phase(0.0, 0.0, noise=False, lens_d=lens, rows=RowTiming(t_mid, 0.001))
    ds = [phase_disparity(flat.left, flat.right, (55, y, 105, y + 15), 8)[0]
          for y in (10, 45, 85)]
    assert max(ds) - min(ds) < 0.3
    # a static lens through rows is the static render (one band, same lens, same time)
    static = r.render_phase(t_mid, 0.5, noise=False)
    banded = r.render_phase(0.0, 0.0, noise=False, lens_d=lambda t: 0.5,
                            rows=RowTiming(t_mid - 0.0005, 0.001))
    assert np.array_equal(static.left, banded.left)
    assert np.array_equal(static.right, banded.right)


def test_phase_images_carry_the_motion_blur_of_the_preview() -> None:
    """A white card moving sideways 20 preview px (10 phase px) during the exposure: in both
    phase images its edge is a linear ramp 10 phase px long (10–90 % rise 0.8 × 10 = 8 px), as
    in the preview; a card at rest rises within the pixel aperture."""
    scene = _card_scene("flat:1.0", x=Linear(0.3, 1.0), width_m=0.3)
    r = Renderer(scene, FF50, (320, 240))
    t_exp = 20.0 / 320.0  # one frame width per second: 20 preview px during the exposure
    still = r.render_phase(0.1 + t_exp / 2, 0.5, noise=False)
    moving = r.render_phase(0.0, 0.0, noise=False, lens_d=lambda t: 0.5,
                            rows=RowTiming(0.1, t_exp))
    for ph, expected in ((still, 1.0), (moving, 8.0)):
        for img in (ph.left, ph.right):
            row = img[60].astype(np.float64)
            mid = 0.5 * (row.min() + row.max())
            edge = int(np.argmax(row[:80] > mid))
            seg = row[edge - 12 : edge + 12]
            esf = (seg - seg.min()) / (seg.max() - seg.min())
            x = np.arange(esf.size, dtype=np.float64)
            rise = float(np.interp(0.9, esf, x) - np.interp(0.1, esf, x))
            assert rise == pytest.approx(expected, abs=1.0), (expected, rise)

