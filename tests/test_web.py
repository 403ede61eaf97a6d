"""`afon serve` without a browser: key maps, messages, security rules, the HTTP API and the
WebSocket against a real uvicorn on an ephemeral 127.0.0.1 port (the body on the real clock;
tests wait on conditions with a timeout, never on fixed sleeps)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from afon.cli import build_parser
from afon.controls import Control
from afon.errors import ConfigError
from afon.inputs.keymap import load_keyboard_map as load_keymap
from afon.web.keys import DEFAULT_KEYS, default_keymap, parse_keymap
from afon.web.protocol import (
    MAX_MESSAGE_BYTES,
    ControlMessage,
    ProtocolError,
    SettingsMessage,
    parse_control,
    parse_message,
    parse_settings,
)
from afon.web.security import URL_TOKEN_REFUSED, Security, is_loopback, split_host
from afon.web.serve import LiveServer, ServeOptions
from waiting import TIMEOUT_S, wait_for


# --- key maps --------------------------------------------------------------------------------
def test_default_keymap_binds_every_control_once() -> None:
    keys = default_keymap()
    assert keys["AF_ON"] == ["KeyA"] and keys["SHUTTER"] == ["KeyG"]
    assert keys["AF_POINT_LEFT"] == ["ArrowLeft"]
    codes = [c for v in keys.values() for c in v]
    assert len(codes) == len(set(codes))
    assert parse_keymap({}) == keys


def test_keymap_overrides_and_errors_name_the_field(tmp_path: Path) -> None:
    keys = parse_keymap({"af-on": ["Space", "KeyA"], "SHUTTER": "Enter"})
    assert keys["AF_ON"] == ["Space", "KeyA"] and keys["SHUTTER"] == ["Enter"]
    assert keys["AF_OFF"] == list(DEFAULT_KEYS["AF_OFF"])
    cases: list[tuple[Any, str, str]] = [
        ({"AF_ONN": "KeyQ"}, "AF_ONN", "unknown action"),
        ({"AF_ON": ["KeyQ", "Key Q"]}, "AF_ON[1]", "KeyboardEvent.code"),
        ({"AF_ON": 3}, "AF_ON", "expected a key name"),
        ({"AF_OFF": "KeyA"}, "AF_OFF", "already bound to AF_ON"),
        ([1, 2], "", "expected a table"),
    ]
    for data, field, problem in cases:
        with pytest.raises(ConfigError) as err:
            parse_keymap(data, "keys.json")
        assert err.value.field == field, data
        assert problem in str(err.value) and "keys.json" in str(err.value)
    toml = tmp_path / "keys.toml"
    toml.write_text('AF_ON = ["Space"]\nSHUTTER_HALF = "KeyJ"\n')
    assert load_keymap(toml)["AF_ON"] == ["Space"]
    bad = tmp_path / "keys.json"
    bad.write_text('{"AF_ON": ["KeyA",]}')
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_keymap(bad)


# --- messages --------------------------------------------------------------------------------
def test_messages_are_validated_with_the_field_named() -> None:
    msg = parse_message('{"type": "control", "control": "shutter", "action": "press", "t_ms": 5}')
    assert isinstance(msg, ControlMessage)
    assert msg.controls == (Control.SHUTTER_HALF, Control.SHUTTER_FULL) and msg.pressed
    s = parse_message('{"type": "settings", "focus_mode": "AF-S", "af_point": [0.3, 0.5]}')
    assert isinstance(s, SettingsMessage) and s.changes["af_point"] == (0.3, 0.5)
    bad = {
        "nonsense": "",
        "[1, 2]": "",
        '{"control": "AF_ON"}': "type",
        '{"type": "dance"}': "type",
        '{"type": "control", "control": "AF_IN", "action": "press"}': "control",
        '{"type": "control", "control": "AF_ON", "action": "hold"}': "action",
        '{"type": "control", "control": "AF_ON", "action": "press", "t_ms": "now"}': "t_ms",
        '{"type": "control", "control": "AF_ON", "action": "press", "x": 1}': "x",
        '{"type": "settings", "drive": "burst"}': "drive",
        '{"type": "settings", "af_point": [2, 0]}': "af_point",
        '{"type": "settings", "burst_fps": 1000}': "burst_fps",
        '{"type": "settings"}': "",
    }
    for text, field in bad.items():
        with pytest.raises(ProtocolError) as err:
            parse_message(text)
        assert err.value.field == field, text
        assert err.value.reply()["type"] == "error"
    with pytest.raises(ProtocolError, match="too large"):
        parse_message(json.dumps({"type": "ping", "pad": "x" * MAX_MESSAGE_BYTES}))
    assert parse_control({"control": "AF_OFF", "action": "release"}).pressed is False
    with pytest.raises(ProtocolError):
        parse_settings({"profile": 7})


# --- security rules --------------------------------------------------------------------------
def test_security_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert split_host("[::1]:8000") == ("::1", 8000)
    assert split_host("Example.org", 80) == ("example.org", 80)
    assert Security.for_host("127.0.0.1").token is None
    remote = Security.for_host("0.0.0.0")
    assert remote.token is not None and len(remote.token) >= 16
    assert Security.for_host("0.0.0.0", "mine-and-only-mine").token == "mine-and-only-mine"
    assert Security.for_host("127.0.0.1", "mine-and-only-mine").token == "mine-and-only-mine"

    local = Security()
    ok = {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"}
    assert local.check(ok, "") is None
    assert local.check({"host": "localhost:8000"}, "") is None
    assert local.check({"host": "attacker.example:8000"}, "") == (
        403,
        "host 'attacker.example:8000' not allowed: this server is for loopback clients",
    )
    assert local.check(ok | {"origin": "http://evil.example"}, "")[0] == 403
    assert local.check(ok | {"origin": "null"}, "")[0] == 403

    paired = Security("s3cret-pairing")
    lan = {"host": "192.168.1.4:8000", "origin": "http://192.168.1.4:8000"}
    assert paired.check(lan, "")[0] == 401
    # a token in the URL is refused, right or wrong (it would end up in logs and history)
    for query in ("token=wrong", "token=s3cret-pairing", "a=1&token="):
        assert paired.check(lan, query) == (401, URL_TOKEN_REFUSED)
    assert local.check(ok, "token=s3cret-pairing") == (401, URL_TOKEN_REFUSED)
    bearer = {"authorization": "Bearer s3cret-pairing"}
    assert paired.check(lan | bearer, "") is None
    assert paired.check(lan | {"authorization": "Bearer wrong"}, "")[0] == 401
    foreign = lan | {"origin": "http://192.168.1.4:9999"}
    assert paired.check(foreign | bearer, "")[0] == 403


def test_serve_help_says_loopback_needs_no_token() -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    serve = action.choices["serve"]
    text = " ".join(serve.format_help().split())
    assert "127.0.0.1 only and needs no token" in text
    assert "--token" in text and "--keys" in text and "QR code" in text


# --- a live server ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    out = tmp_path_factory.mktemp("serve")
    options = ServeOptions(port=0, preset="50mm-f1.8", out=str(out), lease_s=1.0)
    with LiveServer(options) as live:
        yield live


@pytest.fixture()
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT_S, trust_env=False) as client:
        yield client


def state(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/api/state")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def control(client: httpx.Client, name: str, action: str) -> dict[str, Any]:
    r = client.post("/api/control", json={"control": name, "action": action})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def settle(client: httpx.Client) -> None:
    """Back to a known state: nothing held, bbf profile, AF point in the centre."""
    r = client.post("/api/settings", json={"profile": "bbf", "af_point": [0.5, 0.5]})
    assert r.status_code == 200, r.text
    wait_for(lambda: not state(client)["held"], what="no control held")


def test_page_and_state(http: httpx.Client) -> None:
    r = http.get("/")
    assert r.status_code == 200 and "afon viewfinder" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert http.get("/static/app.js").status_code == 200
    s = wait_for(lambda: (st := state(http))["frame"] is not None and st, what="a frame")
    # the live view has the stills' aspect (the 50 mm preset's sensor is 6000 × 4000, 3:2)
    assert s["frame_size"] == [640, 427]
    assert s["af_state"] in ("INACTIVE", "FOCUSED_LOCKED", "NOT_FOCUSED_LOCKED")
    info = http.get("/api/info").json()
    assert "bbf" in info["profiles"] and info["token_required"] is False
    assert info["keys"]["AF_ON"] == ["KeyA"]


def _held_until_focused(http: httpx.Client, lease_s: float) -> Any:
    """A predicate for `wait_for`: AF-C focused, the AF-ON press renewed as a client holding
    the button does (a held HTTP press lasts lease_s; a loaded machine can take longer than one
    lease to focus)."""
    pressed = [time.monotonic()]

    def focused() -> bool:
        if time.monotonic() - pressed[0] > 0.4 * lease_s:
            control(http, "AF_ON", "press")
            pressed[0] = time.monotonic()
        return bool(state(http)["af_state"] == "PASSIVE_FOCUSED")

    return focused


def test_bbf_over_http_focus_lock_recompose_shoot(http: httpx.Client) -> None:
    settle(http)
    before = len(http.get("/api/shots").json()["shots"])
    # AF point on the face (x = 0.3), AF-ON held until the servo reports focus
    assert http.post("/api/settings", json={"af_point": [0.3, 0.5]}).status_code == 200
    for _attempt in range(3):
        ack = control(http, "AF_ON", "press")
        assert ack["applied"] == ["AF_ON"] and "AF_ON" in ack["held"]
        wait_for(_held_until_focused(http, float(ack["lease_s"])), what="AF-C focused")
        control(http, "AF_ON", "release")
        s = state(http)
        # let go during a re-scan, the body locks NOT_FOCUSED (Camera2); a photographer re-presses
        if s["af_state"] == "FOCUSED_LOCKED":
            break
    assert s["af_state"] == "FOCUSED_LOCKED" and s["focused"], s
    s = wait_for(lambda: not (st := state(http))["lens_moving"] and st, what="the lens to stop")
    locked_d = s["lens_d"]
    # recompose: the AF point moves back to the centre (the background); the lens stays
    for _ in range(4):
        control(http, "AF_POINT_RIGHT", "press")
        control(http, "AF_POINT_RIGHT", "release")
    s = state(http)
    assert s["af_window"][0] == pytest.approx(0.5, abs=1e-6)
    assert s["lens_d"] == pytest.approx(locked_d, abs=1e-6)
    control(http, "SHUTTER", "press")
    wait_for(lambda: len(http.get("/api/shots").json()["shots"]) >= before + 2, what="a burst")
    control(http, "SHUTTER", "release")
    shots = http.get("/api/shots").json()["shots"][before:]
    assert shots and all(s["ok"] and s["in_focus"] is True for s in shots)
    assert (
        shots[0]["settings"]["profile"] == "bbf" and shots[0]["settings"]["drive"] == "continuous"
    )
    image = http.get(shots[0]["image"])
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    thumb = http.get(shots[0]["thumb"])
    assert thumb.status_code == 200 and len(thumb.content) < len(image.content)
    assert http.get("/api/shots/9999/image").status_code == 404


def test_settings_and_their_errors(http: httpx.Client) -> None:
    settle(http)
    r = http.post(
        "/api/settings", json={"focus_mode": "AF-S", "drive": "single", "af_area": "zone"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["focus_mode"], r.json()["drive"], r.json()["af_area"]) == (
        "AF-S",
        "single",
        "zone",
    )
    r = http.post("/api/settings", json={"profile": "sony"})
    assert r.json()["profile"] == "sony" and r.json()["af_area"] == "tracking"
    bad = [
        ({"focus_mode": "AF-X"}, 400, "focus_mode"),
        ({"profile": "/etc/passwd"}, 400, ""),
        ({"colour": "red"}, 400, "colour"),
    ]
    for body, status, field in bad:
        r = http.post("/api/settings", json=body)
        assert r.status_code == status, body
        assert r.json()["field"] == field and r.json()["error"]
    r = http.post(
        "/api/settings", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = http.post("/api/control", content=b"x" * (MAX_MESSAGE_BYTES + 1))
    assert r.status_code == 413
    r = http.post("/api/control", json={"control": "AF_ON", "action": "smash"})
    assert r.status_code == 400 and r.json()["field"] == "action"
    settle(http)
    assert state(http)["profile"] == "bbf"


def test_magnify_streams_the_sensor_region_around_the_af_point(
    server: LiveServer, http: httpx.Client
) -> None:
    """5×/10×: the frames the viewer gets are the region read at the sensor's resolution
    (10× on the 50 mm preset: 600 × 400 sensor pixels, 1:1), the state says where it is."""
    import io

    from PIL import Image as PILImage

    settle(http)
    assert http.post("/api/settings", json={"magnify": 3}).status_code == 400
    try:
        r = http.post("/api/settings", json={"magnify": 10, "af_point": [0.3, 0.6]})
        assert r.status_code == 200, r.text
        with open_ws(ws_url(server)) as ws:
            stream = Stream(ws)
            deadline = time.monotonic() + TIMEOUT_S
            size = None
            while time.monotonic() < deadline:
                data = ws.recv(timeout=TIMEOUT_S)
                if isinstance(data, bytes):
                    size = PILImage.open(io.BytesIO(data)).size
                    if size == (600, 400):
                        break
            assert size == (600, 400)
            s = stream.next_json("state")
            assert s["magnify"] == 10 and s["magnify_native"] is True
            assert s["magnify_rect"] == pytest.approx([0.25, 0.55, 0.1, 0.1], abs=1e-3)
            assert s["frame_size"] == [640, 427]  # the preview the AF engine reads is unchanged
    finally:
        http.post("/api/settings", json={"magnify": 0})
    wait_for(lambda: state(http)["magnify_rect"] is None, what="magnify off")


def test_key_map_over_http(http: httpx.Client) -> None:
    r = http.post("/api/keys", json={"keys": {"AF_ON": ["Space"]}})
    assert r.status_code == 200 and r.json()["keys"]["AF_ON"] == ["Space"]
    assert http.get("/api/keys").json()["keys"]["AF_ON"] == ["Space"]
    r = http.post("/api/keys", json={"keys": {"AF_ON": ["KeyS"]}})
    assert r.status_code == 409 and "already bound" in r.json()["error"]  # a conflict
    assert r.json()["field"] == "AF_ON"
    assert http.post("/api/keys", json={"keys": default_keymap()}).status_code == 200


def test_http_press_is_a_lease(http: httpx.Client) -> None:
    """An HTTP client that presses and vanishes cannot leave AF running."""
    settle(http)
    control(http, "AF_ON", "press")
    assert "AF_ON" in state(http)["held"]
    wait_for(lambda: "AF_ON" not in state(http)["held"], what="the lease to expire")
    assert state(http)["watchdog_releases"] >= 1


# --- WebSocket -------------------------------------------------------------------------------
def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws"


def open_ws(
    url: str, origin: str | None = None, token: str | None = None
) -> ClientConnection:
    """A WebSocket client that queues everything it is sent (the tests do not read all); a
    `token` goes in an Authorization header, as a script would send it."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return connect(  # type: ignore[arg-type]
        url,
        proxy=None,
        compression=None,
        max_queue=None,
        origin=origin,
        additional_headers=headers,
    )


