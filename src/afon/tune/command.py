"""``afon tune``: tune a strategy for a lens, print and save the best parameters and how they
hold on scenarios they were not tuned on.

Writes to ``--out`` (default ``out/tune/STRATEGY-PRESET``):

- ``tuning.toml`` — the best parameters as an afon tuning file (`afon.tune.params`);
- ``rpi-af.json`` (libcamera baseline only) — a complete ``rpi.af`` algorithm entry in
  libcamera's tuning format; with ``--libcamera-tuning FILE`` also ``FILE``'s name with the
  tuned keys merged in;
- ``report.json``, ``report.md`` and the plots ``history.png`` (optimisation history) and
  ``importance.png`` (parameter importance).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from afon.errors import AfonError
from afon.tune.executor import open_executor
from afon.tune.objective import MISS_PENALTY_FRAMES
from afon.tune.params import load_tunables, tunable_strategies, tuning_toml
from afon.tune.study import Progress, StudyResult, TuneSpec, compare, pooled, run_study

DESCRIPTION = (
    "Tune an AF strategy's declared parameters for a camera preset with an Optuna study, "
    "evaluated over scenarios × seeds on Dask (an embedded LocalCluster, or --scheduler for a "
    "cluster), stored in SQLite (or a PostgreSQL URL) so an interrupted study resumes. "
    "AF-S strategies minimise frames to focus plus a "
    f"{MISS_PENALTY_FRAMES:.0f}-frame penalty per miss; AF-C strategies maximise the keeper "
    "rate. The best parameters are compared with the defaults on the training and the "
    "--holdout scenarios, on seeds the study never saw."
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``afon tune`` to the CLI's subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "tune",
        help="tune an AF strategy's parameters for a lens (Optuna on Dask)",
        description=DESCRIPTION,
    )
    p.add_argument(
        "--strategy", required=True, help=f"strategy to tune: {', '.join(tunable_strategies())}"
    )
    p.add_argument("--preset", default="cm3", help="camera preset name or TOML (default cm3)")
    p.add_argument(
        "--scenarios",
        nargs="+",
        required=True,
        metavar="NAME",
        help="benchmark scenarios to tune on (simulated ones)",
    )
    p.add_argument(
        "--holdout",
        nargs="*",
        default=[],
        metavar="NAME",
        help="scenarios to check the result on, never tuned on",
    )
    p.add_argument("--trials", type=int, default=30, help="parameter sets to try (default 30)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per scenario (default 3)")
    p.add_argument(
        "--compare-seeds",
        type=int,
        default=5,
        help="fresh seeds per scenario for the default-vs-tuned comparison (default 5)",
    )
    p.add_argument("--seed", type=int, default=0, help="first seed; seeds the sampler too")
    p.add_argument("--workers", type=int, help="local Dask workers (default: all cores)")
    p.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (a cluster)")
    p.add_argument(
        "--storage",
        help="Optuna storage URL (default sqlite:///OUT/study.sqlite3;"
        " postgresql://… to share a study between machines)",
    )
    p.add_argument(
        "--study",
        help="study name (default STRATEGY-PRESET-SCENARIOS); a stored study of this name resumes",
    )
    p.add_argument(
        "--libcamera-tuning",
        metavar="FILE",
        help="a libcamera sensor tuning JSON to merge the tuned rpi.af keys into",
    )
    p.add_argument("--out", help="output folder (default out/tune/STRATEGY-PRESET)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=main)
    return p


class _ProgressView:
    """A rich progress bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, done: int) -> None:
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("tuning"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                transient=True,
            )
            self.task = self.bar.add_task("tune", total=total, completed=done, info="")
            self.bar.start()

    def __call__(self, p: Progress) -> None:
        info = f"best {p.best:.4g} · {p.workers} workers · {p.evaluations} evaluations"
        if self.bar is not None:
            self.bar.update(self.task, completed=p.done, info=info)
        else:
            print(f"tune: {p.done}/{p.total} trials, {info}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _plots(result: StudyResult, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, ax = plt.subplots(figsize=(6, 3.2))
    xs = [n for n, _ in result.history]
    ys = [v for _, v in result.history]
    best = [min(ys[: i + 1]) for i in range(len(ys))]
    ax.plot(xs, ys, "o", ms=3, color="#888", label="trial")
    ax.step(xs, best, where="post", color="#c33", label="best so far")
    if result.defaults_cost is not None:
        ax.axhline(result.defaults_cost, color="#36c", ls="--", lw=1, label="defaults")
    ax.set_xlabel("trial")
    ax.set_ylabel("cost (lower is better)")
    ax.set_title(f"{result.spec.strategy} on {result.spec.preset}: optimisation history")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "history.png", dpi=110)
    plt.close(fig)
    names.append("history.png")
    if result.importance:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.35 * len(result.importance)))
        items = sorted(result.importance.items(), key=lambda kv: kv[1])
        ax.barh([k for k, _ in items], [v for _, v in items], color="#4a8")
        ax.set_xlabel("importance (fANOVA, normalised)")
        ax.set_title("parameter importance")
        fig.tight_layout()
        fig.savefig(out / "importance.png", dpi=110)
        plt.close(fig)
        names.append("importance.png")
    return names


