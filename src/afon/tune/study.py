"""An Optuna study over a strategy's tunables, evaluated on Dask, stored where it can resume.

`run_study` asks Optuna (TPE, seeded, with the constant-liar rule for parallel asks) for a
batch of parameter sets — as many as there are workers — evaluates each on every training
scenario × seed (`afon.tune.objective`), tells Optuna the cost, and repeats until the study
holds `trials` finished trials. The first trial of a new study is the strategy's defaults, so
the study always knows what it has to beat. Results are gathered in input order, so the same
seed and batch size give the same study on one machine or many.

Storage is an Optuna RDB URL: a SQLite file by default, PostgreSQL
(``postgresql://user@host/db``) when several machines share one study. Resuming: a study of the
same name continues where it stopped — finished trials count, trials that were running when it
was interrupted are marked failed and their parameters asked again. A study remembers what it
was made for (strategy, preset, scenarios, seeds); resuming it with other settings is an error.

`compare` then runs the defaults and the best parameters on the training scenarios and on the
hold-out scenarios (seeds the study never saw), so overfitting shows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from afon.errors import AfonError
from afon.tune.executor import DaskExecutor, run_all
from afon.tune.objective import Evaluation, cost, evaluate, summary
from afon.tune.params import Params, TunableSet, load_tunables, rounded, sample

HOLDOUT_SEED_OFFSET = 10_000
"""Comparison seeds start here: evaluations the study never saw."""


@dataclass(frozen=True)
class TuneSpec:
    """What to tune, on what."""

    strategy: str
    preset: str
    scenarios: tuple[str, ...]
    holdout: tuple[str, ...] = ()
    trials: int = 30
    seeds: int = 3
    seed: int = 0
    storage: str = "sqlite:///afon-tune.sqlite3"
    study_name: str | None = None

    def name(self) -> str:
        return self.study_name or f"{self.strategy}-{self.preset}-{'+'.join(self.scenarios)}"

    def identity(self) -> dict[str, Any]:
        """What a stored study must match to be resumed with this spec."""
        return {
            "strategy": self.strategy,
            "preset": self.preset,
            "scenarios": list(self.scenarios),
            "seeds": self.seeds,
            "seed": self.seed,
        }

    def training(self, params: Params) -> list[Evaluation]:
        return [
            Evaluation.of(self.strategy, params, self.preset, scn, self.seed + k)
            for scn in self.scenarios
            for k in range(self.seeds)
        ]


@dataclass
class Progress:
    """What a progress display is told after every batch."""

    done: int
    total: int
    best: float
    workers: int
    evaluations: int


@dataclass
class StudyResult:
    spec: TuneSpec
    best_params: Params
    best_cost: float
    defaults_cost: float | None
    trials_done: int
    resumed_from: int
    evaluations: int
    wall_s: float
    history: list[tuple[int, float]] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)


def _check_spec(spec: TuneSpec, ts: TunableSet) -> None:
    if spec.trials < 1:
        raise AfonError(f"--trials must be at least 1, got {spec.trials}")
    if spec.seeds < 1:
        raise AfonError(f"--seeds must be at least 1, got {spec.seeds}")
    if not spec.scenarios:
        raise AfonError("--scenarios: name at least one scenario to tune on")
    overlap = set(spec.scenarios) & set(spec.holdout)
    if overlap:
        raise AfonError(f"--holdout must not repeat training scenarios: {', '.join(overlap)}")
    from afon.bench.scenario import resolve_scenario

    for name in (*spec.scenarios, *spec.holdout):
        if resolve_scenario(name).kind != "sim":
            raise AfonError(f"scenario {name!r} replays a focal stack; tune on simulated ones")


def open_study(spec: TuneSpec) -> Any:
    """The Optuna study for `spec` (created, or loaded to resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=spec.seed, constant_liar=True, n_startup_trials=min(10, max(2, spec.trials // 3))
    )
    try:
        study = optuna.create_study(
            storage=spec.storage,
            study_name=spec.name(),
            direction="minimize",
            load_if_exists=True,
            sampler=sampler,
        )
    except Exception as exc:  # storage URLs fail in many driver-specific ways
        raise AfonError(f"cannot open the study storage {spec.storage!r}: {exc}") from None
    made_for = study.user_attrs.get("spec")
    if made_for is None:
        study.set_user_attr("spec", spec.identity())
    elif made_for != spec.identity():
        raise AfonError(
            f"study {spec.name()!r} in {spec.storage} was made for {made_for}; "
            f"resume it with the same settings or give a new --study name"
        )
    return study


def run_study(
    spec: TuneSpec,
    executor: DaskExecutor | None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> StudyResult:
    """Run (or resume) the study until it has `spec.trials` finished trials."""
    import optuna
    from optuna.trial import TrialState

    ts = load_tunables(spec.strategy)
    _check_spec(spec, ts)
    study = open_study(spec)
    t0 = time.perf_counter()
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(stale.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(stale.params, skip_if_exists=False)
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    resumed_from = finished
    if not study.trials:
        study.enqueue_trial(ts.defaults())
    batch = max(1, executor.workers if executor is not None else 1)
    evaluations = 0
    while finished < spec.trials:
        asked = [study.ask() for _ in range(min(batch, spec.trials - finished))]
        params = [sample(ts, t) for t in asked]
        jobs = [spec.training(p) for p in params]
        flat = [ev for group in jobs for ev in group]
        results = run_all(evaluate, flat, executor)
        evaluations += len(flat)
        at = 0
        for trial, group in zip(asked, jobs, strict=True):
            part = results[at : at + len(group)]
            at += len(group)
            value = cost(ts.mode, part)
            trial.set_user_attr("summary", summary(ts.mode, part))
            study.tell(
                trial,
                value if math.isfinite(value) else None,
                state=None if math.isfinite(value) else TrialState.FAIL,
            )
        finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if on_progress is not None:
            on_progress(
                Progress(finished, spec.trials, float(study.best_value), batch, evaluations)
            )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    defaults = ts.defaults()
    defaults_cost = next(
        (float(t.value) for t in complete if t.params == defaults and t.value is not None), None
    )
    importance: dict[str, float] = {}
    if len(complete) >= 4:
        try:
            importance = {
                k: float(v) for k, v in optuna.importance.get_param_importances(study).items()
            }
        except (RuntimeError, ValueError):  # too few distinct values to rank
            importance = {}
    best = study.best_trial
    return StudyResult(
        spec=spec,
        best_params=rounded(ts, {**defaults, **dict(best.params)}),
        best_cost=float(best.value),
        defaults_cost=defaults_cost,
        trials_done=len(complete),
        resumed_from=resumed_from,
        evaluations=evaluations,
        wall_s=time.perf_counter() - t0,
        history=[(t.number, float(t.value)) for t in complete if t.value is not None],
        importance=importance,
    )


def compare(
    spec: TuneSpec,
    params: Params,
    executor: DaskExecutor | None,
    *,
    seeds: int | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Defaults against `params` per scenario (training and hold-out), on fresh seeds:
    ``{scenario: {"set": "training"|"holdout", "default": summary, "tuned": summary}}``."""
    mode = load_tunables(spec.strategy).mode
    n = seeds if seeds is not None else spec.seeds
    base = spec.seed + HOLDOUT_SEED_OFFSET
    plan: list[tuple[str, str, Evaluation]] = []
    sets = [("training", s) for s in spec.scenarios] + [("holdout", s) for s in spec.holdout]
    for _, scn in sets:
        for label, p in (("default", {}), ("tuned", params)):
            for k in range(n):
                plan.append(
                    (scn, label, Evaluation.of(spec.strategy, p, spec.preset, scn, base + k))
                )
    results = run_all(evaluate, [ev for _, _, ev in plan], executor)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (scn, label, _), res in zip(plan, results, strict=True):
        grouped.setdefault((scn, label), []).append(res)
    out: dict[str, dict[str, Any]] = {}
    for which, scn in sets:
        out[scn] = {
            "set": which,
            "default": summary(mode, grouped[(scn, "default")]),
            "tuned": summary(mode, grouped[(scn, "tuned")]),
        }
    return out


def pooled(comparison: dict[str, dict[str, Any]], which: str, label: str) -> float:
    """The mean cost of `label` ("default"/"tuned") over the `which` scenarios."""
    costs = [v[label]["cost"] for v in comparison.values() if v["set"] == which]
    return sum(costs) / len(costs) if costs else math.nan
