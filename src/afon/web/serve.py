"""`afon serve`: build the camera, body and web app, listen, and print where to find it."""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from afon.errors import AfonError, UsageError
from afon.web.connections import LimitedH11Protocol
from afon.web.runner import HOLD_LEASE_S, BodyRunner
from afon.web.security import Security, is_loopback
from afon.web.stills import limit_stills

if TYPE_CHECKING:
    from afon.inputs import InputHub
    from afon.inputs.keymap import InputMap
    from afon.web.keys import KeyMap

WS_MAX_BYTES = 64 * 1024
"""Larger WebSocket messages close the connection (1009); 4 KiB–64 KiB get an error reply."""


@dataclass
class ServeOptions:
    camera: str = "sim:portrait"
    profile: str = "bbf"
    preset: str = "50mm-f1.8"
    """The one default preset (as `afon shoot`, `afon run`, scripts/demo.sh): at f/1.8 where the
    focus is shows in every shot, so what BBF buys can be seen (cm3's depth of field hides it)."""
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    out: str = "out/serve"
    keys: str | None = None
    keymap: str | None = None
    """An input key-map TOML file (`afon.inputs.keymap`); its [keyboard] section is the key map."""
    seed: int = 0
    still_width: str = "960"
    """Simulated stills this many pixels wide (the sensor's aspect), or "full"."""
    lease_s: float = HOLD_LEASE_S
    trainer_db: str | None = None
    """The trainer's history (SQLite); None: `afon.paths.trainer_db()`
    (``~/.local/share/afon/trainer.sqlite`` on Linux)."""
    inputs: str | None = None
    """Inline physical inputs, as for `afon run` (``gpio:af_on=17;encoder:a=5,b=6,button=13``),
    over the key map's [gpio], [encoder] and [evdev] sections."""
    pin_factory: Any = None
    """gpiozero pin factory for the GPIO inputs (tests: `MockFactory`); None: gpiozero's own."""


def physical_inputs(keymap: str | None = None, inline: str | None = None) -> InputMap | None:
    """The GPIO, encoder and evdev bindings `afon serve` opens: a `--keymap` file's (else the
    user's default key map's) sections, with `--inputs` over them; None when there are none.
    The terminal's keys are `afon run`'s: the server's terminal shows its log."""
    from afon.inputs.keymap import InputMap, load_input_map, parse_inline
    from afon.paths import default_keymap_file

    if keymap is None and default_keymap_file().is_file():
        keymap = str(default_keymap_file())
    found = load_input_map(keymap) if keymap else InputMap()
    if inline:
        given = parse_inline(inline)
        if given.terminal:
            raise UsageError(
                "--inputs keys: the terminal's keys are for afon run; afon serve takes "
                "gpio:, encoder: and evdev: inputs (the page has the keyboard)"
            )
        found = found.merged(given)
    found.terminal = {}
    if not found.gpio and found.encoder is None and not found.evdev:
        return None
    return found


