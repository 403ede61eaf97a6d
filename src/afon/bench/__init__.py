"""The benchmark: what back-button focus buys, measured side by side on the simulated camera.

Scenarios (`afon.bench.scenario`, TOML files in ``scenarios/``) say what the camera looks at
and when the photographer wants pictures; photographer models (`afon.bench.photographer`)
press the body's controls as people do with each technique (shutter-button AF-S / AF-C,
back-button AF-S / AF-C); the runner (`afon.bench.runner`) plays every scenario × technique ×
strategy over many seeds, including two limits named by what they know (`afon.bench.oracle`:
clairvoyant, causal); `afon.bench.metrics` judges the shots and `afon.bench.report` writes
the Markdown report, the plots and the terminal table. ``afon bench`` is the command.
"""

from __future__ import annotations

from afon.bench.runner import BenchResult, load_scenarios, run_bench
from afon.bench.scenario import Scenario, builtin_scenario_names, load_scenario

__all__ = [
    "BenchResult",
    "Scenario",
    "builtin_scenario_names",
    "load_scenario",
    "load_scenarios",
    "run_bench",
]
