"""The Starlette app and its uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from stage2.loading import load
from stage2.serve.batching import ner_lanes, summary_lanes
from stage2.serve.requests import (
    NER_FIELDS,
    SUMMARY_FIELDS,
    RequestError,
    ServeLimits,
    _authorised,
    _check_labels,
    _items,
    _read_json,
    _summary_options,
    _threshold,
    check_fields,
)

logger = logging.getLogger(__name__)


def _endpoint(
    task: str, handler: Callable[[dict[str, Any]], Any], models: dict[str, Any], lim: ServeLimits
) -> Callable[[Any], Any]:
    """A POST endpoint: token check, the task's model loaded, the JSON body read within the limits,
    ``handler`` answered; client errors become their status (ValueError/TypeError: 422)."""
    from starlette.responses import JSONResponse

    async def run(request: Any) -> JSONResponse:
        if not _authorised(request, lim.token):
            headers = {"WWW-Authenticate": "Bearer"}
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401, headers=headers)
        if task not in models:
            return JSONResponse({"error": f"no {task} model is loaded"}, status_code=404)
        try:
            data = await _read_json(request, lim)
            return JSONResponse(await _bounded(request, handler(data), lim.max_seconds))
        except ClientGone:
            return JSONResponse({"error": "client closed the connection"}, status_code=499)  # never delivered
        except TimeoutError:
            message = f"the request took longer than {lim.max_seconds:g} s (--max-seconds); its queued work was dropped"
            return JSONResponse({"error": message}, status_code=503)
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=err.status, headers=err.headers)
        except (ValueError, TypeError) as err:
            return JSONResponse({"error": str(err)}, status_code=422)

    return run


DISCONNECT_POLL_SECONDS = 0.25
"""How often a request's connection is checked while its work waits or runs."""


class ClientGone(Exception):
    """The client disconnected before its answer was ready (its work was cancelled)."""


async def _bounded(request: Any, work: Any, seconds: float) -> Any:
    """Await ``work`` for at most ``seconds`` (then TimeoutError), cancelling it as soon as the client
    disconnects (then :class:`ClientGone`): cancelled work still queued in a lane is never run."""
    task = asyncio.ensure_future(work)
    gone: list[bool] = []

    async def watch() -> None:
        while not task.done():
            if await request.is_disconnected():
                logger.info("client went away: dropping its request's work")
                gone.append(True)
                task.cancel()
                return
            await asyncio.sleep(DISCONNECT_POLL_SECONDS)

    watcher = asyncio.ensure_future(watch())
    try:
        async with asyncio.timeout(seconds):
            return await task
    except asyncio.CancelledError:
        if gone:
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()
        task.cancel()


