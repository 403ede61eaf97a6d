"""Reading user-written TOML files with errors that name the file, the field and the problem.

Every loader (camera presets, scenes, profiles, scenarios, key maps) reads its tables through
a `Table`, so a typo or a wrong type is reported as e.g.
``scenes/runner.toml: layers[1].distance.speed_m_s: expected a number, got 'fast'``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from afon.errors import ConfigError

T = TypeVar("T")

_MISSING = object()


def read_user_file(path: str | Path) -> str:
    """Text of a user-written file; a missing or unreadable file is a ConfigError naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(p, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, "", f"cannot read file: {exc}") from None


def load_toml(path: str | Path) -> Table:
    """Parse a TOML file into a `Table`; syntax errors name the file and the line."""
    return parse_toml(read_user_file(path), str(path))


def parse_toml(text: str, source: str) -> Table:
    """Parse TOML text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"invalid TOML: {exc}") from None
    return Table(data, source, "")


class Table:
    """A TOML table with typed, validated accessors. Unknown keys are reported by `finish()`."""

    def __init__(self, data: dict[str, Any], source: str, path: str) -> None:
        self.data = data
        self.source = source
        self.path = path
        self._used: set[str] = set()

    # --- helpers ------------------------------------------------------------------------
    def field(self, key: str) -> str:
        """Dotted name of `key` inside this table, for messages."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.field(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: object) -> object:
        self._used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "required field is missing")
        return default

    # --- typed getters ------------------------------------------------------------------
    def number(
        self,
        key: str,
        default: float | object = _MISSING,
        *,
        min: float | None = None,
        max: float | None = None,
        min_exclusive: bool = False,
    ) -> float:
        """A finite number (int or float) within optional bounds."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise self.error(key, f"expected a finite number, got {value!r}")
        if min is not None and (v < min or (min_exclusive and v <= min)):
            op = ">" if min_exclusive else ">="
            raise self.error(key, f"must be {op} {min:g}, got {v:g}")
        if max is not None and v > max:
            raise self.error(key, f"must be <= {max:g}, got {v:g}")
        return v

    def integer(
        self,
        key: str,
        default: int | object = _MISSING,
        *,
        min: int | None = None,
        max: int | None = None,
    ) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if min is not None and value < min:
            raise self.error(key, f"must be >= {min}, got {value}")
        if max is not None and value > max:
            raise self.error(key, f"must be <= {max}, got {value}")
        return value

    def string(
        self, key: str, default: str | object = _MISSING, *, choices: Sequence[str] | None = None
    ) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def boolean(self, key: str, default: bool | object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def number_pair(
        self, key: str, default: tuple[float, float] | object = _MISSING
    ) -> tuple[float, float]:
        value = self._get(key, default)
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
        ):
            raise self.error(key, f"expected a pair of numbers like [1.0, 2.0], got {value!r}")
        return float(value[0]), float(value[1])

    def table(self, key: str, default: dict[str, Any] | object = _MISSING) -> Table:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {value!r}")
        return Table(value, self.source, self.field(key))

    def tables(self, key: str, default: list[Any] | object = _MISSING) -> Iterator[Table]:
        """An array of tables (`[[key]]`)."""
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.error(key, f"expected an array of tables, got {value!r}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise ConfigError(
                    self.source, f"{self.field(key)}[{i}]", f"expected a table, got {item!r}"
                )
            yield Table(item, self.source, f"{self.field(key)}[{i}]")

    def finish(self) -> None:
        """Raise for keys nobody asked for (typos such as `distanse_m`)."""
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise self.error(
                unknown[0], f"unknown field (known here: {', '.join(sorted(self._used)) or 'none'})"
            )
