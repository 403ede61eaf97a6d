"""The still buffer: stills are exposed at their time and developed (rendered, encoded, written)
afterwards, off the body loop, like a real body's buffer emptying to its card.

A released still enters the buffer as soon as its exposure ends; a worker thread develops the
stills in order (`Still.develop` renders a simulated one; a real camera's image is already
there), saves them through the `ShotStore` and then reports them (`on_saved`). While the buffer
holds `depth` stills it is full: the body does not release again until one has been written,
so a long burst slows down to the rate the "card" takes them, as on a real body, and the HUD
says so. Failure records go through the same queue so that shot numbers stay in order.

With `threaded=False` (tests, benchmarks on the virtual clock) a still is developed and saved
at once, in the caller's thread: the buffer never fills and results are deterministic.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from afon.cameras.base import Image
from afon.shots import ShotRecord, ShotStore

log = logging.getLogger("afon.still_buffer")

DEFAULT_DEPTH = 20
"""Stills the buffer holds: about 2 s of a 10 fps burst, like a mid-range body's JPEG+RAW buffer."""

WORKER_NICE = 10
"""The worker thread's niceness (Linux: per thread): the body loop comes first."""

STALL_S = 60.0
"""How long closing waits for the next still to be written before it gives up on the rest (a
camera download that hangs); a buffer that keeps writing is waited for however long it takes."""


@dataclass
class _Pending:
    record: ShotRecord
    image: Image | None
    develop: Callable[[], Image] | None


class StillBuffer:
    """Develops and saves stills in order, in a worker thread (or inline)."""

    def __init__(
        self,
        store: ShotStore | None,
        on_saved: Callable[[ShotRecord], None],
        *,
        depth: int = DEFAULT_DEPTH,
        threaded: bool = True,
    ) -> None:
        if depth < 1:
            raise ValueError(f"still buffer depth {depth}: expected at least 1")
        self.store = store
        self.on_saved = on_saved
        self.depth = depth
        self.threaded = threaded
        self.written = 0
        self.develop_s = 0.0
        """Wall time spent developing and writing (for the benchmark)."""
        self.full_events = 0
        self.storage_error: str | None = None
        """Why the last still could not be written; None once one is."""
        """How many times a release waited because the buffer was full."""
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="afon-stills", daemon=True)
            self._thread.start()

    @property
    def pending(self) -> int:
        """Stills exposed but not yet written."""
        return self._pending

    @property
    def full(self) -> bool:
        return self._pending >= self.depth

    def put(
        self,
        record: ShotRecord,
        image: Image | None = None,
        develop: Callable[[], Image] | None = None,
    ) -> None:
        """Queue a shot (or failure record); `develop` renders its image when there is none."""
        item = _Pending(record, image, develop)
        if not self.threaded:
            self._process(item)
            return
        with self._lock:
            self._pending += 1
        self._queue.put(item)

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until every queued still is written; False on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, stall_s: float = STALL_S) -> bool:
        """Write what is queued, then end the worker: nothing captured is lost. Waits as long
        as the worker keeps writing (a slow renderer or card); gives up, logging how many
        stills are left, only once `stall_s` passes with none written (False)."""
        if self._thread is None:
            return True
        self._queue.put(None)
        thread, written = self._thread, self.written
        while True:
            thread.join(stall_s)
            if not thread.is_alive():
                break
            if self.written == written:
                log.error("the still buffer wrote nothing for %.0f s: %d still(s) not written",
                          stall_s, self._pending)
                return False
            written = self.written
        self._thread = None
        return True

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            # below the body loop: developing a still must not delay a frame or a release
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._process(item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _process(self, item: _Pending) -> None:
        t0 = time.perf_counter()
        record = item.record
        image = item.image
        try:
            if image is None and item.develop is not None:
                image = item.develop()
            if self.store is not None:
                # a full, read-only or unwritable folder turns the shot into a failure record
                # naming the cause (kept in memory when not even its sidecar fits)
                record, error = self.store.keep(record, image)
                self.storage_error = None if error is None else str(error)
        except Exception as exc:
            # reported as a failure record (no file) so that the shot is never lost silently
            log.exception("developing or writing shot %d", record.index)
            record = replace(record, failure=f"writing the still failed: {exc}")
        self.develop_s += time.perf_counter() - t0
        self.written += 1
        try:
            self.on_saved(record)
        except Exception:
            log.exception("reporting shot %d", record.index)
