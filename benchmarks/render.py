"""Render speed of the simulated camera's preview frames, on one core.

Prints JSON: for each built-in scene the median time to render one 640×480 preview frame with
noise, the renderer alone as a camera runs it (``{"scenes": {"NAME": {"layers": N, "median_ms":
X, "cpu_median_ms": Y}, ...}}``: wall and CPU time; on a loaded machine the CPU time is one
core's work), the median at large
defocus over the median near focus (``large_defocus_ratio``, should be about 1: render cost
does not grow with blur size), the first (cold) render time, and the time of a still per
megapixel (``still_in_focus_ms_per_mp``, ``still_defocused_ms_per_mp``; 1800×1200 stills of
the portrait, exact disk convolution), and the floor of a preview in this design (``floor``:
the CPU ms of a frame whose layers are all reused, i.e. noise and output alone, and of one
bilinear warp of a whole RGBA 16-bit frame; their sum is the least a frame with a moving lens
and a background costs). With a baseline (`--baseline-rev`), each scene then renders the
same frames again with the baseline renderer, interleaved frame for frame, and gives both CPU
medians of that pass (``interleaved_cpu_median_ms``, ``baseline_cpu_median_ms``) and their
ratio (``cpu_speedup``): the two renderers' textures and buffers evict each other from the
core's caches, so both run slower there than alone (the obstacle by ~0.8 ms on this machine).
Target (issue #9): ≤ 5 ms median for a three-layer preview on one core (``target``: the
obstacle's ``cpu_median_ms``, alone; its interleaved median beside it),
``large_defocus_ratio`` about 1.

The lens moves between timed renders (a lens position drawn at random within the motor range
for every frame, the scene time advancing at 30 frames/s), so no frame repeats. A warm-up
pass over other random lens positions first fills the per-layer blur ladders, as a camera
that has been running for a few seconds has.

Bench conditions (``bench_conditions``): each built-in scene through the camera preset the
benchmark uses (`SCENE_PRESETS`), at the benchmark's preview size, as `afon bench` renders it:
a rolling-shutter preview while the lens moves (drawn in bands) and the phase (left/right)
images. Medians of CPU time per frame (``time.process_time``: one core's work, unlike wall time
on a shared machine) for this renderer and for a baseline in the same run, frame for frame
interleaved: the renderer module as of `--baseline-rev` (git; default the commit before the
blend-only-what-is-read speed-up), with ``identical`` saying whether both gave the same pixels
(the phase images there are those of one lens position, comparable with any baseline;
``phase_rs_cpu_ms`` is this renderer's phase images on the rolling shutter, as `SimCamera`
draws them since issue #9's last items, with no baseline).
``load_1min`` is the load average when the run ended.

Usage: python benchmarks/render.py [--frames N] [--optics pi|50mm] [--baseline-rev REV]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from afon.bench.runner import BENCH_PREVIEW_PX
from afon.cameras.sim.optics import Optics
from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import Renderer, RowTiming, _warp
from afon.cameras.sim.scene import builtin_scene_names, load_builtin_scene

OPTICS = {
    # Raspberry Pi Camera Module 3-like phone module (af-anchors.md §5.1), 0–12 D
    "pi": Optics(4.74, 1.8, 6.45, 3.63, (4608, 2592), 1.0 / 12.0),
    # 50 mm f/1.8 on full frame, closest focus 0.45 m
    "50mm": Optics(50.0, 1.8, 36.0, 24.0, (6000, 4000), 0.45),
}
SIZE = (640, 480)
SCENE_PRESETS = {"portrait": "50mm-f1.8", "obstacle": "50mm-f1.8", "low-light": "50mm-f1.8",
                 "erratic": "50mm-f1.8", "runner": "300mm-f2.8", "bird": "300mm-f2.8",
                 "wall": "cm3"}
"""The preset each built-in scene is benchmarked with (`afon bench`'s scenarios; wall: cm3)."""
BASELINE_REV = "ed3761f"
"""The renderer before its ladder and field blends were limited to the texels a warp reads."""


def _time_renders(renderer: Renderer, times: list[float], focus: list[float],
                  first_index: int, cpu: list[float] | None = None) -> list[float]:
    """Wall ms per render (and CPU ms appended to `cpu`)."""
    out = []
    for i, (t_s, f_d) in enumerate(zip(times, focus, strict=True)):
        t0, c0 = time.perf_counter(), time.process_time()
        renderer.render(t_s, f_d, frame_index=first_index + i)
        out.append((time.perf_counter() - t0) * 1000.0)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1000.0)
    return out


