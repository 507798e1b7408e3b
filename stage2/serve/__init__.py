"""HTTP JSON service for exported models, on Starlette (ASGI) and uvicorn (modules: requests, batching, app).

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

from stage2.serve.app import create_app, header_timeout_protocol, load_models, serve
from stage2.serve.requests import RequestError, ServeLimits

__all__ = ["RequestError", "ServeLimits", "create_app", "header_timeout_protocol", "load_models", "serve"]
