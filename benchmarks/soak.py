"""Soak: `afon serve` for minutes under viewers, a flood, a full disk and a kill -9.

Starts `afon serve` as its own process on a fixed loopback port, shots on a small tmpfs (as
root; elsewhere a plain folder and no disk-full episode, said in the JSON), and runs at once:

- `--viewers` WebSocket viewers counting frames (they reconnect after the restart);
- one control client: AF_POINT_CENTRE press/release, the ack's round trip through the body loop;
- one shooter: single drive, a full press, its answers, then a 0.5 s pause; each acknowledged
  press is an attempt, each `shot` message (ok or failure record) an outcome;
- one flooding client, from 20 % of the run on, sending control messages as fast as it can.

Episodes: the shots folder is filled (ENOSPC) from 35 % to 50 % of the run; at 70 % the server is
killed with SIGKILL (the shooter pauses around it, so no press is in flight) and started again on
the same folder and port. The first 20 % (no flood) is the quiet baseline of the same run.

Prints JSON: fps per viewer and control round trip p50/p95 per phase (quiet, flood, disk_full,
after_disk, after_restart), the frames the body loop made per second (the viewers' ceiling),
the CPU of the server and of the soak's own clients per phase (they share the machine's cores;
the viewers count JPEGs without decoding them), the targets during the flood (other viewers
>= 25 fps, control round trips <= 50 ms median and p95) beside the quiet baseline and whether
they are met, shots attempted / saved / failure records (attempted must equal saved +
failures), JPEGs on disk after the restart's repair, RSS growth of each server process, the
load average.

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


PHASES = ("no_shots", "quiet", "flood", "disk_full", "after_disk", "restart", "after_restart")
"""The run's phases: `no_shots` (viewers and the control client only: what the server does for
them when no still blacks the viewfinder out), `quiet` (the shooter too, no flood: the
baseline), `flood` (the flooding client alone),
`disk_full` (flood and a full shots folder), `after_disk`, `restart` (kill -9 to accepting
again: not measured), `after_restart` (reconnected, flood again)."""
FPS_TARGET = 25.0
"""Each other viewer keeps at least this many frames a second while one client floods."""
RTT_TARGET_MS = 50.0
"""Control round trips (send → ack through the body loop), median and p95, during the flood."""
SHOT_DEADLINE_S = 20.0
"""How long the shooter waits for a press's ack and outcome before pressing again (a late
answer is still counted when it comes: the accounting never depends on this deadline)."""
SHOT_PAUSE_S = 0.5
"""The shooter's pause after each press is answered (it used to end as soon as it began, so the
shooter pressed ~3.5 times a second, not 2)."""


class Clients:
    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.stop = threading.Event()
        self.phase = "no_shots"
        self._phase_t0 = time.monotonic()
        self.phase_s: dict[str, float] = dict.fromkeys((*PHASES, "end"), 0.0)
        self.rtts: dict[str, list[float]] = {p: [] for p in PHASES}
        self.attempts = 0
        self.presses = 0
        self.acks = 0
        self.late = 0
        self.outcomes: list[dict[str, Any]] = []
        self.first_viewer: dict[str, int] = {}
        self.shooting = threading.Event()
        self.shooting.set()
        self.idle = threading.Event()
        self.flood_sent = 0
        self.flood_limited = 0
        self.frames_seen: dict[str, set[int]] = {}
        """Frame numbers in the state messages the first viewer got, by phase: what the body
        loop made (each frame's state goes with its JPEG), beside what the viewers received."""
        self.cpu: dict[str, list[float]] = {p: [0.0, 0.0] for p in PHASES}
        """[server, load generator] CPU seconds by phase (the soak's own clients share the
        cores with the server: their cost is measured, not assumed)."""
        self.stills: dict[str, int] = {}
        """Attempts (presses acknowledged with the full press applied) by phase: each still
        blacks the viewfinder out for its release lag, exposure and the next frame's readout."""
        self.time_scales: dict[str, list[float]] = {}
        """The simulation's speed (1 = real time; below: the loop slowed down, a busy machine)
        in the first viewer's state messages, by phase."""
        self.server_pid: int | None = None
        self._cpu_t0 = (0.0, 0.0)
        self.now = time.monotonic
        """The shooter's clock (a test runs it on a virtual one)."""
        self.lock = threading.Lock()

    def set_phase(self, name: str) -> None:
        """Enter phase `name`; the time spent in each phase is kept for the rates."""
        now = time.monotonic()
        cpu = self._cpu_now()
        with self.lock:
            self.phase_s[self.phase] += now - self._phase_t0
            if self.phase in self.cpu:
                for i in (0, 1):
                    self.cpu[self.phase][i] += cpu[i] - self._cpu_t0[i]
            self.phase, self._phase_t0, self._cpu_t0 = name, now, cpu

    def _cpu_now(self) -> tuple[float, float]:
        """(server process, this process) CPU seconds so far."""
        server = 0.0
        if self.server_pid is not None:
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1]
                fields = stat.split()
                server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return server, time.process_time()

    def follow_server(self, pid: int) -> None:
        """Measure the CPU of server process `pid` from now on (after a restart: the new one)."""
        with self.lock:
            self.server_pid = pid
            self._cpu_t0 = (self._cpu_now()[0] if pid else 0.0, self._cpu_t0[1])

    def restart_clock(self, t0: float) -> None:
        with self.lock:
            self.phase_s = dict.fromkeys(self.phase_s, 0.0)
            self.phase, self._phase_t0 = "no_shots", t0
            self.cpu = {p: [0.0, 0.0] for p in PHASES}
            self._cpu_t0 = self._cpu_now()

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
        """Count the JPEGs received. A viewer never decodes them (a browser would, on its own
        CPU): the load generator shares the server's cores, so it is kept cheap."""
        first = counts is self.first_viewer
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                data = ws.recv(timeout=0.5)
                if isinstance(data, bytes):
                    counts[self.phase] = counts.get(self.phase, 0) + 1
                elif first and '"type": "state"' in data:
                    state = json.loads(data)
                    if state.get("frame") is not None:
                        self.frames_seen.setdefault(self.phase, set()).add(int(state["frame"]))
                    scale = state.get("time_scale")
                    if isinstance(scale, int | float):
                        self.time_scales.setdefault(self.phase, []).append(float(scale))

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
        """Single drive: a full press and release, then its ack and its outcome (a `shot`
        message: saved, or a failure record) before the next press.

        Every message is counted when it arrives, whichever press the loop is waiting for: an
        ack with SHUTTER_FULL applied is an attempt, a `shot` message an outcome. A press whose
        answers take longer than `SHOT_DEADLINE_S` is counted late, not lost (its ack or shot
        still counts when it comes; before, an ack arriving after the deadline was never counted
        while its shot was, and was taken for the next press's)."""
        ws.send(json.dumps({"type": "settings", "drive": "single", "id": "drive"}))
        tag = f"c{id(ws):x}-"  # ids unique to this connection
        n = 0
        mine = {"acks": 0, "attempts": 0, "outcomes": 0}

        def handle(data: str | bytes) -> None:
            if not isinstance(data, str):
                return
            msg = json.loads(data)
            kind, ident = msg.get("type"), str(msg.get("id", ""))
            with self.lock:
                if kind == "ack" and ident.startswith(tag) and ident.endswith("press"):
                    self.acks += 1
                    mine["acks"] += 1
                    if "SHUTTER_FULL" in msg.get("applied", []):
                        self.attempts += 1
                        self.stills[self.phase] = self.stills.get(self.phase, 0) + 1
                        mine["attempts"] += 1
                elif kind == "shot":
                    self.outcomes.append(msg["shot"])
                    mine["outcomes"] += 1

        def settled() -> bool:  # every press answered, every attempt's outcome in
            with self.lock:
                return mine["acks"] == n and mine["outcomes"] >= mine["attempts"]

        def receive(until_s: float, until_settled: bool = True) -> None:
            while self.now() < until_s and not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    handle(ws.recv(timeout=0.1))
                if until_settled and settled():
                    return

        while not self.stop.is_set():
            if not self.shooting.is_set():
                receive(self.now() + 0.1)  # late answers still count while paused
                if settled():
                    self.idle.set()
                continue
            self.idle.clear()
            n += 1
            with self.lock:
                self.presses += 1
            for action in ("press", "release"):
                ws.send(json.dumps({"type": "control", "control": "SHUTTER",
                                    "action": action, "id": f"{tag}{n}{action}"}))
            receive(self.now() + SHOT_DEADLINE_S)
            if not settled():
                with self.lock:
                    self.late += 1
            else:
                self.idle.set()
            # the photographer's pause between frames: the whole of it (answers still count)
            receive(self.now() + SHOT_PAUSE_S, until_settled=False)

    def ledger(self) -> dict[str, Any]:
        """The shooter's accounting: presses, acks (late ones included), attempts and their
        outcomes; `equal` when every attempt ended in a saved shot or a failure record."""
        with self.lock:
            outcomes = list(self.outcomes)
            saved = sum(1 for s in outcomes if s["ok"])
            failures = [s for s in outcomes if not s["ok"]]
            return {
                "presses": self.presses,
                "acknowledged": self.acks,
                "late_after_deadline": self.late,
                "attempted": self.attempts,
                "saved": saved,
                "failure_records": len(failures),
                "equal": self.attempts == saved + len(failures),
                "disk_full_failures": sum(1 for s in failures if "full" in (s["failure"] or "")),
                "failure_reasons": sorted({(s["failure"] or "")[:60] for s in failures}),
            }

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
            if self.phase in ("no_shots", "quiet"):
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
        clients.follow_server(first_pid)
        clients.shooting.clear()  # the shooter starts with the `quiet` phase
        counts = [clients.first_viewer] + [dict[str, int]() for _ in range(args.viewers - 1)]
        threads = [threading.Thread(target=clients.forever, args=(clients.viewer, c), daemon=True)
                   for c in counts]
        threads += [threading.Thread(target=clients.forever, args=(f,), daemon=True)
                    for f in (clients.controller, clients.shooter, clients.flooder)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        clients.restart_clock(t0)  # the phases start now, not when the server was launched

        def at(frac: float) -> None:
            time.sleep(max(0.0, t0 + frac * duration - time.monotonic()))

        at(0.05)
        rss_first = [rss_kib(first_pid)]
        at(0.1)
        clients.set_phase("quiet")
        clients.shooting.set()
        at(0.2)
        clients.set_phase("flood")
        at(0.35)
        clients.set_phase("disk_full")
        filler = fill(shots) if mounted else None
        at(0.5)
        if filler is not None:
            filler.unlink()
        clients.set_phase("after_disk")
        at(0.68)
        clients.shooting.clear()
        clients.idle.wait(30)  # the last press's outcome has arrived: nothing in flight
        rss_first.append(rss_kib(first_pid))
        at(0.7)
        with clients.lock:
            attempts_before, outcomes_before = clients.attempts, len(clients.outcomes)
        restart_t0 = time.monotonic()
        clients.set_phase("restart")
        server.kill9()
        server.start()
        restart_s = time.monotonic() - restart_t0
        assert server.proc is not None
        second_pid = server.proc.pid
        clients.follow_server(second_pid)
        clients.set_phase("after_restart")
        time.sleep(2.0)
        rss_second = [rss_kib(second_pid)]
        clients.shooting.set()
        at(0.97)
        clients.shooting.clear()
        clients.idle.wait(30)
        rss_second.append(rss_kib(second_pid))
        clients.set_phase("end")
        clients.stop.set()
        for t in threads:
            t.join(12)
        ledger = clients.ledger()
        jpgs = len(list(shots.glob("shot_*.jpg")))
        measured = [p for p in PHASES if p != "restart" and clients.phase_s[p] > 0]
        fps = {
            p: [round(c.get(p, 0) / clients.phase_s[p], 1) for c in counts] for p in measured
        }
        rtt = {
            p: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "n": len(v)}
            for p, v in clients.rtts.items()
            if p in measured
        }
        made_fps = {
            p: round(len(clients.frames_seen.get(p, ())) / clients.phase_s[p], 1) for p in measured
        }
        body_loop = {
            p: {
                "frames_per_s": made_fps[p],
                "stills_per_s": round(clients.stills.get(p, 0) / clients.phase_s[p], 2),
                "time_scale_median": pct(clients.time_scales.get(p, []), 0.5),
                "time_scale_min": min(clients.time_scales.get(p, [1.0])),
            }
            for p in measured
        }
        cpu = {
            p: {
                "server_cores": round(clients.cpu[p][0] / clients.phase_s[p], 2),
                "load_generator_cores": round(clients.cpu[p][1] / clients.phase_s[p], 2),
                "server_cpu_ms_per_frame": round(
                    1000.0 * clients.cpu[p][0] / max(1, len(clients.frames_seen.get(p, ()))), 1
                ),
            }
            for p in measured
        }
        flood_fps = min(fps.get("flood", [0.0]), default=0.0)
        flood_rtt = rtt.get("flood", {})
        worst = [flood_rtt.get(q) for q in ("p50", "p95")]
        rtt_met = all(isinstance(v, float) and v <= RTT_TARGET_MS for v in worst)
        result |= {
            "phase_s": {p: round(clients.phase_s[p], 1) for p in PHASES},
            "fps_per_viewer": fps,
            "body_loop": body_loop,
            "cpu": cpu,
            "control_round_trip_ms": rtt,
            "targets": {
                "during": "flood: one client floods, the other viewers and the control client "
                "are measured (quiet: the same clients before the flood, the baseline; "
                "no_shots: before the shooter starts)",
                "viewer_fps_min": {
                    "no_shots": min(fps.get("no_shots", [0.0]), default=0.0),
                    "quiet": min(fps.get("quiet", [0.0]), default=0.0),
                    "flood": flood_fps,
                    "server_frames_per_s": {  # what the body loop made: the viewers' ceiling
                        p: made_fps.get(p) for p in ("no_shots", "quiet", "flood")
                    },
                    "target": FPS_TARGET,
                    "met": flood_fps >= FPS_TARGET,
                },
                "control_round_trip_ms": {
                    "no_shots": rtt.get("no_shots"),
                    "quiet": rtt.get("quiet"),
                    "flood": flood_rtt,
                    "target_p50_p95": RTT_TARGET_MS,
                    "met": rtt_met,
                },
            },
            "shots": {
                **ledger,
                "attempted_before_kill": attempts_before,
                "outcomes_before_kill": outcomes_before,
                "jpegs_on_disk_after_restart": jpgs,
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
