"""Scenes: motions, built-in scenes, TOML loading and its errors."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from afon.cameras.sim.scene import (
    Crossing,
    Erratic,
    Linear,
    Static,
    builtin_scene_names,
    describe,
    load_builtin_scene,
    load_scene,
    parse_scene,
    resolve_scene,
)
from afon.errors import AfonError, ConfigError

BUILTINS = ["bird", "desk", "erratic", "low-light", "obstacle", "portrait", "runner", "wall"]


# --- motions -----------------------------------------------------------------------------------
def test_linear_holds_then_moves_and_clamps() -> None:
    m = Linear(30.0, -10.0, min=5.0)
    assert m(0.0) == 30.0 and m(1.0) == 20.0 and m(10.0) == 5.0 and m(-1.0) == 30.0
    assert m.bounds() == (5.0, 30.0)
    go = Linear(12.0, 0.0, accel=8.0, start_s=2.0, max=40.0)
    assert go(1.9) == 12.0 and go(2.0) == 12.0
    assert go(3.0) == pytest.approx(16.0)
    assert go(100.0) == 40.0
    assert Linear(3.0, -1.0).bounds()[0] == -math.inf


def test_crossing_and_static() -> None:
    c = Crossing(-0.5, 1.5, 1.0, 3.0)
    assert c(0.0) == -0.5 and c(2.0) == pytest.approx(0.5) and c(9.0) == 1.5
    assert c.bounds() == (-0.5, 1.5)
    assert Static(2.0)(123.0) == 2.0


def test_erratic_is_deterministic_smooth_and_bounded() -> None:
    a, b = Erratic(6.0, 2.0, 1.5, seed=7), Erratic(6.0, 2.0, 1.5, seed=7)
    t = np.linspace(0.0, 60.0, 6001)
    va = np.array([a(x) for x in t])
    assert np.array_equal(va, np.array([b(x) for x in t]))
    assert va.min() >= 4.0 and va.max() <= 8.0
    assert va.max() - va.min() > 2.0  # it does wander
    assert np.abs(np.diff(va)).max() / (t[1] - t[0]) < 2 * math.pi * 2.0 / (0.6 * 1.5) + 1e-6
    c = Erratic(6.0, 2.0, 1.5, seed=8)
    assert not np.array_equal(va[:100], np.array([c(x) for x in t[:100]]))


# --- built-in scenes ---------------------------------------------------------------------------
def test_builtin_names() -> None:
    assert builtin_scene_names() == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_loads(name: str) -> None:
    scene = load_builtin_scene(name)
    assert scene.name == name
    assert scene.description
    assert scene.layers
    for layer in scene.layers:
        assert layer.image.dtype == np.float32 and layer.image.shape[2] == 4
        for t in np.linspace(0.0, 6.0, 25):
            assert layer.distance_m(float(t)) > 0
    json.dumps(describe(scene))


def test_builtin_scene_contents() -> None:
    runner = load_builtin_scene("runner")
    assert runner.subject_distance_m(0.0) == pytest.approx(30.0)
    assert runner.subject_distance_m(1.0) == pytest.approx(20.0)
    assert runner.subject_distance_m(10.0) == pytest.approx(5.0)
    portrait = load_builtin_scene("portrait")
    assert portrait.subject is not None
    assert portrait.subject.position(0.0)[0] == pytest.approx(0.3)
    assert portrait.subject_distance_m(0.0) == pytest.approx(2.5)
    assert max(layer.distance_m(0.0) for layer in portrait.layers) == pytest.approx(30.0)
    bird = load_builtin_scene("bird")
    assert bird.subject_distance_m(1.99) == pytest.approx(12.0)
    assert bird.subject is not None and bird.subject.position(1.0) == bird.subject.position(2.0)
    assert bird.subject_distance_m(3.0) > 12.0 and bird.subject.position(3.0)[0] > 0.5
    obstacle = load_builtin_scene("obstacle")
    post = obstacle.layer("passer-by")
    assert post.kind == "obstacle" and post.distance_m(2.0) == 3.0
    assert post.position(2.0)[0] == pytest.approx(0.5)
    assert [layer.name for layer in obstacle.layers_back_to_front(2.0)] == [
        "wall",
        "subject",
        "passer-by",
    ]
    low = load_builtin_scene("low-light")
    assert low.light_lux <= 20
    wall = load_builtin_scene("wall")
    assert wall.subject is None and len(wall.layers) == 1
    assert wall.subject_distance_m(0.0) == pytest.approx(1.5)
    erratic = load_builtin_scene("erratic")
    d = [erratic.subject_distance_m(t) for t in np.linspace(0, 30, 301)]
    assert min(d) >= 4.0 and max(d) <= 8.0 and max(d) - min(d) > 2.0


def test_unknown_builtin_lists_known_names() -> None:
    with pytest.raises(AfonError) as exc:
        load_builtin_scene("sunset")
    assert "portrait" in str(exc.value) and "runner" in str(exc.value)


def test_resolve_scene_by_name_or_path(tmp_path: Path) -> None:
    assert resolve_scene("wall").name == "wall"
    p = tmp_path / "mine.toml"
    p.write_text(MINIMAL, encoding="utf-8")
    assert resolve_scene(str(p)).name == "mine"
    with pytest.raises(ConfigError):
        resolve_scene(str(tmp_path / "absent.toml"))


# --- TOML loading and errors -------------------------------------------------------------------
MINIMAL = """
description = "a test"
light_lux = 300

