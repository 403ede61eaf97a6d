"""The trainer: drills built on the benchmark's scenarios, scored like the benchmark, kept in
SQLite.

A drill loads a scenario (`afon.bench.scenario`) and runs it on its own simulated body (a fresh
simulated camera whose clock starts at 0 when the drill starts, so the scene plays from its
beginning) with the drill's profile, focus mode, AF area and AF point; the loop runs that body
instead of the served one until the drill is stopped, then gives the served body back as it was
(a real camera is never closed for a drill). It records the shots the user takes meanwhile.
Scoring (`score_shots`) uses the benchmark's metrics: keeper rate, shutter-lag median (press to
exposure) and missed moments. A person has no script telling them when to press, so a moment
counts as caught when an in-focus exposure starts within the scenario's tolerance plus
`REACTION_ALLOWANCE_S` after the moment itself. A session stopped before the scenario's end is
aborted and stays out of the history; one scored while the loop ran in slow motion is flagged
`behind`.

Sessions are stored in a `sessions` table (drill, started_at, keeper_rate, lag_median_s, missed,
shots, moments); `TrainerStore` adds and lists them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from afon.bench.metrics import ShotOutcome, missed_moments, percentile
from afon.bench.scenario import Scenario, load_builtin_scenario
from afon.errors import AfonError, StateConflict
from afon.shots import ShotRecord
from afon.web.stills import limit_stills

if TYPE_CHECKING:
    from afon.clock import Clock
    from afon.web.runner import BodyRunner

log = logging.getLogger("afon.web.trainer")

REACTION_ALLOWANCE_S = 0.25
"""Added to a scenario's tolerance: a person reacts to the moment, a script presses ahead."""
MAX_SAMPLES = 3000
"""Frames of a drill's event log kept (100 s at 30 fps): a drill left running stays bounded."""
TAIL_S = 1.0
"""Shots pressed up to this long after the scenario's end still count for the drill."""
MAX_HISTORY = 500
LEVELS: dict[int, tuple[float, float]] = {
    1: (1.0, REACTION_ALLOWANCE_S),
    2: (0.75, 0.15),
    3: (0.5, 0.08),
}
"""Level -> (share of the scenario's tolerance, reaction allowance in s): tighter as you learn."""
TECHNIQUES = ("bbf", "shutter")
"""A drill with back-button AF (its profile) or, for contrast, with shutter-button AF."""


@dataclass(frozen=True)
class Drill:
    name: str
    scenario: str
    title: str
    technique: str
    profile: str = "bbf"
    focus_mode: str = "AF-C"
    drive: str = "single"


DRILLS: tuple[Drill, ...] = (
    Drill(
        "recompose",
        "portrait",
        "Focus and recompose",
        "Hold AF-ON with the AF point on the face until it confirms, then let go: focus stays "
        "where it is. Recompose (the face moves off-centre) and take the frames without touching "
        "AF-ON again, or the camera refocuses on the background.",
    ),
    Drill(
        "runner",
        "runner",
        "Track an approaching runner",
        "Hold AF-ON from the start and keep holding it: continuous AF follows the runner as they "
        "come closer. Shoot a burst while you hold; the shutter never waits for focus.",
        drive="continuous",
    ),
    Drill(
        "bird",
        "bird",
        "Bird take-off",
        "Pre-focus on the perched bird with AF-ON, then wait with your thumb ready. At the "
        "take-off, hold AF-ON again and fire a burst: the lens is already close, so the first "
        "frames are sharp.",
        drive="continuous",
    ),
    Drill(
        "obstacle",
        "obstacle",
        "Obstacle crossing",
        "Hold AF-ON on the subject and keep holding while someone crosses in front. Lock-on "
        "keeps the focus on your subject instead of jumping to the obstacle; keep shooting "
        "through it.",
        drive="continuous",
    ),
    Drill(
        "low-light",
        "low-light",
        "Low light",
        "In dim light use single AF (AF-S) and put the AF point on a contrast edge. Press AF-ON "
        "once, wait for the confirmation, then shoot: the lock holds while you take the frames.",
        focus_mode="AF-S",
    ),
)
DRILLS_BY_NAME = {d.name: d for d in DRILLS}


def history_key(drill: str, technique: str = "bbf", level: int = 1) -> str:
    """The name a drill's sessions are kept under: shutter-button AF and levels above 1 have
    their own curves (`runner:shutter:L2`)."""
    if technique not in TECHNIQUES:
        raise AfonError(f"technique: {technique!r} unknown ({', '.join(TECHNIQUES)})")
    if level not in LEVELS:
        raise AfonError(f"level: {level} unknown (levels {', '.join(map(str, LEVELS))})")
    return drill if technique == "bbf" and level == 1 else f"{drill}:{technique}:L{level}"


