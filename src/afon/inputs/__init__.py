"""Physical inputs: GPIO buttons, Linux input devices and the browser keyboard, one key map.

Sources (`GpioInput`, `EvdevInput`, `TerminalKeys`) run on their own threads (gpiozero
callbacks, an evdev read loop, a terminal reader) and only put raw edges on a thread-safe queue
(a source with a ``tick(now_s)`` method is ticked first: the terminal releases its taps
there); the body's loop thread calls `InputHub.poll(now)` once per tick, which turns them into
`ControlEvent`s for `Body.handle`.
The body itself is touched from its loop thread only.

A missed release can never leave AF running:

- *debounce*: an edge closer than `debounce_s` to the action's last accepted change is bounce;
- *level check*: each tick the hub reads every source's button levels; an action still held
  although its buttons read released (for longer than the debounce time) gets a synthesised
  release — the dropped edge is repaired;
- *watchdog*: a press held longer than its `max_hold_s` is ended, with a warning notice; the
  action stays ignored until its button has been let go.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from afon.controls import ControlEvent
from afon.inputs.keymap import (
    ACTION_CONTROLS,
    DEFAULT_DEBOUNCE_S,
    DEFAULT_MAX_HOLD_S,
    InputMap,
)
from afon.inputs.watchdog import Watchdog

__all__ = ["Edge", "InputHub", "InputMap", "InputSource", "Notice"]


@dataclass(frozen=True)
class Edge:
    """A raw press or release of an action, as a source saw it."""

    action: str
    pressed: bool
    source: str


@dataclass(frozen=True)
class Notice:
    """Something the user should hear about: a repaired release, a watchdog release."""

    t_s: float
    kind: str  # "level-release" | "watchdog" | "bounce"
    action: str
    message: str

    def __str__(self) -> str:
        return f"{self.t_s:.3f}s warning: {self.message}"


class InputSource(Protocol):
    """A source of edges with readable button levels."""

    name: str

    def levels(self) -> Mapping[str, bool]:
        """Current level of each bound action (True = pressed)."""
        ...

    def close(self) -> None: ...


class InputHub:
    """Merges sources' edges into control events on the body's loop thread."""

    def __init__(
        self,
        *,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        max_hold_s: float | Mapping[str, float] = DEFAULT_MAX_HOLD_S,
    ) -> None:
        self.queue: queue.SimpleQueue[Edge] = queue.SimpleQueue()
        self.debounce_s = debounce_s
        if isinstance(max_hold_s, Mapping):
            limits = dict(max_hold_s)
            self.watchdog = Watchdog(lambda a: limits.get(a, DEFAULT_MAX_HOLD_S))
        else:
            limit = float(max_hold_s)
            self.watchdog = Watchdog(lambda a: limit)
        self.sources: list[InputSource] = []
        self._held: dict[str, float] = {}  # action -> press time
        self._last_change: dict[str, float] = {}
        self._stale: set[str] = set()
        self.notices: list[Notice] = []
        self.on_put: Callable[[], None] | None = None
        """Called after each queued edge (on the source's thread): a waiting loop wakes."""

    @classmethod
    def from_map(cls, inputs: InputMap) -> InputHub:
        limits = {a: inputs.max_hold_for(a) for a in ACTION_CONTROLS}
        return cls(debounce_s=inputs.debounce_s, max_hold_s=limits)

    # --- thread-safe side ------------------------------------------------------------------
    def put(self, action: str, pressed: bool, source: str = "") -> None:
        """Queue an edge (any thread)."""
        self.queue.put(Edge(action, pressed, source))
        wake = self.on_put
        if wake is not None:
            wake()

    def add(self, source: InputSource) -> None:
        self.sources.append(source)

    # --- loop-thread side ------------------------------------------------------------------
    def held(self) -> list[str]:
        return list(self._held)

    def _levels(self) -> dict[str, bool]:
        merged: dict[str, bool] = {}
        for source in self.sources:
            for action, level in source.levels().items():
                merged[action] = merged.get(action, False) or level
        return merged

    def _events(self, action: str, pressed: bool, now_s: float) -> list[ControlEvent]:
        controls = ACTION_CONTROLS[action]
        if pressed:
            self._held[action] = now_s
        else:
            self._held.pop(action, None)
            controls = tuple(reversed(controls))
        self._last_change[action] = now_s
        return [ControlEvent(c, pressed, now_s) for c in controls]

    def _notice(self, now_s: float, kind: str, action: str, message: str) -> None:
        self.notices.append(Notice(now_s, kind, action, message))

    def poll(self, now_s: float) -> tuple[list[ControlEvent], list[Notice]]:
        """Drain queued edges, check levels and the watchdog; return events and new notices."""
        events: list[ControlEvent] = []
        first_notice = len(self.notices)
        for source in self.sources:
            tick = getattr(source, "tick", None)
            if callable(tick):
                tick(now_s)
        while True:
            try:
                edge = self.queue.get_nowait()
            except queue.Empty:
                break
            if edge.action not in ACTION_CONTROLS:
                continue
            if edge.action in self._stale:
                if not edge.pressed:
                    self._stale.discard(edge.action)
                continue
            if edge.pressed == (edge.action in self._held):
                continue  # auto-repeat, or a release of something not held
            last = self._last_change.get(edge.action)
            if last is not None and now_s - last < self.debounce_s:
                continue  # contact bounce; the level check settles the final state
            events += self._events(edge.action, edge.pressed, now_s)
        levels = self._levels()
        for action in list(self._held):
            settled = now_s - self._last_change.get(action, now_s) >= self.debounce_s
            if levels.get(action) is False and settled:
                events += self._events(action, False, now_s)
                self._notice(
                    now_s,
                    "level-release",
                    action,
                    f"{action} reads released but no release edge arrived; released it",
                )
        for action in self.watchdog.stale(self._held, now_s):
            events += self._events(action, False, now_s)
            self._stale.add(action)
            self._notice(
                now_s,
                "watchdog",
                action,
                f"{action} held for over {self.watchdog.limit_s(action):g} s; released it "
                "(let go of the button to use it again)",
            )
        for action in list(self._stale):
            if levels.get(action) is False:
                self._stale.discard(action)
        return events, self.notices[first_notice:]

    def close(self) -> None:
        for source in self.sources:
            source.close()
        self.sources.clear()
