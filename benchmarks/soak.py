"""Soak: `afon serve` for minutes under viewers, a flood, a full disk and a kill -9.

Starts `afon serve` as its own process on a fixed loopback port, shots on a small tmpfs (as
root; elsewhere a plain folder and no disk-full episode, said in the JSON), and runs at once:

- `--viewers` WebSocket viewers counting frames (they reconnect after the restart);
- one control client: AF_POINT_CENTRE press/release, the ack's round trip through the body loop;
- one shooter: single drive, a full press every 0.5 s; each acknowledged press is an attempt,
  each `shot` message (ok or failure record) an outcome;
- one flooding client, from 20 % of the run on, sending control messages as fast as it can.

Episodes: the shots folder is filled (ENOSPC) from 35 % to 50 % of the run; at 70 % the server is
killed with SIGKILL (the shooter pauses around it, so no press is in flight) and started again on
the same folder and port. The first 20 % (no flood) is the quiet baseline of the same run.

Prints JSON: fps per viewer (quiet, flood), control round trip p50/p95 (quiet, flood), shots
attempted / saved / failure records (attempted must equal saved + failures), JPEGs on disk
after the restart's repair, RSS growth of each server process, the load average.

Usage: python benchmarks/soak.py [--quick] [--duration-s S] [--viewers N]
(`--quick`: 60 s; default 600 s)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, port: int, out: Path) -> None:
        self.port = port
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(out.parent / "serve.log", "ab")  # noqa: SIM115

    def start(self) -> None:
        cmd = [sys.executable, "-m", "afon.cli", "serve", "--port", str(self.port)]
        cmd += ["--out", str(self.out)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=1
            ) as s:
                s.sendall(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if b"200 OK" in s.recv(200):
                    return
            time.sleep(0.2)
        raise RuntimeError("afon serve did not start (see serve.log)")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Clients:
    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.stop = threading.Event()
        self.phase = "quiet"
        self.frames: list[dict[str, int]] = []
        self.rtts: dict[str, list[float]] = {"quiet": [], "flood": []}
        self.attempts = 0
        self.outcomes: list[dict[str, Any]] = []
        self.shooting = threading.Event()
        self.shooting.set()
        self.idle = threading.Event()
        self.flood_sent = 0
        self.flood_limited = 0
        self.lock = threading.Lock()

    def ws(self) -> ClientConnection:
        return connect(self.url, proxy=None, compression=None, max_queue=None, open_timeout=10)

    def forever(self, fn: Any, *args: Any) -> None:
        """Run a client, reconnecting while the server restarts."""
        while not self.stop.is_set():
            try:
                with self.ws() as ws:
                    fn(ws, *args)
            except Exception:
                time.sleep(0.2)

    def viewer(self, ws: ClientConnection, counts: dict[str, int]) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                if isinstance(ws.recv(timeout=0.5), bytes):
                    counts[self.phase] = counts.get(self.phase, 0) + 1

    def controller(self, ws: ClientConnection) -> None:
        n = 0
        while not self.stop.is_set():
            for action in ("press", "release"):
                n += 1
                t0 = time.perf_counter()
                phase = self.phase
                ws.send(json.dumps({"type": "control", "control": "AF_POINT_CENTRE",
                                    "action": action, "id": n}))
                while True:
                    data = ws.recv(timeout=10)
                    if isinstance(data, str) and json.loads(data).get("id") == n:
                        break
                if phase in self.rtts:
                    self.rtts[phase].append((time.perf_counter() - t0) * 1000.0)
            time.sleep(0.1)

    def shooter(self, ws: ClientConnection) -> None:
        """Single drive: a full press, its ack (an attempt when SHUTTER_FULL was applied), then
        its outcome (a `shot` message, saved or failure record) before the next press."""
        ws.send(json.dumps({"type": "settings", "drive": "single", "id": "drive"}))
        n = 0
        while not self.stop.is_set():
            if not self.shooting.is_set():
                self.idle.set()
                time.sleep(0.05)
                continue
            self.idle.clear()
            n += 1
            for action in ("press", "release"):
                ws.send(json.dumps({"type": "control", "control": "SHUTTER",
                                    "action": action, "id": f"s{n}{action}"}))
            attempted = False
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    data = ws.recv(timeout=0.5)
                    if not isinstance(data, str):
                        continue
                    msg = json.loads(data)
                    if msg.get("id") == f"s{n}press" and msg.get("type") == "ack":
                        attempted = "SHUTTER_FULL" in msg.get("applied", [])
                        with self.lock:
                            self.attempts += int(attempted)
                        if not attempted:
                            break
                    elif msg.get("type") == "shot":
                        with self.lock:
                            self.outcomes.append(msg["shot"])
                        break
            self.idle.set()
            time.sleep(0.5)

    def flooder(self, ws: ClientConnection) -> None:
        msg = json.dumps({"type": "control", "control": "AF_POINT_LEFT", "action": "press"})

        def drain() -> None:
            with contextlib.suppress(Exception):
                while not self.stop.is_set():
                    data = ws.recv(timeout=0.5)
                    if isinstance(data, str) and "rate limited" in data:
                        self.flood_limited += 1

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        while not self.stop.is_set():
            if self.phase == "quiet":
                time.sleep(0.1)
                continue
            for _ in range(100):
                ws.send(msg)
            self.flood_sent += 100
            time.sleep(0.001)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 s instead of 600 s")
    ap.add_argument("--duration-s", type=float, default=None)
    ap.add_argument("--viewers", type=int, default=10)
    args = ap.parse_args(argv)
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # the kill -9 is on purpose
    duration = args.duration_s or (60.0 if args.quick else 600.0)
    work = Path(tempfile.mkdtemp(prefix="afon-soak-"))
    shots = work / "shots"
    shots.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(shots)], capture_output=True
        ).returncode == 0
    port = free_port()
    server = Server(port, shots)
    clients = Clients(port)
    result: dict[str, Any] = {"duration_s": duration, "viewers": args.viewers}
    try:
        server.start()
        assert server.proc is not None
        first_pid = server.proc.pid
        counts = [dict[str, int]() for _ in range(args.viewers)]
        threads = [threading.Thread(target=clients.forever, args=(clients.viewer, c), daemon=True)
                   for c in counts]
        threads += [threading.Thread(target=clients.forever, args=(f,), daemon=True)
                    for f in (clients.controller, clients.shooter, clients.flooder)]
        for t in threads:
            t.start()
        t0 = time.monotonic()

        def at(frac: float) -> None:
            time.sleep(max(0.0, t0 + frac * duration - time.monotonic()))

        at(0.05)
        rss_first = [rss_kib(first_pid)]
        at(0.2)
        quiet_s = time.monotonic() - t0
        clients.phase = "flood"
        flood_t0 = time.monotonic()
        at(0.35)
        filler = fill(shots) if mounted else None
        at(0.5)
        if filler is not None:
            filler.unlink()
        at(0.68)
        clients.shooting.clear()
        clients.idle.wait(30)  # the last press's outcome has arrived: nothing in flight
        rss_first.append(rss_kib(first_pid))
        at(0.7)
        with clients.lock:
            attempts_before, outcomes_before = clients.attempts, len(clients.outcomes)
        restart_t0 = time.monotonic()
        server.kill9()
        clients.phase = "restart"
        server.start()
        restart_s = time.monotonic() - restart_t0
        clients.phase = "flood"
        assert server.proc is not None
        second_pid = server.proc.pid
        time.sleep(2.0)
        rss_second = [rss_kib(second_pid)]
        clients.shooting.set()
        at(0.97)
        clients.shooting.clear()
        clients.idle.wait(30)
        rss_second.append(rss_kib(second_pid))
        flood_s = time.monotonic() - flood_t0 - restart_s
        clients.stop.set()
        for t in threads:
            t.join(12)
        with clients.lock:
            outcomes = list(clients.outcomes)
            attempts = clients.attempts
        saved = sum(1 for s in outcomes if s["ok"])
        failures = [s for s in outcomes if not s["ok"]]
        jpgs = len(list(shots.glob("shot_*.jpg")))
        result |= {
            "fps_per_viewer": {
                "quiet": [round(c.get("quiet", 0) / quiet_s, 1) for c in counts],
                "flood": [round(c.get("flood", 0) / flood_s, 1) for c in counts],
            },
            "control_round_trip_ms": {
                phase: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "n": len(v)}
                for phase, v in clients.rtts.items()
            },
            "shots": {
                "attempted": attempts,
                "saved": saved,
                "failure_records": len(failures),
                "equal": attempts == saved + len(failures),
                "attempted_before_kill": attempts_before,
                "outcomes_before_kill": outcomes_before,
                "disk_full_failures": sum(1 for s in failures if "full" in (s["failure"] or "")),
                "jpegs_on_disk_after_restart": jpgs,
                "failure_reasons": sorted({(s["failure"] or "")[:60] for s in failures}),
            },
            "disk_full_episode": "tmpfs filled to ENOSPC" if mounted else "skipped (needs root)",
            "restart_s": round(restart_s, 2),
            "flood": {"sent": clients.flood_sent, "rate_limited_replies": clients.flood_limited},
            "rss_kib": {
                "first_server": rss_first,
                "first_growth": rss_first[-1] - rss_first[0],
                "second_server": rss_second,
                "second_growth": rss_second[-1] - rss_second[0],
            },
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        clients.stop.set()
        server.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(shots)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    return 0 if result.get("shots", {}).get("equal") else 1


if __name__ == "__main__":
    sys.exit(main())
