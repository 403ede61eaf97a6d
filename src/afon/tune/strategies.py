"""Strategy factories with tuned parameters: what ``afon tune`` evaluates and a tuning file runs.

`factory(name, params, ctx)` builds the named strategy with `params` (a subset of its declared
tunables, `afon.tune.params`) over its defaults. Most strategies take their tunables as keyword
arguments. The libcamera baseline takes libcamera's own tuning keys (``step_coarse`` …) over the
tuning the benchmark runs — the IMX708's, with its dioptre figures rescaled to the lens
(`afon.focus.libcamera_af.scaled_tuning`) — and parameters declared with
``scale = "lens-range"`` are given in the Camera Module 3's units (a 12 D lens) and rescaled the
same way, so one range serves every lens and "default" is exactly what the benchmark runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from afon.focus.engine import AfContext, ServoAf, SingleShotAf
from afon.tune.params import ParamValue, TunableSet, load_tunables

CM3_RANGE_D = 12.0
"""The lens range libcamera's IMX708 tuning was written for."""


def lens_scale(ctx: AfContext) -> float:
    """How much larger this lens's focus range is than the Camera Module 3's 0–12 D."""
    return (ctx.lens_max_d - ctx.lens_min_d) / CM3_RANGE_D


def applied(ts: TunableSet, params: Mapping[str, ParamValue], ctx: AfContext) -> dict[str, Any]:
    """`params` as the strategy receives them on this lens (lens-range scaling applied)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        tunable = ts.by_name(name)
        out[name] = value * lens_scale(ctx) if tunable.scale == "lens-range" else value
    return out


def _libcamera(ctx: AfContext, kwargs: dict[str, Any]) -> SingleShotAf:
    from afon.focus.libcamera_af import IMX708_NORMAL, LibcameraAf, scaled_tuning

    tuning = scaled_tuning(IMX708_NORMAL, ctx.lens_min_d, ctx.lens_max_d)
    tuning = dataclasses.replace(tuning, speed=dataclasses.replace(tuning.speed, **kwargs))
    return LibcameraAf(ctx, tuning, name="libcamera", lens_scaled=True)


def _keyword(cls_path: str) -> Callable[[AfContext, dict[str, Any]], Any]:
    module, _, attr = cls_path.rpartition(".")

    def build(ctx: AfContext, kwargs: dict[str, Any]) -> Any:
        import importlib

        cls = getattr(importlib.import_module(module), attr)
        return cls(ctx, **kwargs)

    return build


BUILDERS: dict[str, Callable[[AfContext, dict[str, Any]], Any]] = {
    "contrast": _keyword("afon.focus.contrast.ContrastAf"),
    "hybrid": _keyword("afon.focus.hybrid.HybridAf"),
    "phase": _keyword("afon.focus.phase.PhaseAf"),
    "libcamera": _libcamera,
    "predictive": _keyword("afon.focus.servo.PredictiveServo"),
}
"""How each tunable strategy is built from its (applied) parameters."""

TARGETS: dict[str, str] = {
    "contrast": "afon.focus.contrast.ContrastAf",
    "hybrid": "afon.focus.hybrid.HybridAf",
    "phase": "afon.focus.phase.PhaseAf",
    "libcamera": "afon.focus.libcamera_af.RpiAfSpeed",
    "predictive": "afon.focus.servo.PredictiveServo",
}
"""Where each strategy's tunables land (a constructor's keywords or a tuning dataclass's
fields); the tests check every declared tunable against it."""


def build(name: str, params: Mapping[str, ParamValue], ctx: AfContext) -> Any:
    """Strategy `name` for `ctx` with `params` over its defaults."""
    ts = load_tunables(name)
    return BUILDERS[name](ctx, applied(ts, params, ctx))


def single_shot_factory(
    name: str, params: Mapping[str, ParamValue]
) -> Callable[[AfContext], SingleShotAf]:
    """An AF-S factory for the body or the benchmark."""
    frozen = dict(params)

    def make(ctx: AfContext) -> SingleShotAf:
        af: SingleShotAf = build(name, frozen, ctx)
        return af

    return make


def servo_factory(name: str, params: Mapping[str, ParamValue]) -> Callable[[AfContext], ServoAf]:
    """An AF-C factory for the body or the benchmark."""
    frozen = dict(params)

    def make(ctx: AfContext) -> ServoAf:
        af: ServoAf = build(name, frozen, ctx)
        return af

    return make
