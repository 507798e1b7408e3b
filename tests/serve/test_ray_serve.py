"""The HTTP app as a Ray Serve deployment on a local Ray: the runtime's answers and the plain service's limits."""

from __future__ import annotations

import socket

import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

import stage2.runtime as rt  # noqa: E402
from stage2.serve import ServeLimits  # noqa: E402
from stage2.serve.ray_serve import ray_application  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ray_serve_answers_like_the_runtime_with_the_same_limits(ner_export):
    from ray import serve

    port = _free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(ray_application([str(ner_export[0])], ServeLimits(max_labels=3)), route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        text = "Ada Lovelace met Charles Babbage in London."
        answer = httpx.post(f"{url}/ner", json={"text": text, "labels": ["person", "city"]}, timeout=60)
        assert answer.status_code == 200
        assert answer.json()["entities"] == rt.load(ner_export[0]).predict(text, labels=["person", "city"])
        too_many = httpx.post(f"{url}/ner", json={"text": text, "labels": ["a", "b", "c", "d"]}, timeout=60)
        assert too_many.status_code == 422 and "at most 3" in too_many.json()["error"]
        assert httpx.get(f"{url}/health", timeout=60).json()["status"] == "ok"
    finally:
        serve.shutdown()
        ray.shutdown()
    with pytest.raises(ValueError, match="replicas"):
        ray_application([str(ner_export[0])], replicas=2, max_replicas=1)