def _markdown(report: dict[str, Any]) -> str:
    spec = report["spec"]
    lines = [
        f"# afon tune: {spec['strategy']} on {spec['preset']}",
        "",
        f"Study `{report['study']}` ({report['storage']}): {report['trials']} trials, "
        f"{report['evaluations']} evaluations this run on {report['workers']} workers in "
        f"{report['wall_s']:.0f} s. Cost: {report['cost_rule']}",
        "",
        "| parameter | default | tuned | unit |",
        "|---|---|---|---|",
    ]
    for name, row in report["parameters"].items():
        lines.append(f"| {name} | {row['default']} | {row['tuned']} | {row['unit']} |")
    lines += [
        "",
        "| scenario | set | default cost | tuned cost | default | tuned |",
        "|---|---|---|---|---|---|",
    ]
    for scn, row in report["comparison"].items():
        d, t = row["default"], row["tuned"]
        lines.append(
            f"| {scn} | {row['set']} | {d['cost']} | {t['cost']} | {_brief(d)} | {_brief(t)} |"
        )
    lines += ["", "![history](history.png)"]
    if "importance.png" in report["plots"]:
        lines.append("![importance](importance.png)")
    return "\n".join(lines) + "\n"


def _brief(s: dict[str, Any]) -> str:
    if "frames_median" in s:
        return (
            f"{s['frames_median']:g} frames, {s['error_d_median']} D, "
            f"{s['in_focus']}/{s['evaluations']} in focus"
        )
    return f"{s.get('keeper_rate')} keepers ({s.get('keepers')}/{s.get('shots')})"


def _require_extra() -> None:
    import importlib.util

    missing = [m for m in ("optuna", "distributed") if importlib.util.find_spec(m) is None]
    if missing:
        raise AfonError(f"afon tune needs {' and '.join(missing)}: pip install 'afon[tune]'")


def main(args: argparse.Namespace) -> int:
    _require_extra()
    ts = load_tunables(args.strategy)
    out = Path(args.out or f"out/tune/{args.strategy}-{Path(args.preset).stem}")
    out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or f"sqlite:///{(out / 'study.sqlite3').resolve()}"
    spec = TuneSpec(
        strategy=args.strategy,
        preset=args.preset,
        scenarios=tuple(args.scenarios),
        holdout=tuple(args.holdout),
        trials=args.trials,
        seeds=args.seeds,
        seed=args.seed,
        storage=storage,
        study_name=args.study,
    )
    with open_executor(args.scheduler, args.workers) as executor:
        view = _ProgressView(spec.trials, 0)
        try:
            result = run_study(spec, executor, on_progress=view)
        finally:
            view.close()
        comparison = compare(spec, result.best_params, executor, seeds=args.compare_seeds)
        workers = executor.workers
    report = build_report(result, comparison, workers)
    (out / "tuning.toml").write_text(
        tuning_toml(
            ts,
            result.best_params,
            preset=args.preset,
            comment=f"afon tune --strategy {args.strategy} --preset {args.preset} "
            f"--scenarios {' '.join(args.scenarios)}; study {spec.name()}",
        ),
        encoding="utf-8",
    )
    if args.strategy == "libcamera":
        _write_rpi_af(result, args, out, report)
    report["plots"] = _plots(result, out)
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_markdown(report))
        print(f"written to {out}/ (tuning.toml, report.md, report.json)", file=sys.stderr)
    return 0


def build_report(result: StudyResult, comparison: dict[str, Any], workers: int) -> dict[str, Any]:
    spec = result.spec
    ts = load_tunables(spec.strategy)
    mode = ts.mode
    return {
        "study": spec.name(),
        "storage": spec.storage,
        "spec": {**spec.identity(), "holdout": list(spec.holdout), "trials": spec.trials},
        "mode": mode,
        "cost_rule": (
            f"mean frames to the verdict + {MISS_PENALTY_FRAMES:.0f} per failed or missed "
            "acquisition (> 1 depth of focus)"
            if mode == "AF-S"
            else "1 − keeper rate"
        ),
        "trials": result.trials_done,
        "resumed_from": result.resumed_from,
        "evaluations": result.evaluations,
        "workers": workers,
        "wall_s": round(result.wall_s, 2),
        "best_cost": round(result.best_cost, 4),
        "defaults_cost": None if result.defaults_cost is None else round(result.defaults_cost, 4),
        "parameters": {
            p.name: {
                "default": p.default,
                "tuned": result.best_params[p.name],
                "unit": p.unit,
                "low": p.low,
                "high": p.high,
            }
            for p in ts.params
        },
        "importance": {k: round(v, 4) for k, v in result.importance.items()},
        "comparison": comparison,
        "pooled": {
            which: {
                label: round(pooled(comparison, which, label), 4) for label in ("default", "tuned")
            }
            for which in ("training", "holdout")
            if any(v["set"] == which for v in comparison.values())
        },
        "plots": [],
    }


def _write_rpi_af(
    result: StudyResult, args: argparse.Namespace, out: Path, report: dict[str, Any]
) -> None:
    from afon.cameras.sim.camera import SimCamera
    from afon.focus.context import context_for
    from afon.tune.export import check_rpi_af, merge_into, rpi_af_section
    from afon.tune.strategies import applied

    ts = load_tunables(args.strategy)
    cam = SimCamera("portrait", args.preset, render_frames=False)
    ctx = context_for(cam)
    values = applied(ts, result.best_params, ctx)
    entry = rpi_af_section(values, (ctx.lens_min_d, ctx.lens_max_d), ctx.lens_min_d)
    problems = check_rpi_af(entry)
    if problems:  # pragma: no cover - a bug in the exporter, not in the user's input
        raise RuntimeError(f"rpi.af export is not what libcamera reads: {problems}")
    (out / "rpi-af.json").write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    report["rpi_af"] = entry
    if args.libcamera_tuning:
        merged = merge_into(args.libcamera_tuning, values)
        target = out / Path(args.libcamera_tuning).name
        target.write_text(json.dumps(merged, indent=4) + "\n", encoding="utf-8")
        report["libcamera_tuning"] = str(target)
