"""The AF state machine follows the Camera2 tables, row by row from the reference JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afon.focus.states import (
    TABLES,
    AfState,
    AfStateMachine,
    CameraAfMode,
    Cause,
    IllegalTransition,
)

REFERENCE = Path(__file__).resolve().parent / "data" / "camera2-af-state-transitions.json"
"""Android's CONTROL_AF_STATE tables, transcribed (the file names its source)."""

CAUSE_WORDS = {
    "AF_TRIGGER": {Cause.AF_TRIGGER},
    "AF_CANCEL": {Cause.AF_CANCEL},
    "AF sweep done": {Cause.SWEEP_DONE_FOCUSED, Cause.SWEEP_DONE_NOT_FOCUSED},
    "Camera device initiates new scan": {Cause.NEW_SCAN},
    "Camera device completes current scan": {Cause.SCAN_DONE},
    "Camera device fails current scan": {Cause.SCAN_FAILED},
}


def reference_rows(context_start: str) -> list[list[str]]:
    doc = json.loads(REFERENCE.read_text())
    assert "developer.android.com" in doc["source"]
    tables = doc["tables"]
    rows: list[list[str]] = []
    for t in tables:
        if t["context"].startswith(context_start):
            rows.extend(t["rows"])
    return rows


@pytest.mark.parametrize(
    ("mode", "contexts"),
    [
        (
            CameraAfMode.AUTO,
            ["When android.control.afMode is AF_MODE_AUTO", "For example, for these AF modes"],
        ),
        (
            CameraAfMode.CONTINUOUS_PICTURE,
            ["When android.control.afMode is AF_MODE_CONTINUOUS_PICTURE"],
        ),
    ],
)
def test_our_table_is_exactly_the_reference(mode: CameraAfMode, contexts: list[str]) -> None:
    expected: set[tuple[AfState, Cause, AfState]] = set()
    for ctx in contexts:
        for state, cause, new, _notes in reference_rows(ctx):
            if state.lower().startswith("any"):
                continue  # mode change, handled separately
            for c in CAUSE_WORDS[cause]:
                if c is Cause.SWEEP_DONE_FOCUSED and new != "FOCUSED_LOCKED":
                    continue
                if c is Cause.SWEEP_DONE_NOT_FOCUSED and new != "NOT_FOCUSED_LOCKED":
                    continue
                expected.add((AfState[state], c, AfState[new]))
    ours = {(s, c, n) for (s, c), news in TABLES[mode].items() for n in news}
    assert ours == expected


def test_illegal_transitions_raise_and_events_fire() -> None:
    seen = []
    sm = AfStateMachine(CameraAfMode.AUTO, seen.append)
    sm.apply(Cause.AF_TRIGGER, AfState.ACTIVE_SCAN, 0.0)
    sm.apply(Cause.SWEEP_DONE_FOCUSED, AfState.FOCUSED_LOCKED, 0.5)
    assert [c.new for c in seen] == [AfState.ACTIVE_SCAN, AfState.FOCUSED_LOCKED]
    with pytest.raises(IllegalTransition, match="FOCUSED_LOCKED"):
        sm.apply(Cause.NEW_SCAN, AfState.PASSIVE_SCAN, 0.6)
    sm.change_mode(CameraAfMode.CONTINUOUS_PICTURE, 1.0)
    assert sm.state is AfState.INACTIVE
    sm.apply(Cause.NEW_SCAN, AfState.PASSIVE_SCAN, 1.1)
    assert sm.state.libcamera == "Scanning"
    assert AfState.FOCUSED_LOCKED.libcamera == "Focused"
    assert AfState.NOT_FOCUSED_LOCKED.libcamera == "Failed"
    assert AfState.INACTIVE.libcamera == "Idle"
