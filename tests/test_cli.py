"""The `afon` command, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from afon.cli import main

STACKS = Path(__file__).resolve().parent / "data" / "focal-stacks"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scenes_and_presets_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenes", "--json")
    names = {s["name"] for s in json.loads(out)["scenes"]}
    assert code == 0
    assert {"portrait", "runner", "bird", "obstacle", "low-light", "wall"} <= names
    code, out, _ = run(capsys, "presets", "--json")
    assert {p["name"] for p in json.loads(out)["presets"]} >= {"cm3", "50mm-f1.8", "300mm-f2.8"}


def test_render_writes_the_frame(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "f.png"
    code, out, _ = run(
        capsys,
        "render",
        "--scene",
        "portrait",
        "--focus-d",
        "0.4",
        "--out",
        str(out_file),
        "--preset",
        "50mm-f1.8",
        "--json",
    )
    info = json.loads(out)
    assert code == 0 and info["subject_in_focus"] is True
    assert Image.open(out_file).size == (640, 480)
    code, _, err = run(
        capsys, "render", "--scene", "portrait", "--focus-d", "40", "--out", str(out_file)
    )
    assert code == 2 and "outside the lens range" in err
    code, _, err = run(
        capsys, "render", "--scene", "nowhere", "--focus-d", "1", "--out", str(out_file)
    )
    assert code == 2 and "portrait" in err  # lists the known scenes


def test_shoot_script(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = tmp_path / "s.toml"
    script.write_text(
        '[[events]]\nt_s = 0.2\ncontrol = "AF_ON"\naction = "press"\n'
        '[[events]]\nt_s = 0.8\ncontrol = "AF_ON"\naction = "release"\n'
        '[[events]]\nt_s = 1.0\ncontrol = "SHUTTER"\naction = "tap"\nhold_s = 0.05\n'
    )
    out_dir = tmp_path / "shots"
    code, out, _ = run(
        capsys,
        "shoot",
        "--scene",
        "portrait",
        "--preset",
        "50mm-f1.8",
        "--profile",
        "bbf",
        "--script",
        str(script),
        "--out",
        str(out_dir),
        "--af-point",
        "0.3,0.5",
        "--json",
        "--no-images",
    )
    summary = json.loads(out)
    assert code == 0
    assert summary["af_state"] == "FOCUSED_LOCKED"
    assert [s["in_focus"] for s in summary["shots"]] == [True]
    assert (out_dir / "summary.json").exists()
    assert any(c["to"] == "PASSIVE_SCAN" for c in summary["af_state_changes"])
    bad = tmp_path / "bad.toml"
    bad.write_text('[[events]]\nt_s = 1\ncontrol = "AF_ON"\naction = "squeeze"\n')
    code, _, err = run(capsys, "shoot", "--script", str(bad), "--out", str(out_dir))
    assert code == 2 and "bad.toml: events[0].action" in err


@pytest.mark.parametrize(("stack", "slices"), [("ring", {0, 1}), ("pcb-depthmap", {4})])
def test_shoot_stack_reports_the_slice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stack: str, slices: set[int]
) -> None:
    if not (STACKS / stack).is_dir():
        pytest.fail(f"focal stack {STACKS / stack} missing from tests/data")
    code, out, _ = run(
        capsys,
        "shoot",
        "--camera",
        f"stack:{STACKS / stack}",
        "--out",
        str(tmp_path),
        "--json",
        "--no-images",
    )
    summary = json.loads(out)
    assert code == 0
    assert summary["slice"] in slices  # sharpest in the centre window (see test_measures.py)
    assert summary["shots"][0]["ok"]


def test_unknown_or_missing_cameras_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "shoot", "--camera", "webcam:0")
    assert code == 2 and "unknown camera" in err
    code, _, err = run(capsys, "shoot", "--camera", "v4l2:/dev/video9")
    assert code == 1 and "/dev/video9" in err  # a device missing is a runtime failure


def test_bench_seeds_option_says_the_default_and_refuses_nonsense(
        capsys: pytest.CaptureFixture[str]) -> None:
    from afon.bench.runner import DEFAULT_SEEDS, QUICK_SEEDS

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"default {DEFAULT_SEEDS}, with --quick {QUICK_SEEDS}" in out
    code, _, err = run(capsys, "bench", "--seeds", "0")
    assert code != 0 and "--seeds must be at least 1" in err
