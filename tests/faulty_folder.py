"""A shots folder that can be made full, read-only or unwritable, for the fault tests.

As root (where mounting works) the folder is a small tmpfs: "full" fills it with a filler file
until the kernel answers ENOSPC, "read-only" remounts it read-only (EROFS). Without root,
"permission" is a real chmod 0555 (EACCES); the other faults are injected where the kernel would
report them (the open of the temporary file, its fsync), with the same errno. `heal()` undoes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ERRNO = {"full": errno.ENOSPC, "read-only": errno.EROFS, "permission": errno.EACCES}


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(tempfile.mkdtemp(prefix="afon-mnt-"))
    try:
        ok = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True
            ).returncode
            == 0
        )
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


CAN_MOUNT = _can_mount()


class FaultyFolder:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, size_kib: int = 4096) -> None:
        self.path = root / "shots"
        self.path.mkdir()
        self.mounted = False
        self._mp = monkeypatch
        self._undo: list[Any] = []
        if CAN_MOUNT:
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(self.path)],
                check=True,
            )
            self.mounted = True
        self.real = {"full": CAN_MOUNT, "read-only": CAN_MOUNT, "permission": os.geteuid() != 0}

    def break_(self, kind: str) -> None:
        if kind == "full" and self.real[kind]:
            filler = self.path / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for size in (65536, 4096, 1):  # until the kernel says ENOSPC at each size
                    with contextlib.suppress(OSError):
                        while True:
                            os.write(fd, b"\0" * size)
            finally:
                os.close(fd)
            self._undo.append(filler.unlink)
        elif kind == "read-only" and self.real[kind]:
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)
            self._undo.append(
                lambda: subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)
            )
        elif kind == "permission" and self.real[kind]:
            self.path.chmod(0o555)
            self._undo.append(lambda: self.path.chmod(0o755))
        else:
            self._inject(ERRNO[kind])

    def _inject(self, code: int) -> None:
        import afon.shots

        mp = pytest.MonkeyPatch()
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*a: Any, **kw: Any) -> Any:
            if code in (errno.EROFS, errno.EACCES):
                raise OSError(code, os.strerror(code), kw.get("dir"))
            return real_mkstemp(*a, **kw)

        def fsync(fd: int) -> None:
            raise OSError(code, os.strerror(code))

        mp.setattr(afon.shots.tempfile, "mkstemp", mkstemp)
        if code == errno.ENOSPC:
            mp.setattr(afon.shots.os, "fsync", fsync)
        self._undo.append(mp.undo)

    def heal(self) -> None:
        while self._undo:
            self._undo.pop()()

    def close(self) -> None:
        self.heal()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
            self.mounted = False


@contextlib.contextmanager
def faulty_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyFolder]:
    folder = FaultyFolder(root, monkeypatch)
    try:
        yield folder
    finally:
        folder.close()