def drill_named(name: object) -> Drill:
    """The drill called `name`; an `AfonError` naming it and the known drills otherwise."""
    if not isinstance(name, str) or name not in DRILLS_BY_NAME:
        raise AfonError(f"drill: unknown drill {name!r}; known drills: {', '.join(DRILLS_BY_NAME)}")
    return DRILLS_BY_NAME[name]


def drill_info(drill: Drill, scenario: Scenario | None = None) -> dict[str, Any]:
    scn = scenario if scenario is not None else load_builtin_scenario(drill.scenario)
    return {
        "name": drill.name,
        "title": drill.title,
        "technique": drill.technique,
        "scenario": scn.name,
        "description": scn.description,
        "duration_s": scn.duration_s,
        "moments": len(scn.shoot.moments_s),
        "moments_s": [round(m, 3) for m in scn.shoot.moments_s],
        "profile": drill.profile,
        "focus_mode": drill.focus_mode,
        "drive": drill.drive,
        "af_point": list(scn.af_point),
        "af_area": scn.af_area,
    }


# --- scoring -------------------------------------------------------------------------------
def outcome(record: ShotRecord) -> ShotOutcome:
    """A shot as the benchmark judges it (decision = the press)."""
    exposed = record.ok and record.exposure_start_s is not None
    return ShotOutcome(
        exposed=exposed,
        in_focus=bool(record.in_focus) and exposed,
        decision_s=record.pressed_s,
        exposure_s=record.exposure_start_s,
        lag_s=record.lag_s if exposed else None,
        lens_d=record.lens_d,
    )


def moment_window_s(scenario: Scenario, level: int = 1) -> float:
    """How long after a moment an in-focus exposure still catches it, at `level`."""
    share, allowance_s = LEVELS[level]
    return scenario.shoot.tolerance_s * share + allowance_s


def score_shots(
    scenario: Scenario,
    records: Sequence[ShotRecord],
    window_end_s: float | None = None,
    level: int = 1,
) -> dict[str, Any]:
    """Keeper rate, shutter-lag median and missed moments of the shots pressed in the drill
    (drill time: 0 is the start; shots pressed after `window_end_s` are ignored)."""
    end = scenario.duration_s + TAIL_S if window_end_s is None else window_end_s
    shots = [outcome(r) for r in records if 0.0 <= r.pressed_s <= end]
    n = len(shots)
    keepers = sum(1 for s in shots if s.in_focus)
    lags = [s.lag_s for s in shots if s.exposed and s.lag_s is not None]
    lag = percentile(lags, 50)
    moments = scenario.shoot.moments_s
    missed = missed_moments(moments, shots, moment_window_s(scenario, level))
    return {
        "shots": n,
        "keepers": keepers,
        "keeper_rate": round(keepers / n, 4) if n else None,
        "lag_median_s": round(lag, 4) if lag is not None else None,
        "moments": len(moments),
        "missed": missed,
    }


