"""The `afon` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from afon import __version__
from afon.cameras.url import URL_FORMS
from afon.errors import AfonError, ConfigError, UsageError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = """exit status:
  0    done
  1    a runtime failure: camera, device, storage or server (the message says which)
  2    a usage error: a bad option or file, or something the named camera cannot do
  130  interrupted (Ctrl-C) before the command finished"""


def _save_image(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image; the format follows the suffix (PNG, JPEG, ...)."""
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(image).save(path)
    return path


# --- afon scenes ---------------------------------------------------------------------------
def cmd_scenes(args: argparse.Namespace) -> int:
    from afon.cameras.sim.scene import builtin_scene_names, load_builtin_scene

    rows = []
    for name in builtin_scene_names():
        scene = load_builtin_scene(name)
        rows.append(
            {
                "name": name,
                "description": scene.description,
                "layers": len(scene.layers),
                "light_lux": scene.light_lux,
                "subject_distance_m": round(scene.subject_distance_m(0.0), 3),
            }
        )
    if args.json:
        print(json.dumps({"scenes": rows}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Built-in scenes")
    for col in ("name", "layers", "subject at t=0", "light", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["layers"]),
            f"{r['subject_distance_m']} m",
            f"{r['light_lux']:g} lx",
            str(r["description"]),
        )
    Console().print(table)
    return 0


# --- afon presets --------------------------------------------------------------------------
DEFAULT_PRESET = "50mm-f1.8"
"""The preset `serve`, `shoot`, `run` and scripts/demo.sh use unless told: at f/1.8 the depth of
field is shallow enough that a focus on the background leaves the face soft (cm3's is not)."""


def cmd_presets(args: argparse.Namespace) -> int:
    from afon.cameras.sim.preset import builtin_preset_names, load_preset

    rows: list[dict[str, Any]] = []
    for name in builtin_preset_names():
        p = load_preset(name)
        rows.append(
            {
                "name": name,
                "description": p.description,
                "focal_length_mm": p.optics.focal_length_mm,
                "f_number": p.optics.f_number,
                "range_d": [p.motor.min_d, p.motor.max_d],
                "full_travel_s": round(p.motor.travel_time_s(p.motor.max_d - p.motor.min_d), 4),
                "motor": p.motor.kind,
            }
        )
    if args.json:
        print(json.dumps({"presets": rows}, indent=2))
    else:
        for r in rows:
            print(
                f"{r['name']:<12} {r['motor']:<9} 0–{r['range_d'][1]:g} D, full travel "
                f"{r['full_travel_s'] * 1000:.0f} ms  {r['description']}"
            )
    return 0


# --- afon render ---------------------------------------------------------------------------
def cmd_render(args: argparse.Namespace) -> int:
    from afon.cameras.sim.preset import load_preset
    from afon.cameras.sim.render import Renderer
    from afon.cameras.sim.scene import resolve_scene

    scene = resolve_scene(args.scene)
    preset = load_preset(args.preset)
    focus_d = args.focus_d
    lo, hi = preset.motor.min_d, preset.motor.max_d
    if not lo <= focus_d <= hi:
        raise UsageError(f"--focus-d {focus_d:g} is outside the lens range {lo:g}–{hi:g} D")
    renderer = Renderer(scene, preset.optics, (args.width, args.height), seed=args.seed)
    if args.still:
        image = renderer.render_still(args.t_s, focus_d, exposure_s=preset.timing.still_exposure_s)
    else:
        image = renderer.render(args.t_s, focus_d, exposure_s=preset.timing.exposure_s)
    out = _save_image(Path(args.out), image)
    subject_m = scene.subject_distance_m(args.t_s)
    verdict = preset.optics.in_focus(subject_m, focus_d)
    info = {
        "file": str(out),
        "scene": scene.name,
        "preset": preset.name,
        "focus_d": focus_d,
        "t_s": args.t_s,
        "size_px": [int(image.shape[1]), int(image.shape[0])],
        "subject_distance_m": subject_m,
        "subject_in_focus": verdict,
    }
    print(
        json.dumps(info)
        if args.json
        else f"wrote {out} ({image.shape[1]}×{image.shape[0]}); "
        f"subject at {subject_m:.2f} m is {'in' if verdict else 'out of'} focus at {focus_d:g} D"
    )
    return 0


# --- afon demo -----------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from afon.cameras.sim.camera import SimCamera

    cam = SimCamera(args.scene, args.preset, seed=args.seed)
    out = Path(args.out)
    spec = cam.preset.motor
    subject_d = 1.0 / cam.subject_distance_m(0.0)
    # a focus pull: far end -> near end, one frame at each stop
    stops = np.linspace(
        spec.min_d, min(spec.max_d, max(2.5 * subject_d, subject_d + 1.0)), args.frames
    )
    files = []
    tiles = []
    for i, target in enumerate(stops):
        cam.move_lens(float(target))
        frame = cam.next_frame()
        while frame.lens_moving:
            frame = cam.next_frame()
        path = _save_image(out / f"pull_{i:02d}_{frame.lens_d:05.2f}D.png", frame.image)
        files.append(path)
        tiles.append(frame.image[::2, ::2])
        mark = "in focus" if cam.truth_of(frame).in_focus else ""
        print(f"{path}  lens {frame.lens_d:5.2f} D  t={frame.exposure_start_s:.3f} s  {mark}")
    cols = 3
    rows = [
        np.concatenate(tiles[r * cols : (r + 1) * cols], axis=1) for r in range(len(tiles) // cols)
    ]
    if rows:
        sheet = _save_image(out / "focus_pull_sheet.png", np.concatenate(rows, axis=0))
        print(f"contact sheet: {sheet}")
    print(
        f"scene '{cam.scene.name}': subject at {cam.subject_distance_m(0.0):.2f} m "
        f"({subject_d:.2f} D); {len(files)} frames in {out}/"
    )
    return 0


# --- afon shoot ----------------------------------------------------------------------------
def _af_point(text: str) -> tuple[float, float]:
    """Parse `X,Y` (normalised 0..1 frame coordinates) for --af-point."""
    try:
        x_s, y_s = text.split(",")
        x, y = float(x_s), float(y_s)
    except ValueError:
        raise UsageError(f"--af-point expects X,Y such as 0.3,0.5; got {text!r}") from None
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise UsageError(f"--af-point {text}: X and Y must be within 0..1")
    return x, y


def cmd_shoot(args: argparse.Namespace) -> int:
    from afon.body import Body
    from afon.cameras.url import open_camera
    from afon.clock import VirtualClock
    from afon.focus.engine import AfWindow
    from afon.script import load_script

    camera_url = args.camera or f"sim:{args.scene or 'portrait'}"
    script = load_script(args.script) if args.script else None
    simulated = camera_url.split(":", 1)[0] in ("sim", "stack") or ":" not in camera_url
    # simulations run on the virtual clock; hardware on the real one (open_camera's default)
    clock = VirtualClock() if simulated else None
    camera = open_camera(camera_url, clock=clock, preset=args.preset, seed=args.seed)
    changes: list[dict[str, object]] = []
    body = Body(
        camera,
        args.profile,
        shots_dir=args.out,
        save_images=not args.no_images,
        window=AfWindow(*_af_point(args.af_point)),
        on_af_state=lambda c: changes.append(
            {"t_s": round(c.t_s, 4), "from": c.old.value, "cause": c.cause.value, "to": c.new.value}
        ),
        judge=getattr(camera, "judge_still", None),  # a simulation's truth for the verdict
    )
    try:
        if script is not None and args.af_area:
            body.set_af_area(args.af_area)
        if script is not None:
            for event in script.events:
                body.run_until(event.t_s)
                body.handle(event)
            body.run_until(script.duration_s)
        else:
            # AF-S on a centre window, one shot, report where the lens ended
            body.set_focus_mode("AF-S")
            body.set_drive("single")
            body.set_af_area(args.af_area or "zone")
            body.af_on.press()
            t_end = body.clock.now_s() + 5.0
            while not body.state.locked and body.clock.now_s() < t_end:
                body.step()
            body.af_on.release()
            body.shutter.press()
            body.run_for(0.2)
            body.shutter.release()
    finally:
        body.close()
    lens_d = camera.lens_position_d()
    summary: dict[str, object] = {
        "camera": camera_url,
        "profile": body.profile.name,
        "focus_mode": body.focus_mode,
        "af_state": body.state.value,
        "lens_d": lens_d,
        "shots": [
            {
                "index": s.index,
                "ok": s.ok,
                "failure": s.failure,
                "lag_s": s.lag_s,
                "lens_d": s.lens_d,
                "af_state": s.af_state,
                "in_focus": s.in_focus,
                "image": s.image_path,
                "record": s.record_path,
            }
            for s in body.shots
        ],
        "af_state_changes": changes,
        "frames": body.stats.frames,
        "simulated_s": round(body.clock.now_s(), 4),
    }
    nearest = getattr(camera, "nearest_slice", None)
    if callable(nearest):
        summary["slice"] = int(nearest(lens_d))
    out = Path(args.out)
    summary_path: Path | None = out / "summary.json"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    except OSError as exc:  # a full or read-only folder: the summary still goes to the terminal
        print(f"afon shoot: summary not written to {out}: {exc.strerror or exc}", file=sys.stderr)
        summary_path = None
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        ok = sum(1 for s in body.shots if s.ok)
        judged = [s for s in body.shots if s.in_focus is not None]
        keep = sum(1 for s in judged if s.in_focus)
        verdict = f"{keep} in focus" if judged else "no ground truth to judge focus"
        print(
            f"{camera_url}: {ok} shot(s), {len(body.shots) - ok} failure record(s), "
            f"{verdict}; AF {body.state.value}; lens at {lens_d:.3f} D"
            + (f" (slice {summary['slice']})" if "slice" in summary else "")
        )
        if summary_path is not None:
            print(f"summary: {summary_path}")
    return 0


# --- afon serve ----------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from afon.web.serve import ServeOptions, serve

    return serve(
        ServeOptions(
            camera=args.camera,
            profile=args.profile,
            preset=args.preset,
            host=args.host,
            port=args.port,
            token=args.token,
            out=args.out,
            keys=args.keys,
            keymap=args.keymap,
            seed=args.seed,
            still_width=args.still_width,
            trainer_db=args.trainer_db,
            inputs=args.inputs,
        )
    )


# --- afon bench ----------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from afon.bench.report import bench_main

    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {args.seeds}")

    return bench_main(
        quick=args.quick,
        seed=args.seed,
        as_json=args.json,
        out=args.out,
        jobs=args.jobs,
        scenarios=args.scenario,
        seeds=args.seeds,
        scheduler=args.scheduler,
    )


# --- afon run ------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from afon.cameras.url import open_camera
    from afon.clock import RealClock
    from afon.headless import HeadlessRunner, open_inputs
    from afon.inputs.keymap import InputMap, load_input_map, parse_inline
    from afon.paths import default_keymap_file

    default = default_keymap_file()
    keymap = args.keymap or (str(default) if default.is_file() else None)
    inputs = load_input_map(keymap) if keymap else InputMap()
    if args.inputs:
        inputs = inputs.merged(parse_inline(args.inputs))
    if not inputs.gpio and not inputs.evdev and not inputs.terminal:
        raise UsageError(
            "afon run needs buttons: --inputs gpio:af_on=17,shutter=27 (or evdev:..., or keys "
            "for the terminal's keys), or a --keymap file with a [gpio], [evdev] or [keys] "
            "section"
        )
    if args.duration_s is not None and args.duration_s <= 0:
        raise UsageError(f"--duration-s must be > 0, got {args.duration_s:g}")
    # live buttons need live time, for the simulated camera too
    camera = open_camera(args.camera, clock=RealClock(), preset=args.preset, seed=args.seed)
    try:
        say = (lambda _text: None) if args.json else print
        hub = open_inputs(inputs, now_s=camera.clock.now_s, emit=say)
    except BaseException:
        camera.close()
        raise
    bound = ", ".join(
        [f"{a}=GPIO{p}" for a, p in inputs.gpio.items()]
        + [f"{a}={k}" for a, k in inputs.evdev.items()]
        + (["terminal keys"] if inputs.terminal else [])
    )

    def ndjson(event: dict[str, Any]) -> None:
        print(json.dumps(event, default=str), flush=True)

    try:
        if args.json:
            runner = HeadlessRunner(
                camera,
                hub,
                args.profile,
                out=args.out,
                emit=lambda _line: None,
                on_event=ndjson,
                af=args.af,
            )
            ndjson(
                {
                    "event": "start",
                    "camera": args.camera,
                    "profile": runner.body.profile.name,
                    "gpio": inputs.gpio,
                    "evdev": inputs.evdev,
                    "keys": inputs.terminal,
                }
            )
        else:
            runner = HeadlessRunner(camera, hub, args.profile, out=args.out, emit=print, af=args.af)
            print(
                f"afon run: {args.camera}, profile {runner.body.profile.name}; {bound}; Ctrl-C ends"
            )
    except BaseException:
        hub.close()
        camera.close()
        raise
    sys.stdout.flush()
    result = runner.run(duration_s=args.duration_s)
    shots = runner.body.shots
    ok = sum(1 for s in shots if s.ok)
    if args.json:
        ndjson(
            {
                "event": "end",
                "interrupted": result.interrupted,
                "shots": ok,
                "failures": len(shots) - ok,
                "frames": result.steps,
                "out": args.out,
            }
        )
        return 0
    print(
        f"{'interrupted; ' if result.interrupted else ''}{ok} shot(s), "
        f"{len(shots) - ok} failure record(s) kept in {args.out}; {result.steps} frames"
    )
    return 0


# --- afon inputs ---------------------------------------------------------------------------
def cmd_inputs(args: argparse.Namespace) -> int:
    from afon.inputs.gpio import gpio_available

    rows: list[dict[str, Any]] = []
    evdev_note = ""
    try:
        from afon.inputs.evdev_input import describe_devices

        rows = [vars(info) for info in describe_devices()]
    except AfonError as exc:
        evdev_note = str(exc)
    gpio_ok, gpio_note = gpio_available()
    if args.json:
        print(
            json.dumps(
                {"evdev": rows, "evdev_note": evdev_note, "gpio": gpio_ok, "gpio_note": gpio_note}
            )
        )
        return 0
    print("input devices (evdev):")
    if evdev_note:
        print(f"  {evdev_note}")
    elif not rows:
        print(
            "  none readable: no input devices, or this user is not in the 'input' group "
            "(sudo usermod -aG input $USER, then log in again)"
        )
    for row in rows:
        kind = f"{row['keys']} keys" if row["keys"] else "no keys"
        print(f"  {row['path']}  {row['name']!r}  ({kind}; {row['phys'] or 'no phys'})")
    if rows:
        print(
            "  choose one by name: --inputs evdev:af_on=KEY_A,shutter=KEY_B,device=NAME "
            "(grabbed: its keys then reach only afon; grab=no shares it)"
        )
    print(f"GPIO: {'available (' + gpio_note + ')' if gpio_ok else gpio_note}")
    print("terminal keys: --inputs keys")
    return 0


# --- afon focus ----------------------------------------------------------------------------
def _boot_files(camera: str, folder: str) -> int:
    """Write the udev rule and systemd unit that run ``afon focus --apply`` on plug and boot."""
    import getpass
    import shutil

    from afon.cameras.focus_lock import lock_dir
    from afon.cameras.v4l2 import service_name, systemd_unit, udev_rule

    scheme, _, device = camera.partition(":")
    if scheme != "v4l2" or not device.strip():
        raise UsageError(f"--boot-files needs a v4l2:/dev/v4l/by-id/... camera (got {camera!r})")
    device = device.strip()
    if not device.startswith("/dev/v4l/by-id/"):
        raise UsageError(
            f"--boot-files: {device} changes its name between boots and re-plugging; give the "
            "persistent name from `ls /dev/v4l/by-id/` (e.g. v4l2:/dev/v4l/by-id/usb-046d_HD_"
            "Pro_Webcam_C920_XXXX-video-index0)"
        )
    exe = shutil.which("afon") or f"{sys.executable} -m afon.cli"
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    unit = service_name(device)
    rule_path = out / "99-afon-focus.rules"
    unit_path = out / unit
    rule_path.write_text(udev_rule(device))
    unit_path.write_text(systemd_unit(device, exe, getpass.getuser(), str(lock_dir().parent)))
    print(f"wrote {rule_path} and {unit_path}; install them with:")
    print(f"  sudo cp {rule_path} /etc/udev/rules.d/ && sudo udevadm control --reload")
    print(f"  sudo cp {unit_path} /etc/systemd/system/ && sudo systemctl daemon-reload")
    print(f"  sudo systemctl enable {unit}   # at boot too, after the streamer")
    return 0


def cmd_focus(args: argparse.Namespace) -> int:
    from afon.focus_once import apply_saved_lock, run_focus

    if args.boot_files:
        return _boot_files(args.camera, args.boot_files)
    if args.apply:
        result = apply_saved_lock(args.camera)
    else:
        result = run_focus(
            args.camera,
            lock=args.lock,
            clear=args.clear,
            timeout_s=args.timeout_s,
            preset=args.preset,
            seed=args.seed,
            af=args.af,
        )
    if args.json:
        print(json.dumps(result.as_dict(), default=str))
    else:
        print(result.describe())
    if args.apply and not result.verified:
        return 1  # no saved lock, or the camera did not take it: a boot unit shows "failed"
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="afon",
        description="Back-button focus for any camera: a BBF camera body, an autofocus engine "
        "and a physically based simulated camera.",
    )
    parser.add_argument("--version", action="version", version=f"afon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="render a focus pull through a built-in scene to image files")
    p.add_argument("--scene", default="portrait", help="built-in scene name or scene TOML file")
    p.add_argument(
        "--preset", default="50mm-f1.8", help="camera preset name or TOML file (default 50mm-f1.8)"
    )
    p.add_argument("--frames", type=int, default=9, help="number of focus stops (default 9)")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("scenes", help="list the built-in scenes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("presets", help="list the built-in camera presets")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("render", help="render one frame of a scene at a lens position")
    p.add_argument("--scene", required=True, help="built-in scene name or scene TOML file")
    p.add_argument("--focus-d", type=float, required=True, help="lens position in dioptres")
    p.add_argument("--out", required=True, help="output image file (.png or .jpg)")
    p.add_argument("--preset", default="cm3", help="camera preset name or TOML file")
    p.add_argument("--t-s", type=float, default=0.0, help="scene time in seconds (default 0)")
    p.add_argument("--still", action="store_true", help="full-resolution still instead of preview")
    p.add_argument("--width", type=int, default=640, help="preview width (default 640)")
    p.add_argument("--height", type=int, default=480, help="preview height (default 480)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser(
        "shoot",
        help="run a body on the virtual clock: a scripted sequence, or one AF-S + shot",
        description="Run a camera body on the virtual clock. With --script, replay its timed "
        "control events; without, run AF-S on a centre window, take one shot and report the "
        "lens position it ended on (for a stack: the slice index).",
    )
    p.add_argument(
        "--camera",
        help="camera URL: sim:SCENE, stack:PATH, picamera2:N, v4l2:DEV, gphoto2:[PORT] "
        "(default sim:SCENE from --scene)",
    )
    p.add_argument("--scene", help="built-in scene or scene TOML (for the simulated camera)")
    p.add_argument("--profile", default="bbf", help="profile name or TOML file (default bbf)")
    p.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"camera preset for sim: (default {DEFAULT_PRESET}, shallow enough that where the "
        "focus is matters)",
    )
    p.add_argument("--script", help="TOML file of timed control events")
    p.add_argument(
        "--af-point", default="0.5,0.5", help="AF point X,Y in 0..1 of the frame (default centre)"
    )
    p.add_argument(
        "--af-area",
        choices=("single", "zone", "tracking"),
        help="AF area (default: the profile's with --script, else zone: libcamera's window)",
    )
    p.add_argument("--out", default="out/shots", help="folder for shots and summary.json")
    p.add_argument("--no-images", action="store_true", help="records only, no JPEGs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_shoot)

    p = sub.add_parser(
        "serve",
        help="live viewfinder and phone remote in the browser",
        description="Start the camera body with a live viewfinder and remote in the browser "
        "(WebSocket live view, keyboard and touch controls, settings, gallery). By default it "
        "listens on 127.0.0.1 only and needs no token. Any other --host (such as 0.0.0.0 for a "
        "phone on the same network) requires a pairing token: one is generated unless --token "
        "is given, and afon prints the URL with the token and a QR code. --token on loopback "
        "requires it there too.",
    )
    p.add_argument(
        "--camera",
        default="sim:portrait",
        help="camera URL: sim:SCENE, stack:PATH, picamera2:N, v4l2:DEV, gphoto2:[PORT] "
        "(default sim:portrait)",
    )
    p.add_argument("--profile", default="bbf", help="profile name or TOML file (default bbf)")
    p.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"camera preset for sim: (default {DEFAULT_PRESET}, shallow enough that where the "
        "focus is matters)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only, no token)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--token", help="pairing token (default: generated when --host is not loopback)")
    p.add_argument("--out", default="out/serve", help="folder for the shots (default out/serve)")
    p.add_argument("--keys", help="key map file (JSON or TOML): action = key codes")
    p.add_argument(
        "--keymap",
        help="input key-map TOML file (as for afon run); its [keyboard] section gives the "
        "browser's keys (instead of --keys; default: keymap.toml in the user config folder, "
        "~/.config/afon on Linux, when it exists)",
    )
    p.add_argument(
        "--still-width",
        default="960",
        help="width of simulated stills in pixels, or 'full' for the sensor's "
        "resolution (slow: seconds per shot); default 960",
    )
    p.add_argument(
        "--trainer-db",
        default=None,
        help="trainer history (SQLite; default trainer.sqlite in the user data folder, "
        "~/.local/share/afon on Linux)",
    )
    p.add_argument(
        "--inputs",
        help="physical inputs as for afon run: gpio:af_on=17,shutter=27 buttons, "
        "encoder:a=5,b=6[,step_d=0.02][,button=13] (the focus ring; turning it magnifies, its "
        "button cycles the magnifier) and evdev:...; over the key map's [gpio], [encoder], "
        "[evdev] sections",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "bench",
        help="benchmark: what back-button focus buys (keeper rate, lag, misses)",
        description="Run the benchmark scenarios with every technique (shutter-button and "
        "back-button AF-S / AF-C) and strategy (clairvoyant and causal limits, libcamera's AF, "
        "afon's AF) over "
        "many seeds, print a table and write a Markdown report with plots.",
    )
    p.add_argument(
        "--quick", action="store_true", help="a small run: 2 seeds, scenarios cut after 3 moments"
    )
    p.add_argument("--seed", type=int, default=0, help="first seed (same seed, same results)")
    p.add_argument(
        "--seeds",
        type=int,
        help="seeds (trials) per row (default 6, with --quick 2); a row's 95%% interval "
        "narrows as about 1/sqrt(seeds): 20 seeds make it about 1.8x narrower than 6 and take "
        "3.3x as long",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--out", default="out/bench", help="report folder (default out/bench)")
    p.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    p.add_argument(
        "--scenario", nargs="+", metavar="NAME", help="scenarios to run (default: all built-in)"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the trials on a Dask cluster (tcp://HOST:PORT) instead of local processes",
    )
    p.set_defaults(func=cmd_bench)
    from afon.tune.command import add_parser as add_tune_parser

    add_tune_parser(sub)
    p = sub.add_parser(
        "run",
        help="run a body without a screen, driven by GPIO buttons, an input device or keys",
        description="Run the camera body headless (for a Pi camera build with two buttons): "
        "AF state changes and shots are printed one per line; Ctrl-C ends the run, keeping "
        "every shot. Buttons come from --inputs (gpio:af_on=17,shutter=27 with BCM pins, "
        "buttons to ground; evdev:af_on=KEY_A,shutter=KEY_B[,device=NAME-OR-PATH][,grab=no], "
        "see afon inputs; or keys: the terminal, a toggles AF-ON and space shoots, to try it "
        "without hardware, e.g. afon run --camera sim:portrait --inputs keys) and/or a "
        "--keymap TOML file.",
    )
    p.add_argument("--camera", default="picamera2:0", help="camera URL (default picamera2:0)")
    p.add_argument("--inputs", help="inline bindings, e.g. gpio:af_on=17,shutter=27")
    p.add_argument(
        "--keymap",
        help="key-map TOML file ([gpio], [evdev], [keyboard], limits; default: keymap.toml in "
        "the user config folder, ~/.config/afon on Linux, when it exists)",
    )
    p.add_argument("--profile", default="bbf", help="profile name or TOML file (default bbf)")
    p.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"camera preset for sim: (default {DEFAULT_PRESET}, shallow enough that where the "
        "focus is matters)",
    )
    p.add_argument("--out", default="out/run", help="folder for the shots (default out/run)")
    p.add_argument("--duration-s", type=float, help="stop after this many seconds (default: run)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print events as NDJSON, one object a line: start, af_state, shot, notice, end",
    )
    p.add_argument(
        "--af",
        choices=("auto", "camera", "afon"),
        help="who focuses: the camera's own AF or afon's engine (default: the profile's af, "
        "auto = the camera's on PDAF sensors and bodies afon cannot drive)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser(
        "inputs",
        help="list input devices (evdev) and say whether GPIO is available",
        description="List the Linux input devices afon can read (path, name, number of keys) "
        "to choose one for afon run by name, and say whether this machine has GPIO.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_inputs)
    p = sub.add_parser(
        "focus",
        help="focus once (one AF-S), optionally lock the focus there",
        description="Run one AF-S on the camera: afon's own AF where it can drive the lens "
        "(v4l2 absolute focus, sim:, stack:), else the camera's own AF. --lock then locks the "
        "lens there; a v4l2: webcam saves the lock and re-applies it on every open and "
        "reconnect (for timelapse and 3D-printer cameras). --clear forgets a saved lock.",
    )
    p.add_argument("--camera", required=True, help="camera URL, e.g. v4l2:/dev/video0")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--lock", action="store_true", help="lock (and save) the focus after AF")
    group.add_argument("--clear", action="store_true", help="remove a saved focus lock, no AF")
    group.add_argument(
        "--apply",
        action="store_true",
        help="v4l2: re-apply the saved lock without streaming, then exit (for a webcam another "
        "program streams from; exit status 1 when there is none or the camera ignored it)",
    )
    group.add_argument(
        "--boot-files",
        metavar="DIR",
        help="v4l2: write a udev rule and a systemd unit to DIR that run --apply whenever the "
        "webcam is plugged in and at boot (then copy them as printed)",
    )
    p.add_argument(
        "--af",
        choices=("auto", "camera", "afon"),
        default="auto",
        help="who focuses: the camera's own AF or afon's engine (default auto: the camera's on "
        "PDAF sensors and bodies afon cannot drive, afon's elsewhere)",
    )
    p.add_argument(
        "--timeout-s", type=float, default=10.0, help="longest AF run in seconds (default 10)"
    )
    p.add_argument("--preset", default="cm3", help="camera preset for sim: (default cm3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_focus)
    return _finish(parser)


def _finish(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Every command's help: --seed explained, camera URL forms where --camera is taken, and
    the exit status."""
    commands: list[argparse.ArgumentParser] = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands += list(dict.fromkeys(action.choices.values()))
    for command in commands:
        command.formatter_class = _Formatter
        dests = {a.dest for a in command._actions}
        for action in command._actions:
            if action.dest == "seed" and not action.help:
                action.help = SEED_HELP
        epilog = [URL_FORMS] if "camera" in dests else []
        command.epilog = "\n\n".join([*epilog, EXIT_CODES])
    return parser


SEED_HELP = (
    "random seed of the simulation (sensor noise, textures): the same seed gives the same "
    "frames (default 0)"
)


class _Formatter(argparse.HelpFormatter):
    """Descriptions filled as usual; the epilog's lists kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def exit_code(exc: BaseException) -> int:
    """2 for usage errors (bad options or files, requests the camera cannot honour), 1 else."""
    if isinstance(exc, UsageError | ConfigError):
        return EXIT_USAGE
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error of its own
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe is found here, inside the handlers below
        return code
    except AfonError as exc:
        print(f"afon: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("afon: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`afon scenes --json | head`): not an error of afon's; stdout
        # is pointed at /dev/null so the interpreter's final flush does not raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
