"""Errors afon reports to users: each names what is wrong and where."""

from __future__ import annotations

from pathlib import Path


class AfonError(Exception):
    """Base class for errors that are reported to the user without a traceback."""


class UsageError(AfonError):
    """The request cannot run as given: a bad option value, options that exclude each other, or
    something the named camera cannot do. The command line exits 2 for it (and for a
    `ConfigError`); any other failure exits 1."""


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

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str, str]]:
        # rebuilt from its three parts: a benchmark worker process raises it to the parent
        return type(self), (self.source, self.field, self.problem)


class StateConflict(AfonError):
    """A valid request that the body's current state does not allow (manual focus in AF-C, a
    drill while another runs): HTTP 409, not a malformed request's 400."""


class CameraError(AfonError):
    """A camera failed or vanished; already captured shots are kept."""


class StorageError(AfonError):
    """A shot could not be written: the shots folder is full, read-only or not writable.

    `reason` is the short cause ("shots folder full", ...) that goes into the failure record.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    def __reduce__(self) -> tuple[type[StorageError], tuple[str, str]]:
        return type(self), (self.reason, self.detail)
