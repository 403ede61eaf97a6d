"""Tunable parameters: what each strategy lets a tuner change, declared as data beside its code.

Each tunable strategy has a TOML file in ``afon/focus/tunables/`` (``hybrid.toml``,
``libcamera.toml`` …) naming its focus mode and, for every parameter, its range, unit, type,
scale and the strategy's own default::

    strategy = "hybrid"
    mode = "AF-S"

    [params.high_confidence]
    low = 0.2
    high = 0.9
    default = 0.5
    unit = "phase confidence (0..1)"

``type`` is ``"float"`` (default) or ``"int"``; ``log = true`` samples on a log scale;
``scale = "lens-range"`` marks a value given in the Camera Module 3's units (a 0–12 D lens) and
rescaled to the lens (`afon.tune.strategies`). The
default must be the one the strategy uses when nobody tunes it (a test checks that against the
strategy's code), so "default" in a report means what users run today.

A tuned result is written and read back as a *tuning file* (`write_tuning` / `load_tuning`):
``[strategy] name, mode, preset`` and ``[params]`` with the values; values are checked against
the declared ranges and types with file/field/problem errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import model_validator

from afon.config import FieldProblem, TomlDoc, UserModel, load_toml, parse_toml
from afon.errors import ConfigError

ParamValue = float | int
Params = dict[str, ParamValue]

MODES = ("AF-S", "AF-C")


@dataclass(frozen=True)
class Tunable:
    """One parameter a tuner may change."""

    name: str
    low: float
    high: float
    default: ParamValue
    unit: str
    kind: str = "float"
    """``float`` or ``int``."""
    log: bool = False
    scale: str = ""
    """``"lens-range"``: given in the Camera Module 3's units (a 0–12 D lens) and rescaled to
    the lens it runs on (see `afon.tune.strategies`); empty: used as it is."""

    def check(self, value: object, source: str, field: str) -> ParamValue:
        """`value` as this parameter's type, within its range, or a ConfigError at `field`."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(source, field, f"expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ConfigError(source, field, f"expected a finite number, got {value!r}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ConfigError(source, field, f"expected a whole number, got {value!r}")
            value = int(value)
        if not self.low <= float(value) <= self.high:
            raise ConfigError(
                source,
                field,
                f"must be within {self.low:g}..{self.high:g} ({self.unit}), got {value!r}",
            )
        return value if self.kind == "int" else float(value)


@dataclass(frozen=True)
class TunableSet:
    """A strategy's declared tunables."""

    strategy: str
    mode: str
    params: tuple[Tunable, ...]
    source: str = ""

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> Params:
        return {p.name: p.default for p in self.params}

    def by_name(self, name: str) -> Tunable:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def _tunables_dir() -> Path:
    return Path(str(resources.files("afon.focus") / "tunables"))


def tunable_strategies() -> list[str]:
    """Names of the strategies that declare tunables, sorted."""
    return sorted(p.stem for p in _tunables_dir().glob("*.toml"))


class TunableSpec(UserModel):
    """One ``[params.NAME]`` table of a tunables declaration."""

    type: Literal["float", "int"] = "float"
    low: float
    high: float
    default: float
    unit: str
    log: bool = False
    scale: Literal["", "lens-range"] = ""

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.high <= self.low:
            raise FieldProblem("high", f"must be > low ({self.low:g}), got {self.high:g}")
        if self.log and self.low <= 0:
            raise FieldProblem("low", f"must be > 0 on a log scale, got {self.low:g}")
        if not self.low <= self.default <= self.high:
            raise FieldProblem(
                "default", f"must be within {self.low:g}..{self.high:g}, got {self.default:g}"
            )
        return self


class TunablesFile(UserModel):
    """A tunables declaration (``afon/focus/tunables/*.toml``)."""

    strategy: str
    mode: Literal["AF-S", "AF-C"]
    params: dict[str, TunableSpec]

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not self.params:
            raise FieldProblem("params", "declares no parameters")
        return self


