"""The benchmark's outputs: a Markdown report with PNG plots, a terminal table, and JSON.

`write_report(result, out_dir)` writes::

    out_dir/report.md          the tables (summary and full) and the plots, with the method
    out_dir/results.json       `BenchResult.to_json()` (rows, scenarios, techniques; no traces)
    out_dir/trace-SCENARIO.png one focus trace per scenario: the subject's distance (dioptres)
                               with its depth of focus, the lens position of every strategy
                               and the exposures (● in focus, × not) against time, one panel
                               per technique (first seed)
    out_dir/keepers.png        keeper-rate bars with 95% intervals, one panel per technique

`markdown_tables(result)` is the part that goes into docs/bench-results.md (`write_docs`).
Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from afon.bench.oracle import CAUSAL, CLAIRVOYANT
from afon.bench.photographer import TECHNIQUES
from afon.bench.runner import (
    DEFAULT_SEEDS,
    QUICK_SEEDS,
    STRATEGIES,
    STRATEGY_INFO,
    BenchResult,
    load_scenarios,
    run_bench,
)
from afon.bench.trace_plot import COLOURS as _COLOURS
from afon.bench.trace_plot import draw_trace, pyplot

AFON_AF_S = "hybrid"
AFON_AF_C = "predictive"
BASELINE = "libcamera"
TRACE_FOR_DOCS = "runner"
"""The scenario whose focus trace goes into the docs (the first scenario if it did not run)."""

# --- formatting ------------------------------------------------------------------------------
def fmt_rate(row: dict[str, Any] | None, ci: bool = True) -> str:
    if row is None:
        return "n/a"
    rate = row["keeper_rate"]
    if rate is None:
        return "no shot"
    text = f"{rate * 100:.0f}%"
    if ci:
        lo, hi = row["keeper_ci95"]
        text += f" [{lo * 100:.0f}–{hi * 100:.0f}]"
    return text


def fmt_lag(row: dict[str, Any] | None, p95: bool = True) -> str:
    if row is None or row["lag_median_s"] is None:
        return "—"
    text = f"{row['lag_median_s'] * 1000:.0f}"
    if p95 and row["lag_p95_s"] is not None:
        text += f" / {row['lag_p95_s'] * 1000:.0f}"
    return text + " ms"


def _num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _index(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["scenario"], r["technique"], r["strategy"]): r for r in rows}


def _scenario_names(result: BenchResult) -> list[str]:
    return [str(s["name"]) for s in result.scenarios]


def timing_line(result: BenchResult) -> str:
    ratio = result.simulated_s / result.wall_s if result.wall_s > 0 else float("nan")
    return (
        f"{len(result.rows)} rows × {result.seeds} seeds, {result.simulated_s:.0f} s simulated "
        f"in {result.wall_s:.1f} s wall on {result.jobs} process(es): {ratio:.0f}× real time"
    )


# --- Markdown --------------------------------------------------------------------------------
def summary_tables(result: BenchResult) -> list[str]:
    """The two summary tables: BBF against shutter-button AF (afon's AF), and afon's AF
    against the libcamera baseline and the two limits (clairvoyant, causal)."""
    idx = _index(result.rows)
    out = [
        "### Back-button focus against shutter-button AF (afon's AF)",
        "",
        f"Keeper rate [95% CI], shutter lag (median, decision to exposure) and missed "
        f"moments; AF-S columns use afon's `{AFON_AF_S}`, AF-C columns its `{AFON_AF_C}` "
        "servo.",
        "",
        "| scenario | shutter AF-S | shutter AF-C | BBF AF-S | BBF AF-C |",
        "|---|---|---|---|---|",
    ]
    for name in _scenario_names(result):
        cells = []
        for tech in TECHNIQUES:
            strat = AFON_AF_S if TECHNIQUES[tech].focus_mode == "AF-S" else AFON_AF_C
            row = idx.get((name, tech, strat))
            missed = "" if row is None else f", missed {row['missed']}/{row['moments']}"
            cells.append(f"{fmt_rate(row)}, {fmt_lag(row, p95=False)}{missed}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += [
        "",
        "### afon's AF against the libcamera baseline and the limits",
        "",
        "Keeper rate [95% CI] with back-button focus (the shutter-button rows are in the full "
        "table). AF-S: libcamera's AF, afon hybrid, causal and clairvoyant limit; AF-C: afon "
        "servo without and with prediction, causal and clairvoyant limit. The intervals count "
        "distinct trial outcomes only (see the method).",
        "",
        "| scenario | BBF AF-S libcamera | BBF AF-S afon hybrid | BBF AF-S causal "
        "| BBF AF-S clairvoyant | BBF AF-C non-predictive | BBF AF-C predictive "
        "| BBF AF-C causal | BBF AF-C clairvoyant |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in _scenario_names(result):
        cells = [
            fmt_rate(idx.get((name, "bbf-af-s", s)))
            for s in ("libcamera", "hybrid", CAUSAL, CLAIRVOYANT)
        ] + [
            fmt_rate(idx.get((name, "bbf-af-c", s)))
            for s in ("non-predictive", "predictive", CAUSAL, CLAIRVOYANT)
        ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def full_table(result: BenchResult) -> list[str]:
    out = [
        "| scenario | technique | strategy | keeper rate [95% CI] | shots | lag median / p95 "
        "| missed moments | reversals | lens travel | focus error median / p90 "
        "| trials (distinct) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        tech = TECHNIQUES[r["technique"]].label
        err = (
            "—"
            if r["focus_error_dof_median"] is None
            else f"{r['focus_error_dof_median']:.2f} / {r['focus_error_dof_p90']:.2f} DoF"
        )
        out.append(
            f"| {r['scenario']} | {tech} | {r['strategy']} | {fmt_rate(r)} | {r['shots']} "
            f"| {fmt_lag(r)} | {r['missed']}/{r['moments']} | {_num(r['reversals'], 1)} "
            f"| {_num(r['lens_travel_d'], 3)} D | {err} "
            f"| {r['trials']} ({r.get('distinct_outcomes', r['trials'])}) |"
        )
    return out


def method_notes() -> list[str]:
    techs = [
        f"- **{t.label}** (`{t.name}`, profile `{t.profile}` in {t.focus_mode}): "
        f"{t.description}; strategies: {', '.join(STRATEGIES[t.focus_mode])}."
        for t in TECHNIQUES.values()
    ]
    strats = [f"- `{k}`: {v}." for k, v in STRATEGY_INFO.items()]
    return [
        "Techniques (photographer models, `afon.bench.photographer`):",
        "",
        *techs,
        "",
        "Strategies (not every strategy applies to every technique: AF-S techniques run the "
        "AF-S strategies, AF-C techniques the servos; there is no libcamera-style servo):",
        "",
        *strats,
        "",
        "Definitions: a shot is a keeper when the subject is inside the depth of field at "
        "mid-exposure (ground truth the strategies never see; for the focal stack: the lens "
        "nearer the subject's slice than any other). A release that never exposed (focus "
        "priority, no focus) is a shot that is not a keeper. Shutter lag runs from the "
        "photographer's decision (the half-press that starts a shutter-button AF-S frame, else "
        "the full press) to the start of the exposure. A moment is missed when no in-focus "
        "exposure started within the scenario's tolerance after the photographer's press for "
        "it. Reversals and lens travel are per trial; focus error is |subject − lens| in depths "
        "of focus over the exposed shots. The photographer reacts to moments and to the focus "
        "confirmation after a log-normal reaction time (median 0.2 s), drawn from the same "
        "seeded streams for every technique and strategy.",
        "",
        "Notes on the set-up:",
        "",
        "- The clairvoyant limit knows the subject's true distance at every instant, future "
        "included, and when the photographer will expose, and ignores the AF area; it pays the "
        "motor's travel, the frame loop and the release lag. AF-S locks before the exposure, so "
        "its AF-S locks where the subject will be at the planned exposures.",
        "- The causal limit knows perfectly what the AF area sees (an obstacle included) up to "
        "the present — distance, velocity, acceleration — and nothing of the future or of the "
        "next press; it extrapolates with constant acceleration to the body's next exposure "
        "(AF-C) or to the earliest exposure after the lens arrives (AF-S). Same frame loop, "
        "release lag and motor as every strategy.",
        "- Confidence intervals: a trial is a unit; trials that produced identical shots "
        "(verdicts, errors, exposure times) count once, so the interval uses shots × distinct "
        "outcomes / trials effective shots; the full table gives the distinct outcomes.",
        "- The libcamera baseline is libcamera's Camera Module 3 (IMX708) tuning, used verbatim "
        "on 0–12 D lenses; on other lenses its steps, slew limit and PDAF squelch are scaled "
        "with the lens range (12 D on the module), so it takes as many steps as on the module; "
        "on the 300 mm that makes its coarse steps ~45 depths of focus.",
        "- Previews are rendered at the bench's reduced size (see the first line); the AF's "
        "accuracy there is checked by the tests (at 320×240 the servo's accuracy on the "
        "obstacle scenario collapses, so the bench does not go lower).",
        "- Burst rates are 8 fps with the 300 mm and 5 fps with the 50 mm (chosen when the "
        "simulated camera blacked out every preview frame from a release to the end of its "
        "still; since the two-phase capture only the frame overlapping the still's exposure "
        "and readout is lost).",
    ]


def markdown_tables(result: BenchResult) -> str:
    """The results as Markdown (summary tables, full table) without plots: bench-results.md."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `afon bench` (`afon.bench.report.write_docs`); rerun "
        "`python benchmarks/bench.py --docs docs` to regenerate. "
        f"Seed {result.seed}, {result.seeds} seeds per row, previews "
        f"{result.preview_px[0]}×{result.preview_px[1]}. {timing_line(result)}.",
        "",
        *summary_tables(result),
        "",
        "### All rows",
        "",
        *full_table(result),
        "",
        *_skips_and_checks(result),
        "## Method",
        "",
        *method_notes(),
        "",
    ]
    return "\n".join(lines)


