"""The command line: exit codes (2 usage, 1 runtime failure, 130 interrupted), help for every
option, camera URL forms in each command's help, `afon run --json` and bench output."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from afon import cli
from afon.cameras.url import SCHEMES
from afon.cli import build_parser, main


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        main(["shoot", "--no-such-option"])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["render", "--scene", "portrait"])  # required options missing
    assert err.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["shoot", "--af-point", "3,3", "--no-images"], "--af-point 3,3"),
        (["shoot", "--camera", "nikon:z8"], "unknown camera 'nikon:z8'"),
        (["shoot", "--preset", "no-such-lens", "--no-images"], "built-in presets"),
        (["render", "--scene", "portrait", "--focus-d", "99", "--out", "x.png"], "outside"),
        (["run", "--camera", "sim:portrait"], "needs buttons"),
        (["run", "--camera", "sim:portrait", "--inputs", "gpio:af_on=99"], "gpio.af_on"),
        (["focus", "--camera", "sim:portrait", "--lock"], "cannot lock"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("afon: error: ") and message in err


def test_runtime_failures_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shoot", "--camera", "v4l2:/dev/video99", "--no-images"]) == 1
    assert "no such video device" in capsys.readouterr().err
    assert main(["shoot", "--camera", "stack:/no/such/stack"]) == 1
    assert "not found" in capsys.readouterr().err


def test_interrupted_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_presets", interrupted)
    assert main(["presets"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_every_option_has_help_and_the_exit_codes_are_told() -> None:
    for name, parser in commands().items():
        for action in parser._actions:
            if action.dest != "help":
                assert action.help, f"afon {name} {action.option_strings or action.dest}"
        text = parser.format_help()
        assert "exit status:" in text and "2    a usage error" in text, name
        assert "1    a runtime failure" in text, name
    assert "exit status:" in build_parser().format_help()


def test_commands_taking_a_camera_list_every_url_form() -> None:
    with_camera = set()
    for name, parser in commands().items():
        if any(a.dest == "camera" for a in parser._actions):
            with_camera.add(name)
            text = parser.format_help()
            for scheme in SCHEMES:
                assert f"  {scheme}:" in text, (name, scheme)
    assert with_camera >= {"shoot", "serve", "run", "focus"}


def test_run_json_prints_ndjson(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mock_pins: Any,
    tmp_path: Path,
) -> None:
    import afon.clock

    # the run's "real" clock is a virtual one here: the whole run takes no wall-clock time
    monkeypatch.setattr(afon.clock, "RealClock", afon.clock.VirtualClock)
    argv = ["run", "--camera", "sim:portrait", "--inputs", "gpio:af_on=17", "--duration-s", "0.5"]
    assert main([*argv, "--json", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "start" and events[0]["gpio"] == {"AF_ON": 17}
    assert events[-1]["event"] == "end" and events[-1]["frames"] > 0
    assert all(isinstance(e, dict) and "event" in e for e in events)


def test_bench_progress_is_plain_lines_off_a_terminal() -> None:
    from afon.bench.runner import _Progress

    stream = io.StringIO()
    bar = _Progress(25, stream=stream)
    for _ in range(25):
        bar.advance(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("bench: 0/25 trials (0%)")
    assert lines[-1].startswith("bench: 25/25 trials (100%)")
    assert 10 <= len(lines) <= 14 and "\x1b" not in stream.getvalue()


def test_piped_bench_table_does_not_wrap_numbers() -> None:
    from afon.bench.report import fmt_rate, print_table
    from afon.bench.runner import run_bench
    from afon.bench.scenario import load_builtin_scenario

    result = run_bench(
        [load_builtin_scenario("low-light")], seeds=1, jobs=1, techniques=["bbf-af-s"], quick=True
    )
    stream = io.StringIO()  # not a terminal, like a pipe
    print_table(result, stream)
    text = stream.getvalue()
    assert "\x1b" not in text
    row_lines = [line for line in text.splitlines() if "BBF AF-S" in line]
    assert len(row_lines) == len(result.rows)  # one line per row: nothing folded
    for row, line in zip(result.rows, row_lines, strict=True):
        assert fmt_rate(row) in line and row["strategy"] in line


def test_a_reader_that_goes_away_is_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`afon scenes --json | head -c 1`: the pipe closes under afon's output."""
    import os
    import sys

    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # the reader is gone: every write now fails with EPIPE
    pipe = os.fdopen(write_fd, "w")
    monkeypatch.setattr(sys, "stdout", pipe)
    assert main(["scenes", "--json"]) == 1
    monkeypatch.undo()
    pipe.close()  # flushes to /dev/null now: main pointed the descriptor there
    assert "Traceback" not in capsys.readouterr().err
