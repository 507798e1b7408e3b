"""HTTP JSON service for exported models, on Starlette (ASGI) and uvicorn.

Endpoints: ``POST /ner`` ``{"text": str}`` or ``{"texts": [str, ...]}``, optional ``"labels"``;
``POST /summarize`` ``{"document": str}`` or ``{"documents": [...]}``, optional ``max_sentences``,
``max_words``, ``ratio``, ``focus``; ``GET /health``.

Concurrent NER requests are micro-batched: texts that arrive within ``max_wait_ms`` of each other
(up to ``max_batch`` texts, same label set) go through the model together; requests of more than
``large_request_chars`` characters go through a second lane, so small requests never wait behind
them. Oversized bodies get 413, bad or too deeply nested JSON 400, a missing or wrong bearer token
401, missing or wrong fields (too many or too long labels too) 422, a body that does not arrive within
``body_timeout`` 408; a client that does not send its headers within ``header_timeout`` is
disconnected, and beyond ``max_connections`` new requests get 503. On shutdown queued work is
finished first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stage2.labels import MAX_LABELS, LabelSet

logger = logging.getLogger(__name__)


@dataclass
class ServeLimits:
    """Request limits of the service (all configurable from ``stage2 serve``)."""

    max_body_bytes: int = 1_000_000
    max_items: int = 64  # texts or documents per request
    max_chars: int = 100_000  # per text or document
    max_labels: int = MAX_LABELS  # entity types per request
    max_label_chars: int = 200  # per label name or description
    max_batch: int = 32  # texts per model call when micro-batching
    max_wait_ms: float = 5.0
    large_request_chars: int = 5_000  # larger NER requests run in their own lane
    header_timeout: float = 10.0  # seconds for a request's headers to arrive, else the connection is dropped
    body_timeout: float = 30.0  # seconds for the whole body to arrive, else 408
    keep_alive: float = 5.0  # seconds an idle keep-alive connection is kept
    max_connections: int = 256  # concurrent connections and requests; beyond it 503
    token: str | None = field(default=None, repr=False)  # bearer token required on POST requests

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_items", "max_chars", "max_labels", "max_label_chars", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("header_timeout", "body_timeout", "keep_alive"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")


class RequestError(Exception):
    """A client error, answered with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Job:
    texts: list[str]
    labels: Any
    future: asyncio.Future[Any]


