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
from stage2.serve.connections import header_timeout_protocol
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


ROUTES = {"ner": "ner", "extractive-summarization": "summarization", "written-summarization": "summarization"}
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
