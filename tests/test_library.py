"""afon as a library: the flat API, context managers, events from other threads, and the
README's Python examples, run as written (with the substitutions named below)."""

from __future__ import annotations

import contextlib
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import afon
from afon import AfWindow, Body, Control, ControlEvent, SimCamera, StackCamera, open_camera
from afon.focus.states import AfState

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_flat_api_names_the_same_objects_as_the_modules() -> None:
    from afon.body import Body as DeepBody
    from afon.cameras.url import open_camera as deep_open
    from afon.focus.engine import AfWindow as DeepWindow

    assert (Body, open_camera, AfWindow) == (DeepBody, deep_open, DeepWindow)
    assert StackCamera.__module__ == "afon.cameras.stack"
    assert set(afon.__all__) <= set(dir(afon))
    with pytest.raises(AttributeError, match="no attribute 'Bogus'"):
        _ = afon.Bogus  # type: ignore[attr-defined]


def test_open_camera_takes_the_cli_urls() -> None:
    with open_camera("sim:portrait") as cam:
        assert isinstance(cam, SimCamera) and cam.scene.name == "portrait"
    with open_camera("runner", preset="50mm-f1.8") as cam:  # a bare name is sim:
        assert isinstance(cam, SimCamera) and cam.preset.name == "50mm-f1.8"
    with pytest.raises(afon.AfonError, match="unknown camera 'nikon:z8'"):
        open_camera("nikon:z8")


class _CountingCamera(SimCamera):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_body_as_context_manager_ends_a_pending_burst_and_closes_the_camera(
    tmp_path: Path,
) -> None:
    camera = _CountingCamera("portrait", "cm3")
    with Body(camera, "bbf", shots_dir=tmp_path) as body:
        body.af_on.press_for(0.5)
        body.shutter.press()
        body.run_for(0.3)  # a burst under way when the block ends
    assert camera.closed == 1
    assert body.shots and all(s.ok for s in body.shots)
    assert len(list(tmp_path.glob("shot_*.json"))) == len(body.shots)
    with pytest.raises(RuntimeError), Body(_CountingCamera("portrait", "cm3")) as failing:
        raise RuntimeError("the user's code failed")
    assert failing.camera.closed == 1  # type: ignore[attr-defined]


def test_buttons_off_the_loop_thread_are_queued_until_the_next_frame() -> None:
    body = Body(SimCamera("portrait", "cm3"), "bbf")
    body.step()
    worker = threading.Thread(target=body.af_on.press)
    worker.start()
    worker.join()
    assert not body.af_on.is_pressed  # queued: the loop thread has not run since
    body.step()
    assert body.af_on.is_pressed and body.state is not AfState.INACTIVE
    # the loop thread itself applies at once
    body.af_on.release()
    assert not body.af_on.is_pressed


def test_many_threads_submitting_at_once_lose_nothing_and_keep_each_threads_order() -> None:
    body = Body(SimCamera("portrait", "cm3"), "bbf")
    body.step()
    seen: list[ControlEvent] = []
    real_handle = body.handle

    def recording_handle(event: ControlEvent) -> None:
        seen.append(event)
        real_handle(event)

    body.handle = recording_handle  # type: ignore[method-assign]
    controls = [Control.AF_POINT_UP, Control.AF_POINT_DOWN, Control.AF_POINT_LEFT]

    def presser(control: Control) -> None:
        for i in range(50):
            body.submit(ControlEvent(control, i % 2 == 0, body.clock.now_s()))

    threads = [threading.Thread(target=presser, args=(c,)) for c in controls]
    for t in threads:
        t.start()
    for _ in range(5):
        body.step()  # the loop runs while they submit
    for t in threads:
        t.join()
    body.step()
    assert len(seen) == 150
    for control in controls:
        mine = [e.pressed for e in seen if e.control is control]
        assert mine == [i % 2 == 0 for i in range(50)]


# --- the README's examples ------------------------------------------------------------------
def _run(code: str, namespace: dict[str, Any] | None = None) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace if namespace is not None else {})
    return out.getvalue()


def test_readme_has_the_examples_this_file_runs() -> None:
    blocks = python_blocks(README)
    assert len(blocks) == 2, "a new README example needs running here"
    assert "picamera2:0" in blocks[1] and "when_pressed" in blocks[1]


def test_readme_example_prints_what_the_readme_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = python_blocks(README)[0]
    expected = re.findall(r"^# (AfState\..*)$", code, re.M)[-1]
    assert _run(code).strip() == expected
    assert list((tmp_path / "out" / "shots").glob("shot_*.jpg"))


def test_readme_pi_loop_with_gpiozero_buttons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock_pins: Any
) -> None:
    """The Pi example as written, on gpiozero's mock pins; the only substitutions: the
    simulated camera for picamera2:0 (no Pi here), and a bounded loop whose steps drive the
    pins from another thread (as gpiozero's own thread would) for `while True:`."""
    monkeypatch.chdir(tmp_path)
    code = python_blocks(README)[1]
    assert code.count('open_camera("picamera2:0")') == 1 and code.count("while True:") == 1
    code = code.replace('open_camera("picamera2:0")', 'open_camera("sim:portrait")')
    code = code.replace("while True:", "for _ in steps():")
    af_on, shutter = mock_pins.pin(17), mock_pins.pin(27)
    af_on.drive_high()  # pulled up: not pressed
    shutter.drive_high()
    script = {2: (af_on.drive_low,), 40: (shutter.drive_low,), 52: (shutter.drive_high,)}
    script[60] = (af_on.drive_high,)

    def steps() -> Iterator[int]:
        for n in range(70):
            for action in script.get(n, ()):
                edge = threading.Thread(target=action)
                edge.start()
                edge.join()
            yield n

    namespace: dict[str, Any] = {"steps": steps}
    _run(code, namespace)
    body = namespace["body"]
    assert body.shots and all(s.ok for s in body.shots)
    assert all(s.in_focus is None for s in body.shots)  # no judge: a Pi knows no truth
    assert sorted(p.name for p in (tmp_path / "shots").glob("*.jpg"))
    assert not body.af_on.is_pressed and body.state is AfState.FOCUSED_LOCKED
