"""Benchmark metrics: what one trial produced, and the figures of a row of trials.

Per shot (`ShotOutcome`), judged by ground truth the strategies never see:

- **in focus** — the subject inside the depth of field at the still's mid-exposure (the
  simulation's ``in_focus``; for a focal stack, the lens nearer the subject's slice than any
  other slice). A release that ended without an exposure (focus priority, never focused) is a
  shot that is not in focus.
- **lag** — from the photographer's decision to the start of the exposure: the full press for
  a back-button or AF-C shot (so the release lag), the half-press that started the AF cycle for
  a shutter-button AF-S frame (AF time + the photographer's reaction to the confirmation + the
  release lag), each burst frame's own due time for the frames after a burst's first. The
  body's own press-to-exposure figure is ``release_lag``.
- **focus error** — |subject − lens| in dioptres over the depth of focus (half-width c·N/f²;
  for a stack, half the slice spacing), so 1.0 is the edge of acceptable sharpness.

Per row (scenario × technique × strategy, over all its trials; `summarize`):

- ``keeper_rate`` = in-focus shots / shots (None when no shot was taken), with a 95% Wilson
  score interval ``keeper_ci95`` that counts only *distinct* trials: ``distinct_outcomes`` is
  the number of trials whose shots differ (verdict, focus error, exposure time; see
  `outcome_key`), and the interval uses ``shots × distinct_outcomes / trials`` effective shots,
  so 60 identical deterministic trials weigh as one trial, not as 60 independent samples;
- ``lag_median_s``, ``lag_p95_s`` over the exposed shots (``release_lag_median_s`` beside);
- ``missed`` — moments with no in-focus exposure starting within the scenario's tolerance after
  the photographer's press for that moment (also when no shot was taken); ``moments`` the
  total and ``missed_rate`` the fraction;
- ``reversals`` and ``lens_travel_d`` — lens direction reversals and dioptres travelled, mean
  per trial (hunting shows as both);
- ``focus_error_dof_median`` / ``focus_error_dof_p90`` — the distribution of |focus error|
  (consistency), in depths of focus, over the exposed shots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def wilson_ci(keepers: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion `keepers`/`n` ((0, 1) when n == 0).

    Non-integer counts are allowed (an effective sample size, see `summarize`). That is why it
    is written here: scipy's `binomtest(k, n).proportion_ci(method="wilson")` takes integer
    counts only, and statsmodels' `proportion_confint` would be a large dependency for these six
    lines; tests check it against scipy on integer counts."""
    if n <= 0:
        return 0.0, 1.0
    if not -1e-9 <= keepers <= n + 1e-9:
        raise ValueError(f"keepers must be within 0..{n}, got {keepers}")
    p = min(max(keepers / n, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0..100, numpy's linear interpolation); None if empty."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass(frozen=True)
class ShotOutcome:
    """One shot of a trial, judged."""

    exposed: bool
    in_focus: bool
    decision_s: float
    exposure_s: float | None = None
    """Start of the exposure."""
    lag_s: float | None = None
    release_lag_s: float | None = None
    error_dof: float | None = None
    """|focus error| / depth of focus."""
    lens_d: float | None = None
    mid_s: float | None = None
    """Mid-exposure time (for traces)."""


@dataclass
class TrialResult:
    """What one trial (scenario × technique × strategy × seed) produced."""

    scenario: str
    technique: str
    strategy: str
    seed: int
    shots: list[ShotOutcome] = field(default_factory=list)
    moment_press_s: list[float] = field(default_factory=list)
    tolerance_s: float = 0.15
    travel_d: float = 0.0
    reversals: int = 0
    simulated_s: float = 0.0
    frames: int = 0
    trace: dict[str, Any] | None = None

    @property
    def missed(self) -> int:
        return missed_moments(self.moment_press_s, self.shots, self.tolerance_s)


def missed_moments(
    presses_s: Sequence[float], shots: Iterable[ShotOutcome], tolerance_s: float
) -> int:
    """Moments without an in-focus exposure starting within `tolerance_s` after their press."""
    starts = sorted(
        s.exposure_s for s in shots if s.exposed and s.in_focus and s.exposure_s is not None
    )
    missed = 0
    for p in presses_s:
        if not any(p - 1e-9 <= t <= p + tolerance_s + 1e-9 for t in starts):
            missed += 1
    return missed


def outcome_key(trial: TrialResult) -> tuple[tuple[bool, bool, float | None, float | None], ...]:
    """What a trial produced, for telling identical trials apart: per shot, exposed, in focus,
    the focus error (1e-3 DoF) and the exposure start (0.1 ms)."""
    return tuple(
        (
            s.exposed,
            s.in_focus,
            None if s.error_dof is None else round(s.error_dof, 3),
            None if s.exposure_s is None else round(s.exposure_s, 4),
        )
        for s in trial.shots
    )


def distinct_outcomes(trials: Sequence[TrialResult]) -> int:
    """How many of `trials` produced different shots (`outcome_key`)."""
    return len({outcome_key(t) for t in trials})


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def summarize(trials: Sequence[TrialResult]) -> dict[str, Any]:
    """The figures of one row (all trials of one scenario × technique × strategy)."""
    if not trials:
        raise ValueError("summarize needs at least one trial")
    first = trials[0]
    shots = [s for t in trials for s in t.shots]
    n = len(shots)
    keepers = sum(1 for s in shots if s.in_focus)
    k = len(trials)
    distinct = distinct_outcomes(trials)
    n_eff = n * distinct / k
    lo, hi = wilson_ci(keepers * distinct / k, n_eff)
    lags = [s.lag_s for s in shots if s.exposed and s.lag_s is not None]
    rlags = [s.release_lag_s for s in shots if s.exposed and s.release_lag_s is not None]
    errors = [s.error_dof for s in shots if s.exposed and s.error_dof is not None]
    moments = sum(len(t.moment_press_s) for t in trials)
    missed = sum(t.missed for t in trials)
    return {
        "scenario": first.scenario,
        "technique": first.technique,
        "strategy": first.strategy,
        "trials": k,
        "distinct_outcomes": distinct,
        "shots": n,
        "keepers": keepers,
        "failures": sum(1 for s in shots if not s.exposed),
        "keeper_rate": _r(keepers / n) if n else None,
        "keeper_ci95": [_r(lo), _r(hi)],
        "lag_median_s": _r(percentile(lags, 50)),
        "lag_p95_s": _r(percentile(lags, 95)),
        "release_lag_median_s": _r(percentile(rlags, 50)),
        "moments": moments,
        "missed": missed,
        "missed_rate": _r(missed / moments if moments else 0.0),
        "caught_ci95": [_r(x) for x in wilson_ci((moments - missed) * distinct / k,
                                                 moments * distinct / k)],
        "reversals": _r(sum(t.reversals for t in trials) / k, 2),
        "lens_travel_d": _r(sum(t.travel_d for t in trials) / k),
        "focus_error_dof_median": _r(percentile(errors, 50), 3),
        "focus_error_dof_p90": _r(percentile(errors, 90), 3),
        "simulated_s": _r(sum(t.simulated_s for t in trials), 3),
    }


LIMIT_NAMES = ("clairvoyant", "causal")
"""The limits, strongest first: the clairvoyant bounds every strategy (the causal limit too),
the causal limit bounds every real (causal) strategy."""


CAUSAL_BOUND_TECHNIQUES = ("shutter-af-c", "bbf-af-c")
"""Techniques where the causal limit bounds every causal strategy. In AF-S the best lock on a
moving subject depends on when the photographer will press, which the causal limit does not
know either; a strategy can beat it there by the luck of its timing."""


def limit_violations(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Rows that beat a limit they must not beat by more than chance, for the same scenario
    and technique: every strategy under the clairvoyant limit, every strategy but the
    clairvoyant under the causal limit in AF-C (`CAUSAL_BOUND_TECHNIQUES`).

    What a limit bounds is the moments caught (an in-focus shot within the moment's
    tolerance): a strategy that caught a larger share of the moments than the top of the
    limit's 95% interval beats it. The keeper rate is compared too, but only where both rows
    exposed the same number of shots: a strategy that takes fewer, later shots (a slow AF-S
    that misses the burst) can have a higher share of sharp ones without catching more.
    Beating a limit is a bug in the benchmark or in the limit."""
    rows = list(rows)
    out = []
    for rank, limit in enumerate(LIMIT_NAMES):
        limits: dict[tuple[str, str], dict[str, Any]] = {
            (r["scenario"], r["technique"]): r for r in rows if r["strategy"] == limit
        }
        for r in rows:
            o = limits.get((r["scenario"], r["technique"]))
            if (
                r["strategy"] in LIMIT_NAMES[: rank + 1]
                or (limit == "causal" and r["technique"] not in CAUSAL_BOUND_TECHNIQUES)
                or o is None
            ):
                continue
            where = f"{r['scenario']} / {r['technique']}: {r['strategy']}"
            if r.get("moments") and o.get("moments"):
                caught = 1.0 - r["missed"] / r["moments"]
                if caught > o["caught_ci95"][1] + 1e-9:
                    out.append(
                        f"{where} caught {caught:.3f} of the moments, above the {limit} "
                        f"limit's {1.0 - o['missed_rate']:.3f} (95% CI "
                        f"{o['caught_ci95'][0]:.3f}–{o['caught_ci95'][1]:.3f})"
                    )
            if (
                r["keeper_rate"] is not None
                and o["keeper_rate"] is not None
                and r["shots"] == o["shots"]
                and r["keeper_rate"] > o["keeper_ci95"][1] + 1e-9
            ):
                out.append(
                    f"{where} keeper rate {r['keeper_rate']:.3f} above the {limit} limit's "
                    f"{o['keeper_rate']:.3f} (95% CI {o['keeper_ci95'][0]:.3f}–"
                    f"{o['keeper_ci95'][1]:.3f}) on as many shots"
                )
    return out
