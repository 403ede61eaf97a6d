"""Where evaluations run: Dask distributed, on this machine or on a cluster.

`open_executor(None, workers)` starts an embedded `distributed.LocalCluster` of `workers`
single-threaded worker processes, every port (scheduler, workers, Dask's diagnostics page)
on 127.0.0.1 at a free port; `open_executor(address)`
connects to a running scheduler (``tcp://HOST:PORT``, started with ``dask scheduler`` and
``dask worker`` on each machine, each with afon installed). Dask is a well-kept engine for
exactly this (fan out pure functions, gather results, survive a worker's loss); afon adds only
the ordering: `map` returns results in the order of its inputs, whichever worker finished first,
so a seeded study is the same on one machine or many.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from afon.errors import AfonError

T = TypeVar("T")
R = TypeVar("R")

_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _single_threaded(fn: Callable[[T], R], item: T) -> R:
    """Run `fn(item)` with OpenCV single-threaded (one evaluation per worker core)."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover - OpenCV is a dependency
        pass
    return fn(item)


def _distributed() -> Any:
    """The `distributed` package (untyped to mypy: its API is used through Any)."""
    import importlib

    return importlib.import_module("distributed")


class DaskExecutor:
    """Evaluations over a Dask client (an embedded LocalCluster or a remote scheduler)."""

    def __init__(self, scheduler: str | None = None, workers: int = 2) -> None:
        dist = _distributed()
        self.cluster: Any = None
        if scheduler is None:
            if workers < 1:
                raise AfonError(f"--workers must be at least 1, got {workers}")
            self.cluster = dist.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                env=dict(_WORKER_ENV),
            )
            self.client: Any = dist.Client(self.cluster)
        else:
            try:
                self.client = dist.Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise AfonError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        self.scheduler = scheduler or self.cluster.scheduler_address

    @property
    def workers(self) -> int:
        """Worker threads the scheduler knows now."""
        info = self.client.scheduler_info()
        return int(sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """`fn` over `items` on the workers; results in input order. `on_done(n)` is called as
        results arrive (n finished so far)."""
        if not items:
            return []
        futures = self.client.map(_single_threaded, [fn] * len(items), list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(items)
        for done, fut in enumerate(_distributed().as_completed(futures), start=1):
            out[index[fut.key]] = fut.result()
            if on_done is not None:
                on_done(done)
        return out

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_executor(scheduler: str | None = None, workers: int | None = None) -> DaskExecutor:
    """An executor: embedded with `workers` processes (default: this machine's cores), or the
    cluster behind `scheduler`."""
    n = workers if workers is not None else max(1, len(os.sched_getaffinity(0)))
    return DaskExecutor(scheduler, n)


def run_all(fn: Callable[[T], R], items: Iterable[T], executor: DaskExecutor | None) -> list[R]:
    """`fn` over `items`, on `executor` or in this process."""
    seq = list(items)
    if executor is None:
        return [fn(x) for x in seq]
    return executor.map(fn, seq)