def _skips_and_checks(result: BenchResult) -> list[str]:
    out = []
    for s in result.skipped:
        out += [f"Skipped scenario **{s['scenario']}**: {s['reason']}.", ""]
    viol = result.violations
    if viol:
        out += ["**A limit beaten (a bug in the benchmark or a limit):**", ""]
        out += [f"- {v}" for v in viol] + [""]
    else:
        out += [
            "Limit check: no strategy's keeper rate lies above the 95% interval of the "
            "clairvoyant limit, nor an AF-C strategy's above the causal limit's (same "
            "scenario and technique; in AF-S the best lock depends on when the "
            "photographer presses, which the causal limit does not know, so it is no "
            "bound there).",
            "",
        ]
    return out


def markdown_report(result: BenchResult, images: dict[str, str]) -> str:
    scen = {str(s["name"]): s for s in result.scenarios}
    lines = [
        "# afon bench — what back-button focus buys",
        "",
        f"Seed {result.seed}, {result.seeds} seeds per row"
        + (" (quick run: scenarios cut after their first moments)" if result.quick else "")
        + f", previews {result.preview_px[0]}×{result.preview_px[1]}. {timing_line(result)}.",
        "",
        "## Summary",
        "",
        *summary_tables(result),
        "",
    ]
    if "keepers" in images:
        lines += ["![keeper rates per technique](" + images["keepers"] + ")", ""]
    lines += ["## Scenarios", ""]
    for name in _scenario_names(result):
        s = scen[name]
        lines += [f"### {name}", "", str(s.get("description", "")), ""]
        img = images.get(f"trace-{name}")
        if img:
            lines += [f"![focus trace: {name}]({img})", ""]
    lines += ["## All rows", "", *full_table(result), "", *_skips_and_checks(result)]
    lines += ["## Method", "", *method_notes(), ""]
    return "\n".join(lines)