def parse_tunables(doc: TomlDoc) -> TunableSet:
    """Read one tunables declaration (see the module docstring)."""
    f = doc.validate(TunablesFile)
    params = tuple(
        Tunable(
            name,
            p.low,
            p.high,
            int(p.default) if p.type == "int" else p.default,
            p.unit,
            p.type,
            p.log,
            p.scale,
        )
        for name, p in f.params.items()
    )
    return TunableSet(f.strategy, f.mode, params, doc.source)


def load_tunables(strategy: str) -> TunableSet:
    """The tunables `strategy` declares (ConfigError naming the known ones otherwise)."""
    path = _tunables_dir() / f"{strategy}.toml"
    if not path.is_file():
        known = ", ".join(tunable_strategies())
        raise ConfigError(
            "afon tune", "--strategy", f"{strategy!r} has no tunables; known: {known}"
        )
    ts = parse_tunables(load_toml(path))
    if ts.strategy != strategy:
        raise ConfigError(path, "strategy", f"expected {strategy!r}, got {ts.strategy!r}")
    return ts


# --- tuning files ----------------------------------------------------------------------------
def _fmt(value: ParamValue) -> str:
    return str(int(value)) if isinstance(value, int) else repr(float(value))


def tuning_toml(ts: TunableSet, params: Params, *, preset: str, comment: str = "") -> str:
    """A tuning file for `params` (the values a tuner found) of strategy `ts`."""
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    lines += [
        "[strategy]",
        f'name = "{ts.strategy}"',
        f'mode = "{ts.mode}"',
        f'preset = "{preset}"',
        "",
        "[params]",
    ]
    for p in ts.params:
        value = params.get(p.name, p.default)
        lines.append(f"{p.name} = {_fmt(value)}  # {p.unit}; default {_fmt(p.default)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Tuning:
    """A tuning file read back: which strategy, for which preset, with which values."""

    strategy: str
    mode: str
    preset: str
    params: Params


class TuningHead(UserModel):
    """The ``[strategy]`` table of a tuning file."""

    name: str
    mode: str
    preset: str


class TuningFile(UserModel):
    """A tuning file; `params` are checked against the strategy's declared ranges."""

    strategy: TuningHead
    params: dict[str, Any]


def parse_tuning(text: str, source: str) -> Tuning:
    """Read a tuning file; every value is checked against the strategy's declared range."""
    return tuning_of(parse_toml(text, source))


def tuning_of(doc: TomlDoc) -> Tuning:
    """A parsed tuning file, checked."""
    source = doc.source
    f = doc.validate(TuningFile)
    name, mode = f.strategy.name, f.strategy.mode
    try:
        ts = load_tunables(name)
    except ConfigError:
        known = ", ".join(tunable_strategies())
        raise ConfigError(
            source, "strategy.name", f"{name!r} has no tunables; known: {known}"
        ) from None
    if mode != ts.mode:
        raise ConfigError(source, "strategy.mode", f"{name} is an {ts.mode} strategy, got {mode!r}")
    params: Params = {}
    for key, value in f.params.items():
        try:
            tunable = ts.by_name(key)
        except KeyError:
            raise ConfigError(
                source, f"params.{key}", f"not a tunable of {name}; known: {', '.join(ts.names())}"
            ) from None
        params[key] = tunable.check(value, source, f"params.{key}")
    return Tuning(name, mode, f.strategy.preset, params)


def load_tuning(path: str | Path) -> Tuning:
    """Read a tuning file written by ``afon tune``."""
    from afon.config import read_user_file

    return parse_tuning(read_user_file(path), str(path))


def rounded(ts: TunableSet, params: Params, digits: int = 4) -> Params:
    """`params` with floats rounded to `digits` significant digits (kept within range), as a
    tuning file shows them."""
    out: Params = {}
    for name, value in params.items():
        p = ts.by_name(name)
        if p.kind == "int" or value == 0:
            out[name] = value
            continue
        r = float(f"{float(value):.{digits}g}")
        out[name] = min(max(r, p.low), p.high)
    return out


def sample(ts: TunableSet, trial: Any) -> Params:
    """Ask an Optuna trial for a value of every tunable."""
    out: Params = {}
    for p in ts.params:
        if p.kind == "int":
            out[p.name] = int(trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log))
        else:
            out[p.name] = float(trial.suggest_float(p.name, p.low, p.high, log=p.log))
    return out
