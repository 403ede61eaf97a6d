"""Unit helpers: focus in dioptres (1/m, 0 = infinity), distances in metres, time in seconds."""

from __future__ import annotations

import math

INFINITY_M = math.inf


def dioptres_from_m(distance_m: float) -> float:
    """Focus position in dioptres for a distance in metres (infinity -> 0 D)."""
    if distance_m <= 0:
        raise ValueError(f"distance must be positive, got {distance_m} m")
    if math.isinf(distance_m):
        return 0.0
    return 1.0 / distance_m


def m_from_dioptres(focus_d: float) -> float:
    """Distance in metres for a focus position in dioptres (0 D -> infinity)."""
    if focus_d < 0:
        raise ValueError(f"focus position must be >= 0 D, got {focus_d} D")
    if focus_d == 0:
        return math.inf
    return 1.0 / focus_d


def mm_from_m(distance_m: float) -> float:
    """Millimetres from metres."""
    return distance_m * 1000.0


def m_from_mm(length_mm: float) -> float:
    """Metres from millimetres."""
    return length_mm / 1000.0