class Stream:
    """A WebSocket client that sorts what the server sends."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames = 0

    def next_json(self, kind: str, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            data = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(data, bytes):
                assert data[:2] == b"\xff\xd8", "frames are JPEGs"
                self.frames += 1
                continue
            msg: dict[str, Any] = json.loads(data)
            if msg["type"] == kind:
                return msg
        raise AssertionError(f"no {kind} message")

    def frames_after(self, n: int) -> int:
        """Read until `n` more frames came (other messages are skipped)."""
        target = self.frames + n
        while self.frames < target:
            if isinstance(self.ws.recv(timeout=TIMEOUT_S), bytes):
                self.frames += 1
        return self.frames


def test_websocket_stream_and_malformed_messages(server: LiveServer) -> None:
    with open_ws(ws_url(server)) as ws:
        stream = Stream(ws)
        hello = stream.next_json("hello")
        assert hello["keys"]["AF_ON"] == ["KeyA"] and "bbf" in hello["profiles"]
        assert stream.next_json("state")["frame_size"] == [640, 427]
        t0 = time.monotonic()
        stream.frames_after(15)
        fps = 14 / (time.monotonic() - t0)
        # a busy machine runs the simulation in slow motion (time_scale < 1) rather than late
        scale = server.runner.state["time_scale"]
        assert fps > 10 * scale, f"live view at {fps:.1f} fps (time scale {scale})"
        bad: list[str | bytes] = [
            "not json",
            "[]",
            '{"type": "control", "control": "AF_IN", "action": "press"}',
            '{"type": "settings", "drive": "burst"}',
            json.dumps({"type": "ping", "pad": "x" * (MAX_MESSAGE_BYTES + 10)}),
            b"\x00\x01binary",
            '{"type": "keys", "keys": {"AF_ON": ["no such key!"]}}',
        ]
        for message in bad:
            ws.send(message)
            err = stream.next_json("error")
            assert err["error"], message
        # the stream carries on and the connection still works
        stream.frames_after(5)
        ws.send(json.dumps({"type": "ping", "t_ms": 1.0}))
        assert stream.next_json("pong")["t_ms"] == 1.0


def test_websocket_controls_and_watchdog_on_close(server: LiveServer, http: httpx.Client) -> None:
    settle(http)
    with open_ws(ws_url(server)) as ws:
        stream = Stream(ws)
        stream.next_json("hello")
        press = {"type": "control", "control": "AF_ON", "action": "press", "id": 7}
        ws.send(json.dumps(press | {"source": "key:KeyA", "t_ms": time.time() * 1000}))
        ack = stream.next_json("ack")
        assert ack["id"] == 7 and ack["applied"] == ["AF_ON"]
        assert 0 <= ack["body_ms"] - ack["t_ms"] < 5000
        assert server.runner.latency[-1]["t_ms"] == ack["t_ms"]  # the server's latency log
        # a second source holding the same control: released only when both let go
        ws.send(json.dumps(press | {"source": "button:af-on-btn", "id": 8}))
        assert stream.next_json("ack")["applied"] == []
        ws.send(json.dumps(press | {"action": "release", "source": "key:KeyA", "id": 9}))
        assert stream.next_json("ack")["held"] == ["AF_ON"]
        wait_for(lambda: state(http)["af_state"] == "PASSIVE_FOCUSED", what="focus")
        # the phone locks its screen: the connection closes with AF-ON still held
    wait_for(lambda: "AF_ON" not in state(http)["held"], what="AF-ON released on close")
    assert state(http)["af_state"] in ("FOCUSED_LOCKED", "NOT_FOCUSED_LOCKED")


def test_websocket_silent_client_is_let_go(server: LiveServer, http: httpx.Client) -> None:
    settle(http)
    with open_ws(ws_url(server)) as ws:
        stream = Stream(ws)
        stream.next_json("hello")
        ws.send(json.dumps({"type": "control", "control": "AF_ON", "action": "press"}))
        stream.next_json("ack")
        # no pings: after the lease (1 s here) the server lets go although the socket is open
        wait_for(lambda: "AF_ON" not in state(http)["held"], what="lease expiry")


# --- pairing token, Origin, Host -------------------------------------------------------------
@pytest.fixture(scope="module")
def paired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    out = tmp_path_factory.mktemp("paired")
    with LiveServer(ServeOptions(port=0, token="pair-me-please", out=str(out))) as live:
        yield live


def test_remote_requests_need_the_token(paired: LiveServer) -> None:
    base = paired.base_url
    assert paired.local_url.endswith("/#token=pair-me-please")
    with httpx.Client(base_url=base, timeout=TIMEOUT_S, trust_env=False) as c:
        assert c.get("/").status_code == 200  # the page itself is public
        r = c.get("/api/state")
        assert r.status_code == 401 and "token" in r.json()["error"]
        assert c.get("/api/state", headers={"authorization": "Bearer nope"}).status_code == 401
        r = c.get("/api/state", params={"token": "pair-me-please"})
        assert r.status_code == 401 and "in the URL refused" in r.json()["error"]
        auth = {"authorization": "Bearer pair-me-please"}
        assert c.get("/api/shots", headers=auth).status_code == 200
        r = c.post(
            "/api/control",
            json={"control": "AF_ON", "action": "press"},
            headers=auth | {"origin": "http://evil.example"},
        )
        assert r.status_code == 403
        assert "AF_ON" not in c.get("/api/state", headers=auth).json()["held"]
    with pytest.raises(InvalidStatus) as refused:
        open_ws(ws_url(paired))
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as foreign:
        open_ws(ws_url(paired), origin="http://evil.example", token="pair-me-please")
    assert foreign.value.response.status_code == 403
    own_origin = base.replace("/ws", "")
    with open_ws(ws_url(paired), origin=own_origin, token="pair-me-please") as ws:
        assert Stream(ws).next_json("hello")["token_required"] is True
    with pytest.raises(InvalidStatus) as in_url:  # the token never goes in a URL
        open_ws(ws_url(paired) + "?token=pair-me-please", origin=own_origin)
    assert in_url.value.response.status_code == 401
    # a paired browser: the cookie set by one request with the token stands for it
    with httpx.Client(base_url=base, timeout=TIMEOUT_S, trust_env=False) as c:
        r = c.get("/api/state", headers={"authorization": "Bearer pair-me-please"})
        cookie = r.headers["set-cookie"].split(";", 1)[0]
    with connect(  # type: ignore[arg-type]
        ws_url(paired), proxy=None, origin=own_origin, additional_headers={"Cookie": cookie}
    ) as ws:
        assert Stream(ws).next_json("hello")["token_required"] is True


def test_loopback_server_refuses_foreign_host_and_origin(http: httpx.Client) -> None:
    r = http.get("/api/state", headers={"host": "rebind.example:8000"})
    assert r.status_code == 403
    r = http.get("/api/state", headers={"origin": "http://evil.example"})
    assert r.status_code == 403


def test_websocket_foreign_origin_on_loopback(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(ws_url(server), origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_oversized_websocket_message_closes_only_that_connection(server: LiveServer) -> None:
    with open_ws(ws_url(server)) as ws:
        Stream(ws).next_json("hello")
        ws.send("x" * (128 * 1024))
        with pytest.raises(ConnectionClosed):
            for _ in range(1000):
                ws.recv(timeout=TIMEOUT_S)
    with open_ws(ws_url(server)) as ws:
        assert Stream(ws).next_json("state")


# --- the command -----------------------------------------------------------------------------
def test_cli_serve_off_loopback_prints_token_url_and_qr(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "afon.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--out",
            str(tmp_path / "shots"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "afon serve ended early:\n" + "".join(lines)
            lines.append(line)
        text = "".join(lines)
        local = next(line for line in lines if "on this computer" in line).split()[-1]
        assert "#token=" in local and "pairing token required" in text
        assert "scan to open on your phone" in text and ("█" in text or "▀" in text)
        base, token = local.split("/#token=")
        with httpx.Client(base_url=base, timeout=TIMEOUT_S, trust_env=False) as c:
            wait_for(lambda: c.get("/api/state").status_code == 401, what="401 without token")
            auth = {"authorization": f"Bearer {token}"}
            assert c.get("/api/state", headers=auth).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
