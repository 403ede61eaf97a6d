"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

# property-based tests run derandomized (the same examples on every run: CI failures reproduce);
# AFON_HYPOTHESIS_PROFILE=long searches far more, on demand
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("AFON_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _user_folders(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test sees empty user config/data/state folders (platformdirs reads XDG_*), never
    the real ones of whoever runs the suite."""
    home = tmp_path_factory.mktemp("xdg")
    for kind in ("CONFIG", "DATA", "STATE", "CACHE"):
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(home / kind.lower()))


@pytest.fixture
def mock_pins() -> Iterator[Any]:
    """gpiozero's MockFactory as the pin factory for one test (restored afterwards)."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = previous


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved focus locks go to a fresh folder per test, never the user's own state folder."""
    monkeypatch.setenv("AFON_STATE_DIR", str(tmp_path_factory.mktemp("state")))
