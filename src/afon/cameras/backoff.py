"""Reconnecting a camera that dropped out: retries with exponential backoff on its clock.

Written here rather than with tenacity or backoff: the waits must run on the camera's `Clock`
(virtual in the simulation and the tests, so a reconnect costs no wall-clock time), the retry
is on `CameraError` only and the give-up error must name the camera — with tenacity that is a
`Retrying` with custom stop, wait, retry, sleep and error translation, longer than this loop.
"""

from __future__ import annotations

from collections.abc import Callable

from afon.clock import Clock
from afon.errors import CameraError


def retry_with_backoff(
    clock: Clock,
    attempt: Callable[[], None],
    *,
    name: str,
    max_attempts: int,
    base_delay_s: float,
    max_delay_s: float,
    on_failure: Callable[[], None] | None = None,
) -> int:
    """Call `attempt` until it stops raising CameraError; wait `base_delay_s`, doubling up to
    `max_delay_s`, between tries. Return the number of tries; raise CameraError naming the camera
    and the last error when it stays gone."""
    delay = base_delay_s
    last: Exception | None = None
    for n in range(1, max_attempts + 1):
        try:
            attempt()
        except CameraError as exc:
            last = exc
            if on_failure is not None:
                on_failure()
        else:
            return n
        if n < max_attempts:
            clock.sleep_until(clock.now_s() + delay)
            delay = min(delay * 2.0, max_delay_s)
    raise CameraError(f"{name}: still gone after {max_attempts} reconnect attempts ({last})")
