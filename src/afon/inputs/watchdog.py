"""The stale-press watchdog: a press held longer than its maximum is ended, with a warning.

A button that reads "pressed" for half a minute is far likelier a lost release (a bounced edge, a
disconnected remote, a stuck key) than a photographer; AF must not run on forever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class Watchdog:
    """Finds presses that have gone stale. `max_hold_s(action)` gives each action's limit."""

    def __init__(self, max_hold_s: Callable[[str], float]) -> None:
        self._max_hold_s = max_hold_s

    def limit_s(self, action: str) -> float:
        return self._max_hold_s(action)

    def stale(self, held_since: Mapping[str, float], now_s: float) -> list[str]:
        """Actions in `held_since` (action → press time) held longer than their limit."""
        return [
            action
            for action, since in held_since.items()
            if now_s - since > self._max_hold_s(action)
        ]
