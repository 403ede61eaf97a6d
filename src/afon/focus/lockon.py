"""Lock-on: a servo's defence against obstacles (Nikon: focus tracking with lock-on).

When something crosses between the camera and the tracked subject (a referee, a branch, another
runner), the AF window suddenly measures a very different distance. A servo that follows it
immediately pulls focus to the obstacle and has to come back afterwards; the subject is out of
focus for the whole crossing *and* the recovery. Bodies therefore ignore an abrupt distance
change for a set time ("lock-on") and keep driving the lens along the predicted path of the
subject; only if the new distance *persists* longer than that is it taken as the new subject.

`LockOn.check` judges each reading against the subject-distance estimator
(`afon.focus.estimator.DistanceEstimator`) and, when it has one, the AF area's content:

- **innovation gate**: the reading minus each motion model's prediction, against that model's
  own innovation spread ``√S`` (prediction uncertainty and reading noise). A reading within
  ``gate_sigmas × √S`` of *any* model, plus the distance a subject accelerating at
  `max_accel_m_s2` covers since the last reading, is on the track: ACCEPT.
  A subject that speeds up or brakes stays inside the constant-acceleration model's gate — the
  IMM's growing innovations move the weight to that model frame by frame — while an obstacle is
  a step that no model's spread covers.
- **AF-area content** (`AreaContent`): off the gate, a reading is still the subject when the AF
  area shows what it showed on the track (zero-mean normalised correlation of a coarse patch ≥
  `same_content`): with the tracking AF area the window moves with the subject, so a sudden
  change in distance with the same content is the subject's own manoeuvre. Verdict MANOEUVRE:
  the servo widens the estimator's speed and acceleration uncertainty and uses the reading.
  An obstacle changes what the AF area sees.
- otherwise, with lock-on off (``lock_on_s == 0``): SWITCH at once (the estimator is re-seeded
  with the new reading: follow immediately);
- otherwise REJECT (the servo carries on with the prediction) and remember the reading as a
  candidate; once readings have stayed off the track for `lock_on_s` (from the first off-track
  reading), SWITCH to the new distance, re-seeding the estimator with the recent candidates.
- **re-acquisition**: a reading back on the track clears the candidates — unless the AF area
  still does not show the subject's content (the obstacle's edge is still in the window, and
  the reading mixes the two distances): then it is a candidate too.

The gate only applies to an established track (`min_track_points` readings spanning
`min_track_s`, the last one less than `stale_s` ago): while the servo acquires, every reading is
accepted.

Lock-on delays
--------------
`LOCK_ON_PRESETS` names the delays after Nikon's "Focus tracking with lock-on" custom setting
(Off / Short / Normal / Long on D300-era bodies; later bodies number it 1 (Quick) … 5 (Delayed) as
"Blocked shot AF response"; Canon calls it "Tracking sensitivity", Sony "AF Track Sens"). The
makers do not publish the delays; the values are afon's choice, picked so that "normal" (0.5 s)
outlasts a typical crossing obstacle (0.2–0.3 s, af-anchors.md §7.7) with margin while a real
change of subject is taken within about half a second:

=========  ======  =====================================
name       delay   meaning
=========  ======  =====================================
off        0 s     follow every change immediately
short      0.25 s  rejects a brief flicker (a hand, a pole)
normal     0.5 s   rejects a crossing person (default)
long       1.0 s   rejects long occlusions; slow to re-target
=========  ======  =====================================
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from afon.cameras.base import Frame
from afon.focus.engine import AfWindow
from afon.focus.estimator import U_MIN_M, DistanceEstimator
from afon.focus.predict import Observation

LOCK_ON_PRESETS: dict[str, float] = {"off": 0.0, "short": 0.25, "normal": 0.5, "long": 1.0}
"""Lock-on delays (seconds) by menu name; see the module docstring."""

DEFAULT_LOCK_ON_S = LOCK_ON_PRESETS["normal"]


def lock_on_seconds(setting: str | float) -> float:
    """Delay in seconds for a preset name (``"normal"``) or a number of seconds."""
    if isinstance(setting, str):
        key = setting.strip().lower()
        if key not in LOCK_ON_PRESETS:
            raise ValueError(
                f"unknown lock-on setting {setting!r}; known: {', '.join(LOCK_ON_PRESETS)}"
            )
        return LOCK_ON_PRESETS[key]
    value = float(setting)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"lock-on delay must be >= 0 s, got {setting!r}")
    return value


class Verdict(enum.Enum):
    ACCEPT = "accept"
    """On the track (or no track yet): use it."""
    MANOEUVRE = "manoeuvre"
    """Off the gate, but the AF area shows the same subject: its motion changed; use it after
    widening the estimator's speed and acceleration uncertainty."""
    REJECT = "reject"
    """An abrupt jump being ignored: carry on with the prediction."""
    SWITCH = "switch"
    """A jump accepted as the new subject distance: the estimator was re-seeded."""


