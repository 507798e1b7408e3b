"""Connections of the service: a deadline for each request's headers, a per-client share of the connections and
a capacity past which half-open connections make room (uvicorn's h11 protocol, extended)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)


def _peer(transport: asyncio.BaseTransport) -> str | None:
    """The client address of a connection (None when the transport has none, e.g. a Unix socket)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


class _ClientShare:
    """Open connections per client address, at most ``limit`` each (None: no limit), and at most ``capacity`` in
    all (None: no limit). Past the capacity, a connection still waiting for its request's headers is closed,
    the longest-waiting first, once it has sent part of them or waited ``grace`` seconds: when a connection
    joins, when a connection's whole headers arrive, and ``grace`` seconds later if none could be closed then.
    A connection that has not been read yet is never closed for room, so a client that sends its whole request
    at once beats half-open ones even when it connected in the middle of their burst."""

    def __init__(self, limit: int | None, capacity: int | None = None, grace: float = 1.0) -> None:
        self.limit = limit
        self.capacity = capacity
        self.grace = grace
        self.open: dict[str, int] = {}
        self.total = 0
        self.waiting: dict[Any, float] = {}  # connections awaiting complete headers -> since when, oldest first
        self.closing: set[Any] = set()  # evicted, not yet gone
        self._sweep: asyncio.TimerHandle | None = None

    def admit(self, client: str | None) -> bool:
        """Count a new connection from ``client``; False (not counted) when it holds its share already."""
        if client is None:
            return True
        held = self.open.get(client, 0)
        if self.limit is not None and held >= self.limit:
            logger.info("refusing a connection from %s: it holds %d already", client, held)
            return False
        self.open[client] = held + 1
        return True

    def release(self, client: str | None) -> None:
        """Forget one of ``client``'s connections."""
        if client is not None and client in self.open:
            self.open[client] -= 1
            if self.open[client] <= 0:
                del self.open[client]

    def _excess(self) -> int:
        return 0 if self.capacity is None else self.total - len(self.closing) - self.capacity

    def _evict(self, before: float, spare: Any = None) -> bool:
        """Close the connection that has waited longest for its headers among those that have sent part of them
        or waited since before ``before`` (never ``spare``); False when there is none."""
        for conn, since in self.waiting.items():
            if conn is spare or conn in self.closing or not (conn.partial or since <= before):
                continue
            logger.info("at %d connections: closing the one that has waited longest for its headers", self.total)
            self.closing.add(conn)
            self.waiting.pop(conn, None)
            conn.evict()
            return True
        return False

    def joined(self, conn: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Count an open connection; past ``capacity``, close one that has waited ``grace`` seconds for its
        headers (a half-open connection from any address), or look again when one will have."""
        self.total += 1
        if self._excess() <= 0 or self._evict(loop.time() - self.grace, conn):
            return
        if self._sweep is None:
            self._sweep = loop.call_later(self.grace, self._sweep_now, loop)

    def _sweep_now(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        while self._excess() > 0 and self._evict(loop.time() - self.grace):
            pass
        if self._excess() > 0 and self.waiting:
            self._sweep = loop.call_later(self.grace, self._sweep_now, loop)

    def reading(self, conn: Any, data: bytes, idle: bool, loop: asyncio.AbstractEventLoop) -> None:
        """``data`` arrived on ``conn`` (``idle``: no request of it under way): uvicorn counts it from now on,
        and if it completes a request's headers, room is made for it."""
        if not conn.read:
            conn.read = True
            conn.connections.add(conn)
        if idle and b"\r\n\r\n" in conn.tail + data:
            self.make_room(conn, loop)  # before uvicorn counts connections for this request
        conn.tail = data[-3:]

    def make_room(self, conn: Any, loop: asyncio.AbstractEventLoop) -> None:
        """``conn``'s whole headers are arriving: past ``capacity``, close connections that are still sending
        theirs, so its request is not refused."""
        while self._excess() > 0 and self._evict(loop.time() - self.grace, conn):
            pass

    def left(self, conn: Any) -> None:
        """Forget an open connection."""
        self.total -= 1
        self.waiting.pop(conn, None)
        self.closing.discard(conn)


class _HeaderTimeout:
    """The behaviour :func:`header_timeout_protocol` adds to uvicorn's h11 protocol (a mixin: the class it
    builds sets ``seconds``, ``share`` and ``idle``, h11's idle state)."""

    seconds: float
    share: _ClientShare
    idle: Any
    _header_timer: asyncio.TimerHandle | None = None
    _client: str | None = None
    _refused = False
    tail = b""  # the last bytes received: headers may end across two reads
    partial = False  # has sent part of a request's headers and not the rest
    read = False  # data has been read from it
    # uvicorn's H11Protocol provides these
    conn: Any
    connections: set[Any]
    loop: asyncio.AbstractEventLoop
    transport: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._client = _peer(transport)
        if not self.share.admit(self._client):
            self._refused = True
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[misc]
        # uvicorn refuses a request (503) while it counts ``limit_concurrency`` connections; it counts this
        # one from its first read, so a burst of connections not read yet cannot refuse a whole request
        self.connections.discard(self)
        self._arm()
        self.share.joined(self, self.loop)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self.share.reading(self, data, self.conn.their_state is self.idle, self.loop)
        super().data_received(data)  # type: ignore[misc]
        self.partial = self.conn.their_state is self.idle
        if self.partial:
            if self._header_timer is None:
                self._arm()  # a request has begun (or is awaited) and its headers are not complete
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self.share.release(self._client)
        self.share.left(self)
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.seconds, self._drop)
        self.share.waiting[self] = self.loop.time()

    def evict(self) -> None:
        """Close this connection to make room; uvicorn stops counting it at once."""
        self._disarm()
        self.connections.discard(self)
        self.transport.close()

    def _disarm(self) -> None:
        self.share.waiting.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _drop(self) -> None:
        self._header_timer = None
        self.share.waiting.pop(self, None)
        if self.conn.their_state is self.idle and not self.transport.is_closing():
            logger.info("dropping a client that sent no complete headers within %.0f s", self.seconds)
            self.transport.close()


def header_timeout_protocol(
    seconds: float, per_client: int | None = None, capacity: int | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline for each request's headers: a client that opens a
    connection (or starts a request) and sends its headers slower than ``seconds`` is dropped.
    uvicorn times out idle keep-alive connections, but not a request whose headers trickle in.
    With ``per_client``, one client address holds at most that many connections (more are closed at
    once, before they count against the server's connection limit), so one client cannot take every slot.
    With ``capacity`` (below the server's connection limit), connections past it close those that have waited
    longest for their headers (:class:`_ClientShare`), so half-open connections from many addresses cannot
    either."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    attributes = {"seconds": seconds, "share": _ClientShare(per_client, capacity), "idle": h11.IDLE}
    return type("HeaderTimeoutH11Protocol", (_HeaderTimeout, H11Protocol), attributes)
