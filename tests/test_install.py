"""Installing afon on Raspberry Pi OS Bookworm next to apt's picamera2.

Bookworm ships Python 3.11 and numpy 1.24 (apt); apt's picamera2 imports apt's simplejpeg, which
is built against numpy 1.x, so a numpy 2 in the guide's ``--system-site-packages`` venv breaks
``import picamera2`` (picamera2#1088). afon's requirements keep numpy < 2 there by markers.

The marker test runs offline. The resolver dry run asks PyPI what `pip install afon` would pick
for a Bookworm Pi (Python 3.11, aarch64, wheels only: no compiler on the Pi) and skips when PyPI
cannot be reached.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

BOOKWORM_PI = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "platform_machine": "aarch64",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
}
"""Raspberry Pi OS Bookworm, 64-bit (python3 3.11.2)."""

X86_DESKTOP = {**BOOKWORM_PI, "platform_machine": "x86_64"}


def requirements(env: dict[str, str], extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    raw = list(project["dependencies"])
    for extra in extras:
        raw += project["optional-dependencies"][extra]
    out = []
    for text in raw:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            out.append(req)
    return out


def by_name(reqs: list[Requirement]) -> dict[str, list[Requirement]]:
    out: dict[str, list[Requirement]] = {}
    for req in reqs:
        out.setdefault(req.name, []).append(req)
    return out


def test_bookworm_pi_keeps_numpy_1_and_an_opencv_built_for_it() -> None:
    reqs = by_name(requirements(BOOKWORM_PI))
    numpy = reqs["numpy"]
    assert len(numpy) == 1
    assert not numpy[0].specifier.contains(Version("2.0.0"))
    assert numpy[0].specifier.contains(Version("1.26.4"))
    assert numpy[0].specifier.contains(Version("1.24.2"))  # apt's own numpy is enough
    (opencv,) = reqs["opencv-python-headless"]
    assert not opencv.specifier.contains(Version("4.11.0.86"))  # needs numpy 2
    assert "evdev" not in reqs  # no compiler needed: evdev is an extra (or apt's python3-evdev)


def test_elsewhere_the_newest_numpy_is_allowed() -> None:
    for env in (X86_DESKTOP, {**BOOKWORM_PI, "python_version": "3.13"}):
        reqs = by_name(requirements(env))
        (numpy,) = reqs["numpy"]
        assert numpy.specifier.contains(Version("2.3.0"))


def test_elsewhere_opencv_is_the_release_whose_warps_are_exact() -> None:
    """OpenCV 5.0, the release whose warpAffine places a region's pixels exactly as the whole
    frame's (test_render_speed's exactness tests fail on 4.14 and 5.1)."""
    (opencv,) = by_name(requirements(X86_DESKTOP))["opencv-python-headless"]
    assert opencv.specifier.contains(Version("5.0.0.93"))
    assert not opencv.specifier.contains(Version("5.1.0.95"))
    assert not opencv.specifier.contains(Version("4.14.0.94"))


def test_the_evdev_extra_is_satisfied_by_bookworms_apt_package() -> None:
    (evdev,) = by_name(requirements(BOOKWORM_PI, ("evdev",)))["evdev"]
    assert evdev.specifier.contains(Version("1.6.1"))  # python3-evdev in Bookworm


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=3):
            return True
    except OSError:
        return False


def test_pip_resolves_afon_for_a_bookworm_pi_with_numpy_1_and_wheels_only(tmp_path: Path) -> None:
    """`pip install --dry-run --report` for Python 3.11 on aarch64, binary wheels only."""
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable")
    req_file = tmp_path / "requirements.txt"
    req_file.write_text("\n".join(str(r).split(";")[0] for r in requirements(BOOKWORM_PI)))
    report = tmp_path / "report.json"
    platforms = [f"manylinux_2_{n}_aarch64" for n in (36, 35, 34, 31, 28, 27, 26, 24, 17)] + [
        "manylinux2014_aarch64",
        "linux_aarch64",
    ]
    cmd = [
        sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--quiet",
        "--ignore-installed", "--target", str(tmp_path / "target"), "--report", str(report),
        "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
        *(f"--platform={p}" for p in platforms),
        "--only-binary=:all:", "-r", str(req_file),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and ("NewConnectionError" in done.stderr or "timed out" in done.stderr):
        pytest.skip(f"PyPI unreachable: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    chosen = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert Version(chosen["numpy"]) < Version("2")
    assert Version(chosen["opencv-python-headless"]) < Version("4.11")
    assert "evdev" not in chosen
