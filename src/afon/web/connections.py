"""Connection limits for `afon serve`: a cap per client address and in all, and a deadline for
a connection to send its first complete request.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but keeps a connection that
never completes its request headers (slowloris) for ever, and accepts any number of them: 300
are enough to exhaust file descriptors. `LimitedH11Protocol` is uvicorn's own h11 protocol with
two additions (uvicorn has no setting for either):

- a connection over `MAX_PER_CLIENT` open connections from one address, or over
  `MAX_CONNECTIONS` in all, is closed at once (before it costs a request);
- a connection that has not sent complete request headers `HANDSHAKE_TIMEOUT_S` after it opened
  is closed. Once a request arrived, uvicorn's keep-alive timeout and afon's body-read deadline
  (`afon.web.server.BODY_TIMEOUT_S`) take over; an upgraded WebSocket is checked by the server.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr

HANDSHAKE_TIMEOUT_S = 5.0
MAX_PER_CLIENT = 32
MAX_CONNECTIONS = 256


class ConnectionTable:
    """Open transports by client address (closed ones are pruned as new ones arrive)."""

    def __init__(self, per_client: int = MAX_PER_CLIENT, total: int = MAX_CONNECTIONS) -> None:
        self.per_client = per_client
        self.total = total
        self.refused = 0
        self.timed_out = 0
        self._lock = threading.Lock()
        self._open: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def admit(self, transport: Any, client: str) -> bool:
        with self._lock:
            for t in [t for t in self._open if t.is_closing()]:
                del self._open[t]
            mine = sum(1 for c in self._open.values() if c == client)
            if mine >= self.per_client or len(self._open) >= self.total:
                self.refused += 1
                return False
            self._open[transport] = client
            return True

    @property
    def open(self) -> int:
        with self._lock:
            return sum(1 for t in self._open if not t.is_closing())


TABLE = ConnectionTable()
"""The process's table (uvicorn builds the protocol objects; one server per process is usual)."""


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a deadline for the first request."""

    table = TABLE
    handshake_timeout_s = HANDSHAKE_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = get_remote_addr(transport)
        client = peer[0] if peer else ""
        super().connection_made(transport)
        self._handshake: asyncio.TimerHandle | None = None
        if not self.table.admit(transport, client):
            transport.close()
            return
        self._handshake = self.loop.call_later(self.handshake_timeout_s, self._handshake_expired)

    def _handshake_expired(self) -> None:
        self._handshake = None
        if self.cycle is None and self.transport.get_protocol() is self:
            self.table.timed_out += 1
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self._handshake is not None and (
            self.cycle is not None or self.transport.get_protocol() is not self
        ):
            self._handshake.cancel()
            self._handshake = None

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_handshake", None) is not None:
            assert self._handshake is not None
            self._handshake.cancel()
            self._handshake = None
        super().connection_lost(exc)
