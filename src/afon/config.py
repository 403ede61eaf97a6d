"""Reading user-written TOML files with errors that name the file, the field and the problem.

A typo or a wrong type is reported as e.g.
``scenes/runner.toml: layers[1].distance.speed_m_s: expected a number, got 'fast'``.

Every file (scene, scenario, camera preset, profile, script, key map, tunables, tuning) is a
pydantic v2 model: a `UserModel` subclass declares the fields, types and bounds
(``Field(ge=0.5)``, ``Literal["vcm", "dc"]``) and its rules that join fields
(``model_validator`` raising `FieldProblem` for the field at fault); `validate_user` checks a
table against it and turns the first pydantic error into a `ConfigError` in afon's words
(`problem_of`). The same wording serves the HTTP/WebSocket models of `afon.web.protocol`, whose
JSON Schema is the OpenAPI document of `afon serve`.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from afon.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_user_file(path: str | Path) -> str:
    """Text of a user-written file; a missing or unreadable file is a ConfigError naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(p, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, "", f"cannot read file: {exc}") from None


@dataclass(frozen=True)
class TomlDoc:
    """A parsed TOML file: its top-level table and the name errors give it (a path, or e.g.
    ``profile bbf`` for a built-in)."""

    data: dict[str, Any]
    source: str

    def validate(self, model: type[M]) -> M:
        """This document checked against `model` (errors name `source` and the field)."""
        return validate_user(model, self.data, self.source)


def load_toml(path: str | Path) -> TomlDoc:
    """Parse a TOML file; syntax errors name the file and the line."""
    return parse_toml(read_user_file(path), str(path))


def parse_toml(text: str, source: str) -> TomlDoc:
    """Parse TOML text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"invalid TOML: {exc}") from None
    return TomlDoc(data, source)


# --- models ---------------------------------------------------------------------------------
class UserModel(BaseModel):
    """Base of the models of user-written tables: strict types (no "5" for 5, no 1 for true),
    finite numbers, unknown keys rejected, values frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _number_pair(value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise PydanticCustomError(
            "afon",
            "expected a pair of numbers like [1.0, 2.0], got {value}",
            {"value": repr(value)},
        )
    return float(value[0]), float(value[1])


NumberPair = Annotated[tuple[float, float], BeforeValidator(_number_pair)]
"""``[x, y]`` of two finite numbers (TOML arrays are lists; strict tuples would refuse them)."""


class FieldProblem(ValueError):
    """Raised by a model validator: `problem` with the field at `loc` (relative to the model
    being validated, e.g. ``("shoot", "at_s")``), reported as that field's ConfigError."""

    def __init__(self, loc: str | tuple[str | int, ...], problem: str) -> None:
        super().__init__(problem)
        self.loc: tuple[str | int, ...] = (loc,) if isinstance(loc, str) else loc
        self.problem = problem


def validate_user(model: type[M], data: Any, source: str | Path, path: str = "") -> M:
    """`data` checked against `model`; the first problem is a ConfigError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, source, path) from None


def config_error(
    exc: ValidationError, model: type[BaseModel], source: str | Path, path: str = ""
) -> ConfigError:
    """The first error of `exc` (an unknown field first: most likely a typo of a field that is
    then reported missing) in afon's words."""
    errors = exc.errors(include_url=False)
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [part for part in first["loc"] if not _is_union_tag(model, part)]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        return ConfigError(source, field_path([*loc, *cause.loc], path), cause.problem)
    name = field_path(loc, path)
    return ConfigError(source, name, problem_of(first, _annotation_at(model, loc)))


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("layers", 1, "speed")`` → ``layers[1].speed`` (after `prefix`)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _is_union_tag(model: type[BaseModel], part: int | str) -> bool:
    """pydantic adds the member's name (``float``, ``function-after[...]``) to a union's loc."""
    return isinstance(part, str) and (
        part in ("float", "int", "str", "bool") or "[" in part or part.startswith("literal")
    )


_KINDS = {
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "finite_number": "expected a finite number",
}


def problem_of(error: ErrorDetails, annotation: Any = None) -> str:
    """One pydantic error as the problem text of a ConfigError (or a ProtocolError)."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = sorted(_fields_of(annotation))
        return f"unknown field (known here: {', '.join(known) or 'none'})"
    if kind == "list_type" and _item_is_table(annotation):
        return f"expected an array of tables, got {value!r}"
    if kind in _KINDS:
        return f"{_KINDS[kind]}, got {value!r}"
    if kind == "literal_error":
        choices = _literal_choices(annotation) or [str(ctx.get("expected", ""))]
        return f"must be one of {', '.join(map(str, choices))}; got {value!r}"
    for bound, op in (
        ("greater_than_equal", ">="),
        ("greater_than", ">"),
        ("less_than_equal", "<="),
        ("less_than", "<"),
    ):
        if kind == bound:
            limit = next(iter(ctx.values()))
            return f"must be {op} {_g(limit)}, got {_g(value)}"
    if kind == "too_short" or kind == "too_long":
        return (
            f"expected at most {ctx.get('max_length')} items"
            if kind == "too_long"
            else (f"expected at least {ctx.get('min_length')} items")
        )
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"at least {ctx.get('min_length')} characters"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _g(value: Any) -> str:
    return (
        f"{value:g}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else repr(value)
    )


def _members(annotation: Any) -> list[Any]:
    """The types inside Optional/Union/Annotated/list/dict, outermost first."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _item_is_table(annotation: Any) -> bool:
    return any(
        isinstance(arg, type) and issubclass(arg, BaseModel)
        for member in _members(annotation)
        for arg in typing.get_args(member)
    )


def _literal_choices(annotation: Any) -> list[Any]:
    return [
        choice
        for member in _members(annotation)
        if typing.get_origin(member) is Literal
        for choice in typing.get_args(member)
    ]


def _fields_of(annotation: Any) -> list[str]:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return [f.alias or name for name, f in member.model_fields.items()]
    return []


def _annotation_at(model: type[BaseModel], loc: Sequence[int | str]) -> Any:
    """The annotation of the field at `loc` (for an unknown field: of the table holding it)."""
    current: Any = model
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(part, int):
            args = [typing.get_args(m) for m in _members(current)]
            current = next((a[-1] for a in args if a), None)
            continue
        found = next(
            (
                f
                for m in _members(current)
                if isinstance(m, type) and issubclass(m, BaseModel)
                for name, f in m.model_fields.items()
                if part in (name, f.alias)
            ),
            None,
        )
        if found is None:
            # an unknown key: the table that holds it
            return current if last else None
        current = found.annotation
        if last:
            return current
    return current