@dataclass
class MicroBatcher:
    """Collects concurrent NER requests and runs them through the model together."""

    model: Any
    limits: ServeLimits
    executor: Any = None  # where model calls run (default: asyncio's thread pool)
    queue: asyncio.Queue[_Job | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    batches: int = 0

    def start(self) -> None:
        """Start the worker (inside the running event loop)."""
        self.task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        await self.queue.put(None)
        if self.task is not None:
            await self.task

    async def submit(self, texts: list[str], labels: Any) -> list[Any]:
        """Entities per text, batched with whatever else arrives now."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(texts, labels, future))
        return list(await future)

    async def _work(self) -> None:
        pending: list[_Job] = []
        stopping = False
        while not stopping or pending:
            if not pending:
                job = await self.queue.get()
                if job is None:
                    stopping = True
                    continue
                pending.append(job)
            deadline = asyncio.get_running_loop().time() + self.limits.max_wait_ms / 1000
            while not stopping and sum(len(j.texts) for j in pending) < self.limits.max_batch:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    break
                if job is None:
                    stopping = True
                    break
                pending.append(job)
            key = _labels_key(pending[0].labels)
            batch = [j for j in pending if _labels_key(j.labels) == key]
            pending = [j for j in pending if _labels_key(j.labels) != key]
            texts = [t for j in batch for t in j.texts]
            try:
                labels = None if batch[0].labels is None else LabelSet.from_dict(batch[0].labels)
                results = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self.model.predict, texts, labels
                )
            except Exception as err:  # a bad label set fails its own requests only
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(err)
                continue
            self.batches += 1
            offset = 0
            for j in batch:
                if not j.future.done():
                    j.future.set_result(results[offset : offset + len(j.texts)])
                offset += len(j.texts)


def _labels_key(labels: Any) -> str:
    return json.dumps(labels, sort_keys=True)


async def _read_json(request: Any, limits: ServeLimits) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
        raise RequestError(413, f"request body is {length} bytes; the limit is {limits.max_body_bytes}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout):
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise RequestError(413, f"request body exceeds the limit of {limits.max_body_bytes} bytes")
    except TimeoutError:
        raise RequestError(408, f"request body did not arrive within {limits.body_timeout:g} s") from None
    try:
        data = json.loads(b"".join(chunks))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(400, f"body is not valid JSON: {err}") from None
    except RecursionError:
        raise RequestError(400, "body is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(400, "body must be a JSON object")
    return data


def _items(data: dict[str, Any], one: str, many: str, limits: ServeLimits) -> tuple[list[str], bool]:
    if (one in data) == (many in data):
        raise RequestError(422, f"give exactly one of '{one}' (a string) or '{many}' (a list of strings)")
    single = one in data
    items = [data[one]] if single else data[many]
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise RequestError(422, f"'{one}' must be a string and '{many}' a list of strings")
    if len(items) > limits.max_items:
        raise RequestError(413, f"{len(items)} items in '{many}'; the limit is {limits.max_items}")
    for i, t in enumerate(items):
        if len(t) > limits.max_chars:
            raise RequestError(413, f"item {i} has {len(t)} characters; the limit is {limits.max_chars}")
    return items, single


def _check_labels(labels: Any, limits: ServeLimits) -> None:
    """Bound the label set before any work: count and length of names and descriptions."""
    if isinstance(labels, dict):
        entries: list[Any] = [*labels.keys(), *labels.values()]
        count = len(labels)
    elif isinstance(labels, list):
        entries, count = list(labels), len(labels)
    else:
        return  # resolve_labels gives the type error
    if count > limits.max_labels:
        raise RequestError(422, f"{count} labels; at most {limits.max_labels} entity types per request")
    for entry in entries:
        texts = entry.values() if isinstance(entry, dict) else [entry]
        for text in texts:
            if isinstance(text, str) and len(text) > limits.max_label_chars:
                raise RequestError(
                    422, f"a label of {len(text)} characters ({text[:30]!r}...); the limit is {limits.max_label_chars}"
                )


def _lower_priority() -> None:
    """Run this thread at a lower CPU priority (Linux: nice is per thread), so that small requests win
    the cores while a large one runs; a no-op where that is not possible."""
    import os
    import threading

    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _large_lane_model(model: Any) -> Any:
    """The model the large-request lane runs: a second session of the same export on one thread, so a
    large request neither queues small requests behind its batches in the runtime's worker pool nor
    takes every core from them."""
    from stage2.runtime import NERRuntime

    if isinstance(model, NERRuntime):
        return NERRuntime(model.folder, threads=1)
    return model


def create_app(models: dict[str, Any], limits: ServeLimits | None = None) -> Any:
    """A Starlette app serving loaded runtime models: ``{"ner": NERRuntime, "summarization": ...}``."""
    import hmac

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    lim = limits or ServeLimits()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if "ner" in models:
            background = ThreadPoolExecutor(1, thread_name_prefix="stage2-large", initializer=_lower_priority)
            batcher = MicroBatcher(models["ner"], lim)
            large = MicroBatcher(_large_lane_model(models["ner"]), lim, executor=background)
            batcher.start()
            large.start()
            state["batcher"] = app.state.batcher = batcher
            state["large"] = app.state.large_batcher = large
        yield
        if "batcher" in state:
            await state["batcher"].stop()  # graceful: queued requests are answered first
            await state["large"].stop()
            background.shutdown()

    def authorised(request: Request) -> bool:
        if lim.token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), lim.token.encode())

    def endpoint(task: str, handler: Callable[[dict[str, Any]], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> JSONResponse:
            if not authorised(request):
                return JSONResponse(
                    {"error": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            if task not in models:
                return JSONResponse({"error": f"no {task} model is loaded"}, status_code=404)
            try:
                return JSONResponse(await handler(await _read_json(request, lim)))
            except RequestError as err:
                return JSONResponse({"error": str(err)}, status_code=err.status)
            except (ValueError, TypeError) as err:
                return JSONResponse({"error": str(err)}, status_code=422)

        return run

    async def ner(data: dict[str, Any]) -> dict[str, Any]:
        texts, single = _items(data, "text", "texts", lim)
        labels = data.get("labels")
        if labels is not None:
            _check_labels(labels, lim)
            labels = models["ner"].resolve_labels(labels).to_dict()  # validate before queueing
        large = sum(len(t) for t in texts) > lim.large_request_chars
        results = await state["large" if large else "batcher"].submit(texts, labels)
        return {"entities": results[0]} if single else {"results": results}

    async def summarize(data: dict[str, Any]) -> dict[str, Any]:
        docs, single = _items(data, "document", "documents", lim)
        options = {k: data[k] for k in ("max_sentences", "max_words", "ratio", "focus") if data.get(k) is not None}
        for key in ("max_sentences", "max_words"):
            if key in options and (not isinstance(options[key], int) or isinstance(options[key], bool)):
                raise RequestError(422, f"'{key}' must be an integer")
        if "ratio" in options and not isinstance(options["ratio"], (int, float)):
            raise RequestError(422, "'ratio' must be a number")
        if "focus" in options and not isinstance(options["focus"], str):
            raise RequestError(422, "'focus' must be a string")
        if len(options.get("focus", "")) > lim.max_chars:
            raise RequestError(413, f"'focus' has {len(options['focus'])} characters; the limit is {lim.max_chars}")
        results = await asyncio.to_thread(models["summarization"].summarize, docs, **options)
        return results[0] if single else {"results": results}

    async def health(request: Request) -> JSONResponse:
        info = {task: str(getattr(m, "folder", "")) if authorised(request) else "" for task, m in models.items()}
        return JSONResponse({"status": "ok", "models": info})

    routes = [
        Route("/ner", endpoint("ner", ner), methods=["POST"]),
        Route("/summarize", endpoint("summarization", summarize), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline for each request's headers: a client that opens a
    connection (or starts a request) and sends its headers slower than ``seconds`` is dropped.
    uvicorn times out idle keep-alive connections, but not a request whose headers trickle in."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                if self._header_timer is None:
                    self._arm()  # a request has begun (or is awaited) and its headers are not complete
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(seconds, self._drop)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _drop(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                logger.info("dropping a client that sent no complete headers within %.0f s", seconds)
                self.transport.close()

    return HeaderTimeoutH11Protocol


def load_models(paths: list[str], threads: int | None = None) -> dict[str, Any]:
    """Runtime models by task from export folders or names (at most one per task)."""
    import stage2.runtime as rt

    models: dict[str, Any] = {}
    for path in paths:
        model = rt.load(path, threads=threads)
        if model.task in models:
            raise ValueError(f"two {model.task} models given ({models[model.task].folder} and {path})")
        models[model.task] = model
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
        http=header_timeout_protocol(lim.header_timeout),
        timeout_keep_alive=int(max(1, round(lim.keep_alive))),
        limit_concurrency=lim.max_connections,
        h11_max_incomplete_event_size=64 * 1024,  # headers larger than this get 400
        timeout_graceful_shutdown=30,
    )
