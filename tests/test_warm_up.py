"""The ladder warm-up (`afon.cameras.sim.warm_up`): a live camera builds its blur ladders ahead.

What it must do: build every entry the frames of an AF run would build themselves (still and
moving lens, preview and phase images), so the frames build none; change no pixel; run in a
daemon thread that stops with the camera."""

from __future__ import annotations

import numpy as np
import pytest

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.render import _LayerCache
from afon.clock import VirtualClock


def _camera(scene: str = "desk", preset: str = "50mm-f1.8") -> SimCamera:
    return SimCamera(scene, preset, clock=VirtualClock(), seed=3)


def _built(cam: SimCamera) -> int:
    caches = cam.renderer._caches.values()
    return sum(c.built for c in caches)


def _af_run(cam: SimCamera, tmp_path, frames: int = 40) -> list[np.ndarray]:
    """An AF-C run from the motor's min end (previews and phase images, however the AF hunts),
    then the lens driven to the max end and back at the motor's top speed."""
    body = Body(cam, "bbf", shots_dir=tmp_path)
    body.set_focus_mode("AF-C")
    body.af_on.press()
    out = []
    for _ in range(frames):
        frame = body.step()
        out.append(np.asarray(frame.image).copy())
    body.af_on.release()
    spec = cam.preset.motor
    for target in (spec.max_d, spec.min_d):
        cam.move_lens(target)
        while cam.lens_moving():
            out.append(np.asarray(cam.next_frame(phase=True).image).copy())
        assert cam.lens_position_d() == pytest.approx(target, abs=0.01)  # (motor steps)
    return out


@pytest.mark.parametrize(("scene", "preset"), [("desk", "50mm-f1.8"), ("portrait", "300mm-f2.8")])
def test_warmed_ladders_leave_nothing_for_the_frames_to_build(scene, preset, tmp_path,
                                                                monkeypatch) -> None:
    cam = _camera(scene, preset)
    spec = cam.preset.motor
    built = cam.renderer.warm_ladders(0.0, (spec.min_d, spec.max_d),
                                      spec.max_speed_d_per_s * cam.integration_s)
    assert built > 50
    assert built == _built(cam)
    made: list[tuple[str, int, int]] = []
    real = _LayerCache._make_entry
    ours = {id(c) for c in cam.renderer._caches.values()}  # (not the PDAF calibration's chart)

    def spy(self, kind, m, j):  # type: ignore[no-untyped-def]
        if id(self) in ours:
            made.append((kind, m, j))
        return real(self, kind, m, j)

    monkeypatch.setattr(_LayerCache, "_make_entry", spy)
    _af_run(cam, tmp_path)
    assert made == []


def test_the_warm_up_changes_no_pixel(tmp_path) -> None:
    cold, warm = _camera(), _camera()
    spec = warm.preset.motor
    warm.renderer.warm_ladders(0.0, (spec.min_d, spec.max_d),
                               spec.max_speed_d_per_s * warm.integration_s)
    a = _af_run(cold, tmp_path / "a", 12)
    b = _af_run(warm, tmp_path / "b", 12)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def test_the_warm_up_thread_builds_and_stops_with_the_camera() -> None:
    cam = _camera("wall", "cm3")
    warm = cam.warm_up()
    assert warm is not None and cam.warm_up() is warm  # one per camera
    assert warm.done.wait(60.0)
    assert warm.error is None and warm.built > 0 and warm.built == _built(cam)
    cam.close()

    stopping = _camera()
    early = stopping.warm_up()
    assert early is not None
    stopping.close()  # at once: the thread stops between entries
    assert early.done.wait(10.0)
    full = _camera()
    spec = full.preset.motor
    assert early.built < full.renderer.warm_ladders(
        0.0, (spec.min_d, spec.max_d), spec.max_speed_d_per_s * full.integration_s) * 3


def test_no_warm_up_without_rendered_frames() -> None:
    cam = SimCamera("desk", "50mm-f1.8", clock=VirtualClock(), render_frames=False)
    assert cam.warm_up() is None
