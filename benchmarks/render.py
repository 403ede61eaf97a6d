"""Render speed of the simulated camera's preview frames, on one core.

Prints JSON: for each built-in scene the median time to render one 640×480 preview frame with
noise (``{"scenes": {"NAME": {"layers": N, "median_ms": X}, ...}}``), the median at large
defocus over the median near focus (``large_defocus_ratio``, should be about 1: render cost
does not grow with blur size), the first (cold) render time, and the time of a still per
megapixel (``still_in_focus_ms_per_mp``, ``still_defocused_ms_per_mp``; 1800×1200 stills of
the portrait, exact disk convolution).

The lens moves between timed renders (a lens position drawn at random within the motor range
for every frame, the scene time advancing at 30 frames/s), so no frame repeats. A warm-up
pass over other random lens positions first fills the per-layer blur ladders, as a camera
that has been running for a few seconds has.

Usage: python benchmarks/render.py [--frames N] [--optics pi|50mm]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import statistics
import time

import cv2
import numpy as np

from afon.cameras.sim.optics import Optics
from afon.cameras.sim.render import Renderer
from afon.cameras.sim.scene import builtin_scene_names, load_builtin_scene

OPTICS = {
    # Raspberry Pi Camera Module 3-like phone module (af-anchors.md §5.1), 0–12 D
    "pi": Optics(4.74, 1.8, 6.45, 3.63, (4608, 2592), 1.0 / 12.0),
    # 50 mm f/1.8 on full frame, closest focus 0.45 m
    "50mm": Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000), 0.45),
}
SIZE = (640, 480)


def _time_renders(renderer: Renderer, times: list[float], focus: list[float],
                  first_index: int) -> list[float]:
    out = []
    for i, (t_s, f_d) in enumerate(zip(times, focus, strict=True)):
        t0 = time.perf_counter()
        renderer.render(t_s, f_d, frame_index=first_index + i)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def bench_scene(name: str, optics: Optics, frames: int, seed: int) -> dict[str, float | int]:
    scene = load_builtin_scene(name)
    renderer = Renderer(scene, optics, SIZE, seed=seed)
    rng = np.random.default_rng(seed)
    max_d = optics.max_focus_d
    t0 = time.perf_counter()
    renderer.render(0.0, 0.5 * max_d, frame_index=0)
    cold_ms = (time.perf_counter() - t0) * 1000.0
    # warm-up: random lens positions and times (fills the ladder caches)
    warm = 3 * frames
    _time_renders(renderer, list(rng.uniform(0, 4, warm)), list(rng.uniform(0, max_d, warm)), 1)
    times = [i / 30.0 for i in range(frames)]
    focus = list(rng.uniform(0.0, max_d, frames))
    ms = _time_renders(renderer, times, focus, 10_000)
    return {"layers": len(scene.layers), "median_ms": round(statistics.median(ms), 3),
            "p90_ms": round(float(np.percentile(ms, 90)), 3), "cold_ms": round(cold_ms, 1)}


def defocus_ratio(optics: Optics, frames: int, seed: int) -> dict[str, float]:
    """Portrait: lens around the subject (small blur) vs at the near end (large blur)."""
    scene = load_builtin_scene("portrait")
    renderer = Renderer(scene, optics, SIZE, seed=seed)
    subject = scene.subject
    assert subject is not None
    subject_d = 1.0 / subject.distance_m(0.0)
    rng = np.random.default_rng(seed + 1)
    near = list(subject_d + rng.uniform(-0.02, 0.02, frames))
    far_blur = list(optics.max_focus_d - rng.uniform(0.0, 0.05, frames))
    zeros = [0.0] * frames
    for f in (near, far_blur):  # warm-up
        _time_renders(renderer, zeros, f, 0)
    near_ms = statistics.median(_time_renders(renderer, zeros, near, 1000))
    large_ms = statistics.median(_time_renders(renderer, zeros, far_blur, 2000))
    blur = renderer.layer_blur_px(subject, 0.0, far_blur[0])
    return {
        "near_focus_median_ms": round(near_ms, 3),
        "large_defocus_median_ms": round(large_ms, 3),
        "large_defocus_subject_blur_px": round(abs(blur), 1),
        "large_defocus_ratio": round(large_ms / near_ms, 3),
    }


def still_per_megapixel(optics: Optics, seed: int, size: tuple[int, int] = (1800, 1200),
                        repeats: int = 3) -> dict[str, float]:
    """Full-resolution-style stills (exact disk convolution, detail, noise): median ms per
    megapixel for the portrait with the lens on the subject and 1 D off it."""
    scene = load_builtin_scene("portrait")
    renderer = Renderer(scene, optics, SIZE, seed=seed)
    subject = scene.subject
    assert subject is not None
    subject_d = 1.0 / subject.distance_m(0.0)
    out: dict[str, float] = {"still_px": list(size)}  # type: ignore[dict-item]
    mp = size[0] * size[1] / 1e6
    for name, focus in (("still_in_focus_ms_per_mp", subject_d),
                        ("still_defocused_ms_per_mp", subject_d + 1.0)):
        ms = []
        for i in range(repeats):
            t0 = time.perf_counter()
            renderer.render_still(0.0, focus, size_px=size, frame_index=i)
            ms.append((time.perf_counter() - t0) * 1000.0)
        out[name] = round(statistics.median(ms) / mp, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--optics", choices=sorted(OPTICS), default="pi")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    optics = OPTICS[args.optics]
    scenes = {name: bench_scene(name, optics, args.frames, args.seed)
              for name in builtin_scene_names()}
    result = {
        "size_px": list(SIZE),
        "optics": args.optics,
        "frames": args.frames,
        "threads": 1,
        "scenes": scenes,
        **defocus_ratio(optics, args.frames, args.seed),
        **still_per_megapixel(optics, args.seed),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
