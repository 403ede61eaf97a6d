"""Benchmark scenario files: the built-in library, validation errors naming file and field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afon.bench.scenario import (
    Scenario,
    builtin_scenario_names,
    load_builtin_scenario,
    load_scenario,
    parse_scenario,
    parse_scenario_text,
)
from afon.config import TomlDoc
from afon.errors import ConfigError

VALID = """
name = "test"
description = "a test"
scene = "portrait"
preset = "50mm-f1.8"
duration_s = 3.0
af_point = [0.5, 0.5]
af_area = "single"

[shoot]
at_s = [1.0, 1.5]
tolerance_s = 0.15

[recompose]
t_s = 0.8
duration_s = 0.2
shift = [0.2, 0.0]
"""


def test_builtin_library_has_the_issue_scenarios() -> None:
    names = builtin_scenario_names()
    for wanted in (
        "portrait", "runner", "bird", "bird-tracking", "obstacle", "low-light", "erratic",
        "stop", "turn", "crossing", "stack",
    ):  # fmt: skip
        assert wanted in names
    for name in names:
        scn = load_builtin_scenario(name)
        assert scn.name == name
        assert scn.shoot.moments_s, name
        # the photographer's reaction (≤ 0.6 s) and the release lag fit after the last moment
        assert scn.shoot.moments_s[-1] + 0.7 <= scn.duration_s + 1e-9, name
        assert (scn.stack is None) == (scn.scene is not None), name


def test_library_choices() -> None:
    portrait = load_builtin_scenario("portrait")
    assert portrait.preset == "50mm-f1.8" and portrait.recompose is not None
    assert len(portrait.shoot.moments_s) >= 3
    assert all(t > portrait.recompose.t_s for t in portrait.shoot.moments_s)
    for name in ("runner", "bird"):
        scn = load_builtin_scenario(name)
        assert scn.preset == "300mm-f2.8" and scn.shoot.burst
    stack = load_builtin_scenario("stack")
    assert stack.stack is not None and stack.stack.path == "focal-stacks/pcb-depthmap"
    assert stack.stack.subject_slice == 4


def test_tracking_scenarios_move_as_described() -> None:
    from afon.bench.runner import scene_for

    def distance(name: str, t_s: float) -> float:
        return scene_for(load_builtin_scenario(name)).subject_distance_m(t_s)

    # stop: braking from 10 m/s at 4 m/s², standing at 17.5 m from 2.5 s on
    assert distance("stop", 1.0) == pytest.approx(30 - 10 + 2)
    assert distance("stop", 2.5) == distance("stop", 3.5) == pytest.approx(17.5)
    # turn: nearest (16 m) at 2 s, receding after
    assert distance("turn", 2.0) == pytest.approx(16.0)
    assert distance("turn", 1.5) > 16.0 < distance("turn", 2.5)
    # crossing and bird-tracking use the tracking area; the bird keeps its single-point twin
    crossing = load_builtin_scenario("crossing")
    assert crossing.af_area == "tracking" and crossing.af_point == (0.25, 0.5)
    assert load_builtin_scenario("bird-tracking").af_area == "tracking"
    assert load_builtin_scenario("bird").af_area == "single"


def test_linear_motion_until_s(tmp_path: Path) -> None:
    from afon.cameras.sim.scene import load_scene

    scene = tmp_path / "s.toml"
    body = """