def create_app(models: dict[str, Any], limits: ServeLimits | None = None) -> Any:
    """A Starlette app serving loaded runtime models: ``{"ner": NERRuntime, "summarization": ...}``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    lim = limits or ServeLimits()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if "ner" in models:
                state["batcher"], state["large"] = await stack.enter_async_context(ner_lanes(models["ner"], lim))
                app.state.batcher, app.state.large_batcher = state["batcher"], state["large"]
            if "summarization" in models:
                state["summaries"] = stack.enter_context(summary_lanes(lim))
            yield

    async def ner(data: dict[str, Any]) -> dict[str, Any]:
        check_fields(data, NER_FIELDS)
        texts, single = _items(data, "text", "texts", lim)
        labels = data.get("labels")
        if labels is not None:
            _check_labels(labels, lim)
            labels = models["ner"].resolve_labels(labels).to_dict()  # validate before queueing
        threshold = _threshold(data)
        large = sum(len(t) for t in texts) > lim.large_request_chars
        results = await state["large" if large else "batcher"].submit(texts, labels, threshold)
        return {"entities": results[0]} if single else {"results": results}

    async def summarize(data: dict[str, Any]) -> dict[str, Any]:
        check_fields(data, SUMMARY_FIELDS)
        docs, single = _items(data, "document", "documents", lim)
        options = _summary_options(data, lim)
        large = sum(len(d) for d in docs) > lim.large_request_chars
        summarize = functools.partial(models["summarization"].summarize, docs, **options)
        results = await state["summaries"]["large" if large else "small"].run(summarize)
        return results[0] if single else {"results": results}

    async def health(request: Request) -> JSONResponse:
        info = {
            task: str(getattr(m, "folder", "")) if _authorised(request, lim.token) else "" for task, m in models.items()
        }
        return JSONResponse({"status": "ok", "models": info})

    routes = [
        Route("/ner", _endpoint("ner", ner, models, lim), methods=["POST"]),
        Route("/summarize", _endpoint("summarization", summarize, models, lim), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    middleware = []
    if lim.allowed_hosts:  # a Host allow-list: other Host headers get 400 (DNS rebinding, stray proxies)
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(lim.allowed_hosts)))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


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

    share = _ClientShare(per_client, capacity)

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _client: str | None = None
        _refused = False
        tail = b""  # the last bytes received: headers may end across two reads
        partial = False  # has sent part of a request's headers and not the rest
        read = False  # data has been read from it

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._client = _peer(transport)
            if not share.admit(self._client):
                self._refused = True
                transport.close()
                return
            super().connection_made(transport)  # type: ignore[arg-type]
            # uvicorn refuses a request (503) while it counts ``limit_concurrency`` connections; it counts this
            # one from its first read, so a burst of connections not read yet cannot refuse a whole request
            self.connections.discard(self)
            self._arm()
            share.joined(self, self.loop)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            share.reading(self, data, self.conn.their_state is h11.IDLE, self.loop)
            super().data_received(data)
            self.partial = self.conn.their_state is h11.IDLE
            if self.partial:
                if self._header_timer is None:
                    self._arm()  # a request has begun (or is awaited) and its headers are not complete
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            share.release(self._client)
            share.left(self)
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(seconds, self._drop)
            share.waiting[self] = self.loop.time()

        def evict(self) -> None:
            """Close this connection to make room; uvicorn stops counting it at once."""
            self._disarm()
            self.connections.discard(self)
            self.transport.close()

        def _disarm(self) -> None:
            share.waiting.pop(self, None)
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _drop(self) -> None:
            self._header_timer = None
            share.waiting.pop(self, None)
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                logger.info("dropping a client that sent no complete headers within %.0f s", seconds)
                self.transport.close()

    return HeaderTimeoutH11Protocol


ROUTES = {"ner": "ner", "extractive-summarization": "summarization"}
"""Task of an export -> the key it is served under (``/ner``, ``/summarize``)."""


def load_models(paths: list[str], threads: int | None = None) -> dict[str, Any]:
    """Runtime models by task from export folders or names (at most one per task)."""
    models: dict[str, Any] = {}
    for path in paths:
        model = load(path, backend="onnx", threads=threads)
        route = ROUTES[model.task]
        if route in models:
            raise ValueError(f"two {route} models given ({models[route].folder} and {path})")
        models[route] = model
    return models


def serve(paths: list[str], host: str = "127.0.0.1", port: int = 8000, limits: ServeLimits | None = None) -> None:
    """Run the service until interrupted (SIGINT/SIGTERM end it gracefully)."""
    import uvicorn

    lim = limits or ServeLimits()
    app = create_app(load_models(paths), lim)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        http=header_timeout_protocol(lim.header_timeout, lim.client_connections, max(1, lim.max_connections - 2)),
        timeout_keep_alive=int(max(1, round(lim.keep_alive))),
        limit_concurrency=lim.max_connections,
        h11_max_incomplete_event_size=64 * 1024,  # headers larger than this get 400
        timeout_graceful_shutdown=max(1, round(lim.graceful_seconds)),
    )
