"""Who may use the server: the pairing token, the Origin check and the Host check.

- Bound to a loopback address without `--token`, no token is needed; the Host header must then
  name a loopback host (`localhost`, `127.0.0.1`, `[::1]`), which stops DNS-rebinding pages from
  reaching the server through a name of their own.
- Bound to any other address (`--host 0.0.0.0`), or given `--token`, every request to `/api/`
  and the WebSocket must carry the token: `Authorization: Bearer TOKEN` or `?token=TOKEN`.
  Missing or wrong: 401.
- A request that carries an `Origin` header (every browser WebSocket and cross-site request)
  must come from the server's own origin (scheme, host and port of its Host header): else 403.
  Clients that send no Origin (curl, scripts) are judged by the token alone.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = ("localhost",)


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
        if token is None and not is_loopback(host):
            token = new_token()
        return cls(token)

    def check(
        self, headers: Mapping[str, str], query_string: str, scheme: str = "http"
    ) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused, else None."""
        host_header = headers.get("host", "")
        host, port = split_host(host_header, 443 if scheme in ("https", "wss") else 80)
        if self.token is None and not is_loopback(host):
            return 403, f"host {host_header!r} not allowed: this server is for loopback clients"
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return 403, f"foreign origin {origin!r}"
            o_host, o_port = split_host(parts.netloc, 443 if parts.scheme == "https" else 80)
            if (o_host, o_port) != (host, port):
                return 403, f"foreign origin {origin!r}"
        if self.token is not None:
            given = _bearer(headers.get("authorization", ""))
            if given is None:
                values = parse_qs(query_string).get("token", [])
                given = values[0] if values else None
            if given is None:
                return 401, "pairing token required (open the URL afon printed)"
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                return 401, "wrong pairing token"
        return None


def _bearer(value: str) -> str | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return None
