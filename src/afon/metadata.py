"""Shot metadata that photo tools read: standard EXIF tags, and the AF point and state in XMP.

EXIF (written with piexif) — each tag only when the camera knows the value:

| tag | from |
|---|---|
| Make, Model | the camera (`SimCamera`: ``afon`` / ``SimCamera <preset>``) |
| FocalLength, FNumber | the lens (the simulated preset's optics) |
| ExposureTime, ISOSpeedRatings | the exposure (the simulated sensor's integration and gain × 100) |
| DateTimeOriginal, SubSecTimeOriginal, OffsetTimeOriginal | the start of the exposure (UTC) |
| SubjectDistance | the true subject distance (simulation), else the focus distance |
| Software, ImageDescription | afon's version; AF state and lens position in words |
| UserComment | JSON ``{"afon": {...}}``: settings, AF state, lens, lag (read by `read_afon_exif`) |

XMP (an ``APP1`` packet) carries what EXIF has no tag for:

- the AF point as a **Metadata Working Group region** of type ``Focus``
  (``mwg-rs:Regions``, normalised centre x/y and size w/h; the MWG Guidelines 2.0 region schema,
  which exiftool, digiKam and Lightroom read), and
- afon's own namespace, prefix ``afon``, URI `XMP_NS` = ``urn:afon:xmp:1.0#``:
  ``afon:AFState`` (Camera2 AF state name at the release), ``afon:FocusMode`` (AF-S/AF-C/MF),
  ``afon:AFArea``, ``afon:Profile``, ``afon:Strategy``, ``afon:LensPositionDioptres``,
  ``afon:FocusDistanceMetres`` (absent at infinity), ``afon:ShutterLagSeconds`` and
  ``afon:InFocus`` (ground truth, simulation only). exiftool shows them as ``XMP-afon:AFState``
  and so on.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import numpy as np
import piexif

from afon import __version__

if TYPE_CHECKING:
    from afon.cameras.base import Camera, Still
    from afon.shots import ShotRecord

XMP_NS = "urn:afon:xmp:1.0#"
"""afon's XMP namespace (prefix ``afon``)."""

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "afon": XMP_NS,
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
}


def camera_facts(camera: Camera, still: Still) -> dict[str, Any]:
    """What `camera` knows about the exposure of `still`: make, model, focal length, f-number,
    exposure time and ISO (keys absent where it does not know). Cameras may answer themselves
    with a ``shot_facts(still)`` method; otherwise the backends' still metadata is read."""
    own = getattr(camera, "shot_facts", None)
    if callable(own):
        return dict(own(still))
    facts: dict[str, Any] = {}
    meta = still.meta
    backend = meta.get("backend")
    if isinstance(backend, str):
        facts["make"] = {"picamera2": "Raspberry Pi", "v4l2": "UVC"}.get(backend, backend)
        facts["model"] = str(meta.get("model") or meta.get("device") or backend)
    exposure_us = meta.get("ExposureTime_us")
    if isinstance(exposure_us, int | float) and exposure_us > 0:
        facts["exposure_s"] = float(exposure_us) / 1e6
    gain = meta.get("AnalogueGain")
    if isinstance(gain, int | float) and gain > 0:
        facts["iso"] = round(100 * float(gain))
    return facts