def browser_keymap(keys: str | None = None, keymap: str | None = None) -> KeyMap:
    """The browser key bindings: from a `--keys` file, the `[keyboard]` section of a `--keymap`
    input key-map file (over the defaults; a file without the section gives the defaults), else
    the `[keyboard]` section of the user's default key map (`afon.paths.default_keymap_file`)
    when there is one, else the defaults."""
    from afon.inputs.keymap import load_input_map, load_keyboard_map
    from afon.paths import default_keymap_file
    from afon.web.keys import default_keymap

    if keys and keymap:
        raise UsageError("give --keys or --keymap, not both (both set the browser's keys)")
    if not keys and not keymap and default_keymap_file().is_file():
        keymap = str(default_keymap_file())
    if keys:
        return load_keyboard_map(keys)
    if keymap:
        keyboard = load_input_map(keymap).keyboard
        return keyboard if keyboard else default_keymap()
    return default_keymap()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # listen at once: a browser opening the printed URL before uvicorn has started is
        # queued in the backlog instead of refused
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise AfonError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, as far as its host name resolves."""
    found: list[str] = []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return found
    for info in infos:
        addr = str(info[4][0])
        if not is_loopback(addr) and addr not in found:
            found.append(addr)
    return found


def qr_text(data: str) -> str:
    """`data` as a QR code drawn with block characters, for a terminal."""
    import qrcode

    qr = qrcode.QRCode(border=2)
    qr.add_data(data)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


class LiveServer:
    """The camera, its body loop and the web server for one `afon serve`."""

    def __init__(self, options: ServeOptions) -> None:
        import uvicorn

        from afon.body import Body
        from afon.cameras.url import open_camera
        from afon.clock import PacedClock
        from afon.paths import trainer_db
        from afon.profile import builtin_profile_names
        from afon.web.server import create_app
        from afon.web.trainer import Trainer, TrainerStore

        self.options = options
        self.security = Security.for_host(options.host, options.token)
        keymap = browser_keymap(options.keys, options.keymap)
        self.trainer_store = TrainerStore(options.trainer_db or trainer_db())
        profiles = builtin_profile_names()
        if options.profile not in profiles:
            profiles.append(options.profile)
        camera = open_camera(
            options.camera, clock=PacedClock(), preset=options.preset, seed=options.seed
        )
        try:
            limit_stills(camera, options.still_width)
            body = Body(
                camera,
                options.profile,
                shots_dir=options.out,
                judge=getattr(camera, "judge_still", None),  # a simulation's truth, shown
            )
        except BaseException:
            camera.close()
            raise
        self.input_lines: list[str] = []
        self.inputs: InputHub | None = None
        try:
            wanted = physical_inputs(options.keymap, options.inputs)
            if wanted is not None:
                from afon.headless import open_inputs

                self.inputs = open_inputs(
                    wanted,
                    pin_factory=options.pin_factory,
                    now_s=camera.clock.now_s,
                    emit=self.input_lines.append,
                )
                self.input_lines.extend(f"GPIO{p}: {a}" for a, p in wanted.gpio.items())
        except BaseException:
            body.close()
            raise
        self.runner = BodyRunner(
            body,
            camera_name=options.camera,
            profiles=profiles,
            lease_s=options.lease_s,
            inputs=self.inputs,
        )
        self.trainer = Trainer(self.runner, self.trainer_store, options.still_width)
        self.app = create_app(self.runner, self.security, keymap, self.trainer)
        self.socket = _bind(options.host, options.port)
        self.port = int(self.socket.getsockname()[1])
        self.config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,  # URLs carry the token
            lifespan="on",
            ws_max_size=WS_MAX_BYTES,
            ws_per_message_deflate=False,  # JPEGs do not compress; deflate only costs CPU
            timeout_graceful_shutdown=2,
            http=LimitedH11Protocol,  # connection caps and a first-request deadline
        )
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    # --- addresses -------------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        return self.security.token

    def _url(self, host: str) -> str:
        name = f"[{host}]" if ":" in host else host
        frag = f"#token={self.token}" if self.token else ""
        return f"http://{name}:{self.port}/{frag}"

    @property
    def local_url(self) -> str:
        """The URL for a browser on this machine."""
        host = self.options.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return self._url(host)

    @property
    def base_url(self) -> str:
        """`local_url` without the token fragment."""
        return self.local_url.split("#", 1)[0].rstrip("/")

    def remote_urls(self) -> list[str]:
        """URLs for other devices: none when bound to loopback."""
        host = self.options.host
        if is_loopback(host):
            return []
        if host in ("0.0.0.0", "::", ""):
            return [self._url(a) for a in lan_addresses()] or [self._url(socket.gethostname())]
        return [self._url(host)]

    def banner(self, qr: bool = True) -> str:
        o = self.options
        lines = [
            f"afon serve: {o.camera}, profile {o.profile}; shots in {o.out}/",
            f"  viewfinder on this computer: {self.local_url}",
        ]
        remote = self.remote_urls()
        for url in remote:
            lines.append(f"  on your phone (same network): {url}")
        if remote and not lan_addresses() and self.options.host in ("0.0.0.0", "::", ""):
            lines.append(
                f"  (no network address found for {socket.gethostname()!r}: "
                "put this computer's address in its place)"
            )
        if self.token is not None:
            lines.append(
                "  pairing token required: anyone with this URL can use the camera; keep it private"
            )
        if remote and qr:
            lines.append("  scan to open on your phone:")
            lines.append(qr_text(remote[0]).rstrip("\n"))
        lines.extend(f"  inputs: {line}" for line in self.input_lines)
        lines.append(
            "  hold A for AF-ON, S AF-OFF, F half-press, G shutter, arrows move the AF point "
            "(keys configurable on the page); Ctrl-C stops"
        )
        return "\n".join(lines)

    # --- running ---------------------------------------------------------------------------
    def run(self) -> None:
        """Serve in the foreground until interrupted."""
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.runner.stop()
            if self.inputs is not None:
                self.inputs.close()
            self.socket.close()
            self.trainer_store.close()

    def start_background(self, timeout_s: float = 15.0) -> LiveServer:
        """Serve from a thread (tests, benchmarks); returns once the server accepts requests."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise AfonError("the web server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)
        self.runner.stop()
        if self.inputs is not None:
            self.inputs.close()
        self.socket.close()
        self.trainer_store.close()

    def __enter__(self) -> LiveServer:
        return self.start_background()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(options: ServeOptions, out: TextIO | None = None) -> int:
    """Run `afon serve` in the foreground."""
    logging.basicConfig(level=logging.WARNING, format="afon serve: %(message)s")
    server = LiveServer(options)
    stream = out if out is not None else sys.stdout
    print(server.banner(), file=stream, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        server.run()
    return 0
