"""The web app: viewfinder page, WebSocket stream and the HTTP API (Starlette).

| route | what |
|---|---|
| `GET /` | the viewfinder and remote page (static files under `/static/`) |
| `WS /ws` | live view: JPEG frames (binary) and `state` messages (JSON); control messages in |
| `GET /api/state` | the body's state |
| `GET /api/info` | cameras, profiles, modes, areas, key map: what the page offers |
| `POST /api/control` | `{"control": "AF_ON", "action": "press" or "release", "source"?: ...}` |
| `POST /api/settings` | `profile`, `focus_mode`, `drive`, `burst_fps`, `af_area`, `af_point` |
| `GET /api/shots` | the shots taken since the server started, with their verdicts |
| `GET /api/shots/{n}` | one shot: its gallery entry and its whole record (the sidecar) |
| `DELETE /api/shots/{n}` | delete the shot's JPEG and sidecar (the page asks first) |
| `GET /api/shots/{n}/image`, `/thumb` | its JPEG (`?download=1`: an attachment), a small version |
| `GET /api/keys`, `POST /api/keys` | the key map |
| `GET /api/trainer/drills` | the trainer's drills, with their techniques |
| `POST /api/trainer/start` | `{"drill": NAME, "technique", "level"}`: the drill on its own body |
| `POST /api/trainer/stop` | end the drill: its score, stored in the history |
| `GET /api/trainer/history?drill=NAME` | stored sessions, oldest first (`&technique=`, `&level=`) |

`/api/` and `/ws` are guarded by `afon.web.security`. Bodies and messages are limited to
`MAX_MESSAGE_BYTES`; anything malformed gets an error answer (HTTP 400, or an `error` message on
the WebSocket), never a crash. Presses over HTTP are held for `lease_s` seconds unless pressed
again (press again to keep holding): a client that vanishes cannot leave AF running.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from afon import __version__
from afon.body import AF_AREA_SIZES
from afon.errors import AfonError, ConfigError, StateConflict
from afon.profile import FOCUS_MODES
from afon.web.keys import PAGE_ACTIONS, KeyClash, KeyMap, default_keymap, parse_keymap
from afon.web.limits import RATE_PER_S, RateLimiter, TokenBucket
from afon.web.protocol import (
    CONTROL_NAMES,
    DRIVES,
    MAX_MESSAGE_BYTES,
    ControlMessage,
    KeysMessage,
    PingMessage,
    ProtocolError,
    ReleaseAllMessage,
    SettingsMessage,
    decode_json,
    parse_control,
    parse_drill_start,
    parse_keys_request,
    parse_message,
    parse_settings,
)
from afon.web.runner import BodyRunner, Subscriber
from afon.web.security import URL_TOKEN_REFUSED, FailedAttempts, Security
from afon.web.trainer import DRILLS, Trainer, drill_named, history_key

log = logging.getLogger("afon.web")

STATIC_DIR = Path(__file__).parent / "static"
JOB_TIMEOUT_S = 5.0
SEND_STALL_S = 10.0
"""A viewer whose socket takes no data for this long is closed (it stopped reading)."""
BODY_TIMEOUT_S = 10.0
"""A request body must arrive within this (slowloris)."""
THUMB_PX = 320
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class Guard:
    """ASGI middleware applying `Security` to `/api/` and `/ws`, and the Host rule everywhere;
    wrong-token and per-address request limits; the session cookie after pairing."""

    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.security = security
        self.failed = FailedAttempts()
        self.http_rate = RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope.get("path", "")
        guarded = path.startswith("/api/") or path == "/ws"
        client = (scope.get("client") or ("",))[0] or ""
        problem: tuple[int, str] | None = None
        if guarded and (wait_s := self.failed.blocked_for_s(client)) > 0:
            problem = (429, f"too many wrong pairing tokens: try again in {math.ceil(wait_s)} s")
        elif guarded and scope["type"] == "http" and not self.http_rate.allow(client):
            problem = (429, f"rate limited: more than {RATE_PER_S:g} requests/s from {client}")
        else:
            problem = self.security.check(
                headers,
                scope.get("query_string", b"").decode("latin-1"),
                scope.get("scheme", "http"),
                api=guarded,
            )
            if problem is not None and not guarded and problem[0] == 401:
                problem = None  # the page itself is public; only the Host rule applies to it
            if problem is not None and not guarded and problem[1] == URL_TOKEN_REFUSED:
                problem = None  # the page itself is public (its script strips the token)
            if problem is not None and problem[1] == "wrong pairing token":
                self.failed.failed(client)
        if problem is None:
            cookie = self.security.session_cookie()
            if cookie is not None and guarded and not self.security.session_ok(headers):
                send = _with_cookie(send, cookie)  # paired: the token can leave the URLs
            await self.app(scope, receive, send)
            return
        status, reason = problem
        response = JSONResponse({"error": reason, "field": ""}, status_code=status)
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        ws = WebSocket(scope, receive, send)
        await ws.receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await ws.send_denial_response(response)
        else:
            await ws.close(code=1008, reason=reason)


def _with_cookie(send: Send, cookie: str) -> Send:
    """`send` adding a Set-Cookie header to the HTTP response (or the WebSocket's 101)."""

    async def wrapped(message: Message) -> None:
        if message["type"] in ("http.response.start", "websocket.accept"):
            message = dict(message)
            message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
        await send(message)

    return wrapped


class WebApp:
    """The routes, bound to one `BodyRunner`."""

    def __init__(
        self,
        runner: BodyRunner,
        security: Security,
        keymap: KeyMap | None = None,
        trainer: Trainer | None = None,
    ) -> None:
        self.runner = runner
        self.trainer = trainer
        self.security = security
        self.keymap = keymap if keymap is not None else default_keymap()
        self._ids = itertools.count(1)
        self.evicted = 0
        """Viewers closed because they stopped reading."""
        self._thumbs: dict[int, bytes] = {}

    # --- app -------------------------------------------------------------------------------
    def build(self) -> ASGIApp:
        if not (STATIC_DIR / "index.html").is_file():
            raise AfonError(
                f"the viewfinder's page is missing ({STATIC_DIR}/index.html): reinstall afon"
            )

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            self.runner.start()
            try:
                yield
            finally:
                await asyncio.to_thread(self.runner.stop)

        routes = [
            Route("/", self.index),
            Route("/api/state", self.api_state),
            Route("/api/info", self.api_info),
            Route("/api/openapi.json", self.api_openapi),
            Route("/api/control", self.api_control, methods=["POST"]),
            Route("/api/settings", self.api_settings, methods=["POST"]),
            Route("/api/shots", self.api_shots),
            Route("/api/shots/{n:int}", self.api_shot, methods=["GET", "DELETE"]),
            Route("/api/shots/{n:int}/image", self.api_shot_image),
            Route("/api/shots/{n:int}/thumb", self.api_shot_thumb),
            Route("/api/keys", self.api_keys, methods=["GET", "POST"]),
            Route("/api/trainer/drills", self.api_trainer_drills),
            Route("/api/trainer/start", self.api_trainer_start, methods=["POST"]),
            Route("/api/trainer/stop", self.api_trainer_stop, methods=["POST"]),
            Route("/api/trainer/history", self.api_trainer_history),
            WebSocketRoute("/ws", self.ws),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ]
        handlers = {404: _http_error, 405: _http_error}
        app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
        return Guard(app, self.security)

    def info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "camera": self.runner.camera_name,
            "profiles": list(self.runner.profiles),
            "focus_modes": list(FOCUS_MODES),
            "drives": list(DRIVES),
            "af_areas": list(AF_AREA_SIZES),
            "controls": list(CONTROL_NAMES),
            "keys": self.keymap,
            "default_keys": default_keymap(),
            "page_actions": list(PAGE_ACTIONS),
            "lease_s": self.runner.lease_s,
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "token_required": self.security.token is not None,
        }

    # --- page ------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    # --- trainer ---------------------------------------------------------------------------
    def _trainer(self) -> Trainer:
        if self.trainer is None:
            raise AfonError("the trainer is not available on this server")
        return self.trainer

    async def api_trainer_drills(self, request: Request) -> Response:
        if self.trainer is None:
            return _error(404, "the trainer is not available on this server")
        return JSONResponse({"drills": self.trainer.drills()} | self.trainer.status())

    async def api_trainer_start(self, request: Request) -> Response:
        async def act(obj: dict[str, Any]) -> Any:
            trainer = self._trainer()
            request_ = parse_drill_start(obj)
            try:
                drill = drill_named(request_.drill)
            except AfonError as exc:
                raise ProtocolError(str(exc), "drill") from None
            return await self._wait(trainer.start(drill, request_.technique, request_.level))

        return await self._json_call(request, act)

    async def api_trainer_stop(self, request: Request) -> Response:
        async def act(obj: dict[str, Any]) -> Any:
            return await self._wait(self._trainer().stop())

        return await self._json_call(request, act, allow_empty=True)

    async def api_trainer_history(self, request: Request) -> Response:
        if self.trainer is None:
            return _error(404, "the trainer is not available on this server")
        unknown = set(request.query_params) - {"drill", "technique", "level"}
        if unknown:
            return _error(400, f"unknown query parameters: {', '.join(sorted(unknown))}")
        name = request.query_params.get("drill")
        technique = request.query_params.get("technique", "bbf")
        level_text = request.query_params.get("level", "1")
        try:  # shutter-button AF and the levels keep their own curves
            level = int(level_text) if level_text.strip().isdigit() else -1
            key = history_key(name or "", technique, level)
        except AfonError as exc:
            return _error(400, str(exc), str(exc).split(":", 1)[0])
        if name is not None:
            try:
                drill_named(name)
            except AfonError as exc:
                return _error(400, str(exc), "drill")
            name = key
        sessions = await run_in_threadpool(self.trainer.store.list, name)
        return JSONResponse({"drill": name, "sessions": sessions})

    # --- HTTP API --------------------------------------------------------------------------
    async def api_state(self, request: Request) -> Response:
        return JSONResponse(self.runner.state)

    async def api_info(self, request: Request) -> Response:
        return JSONResponse(self.info())

    async def api_openapi(self, request: Request) -> Response:
        from afon.web.openapi import openapi_document

        drills = [d.name for d in DRILLS] if self.trainer is not None else None
        return JSONResponse(openapi_document(list(self.runner.profiles), drills))

    async def api_control(self, request: Request) -> Response:
        async def act(obj: dict[str, Any]) -> Any:
            msg = parse_control(obj)
            result = await self._wait(self.runner.control("http", msg))
            return result | {"lease_s": self.runner.lease_s}

        return await self._json_call(request, act)

    async def api_settings(self, request: Request) -> Response:
        async def act(obj: dict[str, Any]) -> Any:
            msg = parse_settings(obj)
            return await self._wait(self.runner.settings(msg.changes))

        return await self._json_call(request, act)

    async def api_keys(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"keys": self.keymap})

        async def act(obj: dict[str, Any]) -> Any:
            keys = parse_keys_request(obj)
            self.set_keys(parse_keymap(keys, "keys"))
            return {"keys": self.keymap}

        return await self._json_call(request, act)

    async def api_shots(self, request: Request) -> Response:
        return JSONResponse({"shots": self.runner.visible_shots()})

    def _shot_file(self, n: int) -> Path | None:
        path = self.runner.shot_files.get(n)
        folder = self.runner.shots_dir
        if path is None or folder is None:
            return None
        resolved = path.resolve()
        if not resolved.is_relative_to(folder.resolve()) or not resolved.is_file():
            return None
        return resolved

    async def api_shot(self, request: Request) -> Response:
        """One shot for the review viewer, or (DELETE) its deletion."""
        n = int(request.path_params["n"])
        if request.method == "DELETE":
            try:
                deleted = await run_in_threadpool(self.runner.delete_shot, n)
            except KeyError:
                return _error(404, f"no shot {n}")
            except AfonError as exc:
                return _error(409, str(exc))
            self._thumbs.pop(n, None)
            return JSONResponse({"deleted": n, "files": deleted})
        record = self.runner.shot_records.get(n)
        if record is None or n >= len(self.runner.shots) or self.runner.shots[n].get("deleted"):
            return _error(404, f"no shot {n}")
        from afon.metadata import jsonable

        return JSONResponse(
            {"shot": self.runner.shots[n], "record": jsonable(record.to_json())}
        )

    async def api_shot_image(self, request: Request) -> Response:
        n = int(request.path_params["n"])
        path = self._shot_file(n)
        if path is None:
            return _error(404, f"shot {n} has no image")
        unknown = set(request.query_params) - {"download", "token"}
        if unknown:
            return _error(400, f"unknown query parameters: {', '.join(sorted(unknown))}")
        download = request.query_params.get("download", "0")
        if download not in ("0", "1"):
            return _error(400, "download: expected 0 or 1", "download")
        return FileResponse(  # Starlette quotes the name (RFC 6266 / 5987)
            path,
            media_type="image/jpeg",
            filename=path.name,
            content_disposition_type="attachment" if download == "1" else "inline",
        )

    async def api_shot_thumb(self, request: Request) -> Response:
        n = int(request.path_params["n"])
        path = self._shot_file(n)
        if path is None:
            return _error(404, f"shot {n} has no image")
        data = self._thumbs.get(n)
        if data is None:
            data = await run_in_threadpool(_thumbnail, path)
            self._thumbs[n] = data
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def _json_call(
        self,
        request: Request,
        act: Callable[[dict[str, Any]], Awaitable[Any]],
        allow_empty: bool = False,
    ) -> Response:
        try:
            raw = await _read_body(request)
            _check_numbers(raw)
            obj = decode_json(raw) if raw.strip() or not allow_empty else {}
            return JSONResponse(await act(obj))
        except _TooLarge as exc:
            return _error(413, str(exc))
        except ProtocolError as exc:
            return _error(400, str(exc), exc.field)
        except KeyClash as exc:
            return _error(409, str(exc), exc.field)
        except ConfigError as exc:
            return _error(400, str(exc), exc.field)
        except TimeoutError:
            return _error(503, "the body loop did not answer in time")
        except StateConflict as exc:
            return _error(409, str(exc), "")
        except AfonError as exc:
            return _error(400, str(exc))
        except RecursionError:
            return _error(400, "JSON nested too deeply")
        except (OverflowError, ValueError) as exc:
            return _error(400, f"invalid value: {exc}")
        except Exception:  # a bug: logged here, a JSON answer (no traceback) to the client
            log.exception("%s %s failed", request.method, request.url.path)
            return _error(500, "internal error (logged on the server)")

    async def _wait(self, future: Any) -> Any:
        return await asyncio.wait_for(asyncio.wrap_future(future), JOB_TIMEOUT_S)

    def set_keys(self, keymap: KeyMap) -> None:
        self.keymap = keymap
        self.runner.hub.broadcast({"type": "keys", "keys": keymap})

    # --- WebSocket -------------------------------------------------------------------------
    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        owner = f"ws{next(self._ids)}"
        sub = Subscriber(asyncio.get_running_loop(), asyncio.Event())
        self.runner.hub.subscribe(sub)
        sub.post({"type": "hello"} | self.info() | {"shots": self.runner.visible_shots()})
        sub.post(self.runner.state)
        sender = asyncio.create_task(self._send_loop(websocket, sub))
        receiver = asyncio.create_task(self._receive_loop(websocket, owner, sub))
        try:
            # either ends the connection: the client leaves, or stops reading (evicted)
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.runner.hub.unsubscribe(sub)
            sender.cancel()
            receiver.cancel()
            # the watchdog: a closed connection lets go of everything it held
            self.runner.release_all(owner)

    async def _receive_loop(self, websocket: WebSocket, owner: str, sub: Subscriber) -> None:
        bucket = TokenBucket()
        refused = 0
        told_s = 0.0
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if not bucket.allow():
                # a flood stops here, before the body loop: the message is refused, the client
                # told (once a second, with the count), and its socket read no faster than the
                # limit, so that its flood waits in its own send buffer, not in our CPU
                refused += 1
                now = time.monotonic()
                if now - told_s >= 1.0:
                    sub.post(_rate_limited(refused))
                    refused, told_s = 0, now
                await asyncio.sleep(1.0 / RATE_PER_S)
                continue
            try:
                self._on_message(owner, sub, message)
            except Exception as exc:  # never let one message end the connection
                log.exception("WebSocket message failed")
                sub.post({"type": "error", "error": f"internal error: {exc}", "field": ""})

    def _on_message(self, owner: str, sub: Subscriber, message: Mapping[str, Any]) -> None:
        text = message.get("text")
        if text is None:
            raise_error = ProtocolError("binary messages are not accepted; send JSON text")
            sub.post(raise_error.reply())
            return
        try:
            _check_numbers(text)
            msg = parse_message(text)
        except ProtocolError as exc:
            sub.post(exc.reply())
            return
        except RecursionError:
            sub.post(ProtocolError("JSON nested too deeply").reply())
            return
        except (OverflowError, ValueError) as exc:
            sub.post(ProtocolError(f"invalid value: {exc}").reply())
            return
        if isinstance(msg, ControlMessage):
            self._reply_when_done(sub, self.runner.control(owner, msg), msg.id)
        elif isinstance(msg, SettingsMessage):
            future = self.runner.settings(msg.changes)
            self._reply_when_done(sub, future, msg.id, lambda _r: {"type": "settings", "ok": True})
        elif isinstance(msg, KeysMessage):
            try:
                self.set_keys(parse_keymap(msg.keys, "keys"))
            except ConfigError as exc:
                sub.post({"type": "error", "error": str(exc), "field": exc.field, "id": msg.id})
        elif isinstance(msg, ReleaseAllMessage):
            self.runner.release_all(owner)
        elif isinstance(msg, PingMessage):
            self.runner.touch(owner)
            sub.post({"type": "pong", "t_ms": msg.t_ms, "server_ms": time.time() * 1000.0})

    @staticmethod
    def _reply_when_done(
        sub: Subscriber,
        future: Any,
        msg_id: int | str | None,
        shape: Callable[[Any], dict[str, Any]] = lambda r: dict(r),
    ) -> None:
        def done(f: Any) -> None:
            exc = f.exception()
            if exc is None:
                sub.post(shape(f.result()) | {"id": msg_id})
            else:
                field = getattr(exc, "field", "")
                sub.post({"type": "error", "error": str(exc), "field": field, "id": msg_id})

        future.add_done_callback(done)

    async def _send_loop(self, websocket: WebSocket, sub: Subscriber) -> None:
        """Events in order, then the latest frame only: a slow viewer skips frames, and one that
        stops reading for `SEND_STALL_S` is closed (its buffers are bounded meanwhile)."""
        hub = self.runner.hub

        async def send(data: str | bytes) -> None:
            # a timeout scope, not wait_for: no task per message (10 viewers at 30 fps)
            async with asyncio.timeout(SEND_STALL_S):
                if isinstance(data, bytes):
                    await websocket.send_bytes(data)
                else:
                    await websocket.send_text(data)

        try:
            while True:
                await sub.wake.wait()
                sub.wake.clear()
                dropped, sub.dropped = sub.dropped, 0
                if dropped:
                    await send(json.dumps(_dropped(dropped)))
                while sub.events:
                    await send(json.dumps(sub.events.popleft()))
                frame = hub.frame
                if frame is not None and frame[0] != sub.last_seq:
                    sub.last_seq = frame[0]
                    await send(frame[2])
                    await send(frame[1])
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.evicted += 1
            log.warning("a viewer stopped reading for %.0f s: closed", SEND_STALL_S)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(1008, "not reading"), 1.0)
            return
        except Exception:  # the client went away; the receive loop notices and cleans up
            return


