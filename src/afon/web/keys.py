"""Key maps: which keyboard keys press which controls in the browser viewfinder.

A key map binds *actions* to `KeyboardEvent.code` names (the physical key, independent of the
keyboard layout): `KeyA`, `Space`, `ArrowUp`, `Digit1`, `F2` ... Each action takes one key or a
list of keys; an empty list leaves it unbound.

| action | default | what it does |
|---|---|---|
| `AF_ON` | `KeyA` | hold for AF (the back button) |
| `AF_OFF` | `KeyS` | hold to suspend AF (AF lock) |
| `SHUTTER_HALF` | `KeyF` | the shutter's first stage, held |
| `SHUTTER` | `KeyG` | the shutter pressed fully (half then full), held for a burst |
| `AF_POINT_UP` / `DOWN` / `LEFT` / `RIGHT` | arrow keys | move the AF point one step per press |
| `AF_POINT_CENTRE` | `KeyC` | AF point back to the centre |
| `PEAKING` | `KeyP` | toggle focus peaking (page only) |
| `MAGNIFY` | `KeyM` | toggle the magnified view (page only) |

This module validates a key map (`parse_keymap`): the `[keyboard]` section of the one key-map
file of `afon.inputs.keymap`, a `--keys` file, or a map a client sends. Files are read by
`afon.inputs.keymap.load_keyboard_map`: JSON (`{"AF_ON": ["KeyA", "Space"], "SHUTTER": "KeyG"}`)
or TOML (`AF_ON = ["KeyA", "Space"]`, or the `[keyboard]` section of a key-map file); actions it
leaves out keep their defaults. Action names parse like controls (`af-on`, `AF_ON`). A key bound
to two actions is an error naming both.
"""

from __future__ import annotations

import re
from typing import Any

from afon.errors import ConfigError

DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "AF_ON": ("KeyA",),
    "AF_OFF": ("KeyS",),
    "SHUTTER_HALF": ("KeyF",),
    "SHUTTER": ("KeyG",),
    "AF_POINT_UP": ("ArrowUp",),
    "AF_POINT_DOWN": ("ArrowDown",),
    "AF_POINT_LEFT": ("ArrowLeft",),
    "AF_POINT_RIGHT": ("ArrowRight",),
    "AF_POINT_CENTRE": ("KeyC",),
    "PEAKING": ("KeyP",),
    "MAGNIFY": ("KeyM",),
}
"""The default bindings, action → KeyboardEvent.code names."""

PAGE_ACTIONS = ("PEAKING", "MAGNIFY")
"""Actions handled by the page itself (view toggles), not sent to the body."""

MAX_KEYS_PER_ACTION = 4
_KEY_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,31}$")

KeyMap = dict[str, list[str]]


class KeyClash(ConfigError):
    """A key bound to two actions (with the defaults the map is laid over, or within it)."""


def keymap_json_schema() -> dict[str, Any]:
    """The JSON Schema of a key map as clients send it: action names, each one key code or a
    list of up to `MAX_KEYS_PER_ACTION`. (`parse_keymap` also takes the spellings people write
    in files, `af-on`; the schema names each action once, so "given twice" cannot happen. That a
    key is bound to one action only is beyond JSON Schema: `KeyClash`.)"""
    code = {"type": "string", "pattern": _KEY_CODE.pattern}
    return {
        "type": "object",
        "propertyNames": {"enum": list(DEFAULT_KEYS)},
        "additionalProperties": {
            "anyOf": [code, {"type": "array", "items": code, "maxItems": MAX_KEYS_PER_ACTION}]
        },
    }


def default_keymap() -> KeyMap:
    return {action: list(keys) for action, keys in DEFAULT_KEYS.items()}


def _action_name(text: str, source: str) -> str:
    key = text.strip().upper().replace("-", "_")
    if key not in DEFAULT_KEYS:
        raise ConfigError(source, text, f"unknown action (actions: {', '.join(DEFAULT_KEYS)})")
    return key


def parse_keymap(data: Any, source: str = "key map", *, base: KeyMap | None = None) -> KeyMap:
    """Validate a key map (a mapping action → key or list of keys) over `base` (the defaults).

    Written by hand rather than as a pydantic model: the keys are free (action names with the
    alias spellings people write), a clash is found across spellings and against the defaults,
    so a model would only wrap these same checks; its JSON Schema is published in OpenAPI
    (`keymap_json_schema`). Errors are `ConfigError`s naming the source and the field, e.g.
    ``keys.json: AF_ON[1]: 'Key A' is not a KeyboardEvent.code name (such as KeyA, Space)``.
    """
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"expected a table of action = keys, got {_kind(data)}")
    result = {a: list(k) for a, k in (base or default_keymap()).items()}
    seen_actions: dict[str, str] = {}
    for raw_action, raw_keys in data.items():
        if not isinstance(raw_action, str):
            raise ConfigError(source, str(raw_action), "action names are text")
        action = _action_name(raw_action, source)
        if action in seen_actions:
            raise ConfigError(source, raw_action, f"given twice (also as {seen_actions[action]!r})")
        seen_actions[action] = raw_action
        keys = [raw_keys] if isinstance(raw_keys, str) else raw_keys
        if not isinstance(keys, list):
            raise ConfigError(
                source, raw_action, f"expected a key name or a list of them, got {_kind(raw_keys)}"
            )
        if len(keys) > MAX_KEYS_PER_ACTION:
            raise ConfigError(
                source, raw_action, f"at most {MAX_KEYS_PER_ACTION} keys, got {len(keys)}"
            )
        clean: list[str] = []
        for i, key in enumerate(keys):
            field = f"{raw_action}[{i}]" if not isinstance(raw_keys, str) else raw_action
            if not isinstance(key, str):
                raise ConfigError(source, field, f"expected a key name, got {_kind(key)}")
            if not _KEY_CODE.match(key):
                raise ConfigError(
                    source,
                    field,
                    f"{key!r} is not a KeyboardEvent.code name (such as KeyA, Space, ArrowUp)",
                )
            if key not in clean:
                clean.append(key)
        result[action] = clean
    owner: dict[str, str] = {}
    # the actions given here come last, so a clash is reported on the one the user wrote
    order = sorted(result, key=lambda a: a in seen_actions)
    for action in order:
        keys = result[action]
        for key in keys:
            if key in owner:
                raise KeyClash(source, action, f"key {key} is already bound to {owner[key]}")
            owner[key] = action
    return result


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)
