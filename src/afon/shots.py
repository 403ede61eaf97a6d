"""Shots: the record of every release, and their storage on disk.

Each shot is a JPEG with standard EXIF (make, model, focal length, f-number, exposure time, ISO,
the exposure's date and time; subject distance, and afon's settings and AF state in the
UserComment as JSON) and XMP (the AF point and AF state; see `afon.metadata`), plus a sidecar
JSON record with everything the body knew.
A failed release is a sidecar record with its reason and no image. Files are written atomically
(written to a temporary file, then hard-linked to the final name, which fails rather than
replaces when that name exists) and are never overwritten: numbering continues after the
highest number already in the folder.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from afon.errors import AfonError
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


class ShotStore:
    """A folder of shots; writes are atomic and never overwrite."""

    def __init__(self, folder: str | Path, jpeg_quality: int = 92) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AfonError(f"cannot create shots folder {self.folder}: {exc}") from None
        self.jpeg_quality = jpeg_quality
        self._next = self._highest_number() + 1

    def _highest_number(self) -> int:
        best = -1
        for p in self.folder.iterdir():
            m = _NUMBER.match(p.name)
            if m:
                best = max(best, int(m.group(1)))
        return best

    def _write_new(self, data: bytes, suffix: str, number: int) -> tuple[Path, int]:
        """Write `data` atomically under the first free number >= `number`."""
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            while True:
                target = self.folder / f"shot_{number:05d}{suffix}"
                try:
                    os.link(tmp, target)  # atomic, and refuses to replace an existing file
                    return target, number
                except FileExistsError:
                    number += 1
        finally:
            os.unlink(tmp)

    def save(self, record: ShotRecord, image: npt.NDArray[np.uint8] | None) -> ShotRecord:
        """Store a shot (image + sidecar) or a failure record (sidecar only)."""
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
        while (self.folder / f"shot_{number:05d}.json").exists():
            number += 1
        sidecar = self.folder / f"shot_{number:05d}.json"
        record = replace(record, record_path=str(sidecar))
        payload = json.dumps(record.to_json(), indent=2).encode()
        _, number = self._write_new(payload, ".json", number)
        self._next = number + 1
        return record
