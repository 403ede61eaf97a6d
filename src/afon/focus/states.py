"""AF state, with Android Camera2's names and transition tables, and the libcamera mapping.

The body reports its AF state as `CONTROL_AF_STATE` would for the Camera2 mode that matches its
focus mode: AF-S behaves as `AF_MODE_AUTO`, AF-C as `AF_MODE_CONTINUOUS_PICTURE`, MF as
`AF_MODE_OFF`. AF-ON press/release and AF-OFF map onto the tables' causes:

| body action                       | AF-S (AUTO)                  | AF-C (CONTINUOUS_PICTURE)               |
|-----------------------------------|------------------------------|-----------------------------------------|
| AF activated (AF-ON pressed)      | AF_TRIGGER                   | from *_LOCKED: AF_CANCEL, then NEW_SCAN |
| scan ends                         | SWEEP_DONE (focused/not)     | SCAN_DONE / SCAN_FAILED                 |
| servo sees the subject move       | –                            | NEW_SCAN                                |
| AF deactivated (AF-ON released)   | AF_CANCEL while scanning     | AF_TRIGGER (lock where it is)           |
| focus mode changed                | MODE_CHANGE                  | MODE_CHANGE                             |

`AfStateMachine.apply` raises `IllegalTransition` for anything the tables do not allow, so a
body bug cannot report an impossible sequence.

libcamera mapping (`AfState`, plus `AfPauseState` in continuous mode):
INACTIVE → Idle; PASSIVE_SCAN, ACTIVE_SCAN → Scanning; PASSIVE_FOCUSED, FOCUSED_LOCKED →
Focused; PASSIVE_UNFOCUSED, NOT_FOCUSED_LOCKED → Failed. In AF-C the *_LOCKED states are
libcamera's AfPauseState Paused (AfPause Immediate), the passive states Running.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class AfState(enum.Enum):
    INACTIVE = "INACTIVE"
    PASSIVE_SCAN = "PASSIVE_SCAN"
    PASSIVE_FOCUSED = "PASSIVE_FOCUSED"
    PASSIVE_UNFOCUSED = "PASSIVE_UNFOCUSED"
    ACTIVE_SCAN = "ACTIVE_SCAN"
    FOCUSED_LOCKED = "FOCUSED_LOCKED"
    NOT_FOCUSED_LOCKED = "NOT_FOCUSED_LOCKED"

    @property
    def libcamera(self) -> str:
        """libcamera `AfState` name."""
        return _LIBCAMERA[self]

    @property
    def focused(self) -> bool:
        return self in (AfState.PASSIVE_FOCUSED, AfState.FOCUSED_LOCKED)

    @property
    def locked(self) -> bool:
        return self in (AfState.FOCUSED_LOCKED, AfState.NOT_FOCUSED_LOCKED)


_LIBCAMERA = {
    AfState.INACTIVE: "Idle",
    AfState.PASSIVE_SCAN: "Scanning",
    AfState.ACTIVE_SCAN: "Scanning",
    AfState.PASSIVE_FOCUSED: "Focused",
    AfState.FOCUSED_LOCKED: "Focused",
    AfState.PASSIVE_UNFOCUSED: "Failed",
    AfState.NOT_FOCUSED_LOCKED: "Failed",
}


class Cause(enum.Enum):
    """Transition causes, named after the Camera2 tables' wording."""

    AF_TRIGGER = "AF_TRIGGER"
    AF_CANCEL = "AF_CANCEL"
    SWEEP_DONE_FOCUSED = "AF sweep done (focused)"
    SWEEP_DONE_NOT_FOCUSED = "AF sweep done (not focused)"
    NEW_SCAN = "Camera device initiates new scan"
    SCAN_DONE = "Camera device completes current scan"
    SCAN_FAILED = "Camera device fails current scan"
    MODE_CHANGE = "Mode change"


class CameraAfMode(enum.Enum):
    OFF = "AF_MODE_OFF"
    AUTO = "AF_MODE_AUTO"
    CONTINUOUS_PICTURE = "AF_MODE_CONTINUOUS_PICTURE"


S = AfState
C = Cause

