"""The full default `afon bench` run, timed.

Prints the run's JSON (`BenchResult.to_json()`: one row per scenario × technique × strategy
with keeper rate and 95% interval, shutter lag, missed moments, reversals, lens travel, focus
error distribution, trials) plus ``"wall_s"``, ``"simulated_s"`` and ``"sim_to_wall_ratio"``
(simulated seconds per wall-clock second over the trials, process start-up and report
writing excluded), ``"command_s"`` (the whole command from this script's start: imports,
trials and report, as the ≤ 180 s target counts it), and a human summary on stderr. Writes
the Markdown report and plots to --out (default out/bench); with --docs DIR also
DIR/bench-results.md and DIR/img/bench_trace.png.

Usage: python benchmarks/bench.py [--seed S] [--seeds N] [--jobs J] [--out DIR] [--docs DIR]
"""

from __future__ import annotations

import os
import time

START_S = time.perf_counter()
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# after the clock starts: the imports are part of the command's time
import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from afon.bench.report import timing_line, write_docs, write_report  # noqa: E402
from afon.bench.runner import DEFAULT_SEEDS, load_scenarios, run_bench  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--docs", default=None, help="also write bench-results.md and a trace")
    args = parser.parse_args(argv)

    result = run_bench(
        load_scenarios(), seed=args.seed, seeds=args.seeds, jobs=args.jobs, progress=True,
        trace_plots=args.out,
    )
    report = write_report(result, args.out, jobs=result.jobs)
    data = result.to_json()
    data["wall_s"] = round(result.wall_s, 2)
    data["simulated_s"] = round(result.simulated_s, 2)
    data["sim_to_wall_ratio"] = round(result.simulated_s / result.wall_s, 1)
    data["jobs"] = result.jobs
    if args.docs:
        for path in write_docs(result, args.out, args.docs):
            print(f"wrote {path}", file=sys.stderr)
    # the whole command, as `afon bench` takes it: imports, trials, report (target: 180 s)
    data["command_s"] = round(time.perf_counter() - START_S, 2)
    print(json.dumps(data, indent=1))
    print(timing_line(result), file=sys.stderr)
    print(f"report: {report}", file=sys.stderr)
    for v in result.violations:
        print(f"limit beaten: {v}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
