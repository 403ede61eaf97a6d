"""Who may use the server: the pairing token, the Origin check and the Host check.

- Bound to a loopback address without `--token`, no token is needed; the Host header must then
  name a loopback host (`localhost`, `127.0.0.1`, `[::1]`), which stops DNS-rebinding pages from
  reaching the server through a name of their own.
- Bound to any other address (`--host 0.0.0.0`), or given `--token`, every request to `/api/`
  and the WebSocket must carry the token: `Authorization: Bearer TOKEN`, or the session cookie
  below. Missing or wrong: 401. A token in the URL (`?token=`) is refused (401), right or wrong:
  URLs end up in server and proxy logs, the browser's history and Referer headers. The page
  takes the token from the `#token=` fragment afon prints (never sent to the server), trades it
  for the cookie with one `Authorization` request and removes it from the address bar.
- A request that carries an `Origin` header (every browser WebSocket and cross-site request)
  must come from the server's own origin (scheme, host and port of its Host header): else 403.
  Clients that send no Origin (curl, scripts) are judged by the token alone.
- A browser's `Sec-Fetch-Site: cross-site` (or `same-site`: another port or subdomain) request
  to `/api/` or the WebSocket is refused (403), token or not: a foreign page cannot embed
  `/api/shots/N/image` or drive the camera through a loopback server.
- A token given with `--token` must be strong enough to withstand guessing: at least
  `MIN_TOKEN_CHARS` characters, `MIN_TOKEN_DISTINCT` of them different. After a request with
  the right token the server sets an HttpOnly, SameSite=Strict session cookie (`SESSION_COOKIE`),
  which then stands for the token: the page's links need no token in their URL.
- `FailedAttempts` counts wrong tokens per client address; after `MAX_FAILED_ATTEMPTS` in
  `FAILED_WINDOW_S` the address is answered 429 until the window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from afon.errors import UsageError

LOOPBACK_NAMES = ("localhost",)
MIN_TOKEN_CHARS = 12
MIN_TOKEN_DISTINCT = 6
SESSION_COOKIE = "afon_session"
MAX_FAILED_ATTEMPTS = 10
FAILED_WINDOW_S = 60.0
URL_TOKEN_REFUSED = (
    "pairing token in the URL refused (URLs end up in logs, history and Referer headers): "
    "send it as Authorization: Bearer TOKEN; a paired browser's session cookie stands for it"
)
CROSS_SITE = ("cross-site", "same-site")
"""`Sec-Fetch-Site` values refused on the API: anything but same-origin and none (typed URL)."""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(16)


def split_host(value: str, default_port: int | None = None) -> tuple[str, int | None]:
    """`host[:port]` or `[v6]:port` → (lower-case host without brackets, port)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port_s = value.partition(":")
    else:
        host, port_s = value, ""
    try:
        port = int(port_s) if port_s else default_port
    except ValueError:
        port = -1
    return host, port


@dataclass(frozen=True)
class Security:
    """The rules for one server: `token` None means open to loopback clients only."""

    token: str | None = None

    @classmethod
    def for_host(cls, host: str, token: str | None = None) -> Security:
        """A token is required off loopback (one is generated unless given) or when given."""
        if token is not None and not token.strip():
            token = None
        if token is not None:
            check_token_strength(token)
        if token is None and not is_loopback(host):
            token = new_token()
        return cls(token)

    def check(
        self, headers: Mapping[str, str], query_string: str, scheme: str = "http", api: bool = True
    ) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused, else None (`api`: a request to
        `/api/` or the WebSocket, not the public page)."""
        host_header = headers.get("host", "")
        host, port = split_host(host_header, 443 if scheme in ("https", "wss") else 80)
        if self.token is None and not is_loopback(host):
            return 403, f"host {host_header!r} not allowed: this server is for loopback clients"
        fetch_site = headers.get("sec-fetch-site", "").strip().lower()
        if api and fetch_site in CROSS_SITE:
            return 403, f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return 403, f"foreign origin {origin!r}"
            o_host, o_port = split_host(parts.netloc, 443 if parts.scheme == "https" else 80)
            if (o_host, o_port) != (host, port):
                return 403, f"foreign origin {origin!r}"
        if "token" in parse_qs(query_string, keep_blank_values=True):
            # a URL ends up in logs, the browser's history and Referer headers: never the token
            return 401, URL_TOKEN_REFUSED
        if self.token is not None:
            given = _bearer(headers.get("authorization", ""))
            if given is None and self.session_ok(headers):
                return None
            if given is None:
                return 401, "pairing token required (open the URL afon printed)"
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                return 401, "wrong pairing token"
        return None


    def session_value(self) -> str | None:
        """The session cookie's value: a keyed hash of the token (it changes with the token)."""
        if self.token is None:
            return None
        return hmac.new(self.token.encode(), b"afon session", hashlib.sha256).hexdigest()

    def session_ok(self, headers: Mapping[str, str]) -> bool:
        expected = self.session_value()
        if expected is None:
            return False
        try:
            jar = SimpleCookie(headers.get("cookie", ""))
        except CookieError:
            return False
        morsel = jar.get(SESSION_COOKIE)
        return morsel is not None and secrets.compare_digest(
            morsel.value.encode(), expected.encode()
        )

    def session_cookie(self) -> str | None:
        """The Set-Cookie header value that pairs this browser (None without a token)."""
        value = self.session_value()
        if value is None:
            return None
        return f"{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"


def check_token_strength(token: str) -> None:
    """Raise `UsageError` for a token that is too easy to guess."""
    if len(token) < MIN_TOKEN_CHARS or len(set(token)) < MIN_TOKEN_DISTINCT:
        raise UsageError(
            f"--token: too weak ({len(token)} characters, {len(set(token))} different): use at "
            f"least {MIN_TOKEN_CHARS} characters with {MIN_TOKEN_DISTINCT} different ones, or "
            "leave --token out and afon generates one"
        )


class FailedAttempts:
    """Wrong tokens per client address, in a sliding window (thread-safe)."""

    def __init__(
        self, limit: int = MAX_FAILED_ATTEMPTS, window_s: float = FAILED_WINDOW_S
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] < now - self.window_s:
            times.popleft()
        return times

    def blocked_for_s(self, client: str) -> float:
        """Seconds until `client` may try again (0: it may)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                if not times:
                    self._seen.pop(client, None)
                return 0.0
            return times[-self.limit] + self.window_s - now

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._seen) > 10_000:  # bounded memory under a spray of addresses
                oldest = min(self._seen, key=lambda c: self._seen[c][-1] if self._seen[c] else 0)
                self._seen.pop(oldest, None)


def _bearer(value: str) -> str | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return None