# --- plots -----------------------------------------------------------------------------------
def plot_trace(result: BenchResult, scenario: str, path: Path) -> Path | None:
    """One scenario's focus traces (first seed), one panel per technique."""
    traces = result.traces.get(scenario)
    if not traces:
        return None
    return draw_trace(traces, scenario, result.seed, path)


def plot_keepers(result: BenchResult, path: Path) -> Path | None:
    """Keeper-rate bars (95% interval whiskers) per technique: scenarios × strategies."""
    if not result.rows:
        return None
    plt = pyplot()
    idx = _index(result.rows)
    names = _scenario_names(result)
    techs = list(TECHNIQUES)
    fig, axes = plt.subplots(
        len(techs), 1, figsize=(9, 2.2 * len(techs) + 0.5), sharex=True, squeeze=False
    )
    for ax, tech in zip(axes[:, 0], techs, strict=True):
        strats = STRATEGIES[TECHNIQUES[tech].focus_mode]
        width = 0.8 / len(strats)
        for j, strat in enumerate(strats):
            xs, ys, lo, hi = [], [], [], []
            for i, name in enumerate(names):
                row = idx.get((name, tech, strat))
                if row is None or row["keeper_rate"] is None:
                    continue
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(row["keeper_rate"])
                lo.append(row["keeper_rate"] - row["keeper_ci95"][0])
                hi.append(row["keeper_ci95"][1] - row["keeper_rate"])
            ax.bar(
                xs,
                ys,
                width,
                yerr=[lo, hi],
                color=_COLOURS.get(strat),
                alpha=0.85,
                label=strat,
                capsize=2,
                error_kw={"linewidth": 0.8},
            )
        ax.set_ylim(0, 1.32)
        ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
        ax.set_ylabel("keeper rate", fontsize=8)
        ax.set_title(TECHNIQUES[tech].label, fontsize=9, loc="left")
        ax.legend(fontsize=7, ncol=3, loc="upper right", framealpha=0.9)
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xticks(range(len(names)))
    axes[-1, 0].set_xticklabels(names, fontsize=8)
    fig.suptitle("Keeper rate per technique (95% Wilson intervals)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# --- files -----------------------------------------------------------------------------------
def write_report(result: BenchResult, out_dir: str | Path, jobs: int = 1) -> Path:
    """Write report.md, results.json and the PNG plots into `out_dir`; return report.md.

    Trace plots the bench's pool already drew there (`BenchResult.plots`) are kept; with
    `jobs` > 1 the others are drawn by that many spawned processes while this one draws the
    keeper bars (matplotlib is single-threaded; a full bench's plots took 8-9 s on one core,
    serially after the trials)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    names = [n for n in _scenario_names(result) if result.traces.get(n)]
    paths = {n: out / f"trace-{n}.png" for n in names}
    # drawn by the bench's pool while the trials ran (`run_bench(trace_plots=out)`)
    todo = [n for n in names if result.plots.get(n) != str(paths[n]) or not paths[n].exists()]
    if jobs > 1 and len(todo) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
            futures = [pool.submit(draw_trace, result.traces[n], n, result.seed, paths[n])
                       for n in todo]
            k = plot_keepers(result, out / "keepers.png")
            for fut in futures:
                fut.result()
    else:
        for n in todo:
            draw_trace(result.traces[n], n, result.seed, paths[n])
        k = plot_keepers(result, out / "keepers.png")
    for n in names:
        images[f"trace-{n}"] = paths[n].name
    if k is not None:
        images["keepers"] = k.name
    (out / "results.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    report = out / "report.md"
    report.write_text(markdown_report(result, images))
    return report


def write_docs(result: BenchResult, report_dir: str | Path, docs_dir: str | Path) -> list[Path]:
    """docs/bench-results.md (the tables) and docs/img/bench_trace.png (copied from the report)."""
    docs = Path(docs_dir)
    (docs / "img").mkdir(parents=True, exist_ok=True)
    md = docs / "bench-results.md"
    md.write_text(markdown_tables(result))
    written = [md]
    names = _scenario_names(result)
    pick = TRACE_FOR_DOCS if TRACE_FOR_DOCS in names else (names[0] if names else None)
    if pick is not None:
        src = Path(report_dir) / f"trace-{pick}.png"
        if src.exists():
            dst = docs / "img" / "bench_trace.png"
            shutil.copyfile(src, dst)
            written.append(dst)
    return written


# --- terminal --------------------------------------------------------------------------------
def terminal_table(result: BenchResult) -> Any:
    """A rich Table of every row."""
    from rich.table import Table

    table = Table(title=f"afon bench (seed {result.seed}, {result.seeds} trials per row)")
    for col in (
        "scenario",
        "technique",
        "strategy",
        "keepers [95% CI]",
        "lag med/p95",
        "missed",
        "rev",
        "err med/p90 DoF",
    ):
        table.add_column(col, no_wrap=col not in ("scenario", "technique"))
    last = None
    for r in result.rows:
        scen = r["scenario"] if r["scenario"] != last else ""
        last = r["scenario"]
        err = (
            "—"
            if r["focus_error_dof_median"] is None
            else f"{r['focus_error_dof_median']:.2f}/{r['focus_error_dof_p90']:.2f}"
        )
        lag = fmt_lag(r).replace(" / ", "/")
        table.add_row(
            scen,
            TECHNIQUES[r["technique"]].label,
            r["strategy"],
            fmt_rate(r),
            lag,
            f"{r['missed']}/{r['moments']}",
            _num(r["reversals"], 1),
            err,
        )
    return table


def print_table(result: BenchResult, stream: TextIO) -> None:
    """The table on a terminal as wide as it is; piped or redirected, as wide as the rows need
    (never folded), so no number is split across lines."""
    from rich.console import Console

    piped = not stream.isatty()
    console = Console(file=stream, width=10_000 if piped else None, no_color=piped)
    console.print(terminal_table(result), crop=False)


def strategies_line() -> str:
    return (
        "; ".join(f"{t.label}: {', '.join(STRATEGIES[t.focus_mode])}" for t in TECHNIQUES.values())
        + " (no libcamera-style servo exists for AF-C)"
    )


def bench_main(
    *,
    quick: bool = False,
    seed: int = 0,
    as_json: bool = False,
    out: str | Path = "out/bench",
    jobs: int | None = None,
    scenarios: Sequence[str] | None = None,
    seeds: int | None = None,
    scheduler: str | None = None,
) -> int:
    """`afon bench`: run, print the table (or JSON), write the report. Returns the exit code."""
    from rich.console import Console

    n = seeds if seeds is not None else (QUICK_SEEDS if quick else DEFAULT_SEEDS)
    result = run_bench(
        load_scenarios(scenarios),
        seed=seed,
        seeds=n,
        quick=quick,
        jobs=jobs,
        progress=True,
        scheduler=scheduler,
        trace_plots=out,
    )
    report = write_report(result, out, jobs=result.jobs)
    err = Console(stderr=True)
    if as_json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print_table(result, sys.stdout)
        print(f"strategies per technique: {strategies_line()}")
        for s in result.skipped:
            print(f"skipped {s['scenario']}: {s['reason']}")
        print(timing_line(result))
        print(f"report: {report}")
    for v in result.violations:
        err.print(f"[bold red]limit beaten:[/] {v}")
    if as_json:
        print(timing_line(result), file=sys.stderr)
    return 0
