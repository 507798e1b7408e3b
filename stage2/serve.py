"""HTTP JSON service for exported models, on Starlette (ASGI) and uvicorn.

Endpoints: ``POST /ner`` ``{"text": str}`` or ``{"texts": [str, ...]}``, optional ``"labels"``;
``POST /summarize`` ``{"document": str}`` or ``{"documents": [...]}``, optional ``max_sentences``,
``max_words``, ``ratio``, ``focus``; ``GET /health``.

Concurrent NER requests are micro-batched: texts that arrive within ``max_wait_ms`` of each other
(up to ``max_batch`` texts, same label set) go through the model together. Oversized bodies get
413, bad JSON 400, missing or wrong fields 422. On shutdown queued work is finished first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from stage2.labels import LabelSet

logger = logging.getLogger(__name__)


@dataclass
class ServeLimits:
    """Request limits of the service."""

    max_body_bytes: int = 1_000_000
    max_items: int = 64  # texts or documents per request
    max_chars: int = 100_000  # per text or document
    max_batch: int = 32  # texts per model call when micro-batching
    max_wait_ms: float = 5.0


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
                results = await asyncio.to_thread(self.model.predict, texts, labels)
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
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise RequestError(413, f"request body exceeds the limit of {limits.max_body_bytes} bytes")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(400, f"body is not valid JSON: {err}") from None
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
        if "ner" in models:
            batcher = MicroBatcher(models["ner"], lim)
            batcher.start()
            state["batcher"] = app.state.batcher = batcher
        yield
        if "batcher" in state:
            await state["batcher"].stop()  # graceful: queued requests are answered first

    def endpoint(task: str, handler: Callable[[dict[str, Any]], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> JSONResponse:
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
            labels = models["ner"].resolve_labels(labels).to_dict()  # validate before queueing
        results = await state["batcher"].submit(texts, labels)
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
        results = await asyncio.to_thread(models["summarization"].summarize, docs, **options)
        return results[0] if single else {"results": results}

    async def health(request: Request) -> JSONResponse:
        info = {task: str(getattr(m, "folder", "")) for task, m in models.items()}
        return JSONResponse({"status": "ok", "models": info})

    routes = [
        Route("/ner", endpoint("ner", ner), methods=["POST"]),
        Route("/summarize", endpoint("summarization", summarize), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


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

    app = create_app(load_models(paths), limits)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=30)
