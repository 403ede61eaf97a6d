"""Depth the flat cards lacked: phase images on a rolling shutter and with motion blur, and
layers with depth (tilt, relief) rendered in depth slices (issue #9, items 4, 6, 7)."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afon.cameras.base import luma_of
from afon.cameras.sim.optics import Optics
from afon.cameras.sim.relief import Depth, Relief
from afon.cameras.sim.render import PHASE_K, Renderer, RowTiming
from afon.cameras.sim.scene import (
    Layer,
    Linear,
    Motion,
    Scene,
    Static,
    load_builtin_scene,
    parse_scene,
)
from afon.cameras.sim.textures import load_texture, prepare_texture
from afon.errors import ConfigError
from afon.focus.measures import tenengrad
from test_render import phase_disparity
from test_scene import _container, to_toml

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



# --- depth within a layer: tilt and relief ---------------------------------------------------
DOF_HALF_D = 0.03 * 1.8 / 50.0**2 * 1000.0
"""FF50's depth of field half-width in dioptres (c·N/f²): 0.0216 D."""


def _parabola_peak(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    i = int(np.clip(np.argmax(y), 1, len(y) - 2))
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    return float(x[i] + (0.5 * (a - c) / den if den != 0 else 0.0) * (x[1] - x[0]))


def _luma(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return np.asarray(luma_of(img), np.float32)


def test_a_tilted_cards_sharpest_row_moves_with_focus() -> None:
    """Grass on a card 0.4 m square at 0.8 m, tilted 50° (bottom farther): row y of the card
    lies at 0.8 m + Y·tan 50° (Y metres below its centre). Focused at distance s, the sharpest
    row (contrast relative to a flat card's, in 6-row bands) is the one where that depth is s:
    Y = (s − 0.8)/tan 50°, to within a band and a half (the depth of field spans ~13 rows)."""
    tex = prepare_texture(load_texture("skimage:grass"))
    depth = Depth(tilt_y_deg=50.0)
    card = Layer("card", "subject", tex, 0.4, Static(0.8), texture="skimage:grass", depth=depth)
    wall = _card_scene().layers[0]
    r = Renderer(Scene("tilt", "", 10000.0, (wall, card)), FF50, (320, 240))
    flat = Renderer(Scene("flat", "", 10000.0, (wall, dataclasses.replace(card, depth=None))),
                    FF50, (320, 240))
    sharp = _luma(flat.render(0.0, 1.0 / 0.8, noise=False))
    for s in (0.7, 0.8, 0.9):
        img = _luma(r.render(0.0, 1.0 / s, noise=False))
        _, h_px = r.layer_size_px(card, 0.0, 1.0 / s)
        ratios, centres = [], []
        for y in range(130 - 96, 130 + 90, 6):  # the card's rows, away from its edges
            ratios.append(tenengrad(img[y : y + 6, 120:200]) / tenengrad(sharp[y : y + 6, 120:200]))
            centres.append(y + 2.5)
        row = centres[int(np.argmax(ratios))]
        expected = 119.5 + (s - 0.8) / math.tan(math.radians(50.0)) / card.height_m * h_px
        assert row == pytest.approx(expected, abs=9.0), (s, row, expected)
        assert max(ratios) > 0.8 and min(ratios) < 0.5  # a sharp band, blurred elsewhere


def test_a_tilted_cards_still_is_sharp_where_its_depth_is_the_focus() -> None:
    """Stills blur each depth slice by its exact disks: the same tilted card as above, as a
    360×240 still, is sharpest on the row whose depth is the focus distance."""
    tex = prepare_texture(load_texture("skimage:grass"))
    card = Layer("card", "subject", tex, 0.4, Static(0.8), texture="skimage:grass",
                 depth=Depth(tilt_y_deg=50.0))
    wall = _card_scene().layers[0]
    r = Renderer(Scene("tilt", "", 10000.0, (wall, card)), FF50, (320, 240))
    flat = Renderer(Scene("flat", "", 10000.0, (wall, dataclasses.replace(card, depth=None))),
                    FF50, (320, 240))
    size = (360, 240)
    sharp = _luma(flat.render_still(0.0, 1.0 / 0.8, size_px=size, noise=False))
    for s in (0.7, 0.9):
        img = _luma(r.render_still(0.0, 1.0 / s, size_px=size, noise=False))
        scale = FF50.preview_scale(size)
        h_px = FF50.size_on_sensor_px(card.width_m, 0.8, 1.0 / s, scale) * card.height_m \
            / card.width_m
        ratios, centres = [], []
        for y in range(120 - 100, 120 + 94, 6):
            ratios.append(tenengrad(img[y : y + 6, 140:220]) / tenengrad(sharp[y : y + 6, 140:220]))
            centres.append(y + 2.5)
        row = centres[int(np.argmax(ratios))]
        expected = 119.5 + (s - 0.8) / math.tan(math.radians(50.0)) / card.height_m * h_px
        assert row == pytest.approx(expected, abs=9.0), (s, row, expected)


def _face_renderers() -> tuple[Renderer, Renderer, Layer]:
    img = prepare_texture(load_texture("skimage:astronaut"), crop=(0.33, 0.08, 0.55, 0.42),
                          shape="ellipse")
    depth = Depth(relief=Relief("face", 0.5, 0.35))  # the eyes' midpoint on this crop
    face = Layer("face", "subject", img, 0.166, Static(0.6), texture="skimage:astronaut",
                 depth=depth)
    wall = dataclasses.replace(_card_scene().layers[0], distance=Static(5.0))
    r = Renderer(Scene("face", "", 10000.0, (wall, face)), FF50, (640, 480))
    flat = Renderer(Scene("flat", "", 10000.0, (wall, dataclasses.replace(face, depth=None))),
                    FF50, (640, 480))
    return r, flat, face


@pytest.mark.parametrize("window", ["nose", "cheek"])
def test_contrast_and_phase_over_a_relieved_face_peak_at_the_windows_depths(
    window: str,
) -> None:
    """A face at 0.6 m (eyes at 0.6 m; nose tip 27 mm nearer, cheeks 10 mm farther: 12 depth
    of field half-widths from nose to ears on the 50 mm). Hand computation of the window's
    focus curve: each pixel's gradient energy (in focus) times the flat card's focus curve at
    that pixel's own defocus, summed. The rendered contrast peaks where that sum does — between
    the nose tip's and the cheek's depths for a window over the nose, beyond the eyes for one
    over the cheek — not at the card's reference distance (the eyes), where a flat card
    peaks; and the phase disparity crosses zero at the same window depth (within a depth of
    field of the contrast peak)."""
    r, flat, face = _face_renderers()
    assert face.depth is not None
    d = 0.6
    w_px, h_px = r.layer_size_px(face, 0.0, 1.0 / d)
    cx, cy = 319.5, 239.5
    u0, u1, v0, v1 = {"nose": (0.42, 0.58, 0.42, 0.58), "cheek": (0.18, 0.34, 0.38, 0.55)}[window]
    x0, x1 = int(cx + (u0 - 0.5) * w_px), int(cx + (u1 - 0.5) * w_px)
    y0, y1 = int(cy + (v0 - 0.5) * h_px), int(cy + (v1 - 0.5) * h_px)
    # each pixel's point dioptres, from the relief
    xs = (np.arange(x0, x1) - cx) / w_px * face.width_m
    ys = (np.arange(y0, y1) - cy) / h_px * face.height_m
    point_d = 1.0 / (d + face.depth.offsets_m(xs[None, :], ys[:, None],
                                               (face.width_m, face.height_m)))
    sharp = _luma(flat.render(0.0, 1.0 / d, noise=False)).astype(np.float64)
    gx, gy = cv2.Sobel(sharp, cv2.CV_64F, 1, 0), cv2.Sobel(sharp, cv2.CV_64F, 0, 1)
    energy = (gx * gx + gy * gy)[y0:y1, x0:x1]
    offs = np.linspace(-0.2, 0.2, 41)
    flat_curve = np.array([tenengrad(_luma(flat.render(0.0, 1.0 / d + o, noise=False))
                                     [y0:y1, x0:x1]) for o in offs])
    flat_curve /= flat_curve.max()
    lens = np.linspace(1.58, 1.78, 21)
    predicted = np.array([(energy * np.interp(f - point_d, offs, flat_curve)).sum()
                          for f in lens])
    measured = np.array([tenengrad(_luma(r.render(0.0, float(f), noise=False))[y0:y1, x0:x1])
                         for f in lens])
    peak, peak_pred = _parabola_peak(lens, measured), _parabola_peak(lens, predicted)
    assert peak == pytest.approx(peak_pred, abs=0.3 * DOF_HALF_D), (peak, peak_pred)
    nose_d, cheek_d, eyes_d = 1.0 / (d - 0.0266), 1.0 / (d + 0.0095), 1.0 / d

    def at_the_windows_depth(f: float) -> bool:
        if window == "nose":
            return eyes_d + DOF_HALF_D < f < nose_d
        return cheek_d - DOF_HALF_D < f < eyes_d - 0.5 * DOF_HALF_D

    assert at_the_windows_depth(peak), peak
    # phase: the disparity in the window crosses zero at the same depth
    disp = []
    for f in lens:
        ph = r.render_phase(0.0, float(f), noise=False)
        disp.append(phase_disparity(ph.left, ph.right, (x0 // 2, y0 // 2, x1 // 2, y1 // 2),
                                    6)[0])
    disp_a = np.array(disp)
    assert disp_a[0] > 0 > disp_a[-1]
    i = int(np.argmax(disp_a < 0))
    zero = lens[i - 1] + disp_a[i - 1] / (disp_a[i - 1] - disp_a[i]) * (lens[i] - lens[i - 1])
    # (the correlation weighs the window's parts its own way: within a depth of field)
    assert zero == pytest.approx(peak, abs=DOF_HALF_D), (zero, peak)
    assert at_the_windows_depth(zero), zero
    assert point_d.min() < zero < point_d.max()


def test_a_relief_with_no_depth_renders_as_the_flat_card() -> None:
    """A depth that is zero everywhere (no tilt, no relief) gives the flat card's pixels: the
    slices reduce to the card's one blur."""
    scene = _card_scene()
    card = scene.layers[1]
    deep = dataclasses.replace(scene, layers=(scene.layers[0],
                                              dataclasses.replace(card, depth=Depth())))
    for f in (0.2, 0.5, 1.1):
        a = Renderer(scene, FF50, (160, 120)).render(0.0, f, frame_index=2)
        b = Renderer(deep, FF50, (160, 120)).render(0.0, f, frame_index=2)
        assert np.array_equal(a, b)


def test_layers_without_depth_never_take_the_slice_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flat layer costs nothing extra: the built-in scenes' flat layers are drawn without
    depth slices (the slice path is not entered)."""
    calls: list[str] = []
    real = Renderer._draw_deep

    def spy(self: Renderer, canvas: Any, layer: Layer, p: Any, kind: str,
            *rest: Any) -> None:
        calls.append(layer.name)
        real(self, canvas, layer, p, kind, *rest)

    monkeypatch.setattr(Renderer, "_draw_deep", spy)
    for name in ("portrait", "obstacle", "runner"):
        scene = load_builtin_scene(name)
        r = Renderer(scene, FF50, (160, 120))
        r.render(0.0, 0.4)
        r.render_phase(0.0, 0.4)
    assert calls and set(calls) == {"person"}  # the portrait's face alone


# --- the scene file's depth fields -----------------------------------------------------------
DEPTH_DOC = """
light_lux = 500
[[layers]]
name = "wall"
kind = "background"
texture = "flat:0.4"
width_m = 2
distance_m = 4
fill = true
tilt_x_deg = 30
[[layers]]
name = "head"
kind = "subject"
texture = "pattern:checker"
width_m = 0.3
distance_m = { motion = "linear", start = 3, speed = -1, min = 0.5 }
tilt_y_deg = -10
relief = { shape = "face", x = 0.5, y = 0.4, width_m = 0.14 }
"""


def test_depth_fields_parse_into_the_layer() -> None:
    scene = parse_scene(DEPTH_DOC, source="depth.toml")
    wall, head = scene.layers
    assert wall.depth == Depth(30.0, 0.0, None)
    assert head.depth is not None and head.depth.tilt_y_deg == -10.0
    assert head.depth.relief == Relief("face", 0.5, 0.4, 0.14, None, 0.0)
    near, far = head.depth_bounds_m()
    # face scaled by 0.14 / 0.1314: nose tip ≈ 26.6 mm × 1.065 nearer than the eyes
    assert near < -0.028 and far > 0.08
    flat = parse_scene(DEPTH_DOC.replace("tilt_x_deg = 30", ""), source="d.toml").layers[0]
    assert flat.depth is None  # no depth fields: a flat card, drawn as before


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("tilt_x_deg = 30", "tilt_x_deg = 90", "layers[0].tilt_x_deg", "80"),
        ("tilt_y_deg = -10", "tilt_y_deg = nan", "layers[1].tilt_y_deg", ""),
        ("tilt_x_deg = 30", 'relief = { shape = "dome", depth_m = 1 }', "layers[0].relief",
         "fill = false"),
        ('shape = "face", x = 0.5', 'shape = "dome", x = 0.5', "layers[1].relief.depth_m",
         "missing"),
        ("width_m = 0.14 }", "width_m = 0.14, depth_m = 0.2 }", "layers[1].relief.depth_m",
         "width_m"),
        ('shape = "face"', 'shape = "nose"', "layers[1].relief.shape", ""),
        ("x = 0.5, y = 0.4", "x = 1.5, y = 0.4", "layers[1].relief.x", ""),
        ("width_m = 0.14 }", "width_m = 0.14, colour = 1 }", "layers[1].relief.colour", ""),
        ("width_m = 0.14 }", "width_m = -1 }", "layers[1].relief.width_m", ""),
        ('relief = { shape = "face", x = 0.5, y = 0.4, width_m = 0.14 }',
         'relief = { shape = "dome", width_m = 0.2, depth_m = 0.6 }', "layers[1].relief",
         "nearest point"),
    ],
)
def test_bad_depth_fields_name_file_field_and_problem(old: str, new: str, field: str,
                                                      words: str) -> None:
    assert old in DEPTH_DOC
    with pytest.raises(ConfigError) as exc:
        parse_scene(DEPTH_DOC.replace(old, new), source="bad.toml")
    text = str(exc.value)
    assert "bad.toml" in text and exc.value.field == field, text
    assert words in text


DEPTH_BASE = tomllib.loads(DEPTH_DOC)
DEPTH_PATHS = [
    ("layers", 0, "tilt_x_deg"),
    ("layers", 1, "tilt_y_deg"),
    ("layers", 1, "tilt_x_deg"),
    ("layers", 1, "relief", "shape"),
    ("layers", 1, "relief", "x"),
    ("layers", 1, "relief", "y"),
    ("layers", 1, "relief", "width_m"),
    ("layers", 1, "relief", "height_m"),
    ("layers", 1, "relief", "depth_m"),
    ("layers", 1, "width_m"),
    ("layers", 1, "distance_m", "min"),
    ("layers", 0, "relief"),
]
depth_values = st.one_of(
    st.sampled_from([0, -1, 1e-9, 0.01, 0.3, 0.99, 1, 45, 79.9, 80, 80.1, 1e6, -1e300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["face", "dome", "nose", "", True, [1, 2]]),
    st.dictionaries(st.sampled_from(["shape", "depth_m", "width_m", "x", "zz"]),
                    st.sampled_from(["dome", "face", 0.1, -2, 5.0]), max_size=3),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(DEPTH_PATHS), depth_values), min_size=1,
                        max_size=3),
       focus_d=st.sampled_from([0.0, 0.3, 2.0]))
def test_mutated_depth_fields_load_or_fail_cleanly_and_render(
    changes: list[tuple[tuple[Any, ...], Any]], focus_d: float
) -> None:
    """Any value in the depth fields either loads (and then renders finite previews, phase
    images and stills) or fails with a ConfigError naming the file and a field."""
    doc = json.loads(json.dumps(DEPTH_BASE))
    for path, value in changes:
        container = _container(doc, path)
        if isinstance(container, dict):
            container[path[-1]] = value
    try:
        scene = parse_scene(to_toml(doc), source="fuzz.toml")
    except ConfigError as exc:
        assert "fuzz.toml" in str(exc) and exc.field
        return
    r = Renderer(scene, FF50, (64, 48))
    assert r.render(1.0, focus_d).shape == (48, 64, 3)
    ph = r.render_phase(1.0, focus_d)
    assert np.isfinite(ph.left).all() and np.isfinite(ph.right).all()
    assert r.render_still(1.0, focus_d, size_px=(64, 42)).shape == (42, 64, 3)


@given(st.floats(-80.0, 80.0, allow_nan=False))
def test_slice_coordinate_is_blur_over_half_a_pixel_then_ten_percent_steps(blur: float) -> None:
    """Depth slices (previews, phase images) are 0.5 px of blur apart up to ~5.2 px of blur,
    then 10 % of the blur apart: the coordinate and its inverse agree, and one unit of it is
    never more than max(0.5 px, 10 % of the blur)."""
    from afon.cameras.sim import render as r

    c = r._slice_coord(blur)
    assert r._slice_blur(c) == pytest.approx(blur, rel=1e-9, abs=1e-9)
    step = abs(r._slice_blur(c + math.copysign(1.0, c or 1.0)) - blur)
    assert step <= max(0.5, 0.1 * abs(r._slice_blur(c + math.copysign(1.0, c or 1.0)))) + 1e-9
    got = r._slice_coords(np.array([blur], np.float32))
    assert float(got[0]) == pytest.approx(c, rel=1e-5, abs=1e-4)


@pytest.mark.parametrize(("scene", "preset", "off_d"), [("portrait", "300mm-f2.8", 0.3),
                                                        ("desk", "50mm-f1.8", 1.0)])
def test_relative_slice_steps_draw_fewer_slices_within_a_grey_level(
    scene: str, preset: str, off_d: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices spaced by 10 % of the blur where it exceeds ~5.2 px: fewer slices than 0.5 px
    steps, a preview within 1 DN of the uniform slices' everywhere and its contrast within 1 %
    (the ladder itself blends disks 19 % apart)."""
    from afon.cameras.sim import render as r
    from afon.cameras.sim.preset import load_preset

    spec = load_preset(preset)
    sc = load_builtin_scene(scene)
    assert sc.subject is not None
    focus = min(spec.motor.max_d, 1.0 / sc.subject.distance_m(0.0) + off_d)
    counts: list[int] = []
    slices = r.Renderer._slices

    def counting(self: Any, *args: Any, **kw: Any) -> Any:
        got = slices(self, *args, **kw)
        counts.append(0 if got is None else len(got[0]))
        return got

    monkeypatch.setattr(r.Renderer, "_slices", counting)
    imgs = []
    for rel_from in (r._SLICE_REL_FROM_PX, math.inf):
        monkeypatch.setattr(r, "_SLICE_REL_FROM_PX", rel_from)
        img = Renderer(sc, spec.optics, (320, 214), seed=1).render(0.0, focus, noise=False)
        imgs.append(img.astype(np.float32))
    relative, uniform = counts[0], counts[-1]
    assert 2 <= relative < uniform
    assert float(np.abs(imgs[0] - imgs[1]).max()) <= 1.0
    t = [tenengrad(luma_of(i.astype(np.uint8))) for i in imgs]
    assert t[0] == pytest.approx(t[1], rel=0.01)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-3.0, 12.0, width=32), st.floats(0.0, 6.0, width=32)),
                min_size=1, max_size=40),
       st.integers(0, 12))
def test_slice_spans_are_where_each_slices_tent_can_weigh(
    ranges: list[tuple[float, float]], last: int
) -> None:
    """`_slice_spans` (every slice's rows at once) gives, for each slice k, the first and one
    past the last row whose index range [lo, hi] meets (k − 1, k + 1), the extreme slices
    open-ended: the rows the per-slice search found before it."""
    from afon.cameras.sim.render import _slice_spans

    lo = np.array([a for a, _ in ranges], np.float32)
    hi = lo + np.array([b for _, b in ranges], np.float32)
    got = _slice_spans(lo, hi, last)
    assert len(got) == last + 1
    for k, span in enumerate(got):
        below = math.inf if k == last else k + 1.0
        above = -math.inf if k == 0 else k - 1.0
        rows = np.flatnonzero((lo < below) & (hi > above))
        assert span == ((int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0))