def bench_scene(name: str, optics: Optics, frames: int, seed: int,
                baseline: ModuleType | None = None) -> dict[str, float | int]:
    """Median wall and CPU ms per preview of scene `name` (a new lens position every frame),
    the renderer alone, as a camera runs it; with `baseline`, then both renderers on the same
    frames again, frame for frame interleaved: this one's CPU median there
    (``interleaved_cpu_median_ms``: two renderers' textures and buffers take turns in the
    core's caches, which slows both) and the baseline's (``baseline_cpu_median_ms``,
    ``cpu_speedup``: the ratio of the interleaved medians)."""
    scene = load_builtin_scene(name)
    rigs: list[Any] = [Renderer(scene, optics, SIZE, seed=seed)]
    if baseline is not None:
        rigs.append(baseline.Renderer(scene, optics, SIZE, seed=seed))
    rng = np.random.default_rng(seed)
    max_d = optics.max_focus_d
    t0 = time.perf_counter()
    rigs[0].render(0.0, 0.5 * max_d, frame_index=0)
    cold_ms = (time.perf_counter() - t0) * 1000.0
    # warm-up: random lens positions and times (fills the ladder caches)
    warm = 3 * frames
    warm_t, warm_f = list(rng.uniform(0, 4, warm)), list(rng.uniform(0, max_d, warm))
    for r in rigs:
        _time_renders(r, warm_t, warm_f, 1)
    times = [i / 30.0 for i in range(frames)]
    focus = list(rng.uniform(0.0, max_d, frames))
    alone_cpu: list[float] = []
    alone_ms = _time_renders(rigs[0], times, focus, 10_000, alone_cpu)
    out: dict[str, float | int] = {
        "layers": len(scene.layers), "median_ms": round(statistics.median(alone_ms), 3),
        "cpu_median_ms": round(statistics.median(alone_cpu), 3),
        "p90_ms": round(float(np.percentile(alone_ms, 90)), 3), "cold_ms": round(cold_ms, 1)}
    if baseline is not None:
        cpu: list[list[float]] = [[] for _ in rigs]
        for i, (t_s, f_d) in enumerate(zip(times, focus, strict=True)):
            for k in range(len(rigs)) if i % 2 else reversed(range(len(rigs))):  # either first
                _time_renders(rigs[k], [t_s], [f_d], 10_000 + i, cpu[k])
        mine, old = statistics.median(cpu[0]), statistics.median(cpu[1])
        out["interleaved_cpu_median_ms"] = round(mine, 3)
        out["baseline_cpu_median_ms"] = round(old, 3)
        out["cpu_speedup"] = round(old / mine, 2)
    return out


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


def floor(optics: Optics, frames: int, seed: int) -> dict[str, float]:
    """What a 640×480 preview costs before any layer is drawn, on this machine, one core: the
    obstacle scene rendered again at the same lens position and time (every layer reused from
    the last frame, `_draw_ops`: the sensor's noise and the 8-bit output alone), and one
    bilinear warp of a whole RGBA 16-bit frame (what a frame-filling layer costs once its lens
    or time changed, before its detail: the renderer's own `_warp`). Their sum is the least a
    moving-lens frame of a scene with a background can cost in this design."""
    scene = load_builtin_scene("obstacle")
    renderer = Renderer(scene, optics, SIZE, seed=seed)
    focus_d = 0.5 * optics.max_focus_d
    for i in range(3):
        renderer.render(1.0, focus_d, frame_index=i)
    static = []
    for i in range(frames):
        c0 = time.process_time()
        renderer.render(1.0, focus_d, frame_index=100 + i)  # new noise, same layers
        static.append((time.process_time() - c0) * 1000.0)
    rng = np.random.default_rng(seed)
    tex = rng.integers(0, 65535, (512, 512, 4), dtype=np.uint16)
    dst = np.empty((SIZE[1], SIZE[0], 4), np.uint16)
    warps = []
    for _ in range(frames):
        k = float(rng.uniform(1.2, 1.6))  # output px per texel, as a background's
        c0 = time.process_time()
        _warp(tex, dst, (k, k), (-3.0 * k, -5.0 * k), (0, 0), SIZE, (512, 512))
        warps.append((time.process_time() - c0) * 1000.0)
    s_ms, w_ms = statistics.median(static), statistics.median(warps)
    return {"static_frame_cpu_ms": round(s_ms, 3), "frame_warp_rgba16_cpu_ms": round(w_ms, 3),
            "floor_cpu_ms": round(s_ms + w_ms, 3)}