def jsonable(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and infinities as "inf"/"-inf" (JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value


def wall_time(epoch_s: float) -> str:
    """ISO 8601 UTC time with microseconds (the form kept in `ShotRecord.exposure`)."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="microseconds")


def _rational(x: float, denominator_limit: int = 10000) -> tuple[int, int]:
    f = Fraction(x).limit_denominator(denominator_limit)
    return f.numerator, f.denominator


def _exposure_rational(exposure_s: float) -> tuple[int, int]:
    """1/250 s as (1, 250), as cameras write it; long exposures as decimals."""
    if exposure_s < 1.0:
        return 1, round(1.0 / exposure_s)
    return _rational(exposure_s, 100)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def exif_bytes(record: ShotRecord) -> bytes:
    """EXIF for a shot (see the module docstring)."""
    zeroth: dict[int, Any] = {}
    exif: dict[int, Any] = {}
    facts = record.exposure
    zeroth[piexif.ImageIFD.Software] = f"afon {__version__}".encode()
    zeroth[piexif.ImageIFD.ImageDescription] = (
        f"afon shot {record.index}: AF {record.af_state}, lens {record.lens_d:.4f} D"
    ).encode()
    for key, tag in (("make", piexif.ImageIFD.Make), ("model", piexif.ImageIFD.Model)):
        if isinstance(facts.get(key), str) and facts[key]:
            zeroth[tag] = facts[key].encode("ascii", "replace")
    when = facts.get("time")
    if isinstance(when, str):
        t = datetime.fromisoformat(when).astimezone(UTC)
        stamp = t.strftime("%Y:%m:%d %H:%M:%S").encode()
        zeroth[piexif.ImageIFD.DateTime] = stamp
        exif[piexif.ExifIFD.DateTimeOriginal] = stamp
        exif[piexif.ExifIFD.SubSecTimeOriginal] = f"{t.microsecond // 1000:03d}".encode()
        exif[piexif.ExifIFD.OffsetTimeOriginal] = b"+00:00"
    focal = _finite(facts.get("focal_length_mm"))
    if focal is not None and focal > 0:
        exif[piexif.ExifIFD.FocalLength] = _rational(focal, 100)
    f_number = _finite(facts.get("f_number"))
    if f_number is not None and f_number > 0:
        exif[piexif.ExifIFD.FNumber] = _rational(f_number, 100)
    exposure_s = _finite(facts.get("exposure_s"))
    if exposure_s is not None and exposure_s > 0:
        exif[piexif.ExifIFD.ExposureTime] = _exposure_rational(exposure_s)
    iso = facts.get("iso")
    if isinstance(iso, int) and not isinstance(iso, bool) and 0 < iso < 65536:
        exif[piexif.ExifIFD.ISOSpeedRatings] = iso
    subject_m = _finite(record.truth.get("subject_distance_m"))
    if subject_m is not None and subject_m > 0:
        exif[piexif.ExifIFD.SubjectDistance] = _rational(subject_m)
    elif record.lens_d > 0:
        exif[piexif.ExifIFD.SubjectDistance] = _rational(1.0 / record.lens_d)
    comment = json.dumps(
        {
            "afon": {
                "af_state": record.af_state,
                "lens_d": record.lens_d,
                "focus_distance_m": None if record.lens_d <= 0 else 1.0 / record.lens_d,
                "lag_s": record.lag_s,
                "settings": jsonable(record.settings),
                "in_focus": record.in_focus,
            }
        },
        separators=(",", ":"),
    )
    exif[piexif.ExifIFD.UserComment] = b"ASCII\x00\x00\x00" + comment.encode("ascii")
    return bytes(piexif.dump({"0th": zeroth, "Exif": exif, "GPS": {}, "1st": {}}))


def _af_region(record: ShotRecord, size_px: tuple[int, int] | None) -> str:
    window = record.settings.get("af_window")
    if not (isinstance(window, list | tuple) and len(window) == 4):
        return ""
    values = [_finite(v) for v in window]
    if any(v is None for v in values):
        return ""
    cx, cy, w, h = (float(v) for v in values if v is not None)
    dims = ""
    if size_px is not None:
        dims = (
            f'<mwg-rs:AppliedToDimensions stDim:w="{size_px[0]}" stDim:h="{size_px[1]}" '
            'stDim:unit="pixel"/>'
        )
    return (
        f'<mwg-rs:Regions rdf:parseType="Resource">{dims}<mwg-rs:RegionList><rdf:Bag>'
        '<rdf:li rdf:parseType="Resource"><mwg-rs:Type>Focus</mwg-rs:Type>'
        f"<mwg-rs:Name>AF point ({escape(str(record.settings.get('af_area', '')))})</mwg-rs:Name>"
        f'<mwg-rs:Area stArea:x="{cx:.6f}" stArea:y="{cy:.6f}" stArea:w="{w:.6f}" '
        f'stArea:h="{h:.6f}" stArea:unit="normalized"/>'
        "</rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
    )


def xmp_packet(record: ShotRecord, size_px: tuple[int, int] | None = None) -> bytes:
    """The XMP packet of a shot: AF point (MWG focus region) and afon's AF fields."""
    s = record.settings
    fields: dict[str, Any] = {
        "AFState": record.af_state,
        "FocusMode": s.get("focus_mode"),
        "AFArea": s.get("af_area"),
        "Profile": s.get("profile"),
        "Strategy": s.get("strategy"),
        "LensPositionDioptres": _finite(record.lens_d),
        "FocusDistanceMetres": 1.0 / record.lens_d if record.lens_d > 0 else None,
        "ShutterLagSeconds": _finite(record.lag_s),
        "InFocus": record.in_focus,
    }
    props = "".join(
        f"<afon:{name}>{_xmp_text(value)}</afon:{name}>"
        for name, value in fields.items()
        if value is not None
    )
    xmlns = " ".join(f'xmlns:{p}="{u}"' for p, u in _NS.items() if p not in ("x", "rdf"))
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="{_NS["x"]}" x:xmptk="afon {__version__}">'
        f'<rdf:RDF xmlns:rdf="{_NS["rdf"]}"><rdf:Description rdf:about="" {xmlns}>'
        f"{props}{_af_region(record, size_px)}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def _xmp_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # XMP Boolean
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def read_afon_exif(path: str | Path) -> dict[str, Any]:
    """Read back afon's EXIF fields from a shot JPEG (subject distance and the UserComment)."""
    data = piexif.load(str(path))
    out: dict[str, Any] = {}
    sd = data["Exif"].get(piexif.ExifIFD.SubjectDistance)
    if sd:
        out["subject_distance_m"] = sd[0] / sd[1]
    uc = data["Exif"].get(piexif.ExifIFD.UserComment)
    if uc:
        out.update(json.loads(uc[8:].decode("ascii")))
    return out


_XMP_PACKET = re.compile(rb"<x:xmpmeta.*?</x:xmpmeta>", re.S)


def read_xmp(path: str | Path) -> dict[str, Any]:
    """afon's XMP fields of a shot JPEG (``AFState`` ...; ``AFPoint`` = [x, y, w, h])."""
    match = _XMP_PACKET.search(Path(path).read_bytes())
    if match is None:
        return {}
    root = ET.fromstring(match.group(0))
    out: dict[str, Any] = {}
    for element in root.iter():
        if element.tag.startswith("{" + XMP_NS + "}") and element.text is not None:
            out[element.tag[len(XMP_NS) + 2 :]] = element.text
        if element.tag == f"{{{_NS['mwg-rs']}}}Area":
            area = f"{{{_NS['stArea']}}}"
            out["AFPoint"] = [float(element.attrib[area + k]) for k in ("x", "y", "w", "h")]
    return out