[[layers]]
name = "s"
kind = "subject"
texture = "flat:0.5"
width_m = 1
distance_m = { motion = "linear", start = 20, speed = -8, accel = 4, until_s = UNTIL, min = 1 }
"""
    scene.write_text(body.replace("UNTIL", "2.0"))
    layer = load_scene(scene).layers[0]
    assert layer.distance_m(1.0) == pytest.approx(14.0)
    assert layer.distance_m(2.0) == layer.distance_m(9.0) == pytest.approx(12.0)
    scene.write_text(body.replace("UNTIL", "-1"))
    with pytest.raises(ConfigError, match=r"s\.toml.*until_s"):
        load_scene(scene)


def test_burst_moments() -> None:
    scn = parse_scenario_text(
        VALID.replace("at_s = [1.0, 1.5]", "burst_fps = 10\nfrom_s = 0.5\nuntil_s = 1.0")
    )
    assert scn.shoot.burst_fps == 10
    assert scn.shoot.moments_s == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('af_area = "single"', 'af_area = "everywhere"'), "af_area"),
        (("af_point = [0.5, 0.5]", "af_point = [1.5, 0.5]"), "af_point"),
        (("duration_s = 3.0", 'duration_s = "long"'), "duration_s"),
        (("duration_s = 3.0", "duration_s = -1"), "duration_s"),
        (('scene = "portrait"', 'scene = "no-such-scene"'), "scene"),
        (('preset = "50mm-f1.8"', 'preset = "no-such-lens"'), "preset"),
        (("at_s = [1.0, 1.5]", "at_s = [1.5, 1.0]"), "shoot.at_s"),
        (("at_s = [1.0, 1.5]", "at_s = [1.0, 9.0]"), "shoot.at_s"),
        (("at_s = [1.0, 1.5]", "at_s = []"), "shoot.at_s"),
        (("at_s = [1.0, 1.5]", "at_s = [1.0, true]"), "shoot.at_s"),
        (("at_s = [1.0, 1.5]", "at_s = [1.0]\nburst_fps = 5"), "shoot.at_s"),
        (("at_s = [1.0, 1.5]", "burst_fps = 5\nfrom_s = 2\nuntil_s = 1"), "shoot.until_s"),
        (("at_s = [1.0, 1.5]", "burst_fps = 0\nfrom_s = 1\nuntil_s = 2"), "shoot.burst_fps"),
        (("tolerance_s = 0.15", "tolerance_s = 0"), "shoot.tolerance_s"),
        (("tolerance_s = 0.15", "tolerence_s = 0.15"), "shoot.tolerence_s"),
        (("shift = [0.2, 0.0]", "shift = [5.0, 0.0]"), "recompose.shift"),
        (("t_s = 0.8", "t_s = 8"), "recompose.t_s"),
        (('name = "test"', 'nmae = "test"'), "nmae"),
    ],
)
def test_errors_name_the_field(change: tuple[str, str], field: str) -> None:
    text = VALID.replace(*change)
    assert text != VALID
    with pytest.raises(ConfigError) as info:
        parse_scenario_text(text, "my.toml")
    assert info.value.source == "my.toml"
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"my.toml: {field}: ")


def test_missing_sections_and_stack_rules() -> None:
    with pytest.raises(ConfigError, match="shoot"):
        parse_scenario_text(VALID.split("[shoot]")[0], "a.toml")
    no_scene = VALID.replace('scene = "portrait"\n', "")
    with pytest.raises(ConfigError, match="scene: required"):
        parse_scenario_text(no_scene, "a.toml")
    stack = """
