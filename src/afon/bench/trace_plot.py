"""The benchmark's focus-trace plot (one scenario, one panel per technique), drawn with
matplotlib; apart from the report so that the bench's pool can draw it while trials run
(`afon.bench.runner`, which `afon.bench.report` imports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afon.bench.oracle import CAUSAL, CLAIRVOYANT
from afon.bench.photographer import TECHNIQUES

COLOURS = {
    CLAIRVOYANT: "#7f7f7f",
    CAUSAL: "#2ca02c",
    "libcamera": "#d62728",
    "hybrid": "#1f77b4",
    "predictive": "#1f77b4",
    "non-predictive": "#ff7f0e",
}
"""Line colour per strategy (the report's keeper bars use the same)."""


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_trace(traces: dict[str, Any], scenario: str, seed: int, path: Path) -> Path:
    """One scenario's focus traces (first seed; technique → strategy → trace), one panel per
    technique, as a PNG at `path` (what `afon.bench.report.plot_trace` and a pool worker
    draw)."""
    plt = pyplot()
    techs = [t for t in TECHNIQUES if t in traces]
    fig, axes = plt.subplots(
        len(techs), 1, figsize=(10.5, 2.3 * len(techs) + 0.6), sharex=True, squeeze=False
    )
    for n, (ax, tech) in enumerate(zip(axes[:, 0], techs, strict=True)):
        per = traces[tech]
        first = next(iter(per.values()))
        t, subj = first["t_s"], first["subject_d"]
        dof = float(first["dof_d"])
        ax.fill_between(
            t,
            [s - dof for s in subj],
            [s + dof for s in subj],
            color="#000000",
            alpha=0.12,
            linewidth=0,
            label="subject ± DoF" if n == 0 else None,
        )
        ax.plot(t, subj, color="black", linewidth=1.2, label="subject" if n == 0 else None)
        for strat, tr in per.items():
            colour = COLOURS.get(strat)
            style = "--" if strat in (CLAIRVOYANT, CAUSAL) else "-"
            ax.plot(
                tr["t_s"], tr["lens_d"], style, color=colour, linewidth=1.0, label=f"lens: {strat}"
            )
            hit = [s for s in tr["shots"] if s[2]]
            miss = [s for s in tr["shots"] if not s[2]]
            if hit:
                ax.plot([s[0] for s in hit], [s[1] for s in hit], "o", color=colour, markersize=4.5)
            if miss:
                ax.plot(
                    [s[0] for s in miss], [s[1] for s in miss], "x", color=colour, markersize=5.5
                )
        for p in first.get("presses_s", []):
            ax.axvline(p, color="#2ca02c", alpha=0.25, linewidth=0.8)
        rec = first.get("recompose_s")
        if rec is not None:
            ax.axvline(
                rec,
                color="#9467bd",
                linestyle=":",
                linewidth=1.0,
                label="recompose" if n == 0 else None,
            )
        ax.set_ylabel("dioptres", fontsize=8)
        ax.set_title(f"{TECHNIQUES[tech].label}", fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        # beside the panel: never over a trace, and no search for the emptiest corner
        # ("best" was a third of the plot's time)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0)
    axes[-1, 0].set_xlabel(
        "time (s)  —  ● exposure in focus, × out of focus, green lines: the photographer's presses"
    )
    fig.suptitle(f"Focus trace: {scenario} (seed {seed})", fontsize=11)
    # fixed margins (the legends' column on the right): tight_layout measured every text
    # of the figure again for each plot
    height_in = fig.get_figheight()
    fig.subplots_adjust(left=0.065, right=0.80, top=1.0 - 0.55 / height_in,
                        bottom=0.55 / height_in, hspace=0.32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
