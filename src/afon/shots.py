"""Shots: the record of every release, and their storage on disk.

Each shot is a JPEG with standard EXIF (make, model, focal length, f-number, exposure time, ISO,
the exposure's date and time; subject distance, and afon's settings and AF state in the
UserComment as JSON) and XMP (the AF point and AF state; see `afon.metadata`), plus a sidecar
JSON record with everything the body knew.
A failed release is a sidecar record with its reason and no image. Files are written atomically
(written to a temporary file, then hard-linked to the final name, which fails rather than
replaces when that name exists) and are never overwritten: numbering continues after the
highest number already in the folder. Files follow the umask, like other tools' output.

A write that fails (folder full, read-only, no permission) raises `StorageError` naming the cause;
the body turns it into a failure record and goes on. Opening a folder repairs what a crash inside
the write window left: `.tmp-*` files are removed (or, when they hold a whole shot, given their
number), and a JPEG without a sidecar gets one rebuilt from its EXIF, marked `recovered`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from afon.errors import AfonError, StorageError
from afon.metadata import exif_bytes, read_afon_exif, xmp_packet
from afon.metadata import jsonable as _jsonable

__all__ = ["ShotRecord", "ShotStore", "exif_bytes", "read_afon_exif"]


@dataclass(frozen=True)
class ShotRecord:
    """One release: timings, lens, AF state and settings; `failure` says why there is no image."""

    index: int
    pressed_s: float
    release_s: float
    exposure_start_s: float | None
    exposure_end_s: float | None
    lens_d: float
    af_state: str
    settings: dict[str, Any]
    truth: dict[str, Any] = field(default_factory=dict)
    """Ground truth where the camera knows it (the simulation): subject distance, in_focus."""
    failure: str | None = None
    exposure: dict[str, Any] = field(default_factory=dict)
    """What the camera knew of the exposure (`afon.metadata.camera_facts`) and its wall-clock
    start, ``time`` (ISO 8601 UTC): written to EXIF."""
    image_path: str | None = None
    record_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def lag_s(self) -> float | None:
        """Shutter lag: press to start of exposure."""
        if self.exposure_start_s is None:
            return None
        return self.exposure_start_s - self.pressed_s

    @property
    def in_focus(self) -> bool | None:
        value = self.truth.get("in_focus")
        return None if value is None else bool(value)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lag_s"] = self.lag_s
        data["ok"] = self.ok
        out: dict[str, Any] = _jsonable(data)
        return out


_NUMBER = re.compile(r"^shot_(\d{5,})\.(json|jpg)$")


STORAGE_REASONS = {
    errno.ENOSPC: "shots folder full",
    errno.EDQUOT: "shots folder full (quota)",
    errno.EFBIG: "shot too large for the shots folder's file size limit",
    errno.EROFS: "shots folder read-only",
    errno.EACCES: "no permission to write to the shots folder",
    errno.EPERM: "no permission to write to the shots folder",
    errno.ENOENT: "shots folder missing",
    errno.EIO: "shots folder I/O error",
}
"""The cause named in a failure record for each errno of a failed write."""


def storage_error(exc: OSError, folder: Path) -> StorageError:
    """A `StorageError` naming the cause of a failed write in `folder`."""
    reason = STORAGE_REASONS.get(exc.errno or 0, "cannot write to the shots folder")
    return StorageError(reason, f"{folder} ({exc.strerror or exc})")


def _current_umask() -> int:
    """The process umask, read from /proc where it can be (os.umask changes it to read it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def record_from_json(data: dict[str, Any]) -> ShotRecord:
    """A `ShotRecord` from its sidecar JSON (fields it does not know are ignored)."""
    names = {f for f in ShotRecord.__dataclass_fields__}
    kw = {k: v for k, v in data.items() if k in names}
    for key in ("pressed_s", "release_s", "lens_d"):
        value = kw.get(key)
        if isinstance(value, str):  # "inf" / "-inf" as written by _jsonable
            kw[key] = float(value)
        elif value is None:
            kw[key] = math.nan
    kw.setdefault("af_state", "UNKNOWN")
    kw.setdefault("settings", {})
    kw.setdefault("exposure_start_s", None)
    kw.setdefault("exposure_end_s", None)
    kw.setdefault("index", -1)
    return ShotRecord(**kw)


class ShotStore:
    """A folder of shots; writes are atomic and never overwrite."""

    def __init__(self, folder: str | Path, jpeg_quality: int = 92, repair: bool = True) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AfonError(f"cannot create shots folder {self.folder}: {exc}") from None
        self.jpeg_quality = jpeg_quality
        self._mode = 0o666 & ~_current_umask()
        self.repaired: list[str] = []
        """What opening the folder repaired (one line each), for the log."""
        if repair:
            self.repair()
        self._next = self._highest_number() + 1

    def _highest_number(self) -> int:
        best = -1
        for p in self.folder.iterdir():
            m = _NUMBER.match(p.name)
            if m:
                best = max(best, int(m.group(1)))
        return best

    # --- writing ---------------------------------------------------------------------------
    def _write_new(self, data: bytes, suffix: str, number: int) -> tuple[Path, int]:
        """Write `data` atomically under the first free number >= `number`."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        except OSError as exc:
            raise storage_error(exc, self.folder) from None
        try:
            try:
                with os.fdopen(fd, "wb") as fh:
                    os.fchmod(fh.fileno(), self._mode)
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise storage_error(exc, self.folder) from None
            return self._link_free(tmp, suffix, number)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _link_free(self, tmp: str | Path, suffix: str, number: int) -> tuple[Path, int]:
        while True:
            target = self.folder / f"shot_{number:05d}{suffix}"
            try:
                os.link(tmp, target)  # atomic, and refuses to replace an existing file
                return target, number
            except FileExistsError:
                number += 1
            except OSError as exc:
                raise storage_error(exc, self.folder) from None

    def save(self, record: ShotRecord, image: npt.NDArray[np.uint8] | None) -> ShotRecord:
        """Store a shot (image + sidecar) or a failure record (sidecar only).

        Raises `StorageError` when the folder cannot take it; nothing already stored changes."""
        number = self._next
        if image is not None:
            buf = io.BytesIO()
            PILImage.fromarray(image).save(
                buf,
                format="JPEG",
                quality=self.jpeg_quality,
                exif=exif_bytes(record),
                xmp=xmp_packet(record, (int(image.shape[1]), int(image.shape[0]))),
            )
            path, number = self._write_new(buf.getvalue(), ".jpg", number)
            record = replace(record, image_path=str(path))
            self._next = number + 1  # the JPEG is there even if its sidecar fails
        while (self.folder / f"shot_{number:05d}.json").exists():
            number += 1
        sidecar = self.folder / f"shot_{number:05d}.json"
        record = replace(record, record_path=str(sidecar))
        payload = json.dumps(record.to_json(), indent=2).encode()
        try:
            _, number = self._write_new(payload, ".json", number)
        except StorageError:
            if record.image_path is None:
                raise
            # the JPEG is safe; its sidecar is rebuilt from the EXIF when the folder is next opened
            return replace(record, record_path=None)
        self._next = max(self._next, number + 1)
        return record

    def keep(
        self, record: ShotRecord, image: npt.NDArray[np.uint8] | None
    ) -> tuple[ShotRecord, StorageError | None]:
        """`save`, and when the folder cannot take the shot: the record as a failure record naming
        the cause (its sidecar written if that still fits, else kept in memory only)."""
        try:
            return self.save(record, image), None
        except StorageError as exc:
            error = exc
        failed = record
        if record.ok:
            failed = replace(record, failure=f"not saved: {error}", image_path=None)
        failed = replace(failed, record_path=None)
        with contextlib.suppress(StorageError):
            failed = self.save(failed, None)
        return failed, error

    # --- reading and repair ----------------------------------------------------------------
    def records(self) -> list[ShotRecord]:
        """Every sidecar in the folder, in number order (unreadable ones are skipped)."""
        out: list[tuple[int, ShotRecord]] = []
        for p in self.folder.iterdir():
            m = _NUMBER.match(p.name)
            if not m or m.group(2) != "json":
                continue
            try:
                data = json.loads(p.read_text())
                record = record_from_json(data)
            except (OSError, ValueError, TypeError):
                continue
            out.append((int(m.group(1)), replace(record, record_path=str(p))))
        return [r for _, r in sorted(out, key=lambda t: t[0])]

    def repair(self) -> list[str]:
        """Finish or undo what a crash inside the write window left behind."""
        done: list[str] = []
        try:
            names = sorted(p.name for p in self.folder.iterdir())
        except OSError:
            return done
        for name in names:
            if name.startswith(".tmp-"):
                done.append(self._repair_tmp(self.folder / name))
        referenced: set[str] = set()
        for record in self.records():
            if record.image_path:
                referenced.add(Path(record.image_path).name)
        for name in sorted(p.name for p in self.folder.iterdir()):
            m = _NUMBER.match(name)
            if m and m.group(2) == "jpg" and name not in referenced:
                done.append(self._rebuild_sidecar(self.folder / name, int(m.group(1))))
        self.repaired = [d for d in done if d]
        return self.repaired

    def _repair_tmp(self, tmp: Path) -> str:
        """A temporary file: already linked (drop it), a whole JPEG (keep it), or a torn write."""
        try:
            st = tmp.stat()
            if st.st_nlink > 1:  # the crash came after the link: the shot has its name
                tmp.unlink()
                return ""
            if _whole_jpeg(tmp):
                path, _ = self._link_free(tmp, ".jpg", self._highest_number() + 1)
                tmp.unlink()
                return f"kept the whole shot {tmp.name} as {path.name}"
            sidecar = _whole_sidecar(tmp)
            if sidecar is not None:
                m = _NUMBER.match(Path(str(sidecar.get("record_path") or "")).name)
                number = int(m.group(1)) if m else self._highest_number() + 1
                path, _ = self._link_free(tmp, ".json", number)
                tmp.unlink()
                return f"kept the whole record {tmp.name} as {path.name}"
            tmp.unlink()
            return f"removed the torn write {tmp.name}"
        except (OSError, StorageError) as exc:
            return f"could not repair {tmp.name}: {exc}"

    def _rebuild_sidecar(self, jpeg: Path, number: int) -> str:
        """A JPEG without a sidecar: rebuild the record from its EXIF, marked recovered."""
        try:
            exif = read_afon_exif(jpeg)
        except Exception as exc:  # piexif raises plain ValueErrors and struct errors
            exif = {"unreadable": str(exc)}
        afon = exif.get("afon", {}) if isinstance(exif.get("afon"), dict) else {}
        lens_d = afon.get("lens_d")
        truth: dict[str, Any] = {}
        if "subject_distance_m" in exif:
            truth["subject_distance_m"] = exif["subject_distance_m"]
        if afon.get("in_focus") is not None:
            truth["in_focus"] = afon["in_focus"]
        record = ShotRecord(
            index=number,
            pressed_s=math.nan,
            release_s=math.nan,
            exposure_start_s=None,
            exposure_end_s=None,
            lens_d=float(lens_d) if isinstance(lens_d, int | float) else math.nan,
            af_state=str(afon.get("af_state", "UNKNOWN")),
            settings=dict(afon.get("settings") or {}),
            truth=truth,
            image_path=str(jpeg),
        )
        data = record.to_json() | {"recovered": "sidecar rebuilt from the JPEG's EXIF"}
        if "unreadable" in exif:
            data["recovered"] = f"sidecar rebuilt; EXIF unreadable: {exif['unreadable']}"
        try:
            side, _ = self._write_new(json.dumps(data, indent=2).encode(), ".json", number)
        except StorageError as exc:
            return f"could not rebuild the sidecar of {jpeg.name}: {exc}"
        return f"rebuilt the sidecar of {jpeg.name} from its EXIF as {side.name}"


def delete_shot_files(folder: str | Path, record: ShotRecord) -> list[str]:
    """Delete a shot's sidecar, then its JPEG (a crash between them leaves the JPEG, whose
    sidecar `ShotStore.repair` rebuilds: a delete can be lost, never a photo not deleted).

    Only files named like shots (`shot_NNNNN.jpg/json`) directly inside `folder` are touched:
    a record whose paths point elsewhere raises `AfonError`. Returns the names deleted."""
    base = Path(folder).resolve()
    paths: list[Path] = []
    for name in (record.record_path, record.image_path):
        if not name:
            continue
        path = Path(name).resolve()
        if path.parent != base or not _NUMBER.match(path.name):
            raise AfonError(f"refusing to delete {name}: not a shot file in {base}")
        paths.append(path)
    deleted: list[str] = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise storage_error(exc, base) from None
        deleted.append(path.name)
    return deleted


def _whole_jpeg(path: Path) -> bool:
    """True when `path` is a complete JPEG (PIL decodes it to the end)."""
    try:
        with PILImage.open(path) as img:
            if img.format != "JPEG":
                return False
            img.load()
    except Exception:  # PIL raises OSError, SyntaxError, ValueError for broken files
        return False
    return True


def _whole_sidecar(path: Path) -> dict[str, Any] | None:
    """The record in `path` when it is a complete sidecar JSON, else None."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "af_state" in data and "index" in data else None