PATCH_PX = 12
"""Side of the coarse AF-area patch compared by `AreaContent` (defocus barely changes it)."""


class AreaContent:
    """What the AF area shows, remembered from readings on the track.

    `similarity` is the zero-mean normalised correlation (−1..1) between a coarse
    (`PATCH_PX` square, area-averaged) copy of the luma under the window and the one remembered
    by `remember`; None before anything was remembered or for a featureless area.

    `remember` keeps the frame and window, and the patch is cut when a comparison first needs
    it: lock-on compares only readings off the track (or while it holds), so most remembered
    frames are never looked at, and a camera that draws its frames on first read
    (`afon.cameras.base.DeferredFrame`) never draws them. The reference is the newest
    remembered frame whose area is not featureless (an older one only while the newer are
    featureless, looking back `PENDING` frames at most).
    """

    PENDING = 8

    def __init__(self) -> None:
        self._ref: npt.NDArray[np.float32] | None = None
        self._pending: deque[tuple[Frame, AfWindow]] = deque(maxlen=self.PENDING)

    def reset(self) -> None:
        self._ref = None
        self._pending.clear()

    @staticmethod
    def _patch(frame: Frame, window: AfWindow) -> npt.NDArray[np.float32] | None:
        luma = frame.luma
        h, w = luma.shape
        x, y, ww, wh = window.to_px(w, h)
        cut = np.ascontiguousarray(luma[y : y + wh, x : x + ww], np.float32)
        small = np.asarray(
            cv2.resize(cut, (PATCH_PX, PATCH_PX), interpolation=cv2.INTER_AREA), np.float32
        )
        small -= float(small.mean())
        norm = float(np.linalg.norm(small))
        if norm < 1e-6 * small.size:
            return None
        out: npt.NDArray[np.float32] = small / norm
        return out

    def remember(self, frame: Frame, window: AfWindow) -> None:
        self._pending.append((frame, window))

    def _reference(self) -> npt.NDArray[np.float32] | None:
        while self._pending:
            patch = self._patch(*self._pending.pop())
            if patch is not None:
                self._ref = patch
                self._pending.clear()
        return self._ref

    def similarity(self, frame: Frame, window: AfWindow) -> float | None:
        ref = self._reference()
        if ref is None:
            return None
        patch = self._patch(frame, window)
        if patch is None:
            return None
        return float(np.sum(patch * ref))