MAX_NUMBER_DIGITS = 30
"""Longest number literal accepted in a message (epoch milliseconds have 13 digits)."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ProtocolError(
            f"number too long ({len(text)} digits, at most {MAX_NUMBER_DIGITS}): {text[:12]}..."
        )
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or len(text) > 2 * MAX_NUMBER_DIGITS:
        raise ProtocolError(f"number out of range: {text[:24]}")
    return value


def _check_numbers(raw: str | bytes) -> None:
    """Refuse number literals no client sends (400 digits, 1e400) before the message is read.

    The message itself is parsed and validated by `afon.web.protocol`; this pass only bounds
    numbers and nesting (a RecursionError becomes a 400 in the callers)."""
    if len(raw) > MAX_MESSAGE_BYTES or not raw.strip():
        return  # the size check and the empty-body rule answer these
    try:
        json.loads(raw, parse_int=_bounded_int, parse_float=_bounded_float)
    except ProtocolError:
        raise
    except (ValueError, UnicodeDecodeError):
        return  # not JSON: decode_json says so in its own words


def _rate_limited(refused: int) -> dict[str, Any]:
    return {
        "type": "error",
        "error": f"rate limited: more than {RATE_PER_S:g} messages/s; {refused} message(s) "
        "refused (not applied)",
        "field": "",
        "refused": refused,
    }


def _dropped(count: int) -> dict[str, Any]:
    return {
        "type": "error",
        "error": f"{count} messages to this viewer were dropped: it was not reading fast enough",
        "field": "",
        "dropped": count,
    }


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and len(length) > 12:
        raise _TooLarge(f"body too large ({length[:20]}... bytes, limit {MAX_MESSAGE_BYTES})")
    if length is not None and length.isdigit() and int(length) > MAX_MESSAGE_BYTES:
        raise _TooLarge(f"body too large ({length} bytes, limit {MAX_MESSAGE_BYTES})")

    async def read() -> bytes:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_MESSAGE_BYTES:
                raise _TooLarge(f"body too large (over {MAX_MESSAGE_BYTES} bytes)")
        return bytes(data)

    try:  # a body sent a byte at a time (slowloris) does not hold the connection
        return await asyncio.wait_for(read(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise ProtocolError(f"request body not complete within {BODY_TIMEOUT_S:g} s") from None


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 (no such route, wrong method): JSON like every other API answer
    under `/api/` (the Allow header of a 405 kept), plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
    what = "no such route" if exc.status_code == 404 else f"method {request.method} not allowed"
    return JSONResponse(
        {"error": f"{what}: {request.url.path}", "field": ""}, exc.status_code, headers=exc.headers
    )


def _error(status: int, message: str, field: str = "") -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _thumbnail(path: Path) -> bytes:
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        img.thumbnail((THUMB_PX, THUMB_PX))
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def create_app(
    runner: BodyRunner,
    security: Security | None = None,
    keymap: KeyMap | None = None,
    trainer: Trainer | None = None,
) -> ASGIApp:
    """The ASGI app for `runner`; its lifespan starts and stops the body loop."""
    return WebApp(runner, security or Security(), keymap, trainer).build()