def load_baseline(rev: str) -> ModuleType | str:
    """The renderer module as of git revision `rev` (or why it cannot be had)."""
    root = Path(__file__).resolve().parent.parent
    try:
        text = subprocess.run(
            ["git", "-C", str(root), "show", f"{rev}:src/afon/cameras/sim/render.py"],
            check=True, capture_output=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"git show {rev} failed: {exc}"
    path = Path(tempfile.mkdtemp()) / "render_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("render_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_baseline"] = module
    spec.loader.exec_module(module)
    return module


def bench_conditions(frames: int, seed: int, baseline: ModuleType | None) -> dict[str, Any]:
    """Rolling-shutter previews with a moving lens and phase images, as `afon bench` draws
    them, per scene with its preset: median CPU ms per frame, new and baseline interleaved."""
    out: dict[str, Any] = {}
    for name, preset_name in SCENE_PRESETS.items():
        preset = load_preset(preset_name)
        scene = load_builtin_scene(name)
        lo, hi = preset.motor.min_d, preset.motor.max_d
        timing = preset.timing
        rigs = [("new", Renderer(scene, preset.optics, BENCH_PREVIEW_PX, seed=seed))]
        if baseline is not None:
            rigs.append(("baseline", baseline.Renderer(scene, preset.optics, BENCH_PREVIEW_PX,
                                                       seed=seed)))
        ms: dict[str, dict[str, list[float]]] = {
            k: {"preview": [], "phase": [], "phase_rs": []} for k, _ in rigs}
        identical = True
        rng = np.random.default_rng(seed)
        integration_s = rigs[0][1].exposure(timing.exposure_s).integration_s
        for i in range(frames + frames // 2):
            t_s = float(rng.uniform(0.0, 4.0))
            a, b = (float(v) for v in rng.uniform(lo, hi, 2))
            move_s = float(rng.uniform(0.01, 0.1))

            def lens(t: float, a: float = a, b: float = b, t0: float = t_s,
                     move_s: float = move_s) -> float:
                return a + (b - a) * min(max((t - t0) / move_s, 0.0), 1.0)

            rows = RowTiming(t_s, integration_s, timing.readout_s)
            images = []
            for key, r in rigs:
                rows_k = rows if key == "new" else baseline.RowTiming(  # type: ignore[union-attr]
                    t_s, integration_s, timing.readout_s)
                c0 = time.process_time()
                img = r.render(t_s, a, exposure_s=timing.exposure_s, frame_index=i,
                               lens_d=lens, rows=rows_k)
                c1 = time.process_time()
                ph = r.render_phase(t_s, lens(t_s + 0.5 * integration_s), frame_index=i,
                                    gain_ratio=preset.phase.gain_ratio,
                                    zero_offset_d=preset.phase.zero_offset_d)
                c2 = time.process_time()
                if key == "new":  # phase images on the rolling shutter, as SimCamera asks
                    r.render_phase(t_s, 0.0, frame_index=i, gain_ratio=preset.phase.gain_ratio,
                                   zero_offset_d=preset.phase.zero_offset_d, lens_d=lens,
                                   rows=rows)
                c3 = time.process_time()
                if i >= frames // 2:  # the first frames fill the ladders
                    ms[key]["preview"].append((c1 - c0) * 1000.0)
                    ms[key]["phase"].append((c2 - c1) * 1000.0)
                    if key == "new":
                        ms[key]["phase_rs"].append((c3 - c2) * 1000.0)
                images.append((img, ph.left, ph.right))
            if len(images) == 2:
                identical &= all(np.array_equal(x, y) for x, y in zip(*images, strict=True))
        row: dict[str, Any] = {"preset": preset_name, "layers": len(scene.layers)}
        for part in ("preview", "phase"):
            new = statistics.median(ms["new"][part])
            row[f"{part}_cpu_ms"] = round(new, 2)
            if baseline is not None:
                old = statistics.median(ms["baseline"][part])
                row[f"{part}_baseline_cpu_ms"] = round(old, 2)
                row[f"{part}_speedup"] = round(old / new, 2)
        row["phase_rs_cpu_ms"] = round(statistics.median(ms["new"]["phase_rs"]), 2)
        if baseline is not None:
            row["identical"] = identical
        out[name] = row
    return out


TARGET_MS = 5.0
"""Issue #9: median CPU ms of a three-layer 640×480 preview on one core."""


def _target(scenes: dict[str, dict[str, float | int]]) -> dict[str, Any]:
    """The ≤ 5 ms target, read on the three-layer scene (the obstacle) rendered alone, with
    its interleaved median (beside a baseline) for comparison."""
    row = scenes["obstacle"]
    return {"scene": "obstacle", "limit_ms": TARGET_MS, "cpu_median_ms": row["cpu_median_ms"],
            "interleaved_cpu_median_ms": row.get("interleaved_cpu_median_ms"),
            "met": float(row["cpu_median_ms"]) <= TARGET_MS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--optics", choices=sorted(OPTICS), default="pi")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-rev", default=BASELINE_REV,
                        help="git revision of the baseline renderer ('' for none)")
    parser.add_argument("--bench-frames", type=int, default=60,
                        help="frames per scene for the bench conditions")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    optics = OPTICS[args.optics]
    baseline = load_baseline(args.baseline_rev) if args.baseline_rev else "none asked for"
    module = baseline if isinstance(baseline, ModuleType) else None
    scenes = {name: bench_scene(name, optics, args.frames, args.seed, module)
              for name in builtin_scene_names()}
    conditions = bench_conditions(args.bench_frames, args.seed,
                                  baseline if isinstance(baseline, ModuleType) else None)
    result = {
        "size_px": list(SIZE),
        "optics": args.optics,
        "frames": args.frames,
        "threads": 1,
        "scenes": scenes,
        **defocus_ratio(optics, args.frames, args.seed),
        **still_per_megapixel(optics, args.seed),
        "floor": floor(optics, args.frames, args.seed),
        "target": _target(scenes),
        "bench_conditions": {
            "size_px": list(BENCH_PREVIEW_PX),
            "baseline": (f"afon.cameras.sim.render at {args.baseline_rev}"
                         if isinstance(baseline, ModuleType) else baseline),
            "scenes": conditions,
        },
        "load_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
