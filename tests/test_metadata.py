"""Shot metadata: standard EXIF tags and XMP (AF point, AF state), read back with piexif and
with exiftool (the reader darktable and digiKam users check files with)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import piexif
import pytest

from afon import AfWindow, Body, SimCamera
from afon.metadata import XMP_NS, read_xmp
from afon.shots import ShotRecord, ShotStore, read_afon_exif


def _shot(tmp_path: Path) -> tuple[ShotRecord, tuple[float, float]]:
    """One AF-S shot on the simulated 50 mm f/1.8, saved with a small image; also the wall
    time just before and just after the body was made (its virtual clock's 0)."""
    camera = SimCamera("portrait", "50mm-f1.8")
    before_s = time.time()
    body = Body(camera, "bbf", window=AfWindow(0.3, 0.5), judge=camera.judge_still)
    made_s = (before_s, time.time())
    body.set_focus_mode("AF-S")
    body.af_on.press_for(0.5)
    body.shutter.press()
    body.run_for(0.01)
    body.shutter.release()
    body.run_for(0.1)  # the still is recorded when its exposure ends (60 ms lag + 4 ms)
    record = body.shots[0]
    saved = ShotStore(tmp_path).save(record, np.full((60, 80, 3), 128, np.uint8))
    return saved, made_s


def test_exif_has_the_standard_tags(tmp_path: Path) -> None:
    record, (before_s, after_s) = _shot(tmp_path)
    assert record.image_path is not None
    exif = piexif.load(record.image_path)
    zeroth, sub = exif["0th"], exif["Exif"]
    assert zeroth[piexif.ImageIFD.Make] == b"afon"
    assert zeroth[piexif.ImageIFD.Model] == b"SimCamera 50mm-f1.8"
    assert sub[piexif.ExifIFD.FocalLength] == (50, 1)
    assert sub[piexif.ExifIFD.FNumber] == (9, 5)
    num, den = sub[piexif.ExifIFD.ExposureTime]
    assert num == 1 and 1 / den == pytest.approx(record.exposure["exposure_s"], rel=0.01)
    assert sub[piexif.ExifIFD.ISOSpeedRatings] == record.exposure["iso"] >= 100
    # DateTimeOriginal is the start of the exposure, not when the file was written
    stamp = sub[piexif.ExifIFD.DateTimeOriginal].decode()
    sub_s = sub[piexif.ExifIFD.SubSecTimeOriginal].decode()
    assert sub[piexif.ExifIFD.OffsetTimeOriginal] == b"+00:00"
    when = datetime.fromisoformat(record.exposure["time"])
    assert stamp == when.strftime("%Y:%m:%d %H:%M:%S") and int(sub_s) == when.microsecond // 1000
    assert record.exposure_start_s is not None
    # the exposure's wall time: the body's epoch plus the virtual exposure start (to the ms)
    start_s = record.exposure_start_s
    assert before_s + start_s - 0.002 <= when.timestamp() <= after_s + start_s + 0.002
    assert read_afon_exif(record.image_path)["afon"]["af_state"] == "FOCUSED_LOCKED"


def test_xmp_has_the_af_point_and_state(tmp_path: Path) -> None:
    record, _ = _shot(tmp_path)
    assert record.image_path is not None
    xmp = read_xmp(record.image_path)
    assert xmp["AFState"] == record.af_state == "FOCUSED_LOCKED"
    assert xmp["FocusMode"] == "AF-S" and xmp["InFocus"] == "True"
    assert xmp["AFPoint"] == pytest.approx([0.3, 0.5, *record.settings["af_window"][2:]])
    assert float(xmp["LensPositionDioptres"]) == pytest.approx(record.lens_d, rel=1e-5)


def _exiftool(path: str) -> dict[str, Any]:
    tool = shutil.which("exiftool")
    if tool is None:
        pytest.skip(
            "exiftool is not installed (Debian: libimage-exiftool-perl; scripts/test.sh "
            "installs it when run as root)"
        )
    out = subprocess.run(
        [tool, "-json", "-G1", "-n", path], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    result: dict[str, Any] = json.loads(out)[0]
    return result


def test_exiftool_reads_what_photo_tools_show(tmp_path: Path) -> None:
    record, _ = _shot(tmp_path)
    assert record.image_path is not None
    tags = _exiftool(record.image_path)
    assert tags["IFD0:Make"] == "afon" and tags["IFD0:Model"] == "SimCamera 50mm-f1.8"
    assert tags["ExifIFD:FocalLength"] == 50 and tags["ExifIFD:FNumber"] == 1.8
    assert tags["ExifIFD:ISO"] == record.exposure["iso"]
    assert tags["ExifIFD:ExposureTime"] == pytest.approx(record.exposure["exposure_s"], rel=0.01)
    when = datetime.fromisoformat(record.exposure["time"])
    assert tags["ExifIFD:DateTimeOriginal"] == when.strftime("%Y:%m:%d %H:%M:%S")
    # SubSecTime is ASCII digits: exiftool -n gives "075" as a string, "752" as a number
    assert f"{tags['ExifIFD:SubSecTimeOriginal']}" == f"{when.microsecond // 1000:03d}"
    assert tags["XMP-afon:AFState"] == "FOCUSED_LOCKED"
    assert tags["XMP-afon:FocusMode"] == "AF-S"
    assert tags["XMP-afon:InFocus"] is True
    assert tags["XMP-mwg-rs:RegionType"] == "Focus"
    assert tags["XMP-mwg-rs:RegionAreaX"] == pytest.approx(0.3)
    assert tags["XMP-mwg-rs:RegionAreaY"] == pytest.approx(0.5)
    assert tags["XMP-mwg-rs:RegionAppliedToDimensionsW"] == 80
    assert XMP_NS.startswith("urn:afon:")


def test_a_camera_that_knows_nothing_writes_no_made_up_tags(tmp_path: Path) -> None:
    record = ShotRecord(0, 1.0, 1.0, 1.05, 1.06, 0.5, "PASSIVE_FOCUSED", {"af_window": [1, 0.5]})
    saved = ShotStore(tmp_path).save(record, np.zeros((8, 8, 3), np.uint8))
    assert saved.image_path is not None
    sub = piexif.load(saved.image_path)["Exif"]
    for tag in ("FocalLength", "FNumber", "ExposureTime", "ISOSpeedRatings", "DateTimeOriginal"):
        assert getattr(piexif.ExifIFD, tag) not in sub, tag
    assert "AFPoint" not in read_xmp(saved.image_path)  # a malformed window is left out
    assert read_xmp(saved.image_path)["AFState"] == "PASSIVE_FOCUSED"


def test_date_time_original_is_the_exposure_time_not_the_write_time(tmp_path: Path) -> None:
    exposure = {"time": "2020-05-06T07:08:09.123456+00:00", "exposure_s": 2.5, "iso": 6400}
    record = ShotRecord(0, 1.0, 1.0, 1.05, 3.55, 0.0, "FOCUSED_LOCKED", {}, exposure=exposure)
    saved = ShotStore(tmp_path).save(record, np.zeros((8, 8, 3), np.uint8))
    assert saved.image_path is not None
    sub = piexif.load(saved.image_path)["Exif"]
    assert sub[piexif.ExifIFD.DateTimeOriginal] == b"2020:05:06 07:08:09"
    assert sub[piexif.ExifIFD.SubSecTimeOriginal] == b"123"
    assert sub[piexif.ExifIFD.ExposureTime] == (5, 2)  # long exposures as a plain fraction
    assert sub[piexif.ExifIFD.ISOSpeedRatings] == 6400
    assert "FocusDistanceMetres" not in read_xmp(saved.image_path)  # at infinity
