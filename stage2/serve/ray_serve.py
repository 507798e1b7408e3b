"""``stage2 serve --ray``: the same HTTP app as a Ray Serve deployment, scaled over replicas.

Each replica loads the exports once and runs the plain service's Starlette app (routes, request
limits, micro-batching, token check). Connection-level limits (header and body timeouts, keep-alive,
connection count) belong to uvicorn in the plain service; under Ray Serve its HTTP proxy handles
connections instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stage2.serve.requests import ServeLimits

logger = logging.getLogger(__name__)


def ray_application(
    paths: list[str],
    limits: ServeLimits | None = None,
    replicas: int = 1,
    max_replicas: int | None = None,
    threads: int = 1,
) -> Any:
    """A bound Ray Serve application serving the exports ``paths`` (folders or installed names) with
    ``replicas`` copies, or autoscaling between ``replicas`` and ``max_replicas``; ``threads`` cores
    each."""
    from ray import serve

    from stage2.serve.app import create_app, load_models

    if replicas < 1 or threads < 1 or (max_replicas is not None and max_replicas < replicas):
        raise ValueError(
            f"need 1 <= replicas <= max_replicas and threads >= 1, got {replicas}, {max_replicas}, {threads}"
        )
    refs = [str(Path(p).resolve()) if Path(p).exists() else p for p in paths]
    lim = limits or ServeLimits()

    def build() -> Any:  # runs on each replica
        return create_app(load_models(refs, threads), lim)

    # A replica takes up to two micro-batches of requests at once (Ray Serve's default, 5, kept its batcher from
    # filling a batch); autoscaling adds a replica when the ones running each hold more than a quarter batch
    # (a full batch, 32, never scaled up under 16 clients, though two replicas answer more than one).
    scaling: dict[str, Any] = (
        {
            "autoscaling_config": {
                "min_replicas": replicas,
                "max_replicas": max_replicas,
                "target_ongoing_requests": max(2, lim.max_batch // 4),
            }
        }
        if max_replicas is not None and max_replicas > replicas
        else {"num_replicas": replicas}
    )
    ingress = serve.ingress(build)(type("Stage2Service", (), {}))
    deployment: Any = serve.deployment(
        ingress,
        name="stage2",
        ray_actor_options={"num_cpus": threads},
        max_ongoing_requests=2 * lim.max_batch,
        **scaling,
    )
    return deployment.bind()


def serve_on_ray(
    paths: list[str],
    address: str = "local",
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: ServeLimits | None = None,
    replicas: int = 1,
    max_replicas: int | None = None,
    threads: int = 1,
) -> None:
    """Start a new local Ray (``address`` "local") or join a cluster (``"auto"`` or an address), deploy the service on
    ``host:port`` and block until interrupted."""
    import ray
    from ray import serve

    ray.init(address=address, include_dashboard=False)
    serve.start(http_options={"host": host, "port": port})
    logger.info("stage2 on Ray Serve at http://%s:%d (%d replica(s))", host, port, replicas)
    serve.run(ray_application(paths, limits, replicas, max_replicas, threads), route_prefix="/", blocking=True)
