"""Saved focus locks: the files the cameras that can lock their focus (`afon.cameras.v4l2`,
`afon.cameras.picamera2`) write on `lock_focus()` and re-apply whenever they are opened. The
`afon focus` command that focuses and then locks is `afon.focus_once`.

Saved locks are *state*, not configuration: one JSON file per camera in
``platformdirs.user_state_path("afon") / "focus-locks"`` (``~/.local/state/afon/focus-locks``
on Linux; ``AFON_STATE_DIR`` overrides the folder). Files written by afon 0.1 under
``~/.config/afon/focus-lock-*.json`` are still read.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

LOCK_VERSION = 1


def slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug or "camera"


def lock_dir() -> Path:
    """The folder of saved focus locks (``AFON_STATE_DIR`` overrides platformdirs)."""
    override = os.environ.get("AFON_STATE_DIR")
    if override:
        return Path(override).expanduser() / "focus-locks"
    import platformdirs

    return Path(platformdirs.user_state_path("afon")) / "focus-locks"


def legacy_lock_path(device_id: str) -> Path:
    """Where afon 0.1 kept a V4L2 lock (``~/.config/afon/focus-lock-<id>.json``)."""
    return Path("~/.config/afon").expanduser() / f"focus-lock-{slug(device_id)}.json"


def default_lock_path(device_id: str, legacy: bool = True) -> Path:
    """The saved lock of the camera `device_id` (a /dev/v4l/by-id name, a Pi sensor ...);
    with `legacy`, afon 0.1's file when only that one exists."""
    path = lock_dir() / f"{slug(device_id)}.json"
    if legacy and not path.exists():
        old = legacy_lock_path(device_id)
        if old.is_file():
            return old
    return path


def read_lock_file(path: Path) -> dict[str, Any] | None:
    """The saved lock at `path`, None when there is none; an unreadable file raises ValueError."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or "value" not in data:
        raise ValueError(f"{path}: not a focus lock (no 'value')")
    return data


def write_lock_file(path: Path, data: dict[str, Any]) -> None:
    """Write a lock atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": LOCK_VERSION, **data}, indent=2) + "\n")
    os.replace(tmp, path)
