"""Tuning benchmark: how evaluations scale over Dask workers, and what tuning buys on hold-out.

Prints JSON on stdout::

    {"scaling": {"evaluations": N, "workers": {"1": {"wall_s", "evals_per_s"},
                                               "2": {...}}, "speedup_2_vs_1": R},
     "improvement": [{"strategy", "preset", "training", "holdout", "trials", "seeds",
                      "default_cost", "tuned_cost", "improvement" (1 − tuned/default),
                      "per_scenario": {...}}, ...],
     "load": [1, 5, 15 min load averages at the start]}

Scaling: the same `--evaluations` AF-S evaluations (afon's hybrid AF on the cm3, portrait,
one seed each) on an embedded LocalCluster of 1 and then 2 single-threaded workers, after one
warm-up evaluation per worker (imports, scene textures); the target is ≥ 1.7× with 2 workers on
this 2-core machine. Improvement: a study (`--trials`, `--seeds`) per strategy × preset on the
training scenarios, then defaults against the best parameters on the hold-out scenarios with
fresh seeds (`afon.tune.study.compare`): the cost is the study's own (AF-S: frames to the
verdict + 60 per miss; lower is better).

Usage: python benchmarks/tune_scale.py [--evaluations N] [--trials T] [--seeds S]
       [--compare-seeds K] [--skip-improvement]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from afon.tune.executor import DaskExecutor
from afon.tune.objective import Evaluation, evaluate
from afon.tune.study import TuneSpec, compare, pooled, run_study

CASES = (
    ("libcamera", "cm3"),
    ("libcamera", "300mm-f2.8"),
    ("hybrid", "cm3"),
    ("hybrid", "300mm-f2.8"),
)
TRAINING = ("portrait", "bird")
HOLDOUT = ("low-light", "obstacle", "runner")


def scaling(n: int) -> dict[str, Any]:
    evals = [Evaluation.of("hybrid", {}, "cm3", "portrait", 100 + i) for i in range(n)]
    out: dict[str, Any] = {"evaluations": n, "workers": {}}
    for workers in (1, 2):
        with DaskExecutor(None, workers) as ex:
            ex.map(evaluate, evals[:workers])  # warm-up: imports and textures in each worker
            t0 = time.perf_counter()
            ex.map(evaluate, evals)
            wall = time.perf_counter() - t0
        out["workers"][str(workers)] = {"wall_s": round(wall, 2),
                                        "evals_per_s": round(n / wall, 3)}
    one, two = out["workers"]["1"]["evals_per_s"], out["workers"]["2"]["evals_per_s"]
    out["speedup_2_vs_1"] = round(two / one, 3)
    return out


def improvement(trials: int, seeds: int, compare_seeds: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, DaskExecutor(None, 2) as ex:
        for strategy, preset in CASES:
            spec = TuneSpec(
                strategy=strategy, preset=preset, scenarios=TRAINING, holdout=HOLDOUT,
                trials=trials, seeds=seeds, seed=0,
                storage=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            )
            t0 = time.perf_counter()
            result = run_study(spec, ex)
            cmp = compare(spec, result.best_params, ex, seeds=compare_seeds)
            default = pooled(cmp, "holdout", "default")
            tuned = pooled(cmp, "holdout", "tuned")
            rows.append({
                "strategy": strategy,
                "preset": preset,
                "training": list(TRAINING),
                "holdout": list(HOLDOUT),
                "trials": trials,
                "seeds": seeds,
                "compare_seeds": compare_seeds,
                "study_best_cost": round(result.best_cost, 3),
                "study_defaults_cost": result.defaults_cost,
                "training_default_cost": round(pooled(cmp, "training", "default"), 3),
                "training_tuned_cost": round(pooled(cmp, "training", "tuned"), 3),
                "default_cost": round(default, 3),
                "tuned_cost": round(tuned, 3),
                "improvement": round(1.0 - tuned / default, 3) if default > 0 else None,
                "best_params": result.best_params,
                "per_scenario": {k: {"set": v["set"], "default": v["default"],
                                     "tuned": v["tuned"]} for k, v in cmp.items()},
                "wall_s": round(time.perf_counter() - t0, 1),
            })
            print(f"{strategy} on {preset}: hold-out cost {default:.2f} → {tuned:.2f}",
                  file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evaluations", type=int, default=24)
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--compare-seeds", type=int, default=4)
    ap.add_argument("--skip-improvement", action="store_true")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {"load": [round(x, 2) for x in os.getloadavg()]}
    result["scaling"] = scaling(args.evaluations)
    print(f"scaling: {result['scaling']['speedup_2_vs_1']}× with 2 workers", file=sys.stderr)
    if not args.skip_improvement:
        result["improvement"] = improvement(args.trials, args.seeds, args.compare_seeds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
