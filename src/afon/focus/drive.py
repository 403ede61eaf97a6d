"""The AF-S driving loop: frames in, lens moves out, until FOCUSED, FAILED or the timeout.

`run_single_shot` is the smallest loop that runs a `SingleShotAf` on a camera, the same loop the
body, the tests and the benchmark use::

    frame = camera.next_frame(phase=strategy.wants_phase)
    step = strategy.update(frame, window)
    if step.target_d is not None:
        camera.move_lens(step.target_d)

It counts the frames delivered from the AF start up to and including the frame on which the
status left SCANNING. After the verdict it waits (on the camera's clock, never the wall clock)
until the lens has stopped, so ``lens_d`` is where the lens rests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from afon.cameras.base import Frame
from afon.clock import Clock
from afon.focus.engine import AfStatus, AfWindow, SingleShotAf

SETTLE_POLL_S = 0.005
"""Clock step while waiting for the lens to come to rest after the verdict."""
SETTLE_LIMIT_S = 2.0
"""Longest wait for the lens to come to rest (a lens that never settles is reported moving)."""


class _DrivableCamera(Protocol):
    @property
    def clock(self) -> Clock: ...

    def next_frame(self, phase: bool = False) -> Frame: ...

    def move_lens(self, target_d: float) -> float: ...

    def lens_position_d(self) -> float: ...

    def lens_moving(self) -> bool: ...


@dataclass(frozen=True)
class AcquisitionResult:
    """How one AF-S acquisition ended."""

    frames: int
    """Frames delivered from the AF start to the verdict (inclusive)."""
    status: AfStatus
    """FOCUSED or FAILED (SCANNING never: the timeout turns into FAILED)."""
    lens_d: float
    """Lens position once it came to rest after the verdict."""
    start_s: float
    verdict_s: float
    """Clock time at which the verdict frame was handled."""
    settled_s: float
    """Clock time at which `lens_d` was read (the lens at rest)."""
    moves: int
    """Lens commands issued."""
    timed_out: bool = False
    last_frame: Frame | None = None
    lens_history: list[tuple[int, float]] = field(default_factory=list)
    """(frame index, mean lens position during its exposure) of every frame seen."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "status": self.status.value,
            "lens_d": self.lens_d,
            "time_s": self.verdict_s - self.start_s,
            "moves": self.moves,
            "timed_out": self.timed_out,
        }


def run_single_shot(
    camera: _DrivableCamera,
    strategy: SingleShotAf,
    window: AfWindow | None = None,
    max_frames: int = 300,
) -> AcquisitionResult:
    """Run one AF-S acquisition of `strategy` on `camera` in the AF `window`.

    `max_frames` is the driver's own safety net on top of the strategy's timeout: if the
    strategy has not decided after that many frames, it is cancelled (when it can be) and the
    result is FAILED with ``timed_out`` set.
    """
    win = window if window is not None else AfWindow()
    clock = camera.clock
    start_s = clock.now_s()
    moves = 0
    first = strategy.start(camera.lens_position_d(), start_s)
    if first is not None:
        camera.move_lens(first)
        moves += 1
    frames = 0
    status = AfStatus.SCANNING
    last: Frame | None = None
    history: list[tuple[int, float]] = []
    while frames < max_frames:
        frame = camera.next_frame(phase=strategy.wants_phase)
        frames += 1
        last = frame
        history.append((frame.index, frame.lens_d))
        step = strategy.update(frame, win)
        if step.target_d is not None:
            camera.move_lens(step.target_d)
            moves += 1
        if step.status is not AfStatus.SCANNING:
            status = step.status
            break
    timed_out = status is AfStatus.SCANNING
    if timed_out:
        cancel = getattr(strategy, "cancel", None)
        if callable(cancel):
            cancel()
        status = AfStatus.FAILED
    verdict_s = clock.now_s()
    limit_s = verdict_s + SETTLE_LIMIT_S
    while camera.lens_moving() and clock.now_s() < limit_s:
        clock.sleep_until(clock.now_s() + SETTLE_POLL_S)
    return AcquisitionResult(
        frames=frames,
        status=status,
        lens_d=camera.lens_position_d(),
        start_s=start_s,
        verdict_s=verdict_s,
        settled_s=clock.now_s(),
        moves=moves,
        timed_out=timed_out,
        last_frame=last,
        lens_history=history,
    )
