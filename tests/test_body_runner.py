"""`BodyRunner`'s jobs: the body thread publishes the state a job leaves before it answers, so a
client that reads `GET /api/state` after its `POST` is answered sees its own change."""

from __future__ import annotations

from pathlib import Path

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.focus.engine import AfWindow
from afon.web.runner import BodyRunner


def _runner(tmp_path: Path) -> BodyRunner:
    cam = SimCamera("portrait", "50mm-f1.8", start_d=0.0, seed=3, still_px=(320, 240))
    body = Body(cam, "sony", shots_dir=tmp_path, window=AfWindow(0.5, 0.5))
    return BodyRunner(body, profiles=("bbf", "sony"))


def _run_queued(runner: BodyRunner) -> None:
    """What the body thread does with queued jobs (driven by hand: no thread, no wall clock)."""
    while not runner._jobs.empty():
        runner._do(runner._jobs.get_nowait())


def test_the_state_is_published_before_the_answer(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    runner.state = runner._snapshot()  # what `start` publishes (no thread here)
    assert runner.state["profile"] == "sony"
    seen: list[str] = []
    # a done-callback runs the moment the answer is set: what a client reads right after it
    future = runner.settings({"profile": "bbf"})
    future.add_done_callback(lambda _f: seen.append(runner.state["profile"]))
    _run_queued(runner)
    assert future.result()["profile"] == "bbf"
    assert seen == ["bbf"]


def test_the_live_loop_runs_opencv_single_threaded(tmp_path: Path) -> None:
    """OpenCV's pool would spin the core the encoder, the still buffer and the server need
    without shortening a live frame (`live_loop_threads`): starting the loop turns it off."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    runner = _runner(tmp_path)
    try:
        runner.start()
        assert cv2.getNumThreads() == 1
    finally:
        runner.stop()
        cv2.setNumThreads(before)
