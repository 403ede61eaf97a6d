"""afon tune: declared tunables, tuning files, the rpi.af export, studies on Dask, resume, and a
study shared through a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.cli import main
from afon.errors import AfonError, ConfigError
from afon.tune import strategies as tune_strategies
from afon.tune.executor import DaskExecutor
from afon.tune.export import (
    IMX708_NORMAL,
    check_rpi_af,
    merge_into,
    rpi_af_section,
)
from afon.tune.objective import Evaluation, cost, evaluate
from afon.tune.params import (
    load_tunables,
    parse_tuning,
    rounded,
    tunable_strategies,
    tuning_toml,
)
from afon.tune.study import TuneSpec, open_study, run_study


# --- declarations ------------------------------------------------------------------------
def _code_defaults(target: str) -> dict[str, Any]:
    """Keyword defaults of a constructor, or field defaults of a dataclass."""
    import importlib

    module, _, attr = target.rpartition(".")
    obj = getattr(importlib.import_module(module), attr)
    if dataclasses.is_dataclass(obj):
        return {f.name: f.default for f in dataclasses.fields(obj)}
    params = inspect.signature(obj.__init__).parameters
    return {n: p.default for n, p in params.items() if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize("name", tunable_strategies())
def test_every_tunable_is_a_real_parameter_with_the_codes_default(name: str) -> None:
    ts = load_tunables(name)
    assert ts.params, name
    code = _code_defaults(tune_strategies.TARGETS[name])
    for p in ts.params:
        target = tune_strategies.TARGETS[name]
        assert p.name in code, f"{name}.{p.name} is not a parameter of {target}"
        assert code[p.name] == p.default, f"{name}.{p.name}: {p.default} ≠ code {code[p.name]}"
        assert p.low <= p.default <= p.high


def test_libcamera_tunables_default_to_the_imx708_tuning() -> None:
    ts = load_tunables("libcamera")
    for p in ts.params:
        assert p.default == IMX708_NORMAL[p.name], p.name


# --- tuning files (written by afon tune, read back by users) ---------------------------------
def test_tuning_file_round_trip() -> None:
    ts = load_tunables("hybrid")
    params = {**ts.defaults(), "high_confidence": 0.61, "max_jumps": 3}
    text = tuning_toml(ts, params, preset="cm3", comment="test")
    back = parse_tuning(text, "t.toml")
    assert back.strategy == "hybrid" and back.mode == "AF-S" and back.preset == "cm3"
    assert back.params == params


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        ("high_confidence = 1.5", "params.high_confidence", "must be within 0.2..0.9"),
        ("max_jumps = 2.5", "params.max_jumps", "whole number"),
        ("max_jumps = true", "params.max_jumps", "expected a number"),
        ("high_confidence = nan", "params.high_confidence", "finite"),
        ("hi_confidence = 0.5", "params.hi_confidence", "not a tunable of hybrid"),
    ],
)
def test_bad_tuning_files_name_field_and_problem(line: str, field: str, problem: str) -> None:
    text = f'[strategy]\nname = "hybrid"\nmode = "AF-S"\npreset = "cm3"\n[params]\n{line}\n'
    with pytest.raises(ConfigError) as err:
        parse_tuning(text, "bad.toml")
    assert err.value.source == "bad.toml"
    assert err.value.field == field
    assert problem in err.value.problem


def test_tuning_file_for_an_unknown_strategy_or_wrong_mode() -> None:
    with pytest.raises(ConfigError, match=r"strategy\.name: 'nope' has no tunables"):
        parse_tuning('[strategy]\nname = "nope"\nmode = "AF-S"\npreset = "cm3"\n[params]\n', "x")
    with pytest.raises(ConfigError, match=r"strategy\.mode: hybrid is an AF-S strategy"):
        parse_tuning('[strategy]\nname = "hybrid"\nmode = "AF-C"\npreset = "cm3"\n[params]\n', "x")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_tuning_values_are_accepted_exactly_within_their_declared_range(data: Any) -> None:
    ts = load_tunables(data.draw(st.sampled_from(tunable_strategies())))
    p = data.draw(st.sampled_from(ts.params))
    value = data.draw(
        st.integers(int(p.low) - 5, int(p.high) + 5)
        if p.kind == "int"
        else st.floats(p.low - 1, p.high + 1, allow_nan=False)
    )
    text = (
        f'[strategy]\nname = "{ts.strategy}"\nmode = "{ts.mode}"\npreset = "cm3"\n'
        f"[params]\n{p.name} = {value!r}\n"
    )
    if p.low <= value <= p.high:
        assert parse_tuning(text, "t.toml").params[p.name] == value
    else:
        with pytest.raises(ConfigError) as err:
            parse_tuning(text, "t.toml")
        assert err.value.field == f"params.{p.name}"


def test_rounding_keeps_values_in_range() -> None:
    ts = load_tunables("hybrid")
    r = rounded(ts, {"high_confidence": 0.899999999, "low_confidence": 0.123456789, "max_jumps": 3})
    assert r == {"high_confidence": 0.9, "low_confidence": 0.1235, "max_jumps": 3}


# --- libcamera's rpi.af format ----------------------------------------------------------------
def test_rpi_af_export_is_what_libcameras_parser_reads() -> None:
    entry = rpi_af_section({"step_coarse": 0.5, "step_frames": 3}, (0.0, 10.0), 1.0)
    assert check_rpi_af(entry) == []
    normal = entry["rpi.af"]["speeds"]["normal"]
    assert normal["step_coarse"] == 0.5 and normal["step_frames"] == 3
    assert isinstance(normal["step_frames"], int)
    # untouched keys are the IMX708's normal speed, so nothing falls back to a compiled default
    assert normal["pdaf_gain"] == IMX708_NORMAL["pdaf_gain"]
    assert set(normal) == set(IMX708_NORMAL)
    # what libcamera would reject or warn about
    bad = json.loads(json.dumps(entry))
    bad["rpi.af"]["speeds"]["normal"]["step_frames"] = 2.5
    del bad["rpi.af"]["speeds"]["normal"]["step_fine"]
    bad["rpi.af"]["stepcoarse"] = 1
    problems = check_rpi_af(bad)
    assert any("step_frames: expected a whole number" in p for p in problems)
    assert any("step_fine: missing" in p for p in problems)
    assert any("stepcoarse: not read by af.cpp" in p for p in problems)
    with pytest.raises(ValueError, match=r"not an rpi\.af tuning key"):
        rpi_af_section({"step_size": 1.0}, (0.0, 10.0), 1.0)


def test_merge_into_a_sensor_tuning_file_keeps_its_map_and_ranges(tmp_path: Path) -> None:
    own = {
        "version": 2.0,
        "target": "bcm2835",
        "algorithms": [
            {"rpi.black_level": {"black_level": 4096}},
            {
                "rpi.af": {
                    "ranges": {"normal": {"min": 0.0, "max": 10.0, "default": 1.0}},
                    "speeds": {"normal": dict(IMX708_NORMAL)},
                    "skip_frames": 5,
                    "map": [0.0, 420, 10.0, 900],
                }
            },
        ],
    }
    path = tmp_path / "imx519.json"
    path.write_text(json.dumps(own))
    merged = merge_into(path, {"step_coarse": 0.8, "step_frames": 4})
    af = merged["algorithms"][1]["rpi.af"]
    assert af["map"] == [0.0, 420, 10.0, 900]
    assert af["ranges"]["normal"]["max"] == 10.0
    assert af["speeds"]["normal"]["step_coarse"] == 0.8
    assert af["speeds"]["normal"]["step_frames"] == 4
    assert merged["algorithms"][0] == own["algorithms"][0]
    assert check_rpi_af(merged["algorithms"][1]) == []
    path.write_text('{"algorithms": [{"rpi.agc": {}}]}')
    with pytest.raises(ConfigError, match=r"no rpi\.af entry"):
        merge_into(path, {"step_coarse": 0.8})


# --- the objective ---------------------------------------------------------------------------
def test_evaluation_is_a_pure_function_of_its_inputs() -> None:
    ev = Evaluation.of("hybrid", {}, "cm3", "portrait", 3)
    a, b = evaluate(ev), evaluate(ev)
    assert a == b
    assert a["frames"] > 0 and a["error_dof"] >= 0


def test_tuned_parameters_reach_the_strategy() -> None:
    """A libcamera scan waiting 1 frame per step must finish in fewer frames than 8."""
    slow = evaluate(Evaluation.of("libcamera", {"step_frames": 8}, "cm3", "portrait", 1))
    fast = evaluate(Evaluation.of("libcamera", {"step_frames": 1}, "cm3", "portrait", 1))
    assert fast["frames"] < slow["frames"]


def test_cost_penalises_misses() -> None:
    hit = {"frames": 10, "in_focus": True}
    miss = {"frames": 10, "in_focus": False}
    assert cost("AF-S", [hit]) == 10
    assert cost("AF-S", [hit, miss]) == pytest.approx((10 + 70) / 2)
    assert cost("AF-C", [{"shots": 4, "keepers": 3}]) == pytest.approx(0.25)
    assert math.isinf(cost("AF-S", []))


# --- studies ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    ex = DaskExecutor(None, workers=2)
    try:
        yield ex
    finally:
        ex.close()


def _spec(tmp: Path, **kw: Any) -> TuneSpec:
    base: dict[str, Any] = dict(
        strategy="libcamera",
        preset="cm3",
        scenarios=("portrait",),
        trials=4,
        seeds=1,
        seed=5,
        storage=f"sqlite:///{tmp / 'study.sqlite3'}",
    )
    base.update(kw)
    return TuneSpec(**base)


def test_two_worker_study_is_deterministic_and_beats_or_matches_the_defaults(
    cluster: DaskExecutor, tmp_path: Path
) -> None:
    assert cluster.workers == 2
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = run_study(_spec(tmp_path / "a"), cluster)
    b = run_study(_spec(tmp_path / "b"), cluster)
    assert a.trials_done == b.trials_done == 4
    assert a.best_params == b.best_params
    assert a.best_cost == pytest.approx(b.best_cost)
    assert a.defaults_cost is not None and a.best_cost <= a.defaults_cost
    assert a.evaluations == 4  # 4 trials × 1 scenario × 1 seed, spread over both workers


def test_an_interrupted_study_resumes_where_it_stopped(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    spec = _spec(tmp_path, trials=2)
    first = run_study(spec, None)
    assert first.trials_done == 2 and first.resumed_from == 0
    # a process killed mid-batch leaves a trial RUNNING
    study = open_study(spec)
    stale = study.ask()
    stale_params = {"step_coarse": stale.suggest_float("step_coarse", 0.25, 3.0)}
    more = dataclasses.replace(spec, trials=4)
    second = run_study(more, None)
    assert second.resumed_from == 2
    assert second.trials_done == 4
    study = open_study(more)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 1
    assert states.count(TrialState.COMPLETE) == 4
    retried = [
        t
        for t in study.trials
        if t.state is TrialState.COMPLETE
        and t.params.get("step_coarse") == stale_params["step_coarse"]
    ]
    assert retried, "the interrupted trial's parameters were asked again"
    # resuming with other settings is refused
    with pytest.raises(AfonError, match="was made for"):
        open_study(dataclasses.replace(spec, scenarios=("low-light",), study_name=spec.name()))


def test_spec_errors() -> None:
    with pytest.raises(AfonError, match="holdout must not repeat"):
        run_study(
            TuneSpec("hybrid", "cm3", ("portrait",), holdout=("portrait",), storage="sqlite://"),
            None,
        )
    with pytest.raises(AfonError, match="focal stack"):
        run_study(TuneSpec("hybrid", "cm3", ("stack",), storage="sqlite://"), None)


def test_bench_on_a_dask_scheduler_gives_the_local_rows(cluster: DaskExecutor) -> None:
    from afon.bench.runner import load_scenarios, run_bench

    scns = [s.shortened(1) for s in load_scenarios(["portrait"])]
    local = run_bench(scns, seeds=1, jobs=1, techniques=["bbf-af-s"])
    remote = run_bench(scns, seeds=1, techniques=["bbf-af-s"], scheduler=cluster.scheduler)
    assert remote.rows == local.rows


def test_cli_tune_writes_tuning_and_rpi_af(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "tune",
            "--strategy",
            "libcamera",
            "--preset",
            "cm3",
            "--scenarios",
            "portrait",
            "--holdout",
            "low-light",
            "--trials",
            "2",
            "--seeds",
            "1",
            "--compare-seeds",
            "1",
            "--workers",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trials"] == 2
    assert set(report["comparison"]) == {"portrait", "low-light"}
    assert report["comparison"]["low-light"]["set"] == "holdout"
    assert check_rpi_af(json.loads((out / "rpi-af.json").read_text())) == []
    tuned = parse_tuning((out / "tuning.toml").read_text(), "tuning.toml")
    assert tuned.strategy == "libcamera" and tuned.preset == "cm3"
    assert (out / "history.png").stat().st_size > 1000


def test_cli_tune_unknown_strategy_is_a_usage_error(capsys: Any) -> None:
    code = main(["tune", "--strategy", "nope", "--scenarios", "portrait", "--trials", "1"])
    assert code == 2
    assert "'nope' has no tunables" in capsys.readouterr().err


# --- a study shared through PostgreSQL -------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (skipped where none is installed)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"))  # Debian keeps them off PATH
    path = os.pathsep.join([*map(str, found[-1:]), os.environ.get("PATH", "")])
    initdb = shutil.which("initdb", path=path)
    pg_ctl = shutil.which("pg_ctl", path=path)
    if initdb is None or pg_ctl is None:
        pytest.skip(
            "PostgreSQL is not installed (Debian package postgresql; scripts/test.sh "
            "installs it when run as root)"
        )
    pytest.importorskip("psycopg2")
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="afon-pg-"))
    data = base / "data"
    if as_user:
        shutil.chown(base, "postgres")
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "afon", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-l",
            str(base / "log"),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base}",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql+psycopg2://afon@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_a_study_in_postgresql_is_shared_and_resumed(postgres: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, trials=2, storage=postgres, study_name="shared")
    first = run_study(spec, None)
    # a second machine opening the same study sees the trials and continues
    second = run_study(dataclasses.replace(spec, trials=3), None)
    assert first.trials_done == 2
    assert second.resumed_from == 2 and second.trials_done == 3


def test_an_af_c_evaluation_runs_the_tuned_servo_through_the_benchmark() -> None:
    """Tuned servo parameters reach the bench's trial, and an AF-C evaluation is the bench's
    own keeper count, the same every time."""
    from afon.bench.runner import _factories
    from afon.cameras.sim.camera import SimCamera
    from afon.focus.context import context_for

    single, servo = _factories("predictive", None, None, (("min_confidence", 0.8),))  # type: ignore[arg-type]
    assert single is None and servo is not None
    ctx = context_for(SimCamera("runner", "300mm-f2.8", render_frames=False))
    assert servo(ctx).min_confidence == 0.8  # type: ignore[attr-defined]
    default = evaluate(Evaluation.of("predictive", {}, "300mm-f2.8", "runner", 0))
    assert default["shots"] > 0 and 0 <= default["keepers"] <= default["shots"]
    assert evaluate(Evaluation.of("predictive", {}, "300mm-f2.8", "runner", 0)) == default


# --- any tuning or tunables document: a valid object or a ConfigError naming the field --------
_tune_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=5),
    st.sampled_from(["hybrid", "AF-S", "AF-C", "cm3", "int", "float", "lens-range"]),
)
_tune_keys = st.sampled_from(
    ["strategy", "mode", "name", "preset", "params", "high_confidence", "max_jumps", "low",
     "high", "default", "unit", "type", "log", "scale"]
)  # fmt: skip
_tune_values = st.recursive(
    _tune_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_tune_keys, inner)),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_tune_keys, _tune_values, max_size=5))
def test_any_tuning_document_gives_a_tuning_or_a_named_error(doc: dict[str, Any]) -> None:
    from afon.config import TomlDoc
    from afon.tune.params import parse_tunables, tuning_of

    for parse in (
        lambda: tuning_of(TomlDoc(doc, "fuzz.toml")),
        lambda: parse_tunables(TomlDoc(doc, "fuzz.toml")),
    ):
        try:
            parse()
        except ConfigError as exc:
            assert exc.source == "fuzz.toml" and exc.field and exc.problem, str(exc)


def test_a_tunables_declaration_names_its_bad_field() -> None:
    from afon.config import TomlDoc
    from afon.tune.params import parse_tunables

    base: dict[str, Any] = {"strategy": "x", "mode": "AF-S"}
    cases = [
        ({"params": {}}, "params", "declares no parameters"),
        ({"mode": "AF-X", "params": {}}, "mode", "must be one of AF-S, AF-C; got 'AF-X'"),
        (
            {"params": {"g": {"low": 1, "high": 0.5, "default": 1, "unit": "x"}}},
            "params.g.high",
            "must be > low (1), got 0.5",
        ),
        (
            {"params": {"g": {"low": 0, "high": 1, "default": 0.5, "unit": "x", "log": True}}},
            "params.g.low",
            "must be > 0 on a log scale, got 0",
        ),
    ]
    for change, field, problem in cases:
        with pytest.raises(ConfigError) as err:
            parse_tunables(TomlDoc({**base, **change}, "t.toml"))
        assert (err.value.field, err.value.problem) == (field, problem)