# (state, cause) -> allowed new states; transcribed row by row from
# reference/android-af-state-transitions.json (AUTO incl. its "in addition" rows, and
# CONTINUOUS_PICTURE). "Any state + mode change -> INACTIVE" is handled in `apply`.
TABLES: dict[CameraAfMode, dict[tuple[AfState, Cause], frozenset[AfState]]] = {
    CameraAfMode.OFF: {},
    CameraAfMode.AUTO: {
        (S.INACTIVE, C.AF_TRIGGER): frozenset(
            {S.ACTIVE_SCAN, S.FOCUSED_LOCKED, S.NOT_FOCUSED_LOCKED}
        ),
        (S.ACTIVE_SCAN, C.SWEEP_DONE_FOCUSED): frozenset({S.FOCUSED_LOCKED}),
        (S.ACTIVE_SCAN, C.SWEEP_DONE_NOT_FOCUSED): frozenset({S.NOT_FOCUSED_LOCKED}),
        (S.ACTIVE_SCAN, C.AF_CANCEL): frozenset({S.INACTIVE}),
        (S.FOCUSED_LOCKED, C.AF_CANCEL): frozenset({S.INACTIVE}),
        (S.FOCUSED_LOCKED, C.AF_TRIGGER): frozenset({S.ACTIVE_SCAN, S.FOCUSED_LOCKED}),
        (S.NOT_FOCUSED_LOCKED, C.AF_CANCEL): frozenset({S.INACTIVE}),
        (S.NOT_FOCUSED_LOCKED, C.AF_TRIGGER): frozenset({S.ACTIVE_SCAN, S.FOCUSED_LOCKED}),
    },
    CameraAfMode.CONTINUOUS_PICTURE: {
        (S.INACTIVE, C.NEW_SCAN): frozenset({S.PASSIVE_SCAN}),
        (S.INACTIVE, C.AF_TRIGGER): frozenset({S.NOT_FOCUSED_LOCKED}),
        (S.PASSIVE_SCAN, C.SCAN_DONE): frozenset({S.PASSIVE_FOCUSED}),
        (S.PASSIVE_SCAN, C.SCAN_FAILED): frozenset({S.PASSIVE_UNFOCUSED}),
        (S.PASSIVE_SCAN, C.AF_TRIGGER): frozenset({S.FOCUSED_LOCKED, S.NOT_FOCUSED_LOCKED}),
        (S.PASSIVE_SCAN, C.AF_CANCEL): frozenset({S.INACTIVE}),
        (S.PASSIVE_FOCUSED, C.NEW_SCAN): frozenset({S.PASSIVE_SCAN}),
        (S.PASSIVE_UNFOCUSED, C.NEW_SCAN): frozenset({S.PASSIVE_SCAN}),
        (S.PASSIVE_FOCUSED, C.AF_TRIGGER): frozenset({S.FOCUSED_LOCKED}),
        (S.PASSIVE_UNFOCUSED, C.AF_TRIGGER): frozenset({S.NOT_FOCUSED_LOCKED}),
        (S.FOCUSED_LOCKED, C.AF_TRIGGER): frozenset({S.FOCUSED_LOCKED}),
        (S.FOCUSED_LOCKED, C.AF_CANCEL): frozenset({S.INACTIVE}),
        (S.NOT_FOCUSED_LOCKED, C.AF_TRIGGER): frozenset({S.NOT_FOCUSED_LOCKED}),
        (S.NOT_FOCUSED_LOCKED, C.AF_CANCEL): frozenset({S.INACTIVE}),
    },
}


class IllegalTransition(RuntimeError):
    """A transition the Camera2 tables do not allow."""


@dataclass(frozen=True)
class AfStateChange:
    """One AF state event."""

    t_s: float
    mode: CameraAfMode
    old: AfState
    cause: Cause
    new: AfState


class AfStateMachine:
    """Holds the AF state and checks every change against the Camera2 tables."""

    def __init__(
        self, mode: CameraAfMode, on_change: Callable[[AfStateChange], None] | None = None
    ) -> None:
        self.mode = mode
        self.state = AfState.INACTIVE
        self.history: list[AfStateChange] = []
        self._on_change = on_change

    def allowed(self, cause: Cause, new: AfState) -> bool:
        if cause is Cause.MODE_CHANGE:
            return new is AfState.INACTIVE
        return new in TABLES[self.mode].get((self.state, cause), frozenset())

    def apply(self, cause: Cause, new: AfState, t_s: float) -> None:
        """Move to `new` for `cause`, or raise IllegalTransition."""
        if not self.allowed(cause, new):
            raise IllegalTransition(
                f"{self.mode.value}: {self.state.value} --{cause.value}--> {new.value} "
                "is not in the Camera2 CONTROL_AF_STATE table"
            )
        change = AfStateChange(t_s, self.mode, self.state, cause, new)
        same = new is self.state
        self.state = new
        if not same or cause in (Cause.AF_TRIGGER, Cause.MODE_CHANGE):
            self.history.append(change)
            if self._on_change is not None:
                self._on_change(change)

    def change_mode(self, mode: CameraAfMode, t_s: float) -> None:
        """Switch Camera2 mode: any state -> INACTIVE."""
        self.apply(Cause.MODE_CHANGE, AfState.INACTIVE, t_s)
        self.mode = mode
