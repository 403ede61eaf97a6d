"""Waiting on a condition in tests that run a real server: poll with a deadline, never a fixed
sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

TIMEOUT_S = 10.0


def wait_for(predicate: Callable[[], Any], timeout_s: float = TIMEOUT_S, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)
