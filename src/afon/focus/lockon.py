"""Lock-on: a servo's defence against obstacles (Nikon: focus tracking with lock-on).

When something crosses between the camera and the tracked subject (a referee, a branch, another
runner), the AF window suddenly measures a very different distance. A servo that follows it
immediately pulls focus to the obstacle and has to come back afterwards; the subject is out of
focus for the whole crossing *and* the recovery. Bodies therefore ignore an abrupt distance
change for a set time ("lock-on") and keep driving the lens along the predicted path of the
subject; only if the new distance *persists* longer than that is it taken as the new subject.

`LockOn.check` judges each observation against the current track (`SubjectPredictor`):

- inside the gate (``max(gate_sigmas × spread, min_gate_d)``, where the spread combines the
  track's prediction uncertainty, the reading's noise and the track's own residual scatter):
  ACCEPT;
- outside, with lock-on off (``lock_on_s == 0``): SWITCH at once (the track is re-seeded with the
  new reading: follow immediately);
- outside, with lock-on on: REJECT (the servo holds/extrapolates the prediction) and remember the
  reading as a candidate; once readings have stayed off the track for `lock_on_s` (measured from
  the first off-track reading), SWITCH to the new distance, re-seeding the track with the recent
  candidates. One reading back on the track clears the candidates.
- except a *smooth* departure: a subject that speeds up or brakes also leaves a constant-velocity
  track, but gradually. When the track's last `continuity_s` of readings and two or more
  candidates fit one constant-acceleration trajectory (in metres, reduced χ² ≤
  `continuity_chi2`) with a physically plausible acceleration (≤ `max_accel_m_s2`), it is the
  same subject: SWITCH at once, re-seeding the track with them. An obstacle is a step, which no
  smooth trajectory fits; one that slides into the AF window makes a ramp in the readings, but a
  far steeper one than any real subject's acceleration.

The gate only applies to an established track (`min_track_points` readings spanning
`min_track_s`): while the servo is still acquiring, every reading is accepted.

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
from dataclasses import dataclass, field

from afon.focus.predict import Observation, SubjectPredictor, fit_observations

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
    """On the track (or no track yet): add it."""
    REJECT = "reject"
    """An abrupt jump being ignored: hold the prediction."""
    SWITCH = "switch"
    """A jump accepted as the new subject distance: the track was re-seeded."""


@dataclass
class LockOn:
    """Gates observations against a track; see the module docstring."""

    lock_on_s: float = DEFAULT_LOCK_ON_S
    min_gate_d: float = 0.0
    """Smallest jump (dioptres) ever treated as off-track; the servo uses 3 × depth of focus."""
    gate_sigmas: float = 4.0
    min_track_points: int = 5
    min_track_s: float = 0.1
    stale_s: float = 1.0
    """A track with no reading for this long is no track: the next reading is accepted."""
    seed_s: float = 0.15
    """On a switch, candidates this recent seed the new track."""
    continuity_s: float = 0.5
    """Track readings this far before the first off-track reading join the continuity test."""
    continuity_chi2: float = 3.0
    """Reduced χ² below which off-track readings continue the track smoothly (an accelerating
    subject, not an obstacle)."""
    max_accel_m_s2: float = 12.0
    """Largest acceleration a smooth continuation may have: a sprinter's start or a braking car
    stays under ~10 m/s²; the ramp a partly covering obstacle makes in the readings (metres
    within a tenth of a second) needs far more, so it is not taken as the subject."""
    _candidates: list[Observation] = field(default_factory=list, repr=False)
    rejected: int = 0
    switches: int = 0

    def __post_init__(self) -> None:
        self.lock_on_s = lock_on_seconds(self.lock_on_s)

    def reset(self) -> None:
        self._candidates.clear()

    @property
    def holding(self) -> bool:
        """True while off-track readings are being ignored."""
        return bool(self._candidates)

    @property
    def holding_since_s(self) -> float | None:
        return self._candidates[0].t_s if self._candidates else None

    def gate_d(self, obs: Observation, track: SubjectPredictor) -> float | None:
        """Current gate half-width (dioptres) for `obs`, None when there is no established track."""
        fit = track.fit()
        last = track.last
        if fit is None or last is None:
            return None
        if fit.n < self.min_track_points or fit.span_s < self.min_track_s:
            return None
        if obs.t_s - last.t_s > self.stale_s:
            return None
        scatter = track.residual_sigma_d()
        scatter = 0.0 if math.isnan(scatter) else scatter
        spread = math.sqrt(fit.sigma_d(obs.t_s) ** 2 + obs.sigma_d**2 + scatter**2)
        return max(self.gate_sigmas * spread, self.min_gate_d)

    def check(self, obs: Observation, track: SubjectPredictor) -> Verdict:
        """Judge `obs` against `track`; on SWITCH the track has been re-seeded already.

        The caller adds ACCEPTed readings to the track itself.
        """
        gate = self.gate_d(obs, track)
        if gate is None:
            self._candidates.clear()
            return Verdict.ACCEPT
        expected = track.predict_d(obs.t_s)
        assert expected is not None
        if abs(obs.focus_d - expected) <= gate:
            self._candidates.clear()
            return Verdict.ACCEPT
        if self.lock_on_s <= 0:
            self._switch([obs], track)
            return Verdict.SWITCH
        self._candidates.append(obs)
        smooth = self._continuation(track)
        if smooth is not None:
            self._switch(smooth, track)
            return Verdict.SWITCH
        if obs.t_s - self._candidates[0].t_s >= self.lock_on_s:
            recent = [c for c in self._candidates if c.t_s >= obs.t_s - self.seed_s]
            self._switch(recent, track)
            return Verdict.SWITCH
        self.rejected += 1
        return Verdict.REJECT

    def _continuation(self, track: SubjectPredictor) -> list[Observation] | None:
        """The track's recent readings plus the candidates, if together they are one smooth
        (constant-acceleration in metres) trajectory; None for a jump."""
        if len(self._candidates) < 2:
            return None
        t_first = self._candidates[0].t_s
        base = [o for o in track.observations if o.t_s >= t_first - self.continuity_s]
        if len(base) < 4:
            return None
        joined = base + self._candidates
        fit = fit_observations(joined, 2, robust=False)
        if fit.chi2_red > self.continuity_chi2:
            return None
        if not fit.far_field and len(fit.coef) > 2 and abs(fit.coef[2]) > self.max_accel_m_s2:
            return None  # too abrupt for a real subject: an obstacle sliding into the window
        return joined

    def _switch(self, seed: list[Observation], track: SubjectPredictor) -> None:
        track.reset(seed)
        self._candidates.clear()
        self.switches += 1
