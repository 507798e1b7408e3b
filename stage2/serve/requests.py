"""What a request may be: the service's limits, reading a JSON body within them, and the checks of
each endpoint's fields (400 bad JSON, 401 token, 408 slow body, 413 too large, 415 not JSON, 422 wrong fields,
429 a full lane)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from stage2.labels import MAX_LABELS


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
    per_client_connections: int | None = None  # connections one client address may hold (None: a quarter of the above)
    graceful_seconds: float = 30.0  # on SIGTERM/SIGINT: time for queued and running requests to finish
    max_seconds: float = 30.0  # a request's compute deadline: then 503, and its queued work is dropped
    max_queue: int = 64  # requests queued or running per lane (small/large NER and summaries); beyond it 429
    allowed_hosts: tuple[str, ...] | None = None  # Host header values served (e.g. "api.example.com", "*.example.com")
    token: str | None = field(default=None, repr=False)  # bearer token required on POST requests

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_items", "max_chars", "max_labels", "max_label_chars", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("header_timeout", "body_timeout", "keep_alive", "max_seconds", "graceful_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {self.max_queue}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")
        if self.per_client_connections is not None and self.per_client_connections < 1:
            raise ValueError(f"per_client_connections must be >= 1, got {self.per_client_connections}")

    @property
    def client_connections(self) -> int:
        """Connections one client address may hold: ``per_client_connections``, or a quarter of
        ``max_connections`` (at least 1), so no one client can take every slot."""
        return self.per_client_connections or max(1, self.max_connections // 4)


class RequestError(Exception):
    """A client error, answered with its HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


RETRY_AFTER_SECONDS = 1
"""``Retry-After`` of a 429 from a full lane."""


def lane_full(lane: str, waiting: int) -> RequestError:
    """The 429 of a lane with ``waiting`` requests already queued."""
    return RequestError(
        429,
        f"the {lane} lane is full ({waiting} requests running or queued); retry after {RETRY_AFTER_SECONDS} s",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _json_content_type(value: str) -> bool:
    """``application/json`` (parameters such as ``charset`` allowed) or a ``+json`` type."""
    kind = value.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


async def _read_json(request: Any, limits: ServeLimits) -> dict[str, Any]:
    kind = request.headers.get("content-type", "")
    if not _json_content_type(kind):
        raise RequestError(415, f"the body must be JSON sent as Content-Type: application/json, got {kind!r:.80}")
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


NER_FIELDS = ("text", "texts", "labels", "threshold")
SUMMARY_FIELDS = ("document", "documents", "max_sentences", "max_words", "ratio", "focus")


def check_fields(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """A request field this endpoint does not read is an error naming it and the allowed ones (a typo
    such as ``max_sentence`` is never silently dropped)."""
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; this endpoint reads {', '.join(allowed)}")


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


def _threshold(data: dict[str, Any]) -> float | None:
    """The ``threshold`` of a /ner request (default: the model's own), checked (422)."""
    from stage2.ner.decoding import DEFAULT_THRESHOLD, check_threshold

    value = data.get("threshold", DEFAULT_THRESHOLD)
    try:
        return check_threshold(value)
    except ValueError as err:
        raise RequestError(422, f"'threshold': {err}") from None


def _authorised(request: Any, token: str | None) -> bool:
    """Whether ``request`` carries the bearer ``token`` (always, when no token is set)."""
    import hmac

    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _summary_options(data: dict[str, Any], lim: ServeLimits) -> dict[str, Any]:
    """The budget and focus of a /summarize request, type-checked (422) and size-checked (413)."""
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
    return options
