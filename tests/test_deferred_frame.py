"""Deferred frames (`DeferredFrame`, `SimCamera.defer_frames`): a frame's image and phase
images are drawn when first read, the same pixels as an eager frame, and not at all if nobody
reads them (the benchmark's AF-S gate drops frames exposed during a move unread)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from afon.cameras.base import DeferredFrame, Frame
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.motor import HISTORY_PLANS
from afon.errors import CameraError

PREVIEW = (160, 120)
MOVES_D = (1.0, 3.0, 0.6, 2.2, 1.4)


def _camera(defer: bool) -> SimCamera:
    cam = SimCamera("runner", "cm3", preview_px=PREVIEW, seed=4, start_d=0.8)
    cam.defer_frames = defer
    return cam


def _frames(cam: SimCamera) -> list[Frame]:
    """Frames while the lens moves (rolling shutter across moves), phase on odd frames."""
    out = []
    for i, target in enumerate(MOVES_D * 2):
        out.append(cam.next_frame(phase=i % 2 == 1))
        cam.move_lens(target)
    return out


def _same(a: Frame, b: Frame) -> None:
    assert np.array_equal(a.image, b.image)
    if a.phase is None or b.phase is None:
        assert a.phase is None and b.phase is None
    else:
        assert np.array_equal(a.phase.left, b.phase.left)
        assert np.array_equal(a.phase.right, b.phase.right)
    for name in ("index", "exposure_start_s", "exposure_end_s", "ready_s", "lens_start_d",
                 "lens_end_d", "lens_moving", "meta", "readout_s"):
        assert getattr(a, name) == getattr(b, name), name


def test_a_deferred_frame_holds_the_eager_pixels_whenever_it_is_read() -> None:
    eager = _frames(_camera(False))
    cam = _camera(True)
    lazy = _frames(cam)
    assert all(isinstance(f, DeferredFrame) for f in lazy)
    # nothing drawn yet (a frame without phase images holds phase=None from the start)
    assert [f.developed for f in lazy] == [() if i % 2 else ("phase",) for i in range(len(lazy))]
    assert not any(isinstance(f, DeferredFrame) for f in eager)
    assert any(f.phase is not None for f in eager) and any(f.lens_moving for f in eager)
    # read out of order and after later frames and moves: phase before image, newest first
    for f in reversed(lazy):
        _ = f.phase
    for e, d in zip(eager, lazy, strict=True):
        _same(e, d)
        assert d.developed == ("image", "phase")


def test_a_frame_nobody_reads_is_never_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    cam = _camera(True)
    drawn: list[str] = []
    real_render, real_phase = cam.renderer.render, cam.renderer.render_phase

    def render(*a: Any, **k: Any) -> Any:
        drawn.append("image")
        return real_render(*a, **k)

    def render_phase(*a: Any, **k: Any) -> Any:
        drawn.append("phase")
        return real_phase(*a, **k)

    monkeypatch.setattr(cam.renderer, "render", render)
    monkeypatch.setattr(cam.renderer, "render_phase", render_phase)
    frames = _frames(cam)
    assert drawn == []
    _ = frames[3].image
    assert drawn == ["image"]
    _ = frames[3].image  # kept, not drawn again
    _ = frames[3].phase
    _ = frames[2].phase  # no phase asked for frame 2: None, nothing drawn
    assert drawn == ["image", "phase"] and frames[2].phase is None


def test_a_frame_read_after_its_lens_history_is_dropped_is_refused() -> None:
    cam = _camera(True)
    f = cam.next_frame()
    for i in range(HISTORY_PLANS + 2):
        cam.move_lens(1.0 + (i % 2))  # each command starts a plan
    with pytest.raises(CameraError, match=f"frame {f.index} was read after"):
        _ = f.image


def test_a_deferred_frame_needs_its_fields() -> None:
    with pytest.raises(TypeError, match="index"):
        DeferredFrame(lambda name: None, exposure_start_s=0.0)
    with pytest.raises(TypeError, match="colour"):
        DeferredFrame(lambda name: None, index=0, image=np.zeros((2, 2), np.uint8),
                      exposure_start_s=0.0, exposure_end_s=0.0, ready_s=0.0, lens_start_d=0.0,
                      lens_end_d=0.0, lens_moving=False, colour="red")