# --- the history -----------------------------------------------------------------------------
class TrainerStore:
    """Sessions in SQLite (one connection, used under a lock from any thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        """The connection, opened (and the table created) on first use: a server whose
        trainer is never used leaves no file behind. Call with the lock held."""
        if self._db is not None:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False)
            db.execute(
                "CREATE TABLE IF NOT EXISTS sessions ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " drill TEXT NOT NULL,"
                " started_at REAL NOT NULL,"
                " keeper_rate REAL,"
                " lag_median_s REAL,"
                " missed INTEGER NOT NULL,"
                " shots INTEGER NOT NULL,"
                " moments INTEGER NOT NULL DEFAULT 0)"
            )
            db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise AfonError(f"trainer history {self.path}: {exc}") from None
        self._db = db
        return db

    def add(self, drill: str, started_at: float, score: dict[str, Any]) -> dict[str, Any]:
        with self._lock, self._errors():
            db = self._conn()
            cur = db.execute(
                "INSERT INTO sessions (drill, started_at, keeper_rate, lag_median_s, missed,"
                " shots, moments) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    drill,
                    started_at,
                    score.get("keeper_rate"),
                    score.get("lag_median_s"),
                    int(score.get("missed", 0)),
                    int(score.get("shots", 0)),
                    int(score.get("moments", 0)),
                ),
            )
            db.commit()
            row_id = cur.lastrowid
        return {"id": row_id, "drill": drill, "started_at": started_at} | {
            k: score.get(k) for k in ("keeper_rate", "lag_median_s", "missed", "shots", "moments")
        }

    def list(self, drill: str | None = None, limit: int = MAX_HISTORY) -> list[dict[str, Any]]:
        """Sessions in the order they were held (oldest first), the latest `limit`."""
        query = (
            "SELECT id, drill, started_at, keeper_rate, lag_median_s, missed, shots, moments"
            " FROM sessions"
        )
        args: tuple[Any, ...] = ()
        if drill is not None:
            query += " WHERE drill = ?"
            args = (drill,)
        query += " ORDER BY id DESC LIMIT ?"
        with self._lock, self._errors():
            if self._db is None and not self.path.exists():
                return []  # reading never creates the file
            rows = self._conn().execute(query, (*args, limit)).fetchall()
        keys = (
            "id",
            "drill",
            "started_at",
            "keeper_rate",
            "lag_median_s",
            "missed",
            "shots",
            "moments",
        )
        return [dict(zip(keys, row, strict=True)) for row in reversed(rows)]

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """sqlite3 errors (a locked or corrupt file, a full disk) as `AfonError`s naming it."""
        try:
            yield
        except sqlite3.Error as exc:
            raise AfonError(f"trainer history {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


# --- drills on the served body -----------------------------------------------------------------
class OffsetClock:
    """`base` shifted so that 0 is when the drill started (its time scale is the base's)."""

    def __init__(self, base: Clock, t0_s: float) -> None:
        self.base = base
        self.t0_s = t0_s

    def now_s(self) -> float:
        return self.base.now_s() - self.t0_s

    def sleep_until(self, t_s: float) -> None:
        self.base.sleep_until(t_s + self.t0_s)

    @property
    def scale(self) -> float:
        return float(getattr(self.base, "scale", 1.0))

    def set_scale(self, scale: float) -> None:
        set_scale = getattr(self.base, "set_scale", None)
        if callable(set_scale):
            set_scale(scale)


@dataclass
class _Active:
    drill: Drill
    scenario: Scenario
    started_at: float
    records: list[ShotRecord]
    body: Any = None
    slowed_at_start: int = 0
    technique: str = "bbf"
    level: int = 1
    samples: list[dict[str, Any]] = field(default_factory=list)


# --- the replay and the coach ---------------------------------------------------------------
def sample(body: Any) -> dict[str, Any]:
    """One frame of the drill's event log: controls, AF state, lens and (for the judge) the
    subject's distance, in dioptres."""
    from afon.controls import Control

    t = float(body.clock.now_s())
    subject = getattr(body.camera, "subject_distance_m", None)
    subject_m = float(subject(t)) if callable(subject) else math.nan
    return {
        "t": round(t, 4),
        "af_on": body.controls.held(Control.AF_ON),
        "half": body.controls.held(Control.SHUTTER_HALF),
        "full": body.controls.held(Control.SHUTTER_FULL),
        "af": body.state.value,
        "lens_d": round(float(body.camera.lens_position_d()), 4),
        "subject_d": round(1.0 / subject_m, 4) if subject_m > 0 else None,
    }


def _presses(samples: Sequence[dict[str, Any]], key: str) -> list[float]:
    """When `key` went down (frame resolution)."""
    out = []
    prev = False
    for smp in samples:
        if smp[key] and not prev:
            out.append(float(smp["t"]))
        prev = bool(smp[key])
    return out


def _at(samples: Sequence[dict[str, Any]], t: float) -> dict[str, Any] | None:
    before = [smp for smp in samples if smp["t"] <= t + 1e-9]
    return before[-1] if before else (samples[0] if samples else None)


def _m(d: float | None) -> str:
    return "∞" if d is None or d <= 1e-6 else f"{1.0 / d:.1f} m"


def coach(
    scenario: Scenario,
    records: Sequence[ShotRecord],
    samples: Sequence[dict[str, Any]],
    technique: str = "bbf",
    level: int = 1,
) -> list[str]:
    """Coaching lines that diagnose what went wrong, from the drill's event log."""
    lines: list[str] = []
    window = moment_window_s(scenario, level)
    af_on = _presses(samples, "af_on")
    recompose = scenario.recompose
    if technique == "bbf" and not af_on:
        lines.append(
            "AF-ON was never pressed: with back-button focus the shutter does not focus. "
            "Hold AF-ON (A) with the AF point on the subject first."
        )
    if recompose is not None and technique == "bbf":
        after = [t for t in af_on if t >= recompose.t_s]
        if after:
            smp = _at(samples, after[0] + 0.4)
            lens = _m(smp["lens_d"]) if smp else "?"
            lines.append(
                f"AF-ON pressed at {after[0]:.1f} s after the recompose ({recompose.t_s:.1f} s): "
                f"AF refocused on what the AF point saw then, {lens}. Lock focus before "
                "recomposing and keep your thumb off AF-ON afterwards."
            )
    exposed = [r for r in records if r.ok and r.exposure_start_s is not None]
    for m in scenario.shoot.moments_s:
        near = [r for r in exposed if m - 1e-9 <= float(r.exposure_start_s or 0) <= m + window]
        if any(r.in_focus for r in near):
            continue
        if not near:
            later = [r for r in exposed if float(r.exposure_start_s or 0) > m]
            if later:
                dt = float(later[0].exposure_start_s or 0) - m
                lines.append(
                    f"Moment at {m:.2f} s missed: the next exposure came {dt:.2f} s later "
                    f"(the window is {window:.2f} s). Press the shutter at the cue."
                )
            else:
                lines.append(f"Moment at {m:.2f} s missed: no exposure in its window.")
            continue
        r = near[0]
        t = float(r.exposure_start_s or 0)
        smp = _at(samples, t)
        subject_m = r.truth.get("subject_distance_m")
        subject = f"{float(subject_m):.1f} m" if isinstance(subject_m, int | float) else "?"
        lens = _m(r.lens_d)
        if smp is not None and smp["af_on"]:
            lines.append(
                f"Shot at {t:.2f} s out of focus with AF-ON held: AF was at {lens}, the "
                f"subject at {subject}."
            )
        elif smp is not None and (smp["half"] and technique == "shutter"):
            lines.append(
                f"Shot at {t:.2f} s out of focus: the half-press refocused to {lens} "
                f"(the subject at {subject}). Back-button focus keeps the lock instead."
            )
        else:
            lines.append(
                f"Shot at {t:.2f} s out of focus: focus was held at {lens}, the subject was at "
                f"{subject}. Hold AF-ON to follow it, or lock on it again before the shot."
            )
    if not lines:
        n = len(scenario.shoot.moments_s)
        lines.append(f"All {n} moments caught in focus.")
    return lines


def timeline(
    scenario: Scenario,
    records: Sequence[ShotRecord],
    samples: Sequence[dict[str, Any]],
    level: int = 1,
) -> dict[str, Any]:
    """What the page's replay draws: the event log, the shots and the moment windows."""
    window = moment_window_s(scenario, level)
    return {
        "duration_s": scenario.duration_s,
        "samples": list(samples),
        "moments": [[round(m, 3), round(m + window, 3)] for m in scenario.shoot.moments_s],
        "shots": [
            {
                "pressed_s": round(r.pressed_s, 4),
                "exposure_s": _round(r.exposure_start_s),
                "in_focus": r.in_focus,
                "ok": r.ok,
            }
            for r in records
        ],
        "recompose_s": scenario.recompose.t_s if scenario.recompose is not None else None,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


class Trainer:
    """Runs drills on a `BodyRunner`'s body and keeps their scores in a `TrainerStore`."""

    def __init__(self, runner: BodyRunner, store: TrainerStore, still_width: str = "960") -> None:
        self.runner = runner
        self.store = store
        self.still_width = still_width
        self.active: _Active | None = None
        self.last_score: dict[str, Any] | None = None
        self._base_clock: Clock = runner.body.clock
        self._served: Any = None
        """The served body while a drill runs on its own; given back at the end."""

    def drills(self) -> list[dict[str, Any]]:
        return [drill_info(d) for d in DRILLS]

    def status(self) -> dict[str, Any]:
        a = self.active
        return {
            "active": a.drill.name if a is not None else None,
            "elapsed_s": round(self.runner.body.clock.now_s(), 3) if a is not None else None,
            "shots": len(a.records) if a is not None else 0,
            "last_score": self.last_score,
        }

    def start(
        self, drill: Drill, technique: str = "bbf", level: int = 1
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """Put the drill's scene on its own body (in the body thread); the timer starts at 0."""
        scenario = load_builtin_scenario(drill.scenario)
        if scenario.stack is not None:
            raise AfonError(f"drill: {drill.name} needs a simulated scene")
        if technique not in TECHNIQUES:
            raise AfonError(f"technique: {technique!r} unknown ({', '.join(TECHNIQUES)})")
        if level not in LEVELS:
            raise AfonError(f"level: {level} unknown (levels {', '.join(map(str, LEVELS))})")
        return self.runner.submit(lambda: self._start(drill, scenario, technique, level))

    def _start(
        self, drill: Drill, scenario: Scenario, technique: str = "bbf", level: int = 1
    ) -> dict[str, Any]:
        from afon.bench.runner import make_camera
        from afon.body import Body
        from afon.clock import VirtualClock
        from afon.focus.engine import AfWindow

        runner = self.runner
        old = runner.body if self.active is None else self._served[0]
        clock = OffsetClock(self._base_clock, self._base_clock.now_s())
        camera, _subject = make_camera(
            scenario, 0, cast(VirtualClock, clock), preview_px=(640, 480)
        )
        limit_stills(camera, self.still_width)
        profile = drill.profile if technique == "bbf" else "shutter-af"
        made_s = clock.now_s()
        body = Body(
            camera,
            profile,
            shots_dir=runner.shots_dir,
            judge=getattr(camera, "judge_still", None),  # the scorer's truth
        )
        # a first drill at this preview size calibrates the PDAF on its rig (seconds of CPU):
        # the drill's time resumes where its camera was made, not that much later
        clock.t0_s += clock.now_s() - made_s
        body.set_focus_mode(drill.focus_mode)
        burst = scenario.shoot.burst_fps if drill.drive == "continuous" else None
        body.set_drive(drill.drive, burst)  # the scenario's burst rate, as the benchmark shoots
        body.set_af_area(scenario.af_area)
        x, y = scenario.af_point
        body.window = AfWindow(x, y, body.window.w, body.window.h).clamped()
        active = _Active(drill, scenario, time.time(), [], technique=technique, level=level)

        def on_frame(_frame: Any) -> None:
            if len(active.samples) < MAX_SAMPLES:
                active.samples.append(sample(body))

        def on_shot(record: ShotRecord) -> None:
            if self.active is active:
                active.records.append(record)
            runner._on_shot(record)

        for owner in {h[0] for holders in runner._holders.values() for h in holders}:
            runner._release_owner(owner)
        if self.active is not None:  # a drill replacing a drill: that one is abandoned
            self._end_drill_body(self.active)
        else:
            self._served = (old, runner.camera_name)
        runner._attach(body)
        body.on_shot = on_shot
        body.on_frame = on_frame
        runner.camera_name = f"sim:{Path(scenario.scene or '').stem} (drill {drill.name})"
        runner._frame = None
        active.body = body
        active.slowed_at_start = runner.loop.slowed
        self.active = active
        return {
            "drill": drill_info(drill, scenario),
            "started_at": active.started_at,
            "technique": technique,
            "level": level,
        }

    def _end_drill_body(self, active: _Active) -> None:
        """Close a drill's own body (its buffered stills are written first)."""
        body = active.body
        if body is None:
            return
        try:
            body.close()
        except Exception:  # a drill body failing to close must not keep the served one away
            log.exception("closing the drill's body")

    def _give_back(self) -> None:
        """Put the served body back on the loop, as it was before the drill."""
        if self._served is None:
            return
        served, name = self._served
        self._served = None
        runner = self.runner
        for owner in {h[0] for holders in runner._holders.values() for h in holders}:
            runner._release_owner(owner)
        runner.body = served
        served.on_shot = runner._on_shot
        runner.camera_name = name
        runner._frame = None

    def stop(self) -> concurrent.futures.Future[dict[str, Any]]:
        """End the running drill (in the body thread, after the shots it is taking)."""
        return self.runner.submit(self._stop)

    def _stop(self) -> dict[str, Any]:
        """Score the running drill, store it, return the score and the session row."""
        active = self.active
        if active is None:
            raise StateConflict("drill: no drill is running (start one first)")
        runner = self.runner
        elapsed_s = float(runner.body.clock.now_s())
        slow = float(getattr(runner.body.clock, "scale", 1.0)) < 1.0
        self._end_drill_body(active)  # every still it took is written (and recorded) first
        self.active = None
        self._give_back()
        score = score_shots(active.scenario, active.records, level=active.level)
        # scored in slow motion: the moments came slower than in life, so say so
        behind = slow or runner.loop.slowed > active.slowed_at_start
        aborted = elapsed_s < active.scenario.duration_s
        score |= {
            "behind": behind,
            "aborted": aborted,
            "elapsed_s": round(elapsed_s, 3),
            "technique": active.technique,
            "level": active.level,
            "coaching": coach(
                active.scenario, active.records, active.samples, active.technique, active.level
            ),
            "timeline": timeline(active.scenario, active.records, active.samples, active.level),
        }
        row = None
        if not aborted:  # an aborted session stays out of the learning curve
            name = history_key(active.drill.name, active.technique, active.level)
            row = self.store.add(name, active.started_at, score)
        self.last_score = score | {"drill": active.drill.name, "session": row}
        return self.last_score
