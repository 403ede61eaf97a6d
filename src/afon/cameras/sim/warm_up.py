"""Ladder warm-up: a live simulated camera builds its blur ladders before the lens needs them.

The renderer builds a blur-ladder entry (a layer's texture convolved with one disk, at one mip
level) the first time a frame needs it, inside that frame: the first AF run over a new part of
the focus range draws its frames slowly (issue #14: on the 50 mm desk, 153 entries built in the
first two seconds of AF-C, ~4 ms a frame). A real camera has nothing of the kind to build, so a
camera that keeps real time (`afon serve`, `afon run`) builds them ahead, in a background
thread at the lowest CPU priority, for every lens position of the motor's range, still or
moving at its top speed during an exposure (`Renderer.warm_ladders`). The entries are the ones
the frames would build themselves: no pixel changes, only when the work is done. Benchmarks
(virtual clock, many cameras at once) do not start it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from afon.cameras.sim.render import Renderer

log = logging.getLogger(__name__)

WARM_TIMES_S = (0.0, 2.0, 5.0)
"""Scene times (from the start) the ladders are built for: moving layers change size and
distance, and with them the mip levels and blurs they need."""


class LadderWarmUp:
    """Builds a renderer's ladder entries for a focus range in a daemon thread (`start`); stops
    when asked (`stop`) or when done (`done` set; `built` entries, `cpu_s` of its CPU)."""

    def __init__(self, renderer: Renderer, focus_range_d: tuple[float, float], sweep_d: float,
                 start_s: float = 0.0) -> None:
        self.renderer = renderer
        self.focus_range_d = focus_range_d
        self.sweep_d = sweep_d
        self.start_s = start_s
        self.done = threading.Event()
        self.built = 0
        self.cpu_s = 0.0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="afon-ladder-warm-up",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _stopping(self) -> bool:
        time.sleep(0)  # hand the GIL to the drawing thread between entries
        return self._stop.is_set()

    def _run(self) -> None:
        # the lowest priority (Linux: per thread); elsewhere, or not allowed: the normal one
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        cpu0 = time.thread_time()
        try:
            for dt in WARM_TIMES_S:
                if self._stop.is_set():
                    break
                self.built += self.renderer.warm_ladders(
                    self.start_s + dt, self.focus_range_d, self.sweep_d, self._stopping)
        except Exception as exc:  # a warm-up must never take the camera down: said, not raised
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("ladder warm-up stopped (the frames build what is left): %s",
                        self.error)
        finally:
            self.cpu_s = time.thread_time() - cpu0
            self.done.set()
