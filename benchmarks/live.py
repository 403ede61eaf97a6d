"""The live body loop in real time, per built-in scene and preset: does `afon serve` keep up?

For each scene × preset this builds the body as `afon serve` does (simulated camera on the real
clock, stills 960 px wide, shots written to a temporary folder, one viewer so every frame is
JPEG-encoded), runs its `BodyRunner` and measures, on the wall clock:

- **idle**: CPU per frame of the body loop and the live view's JPEG encoder (summed: the
  encoder's own thread since `FrameEncoder`; the body thread's alone beside it) while the live
  view runs at the camera's 30 fps, the frame rate achieved, and the headroom (frame period /
  CPU per frame; target ≥ 2 on one core);
- **af_c**: the same with AF-C and AF-ON held for as long (the lens moves and the AF engine
  reads every frame, so the renderer reuses nothing of the last frame: the loop's heavy case),
  and the lens's net move over it (`lens_moved_d`) and the share of the frames seen whose lens
  was reported moving during the exposure (`lens_moving_share`: a lens that keeps adjusting
  draws every frame anew, one that has settled lets the renderer reuse the frame). The target
  applies to idle; the AF-C headroom is reported beside it (how many combinations keep real
  time and ≥ 2× under AF);
- **release lag**: `--presses` single shots in MF (release priority, so focus never delays
  them): the press is stamped by the benchmark just before it is queued for the body thread,
  and the lag is press → start of the still's exposure. Target: within one frame period of the
  preset's release lag;
- **ladder_warm_up** (where the camera has one, `afon.cameras.sim.warm_up`): whether its
  background build of the blur ladders had finished when AF-C began, the entries it built and
  its CPU seconds (on the other core, outside the CPU per frame above);
- **burst**: the shutter held `--burst-s` at the asked rate (10 fps): the achieved rate is the
  shots whose exposure started while it was held over the time it was held (``fps``; a burst
  that stops because the still buffer is full counts as slower, as it is), beside the rate
  while it shot (``fps_while_shooting``: shots − 1 over the span of their exposure starts),
  the longest interval and the buffer's waits. Target: ``fps`` ≥ 95 % of the asked rate.

Lag and burst are in the simulation's seconds, which are wall seconds while `time_scale_min`
is 1 (the loop kept real time); below 1 the loop ran in slow motion (a busy machine) and
everything, viewfinder included, ran slower by that factor.

`--baseline-src DIR` runs the same measurement on another checkout's `src` (e.g. `main` before
the still buffer) in a subprocess, under the same load, and prints it beside each result as
`baseline`. Everything is measured through APIs both versions have (BodyRunner, Body, buttons).

Usage: nice python benchmarks/live.py [--scenes portrait,runner] [--presets 300mm-f2.8]
       [--baseline-src /tmp/afon-base/src] [--presses 6] [--burst-s 2]
Prints JSON on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BURST_FPS = 10.0
IDLE_S = 2.0
SINGLE_GAP_S = 0.3
"""Between single shots: a photographer taking single frames, not a burst."""
TIMEOUT_S = 30.0


class _NoLoop:
    """Stands in for the server's event loop: the benchmark's viewer needs no waking."""

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        pass


class _NoEvent:
    def set(self) -> None:
        pass


def _thread_cpu_s(thread: Any) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _sample(body: Any, threads: list[Any], seconds: float) -> tuple[int, list[float], float]:
    """Frames the body made, CPU seconds of each of `threads` and wall seconds over `seconds`
    of the running loop."""
    frames0 = body.stats.frames
    cpu0s = [_thread_cpu_s(t) for t in threads]
    wall0 = time.perf_counter()
    time.sleep(seconds)
    frames = body.stats.frames - frames0
    cpus = [_thread_cpu_s(t) - c0 for t, c0 in zip(threads, cpu0s, strict=True)]
    return frames, cpus, time.perf_counter() - wall0


class _LensWatch:
    """Watches the frames the body made (`body.last_frame`, read a few times a frame period in
    a thread of its own; the camera itself is not touched) and counts those whose lens was
    reported moving during the exposure."""

    def __init__(self, body: Any, period_s: float) -> None:
        self.body, self.period_s = body, period_s
        self.frames = self.moving = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _LensWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        seen = None
        while not self._stop.wait(self.period_s / 4.0):
            frame = getattr(self.body, "last_frame", None)
            if frame is None or frame.index == seen:
                continue
            seen = frame.index
            self.frames += 1
            self.moving += bool(frame.lens_moving) or frame.lens_start_d != frame.lens_end_d

    def moving_share(self) -> float | None:
        return round(self.moving / self.frames, 2) if self.frames else None


def _wait(pred: Callable[[], Any], what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.002)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def measure(scene: str, preset: str, presses: int, burst_s: float) -> dict[str, Any]:
    from afon import clock as clocks
    from afon.body import Body
    from afon.cameras.url import open_camera
    from afon.web.runner import BodyRunner, Subscriber

    limit_stills = _stills_limiter()

    paced = hasattr(clocks, "PacedClock")
    clock: Any = clocks.PacedClock() if paced else clocks.RealClock()
    with tempfile.TemporaryDirectory(prefix="afon-live-") as out:
        camera = open_camera(f"sim:{scene}", clock=clock, preset=preset, seed=0)
        limit_stills(camera, "960")
        body = Body(camera, "bbf", shots_dir=out)
        runner = BodyRunner(body, camera_name=f"sim:{scene}", profiles=["bbf"])
        runner.hub.subscribe(Subscriber(loop=_NoLoop(), wake=_NoEvent()))
        runner.start()
        thread = runner._thread
        assert thread is not None
        rate = float(camera.capabilities.frame_rate_hz or 30.0)
        lag_preset_s = float(camera.capabilities.release_lag_s)
        try:
            # warm up (render caches, first still), then the idle live view
            runner.settings({"focus_mode": "MF", "drive": "single"}).result(TIMEOUT_S)
            _shoot_once(runner)
            _wait(lambda: _written(runner) >= 1, "the warm-up still")
            # a loop that slowed down for the warm-up speeds up again once it has room
            # (a scene the machine cannot draw in real time stays in slow motion: measured
            # and reported as it is, headroom below 1)
            try:
                _wait(lambda: _scale(body) >= 1.0, "real time again", 15.0)
                real_time = True
            except TimeoutError:
                real_time = False
            scales = [_scale(body)]
            # the live view's JPEG encoder is the loop's work too, wherever it runs (its own
            # thread since the FrameEncoder; the body thread before): both are counted
            encoder = getattr(getattr(runner, "encoder", None), "thread", None)
            threads = [thread] + ([encoder] if encoder is not None else [])
            frames, cpus, wall_s = _sample(body, threads, IDLE_S)
            body_cpu_per_frame_ms = 1000.0 * cpus[0] / max(frames, 1)
            cpu_per_frame_ms = 1000.0 * sum(cpus) / max(frames, 1)
            scales.append(_scale(body))
            # AF-C with AF-ON held: the lens moves and the AF engine reads every frame (the
            # renderer can reuse nothing of a frame whose lens moved), the loop's heavy case
            # the ladder warm-up the runner started, where the camera has one (idempotent)
            start_warm_up = getattr(camera, "warm_up", None)
            warm = start_warm_up() if callable(start_warm_up) else None
            warm_done = None if warm is None else warm.done.is_set()
            runner.settings({"focus_mode": "AF-C"}).result(TIMEOUT_S)
            runner.submit(body.af_on.press).result(TIMEOUT_S)
            af_lens0_d = float(camera.lens_position_d())
            with _LensWatch(body, 1.0 / rate) as watch:
                af_frames, af_cpus, af_wall_s = _sample(body, threads, IDLE_S)
            af_lens_moved_d = abs(float(camera.lens_position_d()) - af_lens0_d)
            runner.submit(body.af_on.release).result(TIMEOUT_S)
            runner.settings({"focus_mode": "MF"}).result(TIMEOUT_S)
            af_cpu_per_frame_ms = 1000.0 * sum(af_cpus) / max(af_frames, 1)
            scales.append(_scale(body))
            # single releases: lag from the press to the start of exposure
            lags_s: list[float] = []
            for _ in range(presses):
                n = len(body.shots)
                press_s = _shoot_once(runner)
                _wait(lambda n=n: len(body.shots) > n, "a single shot")  # type: ignore[misc]
                rec = body.shots[n]
                if rec.exposure_start_s is not None:
                    lags_s.append(rec.exposure_start_s - press_s)
                scales.append(_scale(body))
                time.sleep(SINGLE_GAP_S)
            # a burst at the asked rate
            runner.settings({"drive": "continuous", "burst_fps": BURST_FPS}).result(TIMEOUT_S)
            n0 = len(body.shots)
            held_from_s = float(body.clock.now_s())
            runner.submit(body.shutter.press).result(TIMEOUT_S)
            time.sleep(burst_s)
            held_to_s = float(body.clock.now_s())
            runner.submit(body.shutter.release).result(TIMEOUT_S)
            scales.append(_scale(body))
            shots = [s for s in body.shots[n0:] if s.exposure_start_s is not None
                     and float(s.exposure_start_s) <= held_to_s]
            starts = [float(s.exposure_start_s) for s in shots]  # type: ignore[arg-type]
            gaps = [b - a for a, b in itertools.pairwise(starts)]
            span = sum(gaps)
            buf = getattr(body, "still_buffer", None)
            if buf is not None:
                buf.wait_idle(TIMEOUT_S)
            loop = getattr(runner, "loop", None)
        finally:
            runner.stop()
            # the body thread closes the body last, writing every buffered still: wait for
            # it (stop's own wait is short), else the folder is removed under the writer
            if runner._thread is not None:
                runner._thread.join(TIMEOUT_S)
            buf = getattr(body, "still_buffer", None)
            if buf is not None and not buf.wait_idle(4 * TIMEOUT_S):
                raise TimeoutError(f"{scene} on {preset}: buffered stills not written")
    frame_ms = 1000.0 / rate
    lag_med = _percentile(lags_s, 50)
    lag_p95 = _percentile(lags_s, 95)
    shooting_fps = (len(gaps) / span) if span > 0 else None
    held_s = held_to_s - held_from_s
    burst_fps = len(shots) / held_s if held_s > 0 else None
    return {
        "scene": scene,
        "preset": preset,
        "idle": {
            "frames": frames,
            "fps_asked": rate,
            "fps": round(frames / wall_s, 2),
            "cpu_per_frame_ms": round(cpu_per_frame_ms, 2),
            "body_thread_cpu_per_frame_ms": round(body_cpu_per_frame_ms, 2),
            "headroom": round(frame_ms / cpu_per_frame_ms, 2) if cpu_per_frame_ms > 0 else None,
        },
        "af_c": {
            "frames": af_frames,
            "fps": round(af_frames / af_wall_s, 2),
            "cpu_per_frame_ms": round(af_cpu_per_frame_ms, 2),
            "headroom": round(frame_ms / af_cpu_per_frame_ms, 2) if af_cpu_per_frame_ms else None,
            "lens_moved_d": round(af_lens_moved_d, 3),
            "lens_moving_share": watch.moving_share(),
        },
        "release_lag": {
            "preset_ms": round(1000 * lag_preset_s, 1),
            "median_ms": round(1000 * lag_med, 1) if lag_med is not None else None,
            "p95_ms": round(1000 * lag_p95, 1) if lag_p95 is not None else None,
            "n": len(lags_s),
            "within_one_frame": lag_p95 is not None and lag_p95 - lag_preset_s <= 1.0 / rate + 1e-9,
        },
        "burst": {
            "fps_asked": BURST_FPS,
            "fps": round(burst_fps, 2) if burst_fps is not None else None,
            "fps_while_shooting": round(shooting_fps, 2) if shooting_fps is not None else None,
            "held_s": round(held_s, 3),
            "shots": len(shots),
            "max_interval_ms": round(1000 * max(gaps), 1) if gaps else None,
            "buffer_waits": int(body.stats.extra.get("buffer_waits", 0)),
        },
        "time_scale_min": min(scales),
        "real_time_after_warm_up": real_time,
        "slowed": int(getattr(loop, "slowed", 0)) if loop is not None else None,
        "dropped_frames": int(getattr(loop, "dropped", 0)) if loop is not None else None,
        "pipeline": "still buffer" if buf is not None else "stills in the loop",
        "ladder_warm_up": None if warm is None else {
            "done_before_af_c": warm_done, "built": warm.built, "cpu_s": round(warm.cpu_s, 2)},
    }


_NAMES_PROBE = (
    "import json; from afon.cameras.sim.preset import builtin_preset_names; "
    "from afon.cameras.sim.scene import builtin_scene_names; "
    "print(json.dumps({'scenes': builtin_scene_names(), 'presets': builtin_preset_names()}))"
)
"""Which built-in scenes and presets a checkout has (run under the baseline's PYTHONPATH)."""


def _stills_limiter() -> Callable[[Any, str], None]:
    """`afon serve`'s still-size limit, where this checkout keeps it (the baseline's is older)."""
    import importlib

    try:
        fn: Callable[[Any, str], None] = importlib.import_module("afon.web.stills").limit_stills
    except ImportError:
        fn = importlib.import_module("afon.web.serve")._limit_stills
    return fn


def _shoot_once(runner: Any) -> float:
    """Press and release the shutter (one job each); returns the press's clock time."""
    body = runner.body
    press_s = float(body.clock.now_s())
    runner.submit(body.shutter.press)
    runner.submit(body.shutter.release)
    return press_s


def _meets_targets(r: dict[str, Any]) -> bool:
    """Whether one combination's result meets the targets: idle headroom ≥ 2, release lag
    within one frame of the preset's, burst ≥ 95 % of the asked rate."""
    return bool(
        r["idle"]["headroom"] is not None
        and r["idle"]["headroom"] >= 2.0
        and r["release_lag"]["within_one_frame"]
        and r["burst"]["fps"] is not None
        and r["burst"]["fps"] >= 0.95 * BURST_FPS
    )


def _scale(body: Any) -> float:
    return round(float(getattr(body.clock, "scale", 1.0)), 3)


def _written(runner: Any) -> int:
    return sum(1 for s in runner.body.shots if s.image_path or s.failure)


def run(
    scenes: list[str], presets: list[str], presses: int, burst_s: float
) -> list[dict[str, Any]]:
    results = []
    for preset in presets:
        for scene in scenes:
            results.append(measure(scene, preset, presses, burst_s))
            print(f"  {preset} {scene} done", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenes", default="", help="comma-separated (default: every built-in)")
    ap.add_argument("--presets", default="", help="comma-separated (default: every built-in)")
    ap.add_argument("--presses", type=int, default=6)
    ap.add_argument("--burst-s", type=float, default=2.0)
    ap.add_argument("--baseline-src", default="", help="another checkout's src/ to compare with")
    ap.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from afon.cameras.sim.preset import builtin_preset_names
    from afon.cameras.sim.scene import builtin_scene_names

    scenes = [s for s in args.scenes.split(",") if s] or builtin_scene_names()
    presets = [p for p in args.presets.split(",") if p] or builtin_preset_names()
    results = run(scenes, presets, args.presses, args.burst_s)
    if args.raw:
        print(json.dumps(results))
        return 0
    baseline: list[dict[str, Any]] = []
    if args.baseline_src:
        env = dict(os.environ, PYTHONPATH=str(Path(args.baseline_src).resolve()))
        # only the scenes and presets the baseline has (a scene added since is measured alone)
        probe = [sys.executable, "-c", _NAMES_PROBE]
        known = json.loads(
            subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout
        )
        b_scenes = [s for s in scenes if s in known["scenes"]]
        b_presets = [p for p in presets if p in known["presets"]]
        cmd = [sys.executable, __file__, "--raw", "--scenes", ",".join(b_scenes)]
        cmd += ["--presets", ",".join(b_presets), "--presses", str(args.presses)]
        cmd += ["--burst-s", str(args.burst_s)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            baseline = json.loads(proc.stdout)
        else:  # the measurement stands without its baseline; say why
            print(f"baseline failed: {proc.stderr.strip()[-400:]}", file=sys.stderr)
    by_key = {(b["scene"], b["preset"]): b for b in baseline}
    for r in results:
        b = by_key.get((r["scene"], r["preset"]))
        if b is not None:
            r["baseline"] = b
    ok = [_meets_targets(r) for r in results]
    med = statistics.median
    summary = {
        "combos": len(results),
        "meeting_all_targets": sum(ok),
        "headroom_min": min(r["idle"]["headroom"] or 0 for r in results),
        "headroom_median": med(r["idle"]["headroom"] or 0 for r in results),
        "af_c_headroom_min": min(r["af_c"]["headroom"] or 0 for r in results),
        "af_c_headroom_median": med(r["af_c"]["headroom"] or 0 for r in results),
        "af_c_headroom_ge_2": sum((r["af_c"]["headroom"] or 0) >= 2.0 for r in results),
        "af_c_real_time": sum((r["af_c"]["headroom"] or 0) >= 1.0 for r in results),
        "burst_fps_min": min(r["burst"]["fps"] or 0 for r in results),
        "lag_p95_ms_max": max(r["release_lag"]["p95_ms"] or 0 for r in results),
    }
    if baseline:
        summary["baseline"] = {
            "meeting_all_targets": sum(_meets_targets(b) for b in baseline),
            "burst_fps_min": min(b["burst"]["fps"] or 0 for b in baseline),
            "lag_p95_ms_max": max(b["release_lag"]["p95_ms"] or 0 for b in baseline),
            "headroom_min": min(b["idle"]["headroom"] or 0 for b in baseline),
            "af_c_headroom_min": min(b["af_c"]["headroom"] or 0 for b in baseline),
            "af_c_headroom_ge_2": sum((b["af_c"]["headroom"] or 0) >= 2.0 for b in baseline),
        }
    out = {
        "benchmark": "live",
        "targets": (
            "idle headroom >= 2 (one core), burst >= 95% of 10 fps, lag p95 <= preset + 1 frame;"
            " AF-C headroom reported beside it (af_c_headroom_ge_2, af_c_real_time)"
        ),
        "load": os.getloadavg(),
        "summary": summary,
        "results": results,
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