duration_s = 2.0
scene = "portrait"
[stack]
path = "focal-stacks/ring"
subject_slice = 1
[shoot]
at_s = [1.0]
"""
    with pytest.raises(ConfigError, match="scene: a stack scenario"):
        parse_scenario_text(stack, "a.toml")
    with pytest.raises(ConfigError, match=r"stack\.path"):
        parse_scenario_text(
            stack.replace('scene = "portrait"\n', "").replace("focal-stacks/ring", "../../etc"),
            "a.toml",
        )
    ok = parse_scenario_text(stack.replace('scene = "portrait"\n', ""), "a.toml")
    assert ok.kind == "stack" and ok.stack is not None and ok.stack.subject_slice == 1


def test_errors_from_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(VALID.replace("duration_s = 3.0", "duration_s = [3]"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(path) in str(info.value) and "duration_s" in str(info.value)
    path.write_text("duration_s = = 3")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_scenario(path)


def test_scene_file_relative_to_the_scenario(tmp_path: Path) -> None:
    from afon.cameras.sim.scene import _builtin_dir

    scene = tmp_path / "scenes" / "mine.toml"
    scene.parent.mkdir()
    scene.write_text((_builtin_dir() / "portrait.toml").read_text())
    path = tmp_path / "s.toml"
    path.write_text(VALID.replace('scene = "portrait"', 'scene = "scenes/mine.toml"'))
    scn = load_scenario(path)
    assert scn.scene == str(scene.resolve())


# --- malformed documents only ever raise ConfigError naming the file ---------------------------
KEYS = [
    "name",
    "description",
    "scene",
    "preset",
    "duration_s",
    "start_d",
    "start_s",
    "af_point",
    "af_area",
    "shoot",
    "recompose",
    "stack",
    "at_s",
    "burst_fps",
    "from_s",
    "until_s",
    "tolerance_s",
    "t_s",
    "shift",
    "path",
    "subject_slice",
    "lens_range_d",
    "x",
]

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "portrait",
            "50mm-f1.8",
            "single",
            "focal-stacks/ring",
            "",
            "\x00",
            "~nosuchuser/x.toml",
            "/",
            "..",
            "a" * 300,
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=9)


def _check(outcome: Any, source: str) -> None:
    assert isinstance(outcome, Scenario | ConfigError), outcome
    if isinstance(outcome, ConfigError):
        assert outcome.source == source
        assert str(outcome).startswith(source)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_malformed_tables_raise_config_error_naming_the_file(doc: dict[str, Any]) -> None:
    try:
        outcome: Any = parse_scenario(TomlDoc(doc, "fuzz.toml"))
    except ConfigError as exc:
        outcome = exc
    _check(outcome, "fuzz.toml")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mangled_text_raises_config_error_naming_the_file(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        text = text[:i] + data.draw(st.text(max_size=6)) + text[j:]
    try:
        outcome: Any = parse_scenario_text(text, "mangled.toml")
    except ConfigError as exc:
        outcome = exc
    _check(outcome, "mangled.toml")
    if isinstance(outcome, Scenario):
        assert math.isfinite(outcome.duration_s) and outcome.shoot.moments_s


# --- a bad file found inside a benchmark worker process reaches the parent as itself -----------
def test_config_error_survives_pickling() -> None:
    import pickle

    err = ConfigError("s.toml", "shoot.at_s", "must be > 0")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, ConfigError)
    assert (back.source, back.field, back.problem) == ("s.toml", "shoot.at_s", "must be > 0")
    assert str(back) == str(err)


def test_other_afon_errors_with_parts_survive_pickling() -> None:
    import pickle

    from afon.cameras.gphoto2 import Gphoto2CallError
    from afon.errors import StorageError
    from afon.web.protocol import ProtocolError

    storage = pickle.loads(pickle.dumps(StorageError("shots folder full", "/x")))
    assert (storage.reason, str(storage)) == ("shots folder full", "shots folder full: /x")
    proto = pickle.loads(pickle.dumps(ProtocolError("bad", "control")))
    assert (str(proto), proto.field) == ("bad", "control")
    call = pickle.loads(pickle.dumps(Gphoto2CallError("out of focus", -110)))
    assert (str(call), call.code) == ("out of focus", -110)


def test_bench_worker_reports_a_bad_scene_file_by_name(tmp_path: Path) -> None:
    """The scenario is valid; the scene file it names is not, which only the worker process
    finds when it builds the camera. The parent must get that ConfigError, not a pickling
    error of the process pool."""
    from afon.bench.runner import run_bench

    scene = tmp_path / "bad-scene.toml"
    scene.write_text(
        '[[layers]]\nkind = "subject"\ntexture = "flat:0.5"\nwidth_m = "wide"\ndistance_m = 3\n'
    )
    path = tmp_path / "s.toml"
    path.write_text(VALID.replace('scene = "portrait"', 'scene = "bad-scene.toml"'))
    scn = load_scenario(path)
    with pytest.raises(ConfigError) as info:
        run_bench([scn], seeds=2, jobs=2, techniques=["bbf-af-s"])
    assert info.value.source == str(scene.resolve())
    assert info.value.field == "layers[0].width_m"
    assert info.value.problem == "expected a number, got 'wide'"
