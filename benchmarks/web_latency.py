"""`afon serve` on loopback: keydown-to-body latency, and server CPU while streaming 30 fps.

Starts `afon serve` as its own process (so its CPU use is its own), opens the viewfinder in
headless Chromium (Playwright) and measures:

- **Latency**: Playwright presses a key (AF-OFF, harmless while AF is idle) at random phases of the
  frame period. The page sends the keydown's own timestamp (`performance.timeOrigin +
  event.timeStamp`, wall clock in ms) with the control message; the server records the wall clock
  when the body's thread hands the event to `body.handle`, and acknowledges both. Latency is the
  difference (same machine, same clock). `ack_round_trip_ms` is keydown → acknowledgement back in
  the page: an upper bound that does not depend on comparing clocks.
- **CPU**: the server process's user + system time (/proc/PID/stat) over the measured interval,
  as a percentage of one core, while one page receives the live view; also with no viewer
  (rendering only) and with AF-C running (AF-ON held).

Prints JSON. Targets (issue 5): latency median ≤ 30 ms, CPU ≤ 60% of one core at 30 fps.

Usage: python benchmarks/web_latency.py [--seconds 10] [--presses 150] [--preset cm3]
Needs Chromium (AFON_CHROMIUM, default /usr/bin/chromium) and Playwright.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("AFON_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_MEDIAN_MS = 30.0
TARGET_CPU_PERCENT = 60.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_percent(pid: int, seconds: float) -> float:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    return 100.0 * (c1 - c0) / (t1 - t0)


def summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "median": round(statistics.median(values), 2),
        "p95": round(p95, 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def start_server(args: argparse.Namespace, out: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "afon.cli", "serve", "--port", "0", "--out", out]
    cmd += ["--camera", args.camera, "--preset", args.preset]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"on this computer: (\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("afon serve did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU measurement (default 10)")
    parser.add_argument("--presses", type=int, default=150, help="key presses timed (default 150)")
    parser.add_argument("--camera", default="sim:portrait")
    parser.add_argument("--preset", default="cm3")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as out:
        proc, url = start_server(args, out)
        try:
            result = measure(args, proc.pid, url, rng, sync_playwright)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(result, indent=2))
    return 0


def measure(
    args: argparse.Namespace, pid: int, url: str, rng: random.Random, sync_playwright: Any
) -> dict[str, Any]:
    time.sleep(1.0)  # let the server's loop settle before measuring it
    cpu_no_viewer = cpu_percent(pid, min(3.0, args.seconds))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(
            bypass_csp=True, viewport={"width": 1280, "height": 860}
        ).new_page()
        page.goto(url)
        page.wait_for_function(
            "window.afon && window.afon.connected && window.afon.stats.drawn > 5"
        )

        # CPU while streaming to one page
        f0 = page.evaluate("[window.afon.stats.frames, window.afon.stats.drawn, performance.now()]")
        cpu_streaming = cpu_percent(pid, args.seconds)
        f1 = page.evaluate("[window.afon.stats.frames, window.afon.stats.drawn, performance.now()]")
        dt_s = (f1[2] - f0[2]) / 1000.0
        server_fps = page.evaluate("window.afon.state.fps")

        # latency: AF-OFF presses at random phases of the frame period
        page.evaluate("window.afon.stats.acks.length = 0")
        for _ in range(args.presses):
            page.keyboard.down("KeyS")
            time.sleep(rng.uniform(0.01, 0.03))
            page.keyboard.up("KeyS")
            time.sleep(rng.uniform(0.01, 0.04))
        page.wait_for_function(
            f"window.afon.stats.acks.length >= {2 * args.presses}", timeout=30_000
        )
        acks = page.evaluate("window.afon.stats.acks")
        presses = [a for a in acks if a["control"] == "AF_OFF" and a["action"] == "press"]

        # CPU with AF-C running (AF-ON held) while streaming
        page.keyboard.down("KeyA")
        time.sleep(0.5)
        cpu_af = cpu_percent(pid, min(5.0, args.seconds))
        page.keyboard.up("KeyA")
        browser.close()

    latency = summary([a["latency_ms"] for a in presses])
    round_trip = summary([a["ack_ms"] for a in presses])
    return {
        "benchmark": "web_latency",
        "camera": args.camera,
        "preset": args.preset,
        "keydown_to_body_ms": latency,
        "ack_round_trip_ms": round_trip,
        "server_cpu_percent_of_one_core": {
            "streaming_30fps_one_viewer": round(cpu_streaming, 1),
            "no_viewer": round(cpu_no_viewer, 1),
            "streaming_with_af_c_running": round(cpu_af, 1),
            "seconds": args.seconds,
        },
        "stream_fps": {
            "server_loop": server_fps,
            "received_by_page": round((f1[0] - f0[0]) / dt_s, 1),
            "drawn_by_page": round((f1[1] - f0[1]) / dt_s, 1),
        },
        "targets": {
            "median_ms": TARGET_MEDIAN_MS,
            "cpu_percent": TARGET_CPU_PERCENT,
            "median_met": bool(latency.get("median", 1e9) <= TARGET_MEDIAN_MS),
            "cpu_met": bool(cpu_streaming <= TARGET_CPU_PERCENT),
        },
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
    }


if __name__ == "__main__":
    sys.exit(main())
