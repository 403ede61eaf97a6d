"""Errors afon reports to users: each names what is wrong and where."""

from __future__ import annotations

from pathlib import Path


class AfonError(Exception):
    """Base class for errors that are reported to the user without a traceback."""


class ConfigError(AfonError):
    """A user-written file (scene, profile, scenario, key map) is invalid.

    The message names the file, the field (dotted path) and what is wrong.
    """

    def __init__(self, source: str | Path, field: str, problem: str) -> None:
        self.source = str(source)
        self.field = field
        self.problem = problem
        where = f"{self.source}: {field}" if field else self.source
        super().__init__(f"{where}: {problem}")


class CameraError(AfonError):
    """A camera failed or vanished; already captured shots are kept."""
