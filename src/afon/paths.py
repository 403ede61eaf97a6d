"""Where afon keeps the user's files, by the platform's rules (platformdirs: XDG on Linux).

| kind | folder (Linux) | what |
|---|---|---|
| config | ``~/.config/afon`` (``$XDG_CONFIG_HOME/afon``) | ``keymap.toml``: the default key map of `afon run` and `afon serve` |
| data | ``~/.local/share/afon`` (``$XDG_DATA_HOME/afon``) | ``trainer.sqlite``: the trainer's history |
| state | ``~/.local/state/afon`` (``$XDG_STATE_HOME/afon``) | ``focus-locks/``: saved focus locks (`afon.cameras.focus_lock`) |

macOS and Windows get their own platform's folders. Nothing is created until it is written.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "afon"


def config_dir() -> Path:
    """Settings the user writes (key maps)."""
    return Path(platformdirs.user_config_path(APP))


def data_dir() -> Path:
    """Data afon keeps for the user (the trainer's history)."""
    return Path(platformdirs.user_data_path(APP))


def default_keymap_file() -> Path:
    """The key map `afon run` and `afon serve` read when none is given on the command line."""
    return config_dir() / "keymap.toml"


def trainer_db() -> Path:
    """The trainer's history (SQLite)."""
    return data_dir() / "trainer.sqlite"