@dataclass
class LockOn:
    """Gates readings against the estimator; see the module docstring."""

    lock_on_s: float = DEFAULT_LOCK_ON_S
    min_gate_d: float = 0.0
    """Smallest jump (dioptres) ever treated as off-track."""
    gate_sigmas: float = 4.0
    max_accel_m_s2: float = 40.0
    """The largest acceleration (change) a subject is credited with between two readings, on
    top of the models' own spread: ~4 g, beyond a sprinter's start (~10 m/s²), a braking car
    (~10) or a bird's take-off; an obstacle sliding into the AF window moves the reading by
    metres within a frame, orders of magnitude more."""
    slack_max_s: float = 0.1
    """The slack stops growing after this long without a reading (a still's blackout): over a
    longer gap the models' own spread is the measure (the slack would admit anything)."""
    min_track_points: int = 5
    min_track_s: float = 0.1
    stale_s: float = 1.0
    """A track with no reading for this long is no track: the next reading is accepted."""
    seed_s: float = 0.15
    """On a switch, candidates this recent seed the new track."""
    same_content: float = 0.9
    """Correlation of the AF area's content above which an off-gate reading is the subject."""
    _candidates: list[Observation] = field(default_factory=list, repr=False)
    rejected: int = 0
    rejected_in_a_row: int = 0
    switches: int = 0
    manoeuvres: int = 0

    def __post_init__(self) -> None:
        self.lock_on_s = lock_on_seconds(self.lock_on_s)

    def reset(self) -> None:
        self._candidates.clear()
        self.rejected_in_a_row = 0

    @property
    def holding(self) -> bool:
        """True while off-track readings are being ignored."""
        return bool(self._candidates)

    @property
    def holding_since_s(self) -> float | None:
        return self._candidates[0].t_s if self._candidates else None

    def established(self, obs: Observation, track: DistanceEstimator) -> bool:
        """Whether `track` is established enough to gate `obs`."""
        last = track.last
        if last is None or track.n < self.min_track_points or track.span_s < self.min_track_s:
            return False
        return obs.t_s - last.t_s <= self.stale_s

    def slack_d(self, obs: Observation, track: DistanceEstimator) -> float:
        """How far (dioptres, towards `obs`) a subject could have strayed from every model by
        accelerating at `max_accel_m_s2` since the last reading (at most `slack_max_s`):
        ``½·a·dt²`` metres from the predicted distance."""
        last = track.last
        expected = track.predict_d(obs.t_s)
        if last is None or expected is None or expected <= 0:
            return 0.0
        dt = min(max(obs.t_s - last.t_s, 0.0), self.slack_max_s)
        move_m = 0.5 * self.max_accel_m_s2 * dt * dt
        u = 1.0 / expected
        if obs.focus_d > expected:  # nearer
            return 1.0 / max(u - move_m, U_MIN_M) - expected
        return expected - 1.0 / (u + move_m)

    def on_track(self, obs: Observation, track: DistanceEstimator) -> bool:
        """Within the gate of at least one motion model (plus the physical slack)."""
        slack = self.slack_d(obs, track)
        inn = track.innovation(obs)
        if inn is None:  # far field: compare with the held reading
            expected = track.predict_d(obs.t_s)
            spread = track.sigma_d(obs.t_s)
            if expected is None or spread is None:
                return True
            gate = self.gate_sigmas * math.hypot(spread, obs.sigma_d) + slack
            return abs(obs.focus_d - expected) <= max(gate, self.min_gate_d)
        return any(
            abs(y) <= max(self.gate_sigmas * math.sqrt(s) + slack, self.min_gate_d)
            for y, s in zip(inn.y_d, inn.s_d2, strict=True)
        )

    def check(
        self,
        obs: Observation,
        track: DistanceEstimator,
        content: float | Callable[[], float | None] | None = None,
    ) -> Verdict:
        """Judge `obs` against `track` (`content`: `AreaContent.similarity` of this frame, if
        known, or a function giving it, called only when the verdict depends on it). On
        SWITCH the estimator has been re-seeded already; the caller uses ACCEPTed and
        MANOEUVRE readings itself."""
        if not self.established(obs, track):
            self._candidates.clear()
            self.rejected_in_a_row = 0
            return Verdict.ACCEPT

        def similarity() -> float | None:
            return content() if callable(content) else content

        if self.on_track(obs, track):
            if not self._candidates:
                self.rejected_in_a_row = 0
                return Verdict.ACCEPT
            c = similarity()
            if c is None or c >= self.same_content:
                self._candidates.clear()
                self.rejected_in_a_row = 0
                return Verdict.ACCEPT
            # back near the track while the AF area still does not show the subject: the
            # obstacle is leaving (its edge is in the window); keep waiting
        else:
            c = similarity()
            if c is not None and c >= self.same_content:
                self._candidates.clear()
                self.rejected_in_a_row = 0
                self.manoeuvres += 1
                return Verdict.MANOEUVRE
        return self._off_track(obs, track)

    def lost(self, obs: Observation, track: DistanceEstimator) -> Verdict:
        """Judge a reading of an AF window that no longer shows the tracked subject (most of
        it at another depth: the subject leaving the AF point, or the photographer moving the
        point off it): off the track whatever distance it reads, as an obstacle's — REJECT
        (the servo holds the prediction) until readings have stayed off it for `lock_on_s`,
        then SWITCH to it, as a body refocuses on what its AF point now sees once the
        lock-on delay is over. On no established track it is simply accepted."""
        if not self.established(obs, track):
            self._candidates.clear()
            self.rejected_in_a_row = 0
            return Verdict.ACCEPT
        return self._off_track(obs, track)

    def _off_track(self, obs: Observation, track: DistanceEstimator) -> Verdict:
        if self.lock_on_s <= 0:
            self._switch([obs], track)
            return Verdict.SWITCH
        self._candidates.append(obs)
        if obs.t_s - self._candidates[0].t_s >= self.lock_on_s:
            recent = [c for c in self._candidates if c.t_s >= obs.t_s - self.seed_s]
            self._switch(recent, track)
            return Verdict.SWITCH
        self.rejected += 1
        self.rejected_in_a_row += 1
        return Verdict.REJECT

    def _switch(self, seed: list[Observation], track: DistanceEstimator) -> None:
        track.seed(seed)
        self._candidates.clear()
        self.rejected_in_a_row = 0
        self.switches += 1