[[layers]]
kind = "background"
texture = "flat:0.5"
width_m = 4
distance_m = 10
fill = true

[[layers]]
name = "target"
kind = "subject"
texture = "pattern:checker"
width_m = 0.5
distance_m = { motion = "linear", start = 8, speed = -1, min = 2 }
x = { motion = "crossing", from = 0.2, to = 0.8, t0_s = 0, t1_s = 2 }
y = 0.4
contrast = 0.5
shape = "ellipse"
crop = [0.0, 0.0, 0.5, 1.0]
height_m = 0.8
"""


def test_minimal_scene_file(tmp_path: Path) -> None:
    p = tmp_path / "mini.toml"
    p.write_text(MINIMAL, encoding="utf-8")
    scene = load_scene(p)
    assert scene.name == "mini" and scene.light_lux == 300
    target = scene.layer("target")
    assert target.height_m == pytest.approx(0.8, rel=0.01)
    assert target.distance_m(3.0) == 5.0 and target.position(1.0) == (pytest.approx(0.5), 0.4)
    assert scene.layers[0].name == "background0"


def test_image_file_texture_relative_to_scene(tmp_path: Path) -> None:
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :12, 3] = 255  # opaque on the left (the part the crop keeps)
    (tmp_path / "img").mkdir()
    Image.fromarray(rgba).save(tmp_path / "img" / "cut.png")
    p = tmp_path / "s.toml"
    p.write_text(MINIMAL.replace('"pattern:checker"', '"img/cut.png"'), encoding="utf-8")
    image = load_scene(p).layer("target").image
    assert image[..., 3].min() == 0.0 and image[..., 3].max() == 1.0


BAD_CASES = [
    # (replace this, with that, field expected in the message)
    ("width_m = 0.5\n", "", "layers[1].width_m"),
    ("width_m = 0.5\n", 'width_m = "big"\n', "layers[1].width_m"),
    ("width_m = 0.5\n", "width_m = -0.5\n", "layers[1].width_m"),
    ("y = 0.4\n", "y = 0.4\nwidht_m = 3\n", "layers[1].widht_m"),
    ("light_lux = 300\n", "light_lux = 300\nlux = 3\n", "lux"),
    ('kind = "subject"', 'kind = "person"', "layers[1].kind"),
    ('"pattern:checker"', '"no/such/file.png"', "layers[1].texture"),
    ('"pattern:checker"', '"skimage:sunset"', "layers[1].texture"),
    ('"pattern:checker"', '"flat:2"', "layers[1].texture"),
    ("speed = -1, min = 2", "speed = -1", "layers[1].distance_m"),
    ("speed = -1, min = 2", "speed = -1, min = 2, sped = 3", "layers[1].distance_m.sped"),
    ('motion = "linear"', 'motion = "teleport"', "layers[1].distance_m.motion"),
    ("t0_s = 0, t1_s = 2", "t0_s = 2, t1_s = 1", "layers[1].x.t1_s"),
    ("y = 0.4\n", 'y = "top"\n', "layers[1].y"),
    ("contrast = 0.5", "contrast = 2", "layers[1].contrast"),
    ("crop = [0.0, 0.0, 0.5, 1.0]", "crop = [0.5, 0.0, 0.2, 1.0]", "layers[1].crop"),
    ("light_lux = 300", "light_lux = 0", "light_lux"),
    ("distance_m = 10\n", "", "layers[0].distance_m"),
    ("fill = true", "fill = 1", "layers[0].fill"),
    # a field of another kind of motion is not one of this motion's
    ("speed = -1, min = 2", "speed = -1, min = 2, amplitude = 1", "layers[1].distance_m.amplitude"),
    ("speed = -1, min = 2", "min = 2", "layers[1].distance_m.speed"),
    ("speed = -1, min = 2", "speed = -1, min = 2, max = 1", "layers[1].distance_m.max"),
    ("y = 0.4\n", "y = inf\n", "layers[1].y"),
    ("min = 2 }", "min = 2, start_s = 2, until_s = 2 }", "layers[1].distance_m.until_s"),
    ("height_m = 0.8", "height_m = 500", "layers[1].height_m"),
]


@pytest.mark.parametrize(("old", "new", "field"), BAD_CASES)
def test_bad_file_names_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in MINIMAL
    p = tmp_path / "bad.toml"
    p.write_text(MINIMAL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_scene(p)
    assert exc.value.field == field
    assert str(p) in str(exc.value) and field in str(exc.value)


def test_bad_toml_syntax_names_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text(MINIMAL.replace("width_m = 4", "width_m = = 4"), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_scene(p)
    assert str(p) in str(exc.value) and "line" in str(exc.value)


def test_no_layers(tmp_path: Path) -> None:
    p = tmp_path / "empty.toml"
    p.write_text('description = "nothing"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_scene(p)
    assert exc.value.field == "layers"


# --- property-based: the parser only ever raises ConfigError ---------------------------------
def _toml_string(text: str) -> str:
    # JSON escapes the C0 controls; TOML also forbids a raw DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    return _toml_string(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict[str, Any]) -> str:
    lines = [f"{_key(k)} = {_toml_value(v)}" for k, v in doc.items() if k != "layers"]
    layers = doc.get("layers")
    if isinstance(layers, list) and all(isinstance(x, dict) for x in layers) and layers:
        for layer in layers:
            lines.append("[[layers]]")
            lines.extend(f"{_key(k)} = {_toml_value(v)}" for k, v in layer.items())
    elif "layers" in doc:
        lines.append(f"layers = {_toml_value(layers)}")
    return "\n".join(lines) + "\n"


BASE = tomllib.loads(MINIMAL)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "background",
            "subject",
            "linear",
            "erratic",
            "flat:0.3",
            "skimage:coins",
            "pattern:edge",
            "static",
            "crossing",
            "ellipse",
            "a\x00b",
            "x" * 5000,
            "~nouser/x.png",
            "../",
            "skimage:",
            "flat:",
            "flat:nan",
            "pattern:x",
            ".",
        ]
    ),
)
values = st.recursive(
    scalars.filter(lambda v: v is not None),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["motion", "start", "speed", "min", "value", "mean", "zz"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=6,
)


def _paths(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [(k,) for k in doc]
    for i, layer in enumerate(doc["layers"]):
        for k, v in layer.items():
            out.append(("layers", i, k))
            if isinstance(v, dict):
                out.extend(("layers", i, k, kk) for kk in v)
    return out


def _container(doc: dict[str, Any], path: tuple[Any, ...]) -> Any:
    c: Any = doc
    for p in path[:-1]:
        c = c[p]
    return c


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_documents_raise_only_config_errors(data: st.DataObject) -> None:
    doc = json.loads(json.dumps(BASE))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = (
            _paths(doc)
            if isinstance(doc.get("layers"), list)
            and all(isinstance(x, dict) for x in doc["layers"])
            else [(k,) for k in doc]
        )
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        c = _container(doc, path)
        action = data.draw(st.sampled_from(["delete", "set", "add"]))
        if action == "delete":
            del c[path[-1]]
        elif action == "set":
            c[path[-1]] = data.draw(values)
        else:
            c[data.draw(st.sampled_from(["colour", "speed_ms", "distance", "zz"]))] = 1
    text = to_toml(doc)
    try:
        scene = parse_scene(text, source="mutant.toml")
    except ConfigError as exc:
        assert "mutant.toml" in str(exc)
        assert exc.field, f"error names no field: {exc}"
        return
    assert scene.layers


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, len(MINIMAL)), st.integers(0, 5), st.text(max_size=4)),
        min_size=1,
        max_size=3,
    )
)
def test_mangled_text_raises_only_config_errors(cuts: list[tuple[int, int, str]]) -> None:
    text = MINIMAL
    for pos, n, insert in cuts:
        pos = min(pos, len(text))
        text = text[:pos] + insert + text[pos + n :]
    try:
        parse_scene(text, source="mangled.toml")
    except ConfigError as exc:
        assert "mangled.toml" in str(exc)


EXTREMES = [0, -1, 1e-300, 1e-9, 0.01, 0.5, 1, 100, 1e6, 1e300, -1e300]
NUMERIC_FIELDS = [
    ("layers", 1, "width_m"),
    ("layers", 1, "height_m"),
    ("layers", 1, "y"),
    ("layers", 1, "contrast"),
    ("layers", 1, "distance_m", "start"),
    ("layers", 1, "distance_m", "speed"),
    ("layers", 1, "distance_m", "min"),
    ("layers", 1, "x", "from"),
    ("layers", 1, "x", "t1_s"),
    ("layers", 0, "width_m"),
    ("layers", 0, "distance_m"),
    ("light_lux",),
]


@settings(max_examples=60, deadline=None)
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(NUMERIC_FIELDS), st.sampled_from(EXTREMES)),
        min_size=1,
        max_size=3,
    ),
    t_s=st.sampled_from([0.0, 1.0, 1e6]),
    focus_d=st.sampled_from([0.0, 0.5, 12.0]),
)
def test_extreme_numbers_load_or_fail_cleanly_and_render(
    changes: list[tuple[tuple[Any, ...], float]], t_s: float, focus_d: float
) -> None:
    from afon.cameras.sim.optics import Optics
    from afon.cameras.sim.render import Renderer

    doc = json.loads(json.dumps(BASE))
    for path, value in changes:
        _container(doc, path)[path[-1]] = value
    try:
        scene = parse_scene(to_toml(doc), source="extreme.toml")
    except ConfigError as exc:
        assert exc.field
        return
    optics = Optics(4.74, 1.8, 6.45, 3.63, (4608, 2592), 1.0 / 12.0)
    r = Renderer(scene, optics, (64, 48))
    img = r.render(t_s, focus_d)
    assert img.shape == (48, 64, 3)
    ph = r.render_phase(t_s, focus_d)
    assert np.isfinite(ph.left).all()
    still = r.render_still(t_s, focus_d, size_px=(64, 36))
    assert still.shape == (36, 64, 3)
