from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

import stage2.runtime as rt
from stage2.serve import ServeLimits, create_app

DOC = "The council met on Monday. It approved the budget. Critics were unhappy. The mayor said little."


@pytest.fixture(scope="module")
def models(ner_export, summarizer_export):
    return {"ner": rt.load(ner_export[0]), "summarization": rt.load(summarizer_export[0])}


@pytest.fixture
def client(models):
    limits = ServeLimits(max_body_bytes=8000, max_items=8, max_chars=500, max_wait_ms=20)
    app = create_app(models, limits)
    with TestClient(app) as c:
        yield c


def test_health_and_answers_match_the_runtime(client, models):
    health = client.get("/health").json()
    assert health["status"] == "ok" and set(health["models"]) == {"ner", "summarization"}
    text = "Ada Lovelace met Charles Babbage in London."
    r = client.post("/ner", json={"text": text})
    assert r.status_code == 200 and r.json()["entities"] == models["ner"].predict(text)
    r = client.post("/ner", json={"texts": [text, ""], "labels": {"animal": "an animal"}})
    assert r.json()["results"] == models["ner"].predict([text, ""], labels={"animal": "an animal"})
    r = client.post("/summarize", json={"document": DOC, "max_sentences": 2})
    assert r.status_code == 200 and r.json() == models["summarization"].summarize(DOC, max_sentences=2)


def test_threshold_is_applied_per_request(entity_export):
    runtime = rt.load(entity_export[0])
    text = "Ada Lovelace met Charles Babbage in London."
    everything = runtime.predict(text)
    cut = sorted(e["score"] for e in everything)[len(everything) // 2]
    with TestClient(create_app({"ner": runtime}, ServeLimits(max_wait_ms=20))) as client:
        r = client.post("/ner", json={"text": text, "threshold": cut})
        assert r.status_code == 200 and r.json()["entities"] == runtime.predict(text, threshold=cut)
        assert 0 < len(r.json()["entities"]) < len(everything)
        assert client.post("/ner", json={"text": text}).json()["entities"] == everything


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/ner", b"{not json", 400, "not valid JSON"),
        ("/ner", b"[1, 2]", 400, "JSON object"),
        ("/ner", b"{}", 422, "exactly one"),
        ("/ner", b'{"text": 5}', 422, "must be a string"),
        ("/ner", b'{"text": "a", "labels": []}', 422, ""),
        ("/ner", b'{"text": "a", "labels": [' + b",".join(b'"t%d"' % i for i in range(51)) + b"]}", 422, "at most 50"),
        ("/ner", b'{"texts": ["a","a","a","a","a","a","a","a","a"]}', 413, "limit is 8"),
        ("/ner", b'{"text": "' + b"a" * 600 + b'"}', 413, "characters"),
        ("/ner", b'{"text": "' + b"a" * 9000 + b'"}', 413, "limit"),
        ("/summarize", b'{"document": "x", "max_sentences": "3"}', 422, "integer"),
        ("/ner", b"[" * 100_000, 413, "limit"),
        ("/ner", b"[" * 3000 + b"]" * 3000, 400, "nested too deeply"),
        ("/ner", b'{"text": "a", "labels": {"person": "' + b"x" * 300 + b'"}}', 422, "the limit is 200"),
        ("/summarize", b'{"document": "x", "focus": 5}', 422, "'focus' must be a string"),
        ("/ner", b'{"text": "a", "threshold": 1.5}', 422, "'threshold': threshold must be a number from 0 to 1"),
        ("/ner", b'{"text": "a", "threshold": "0.5"}', 422, "'threshold'"),
    ],
)
def test_bad_requests_get_clear_4xx(client, path, body, status, message):
    """Each bad request gets its 4xx and a message, never a 500 (deep nesting was a RecursionError)."""
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert message in r.json()["error"]


def test_concurrent_requests_are_micro_batched_and_none_is_lost(models, client):
    texts = [f"Person{i} met Person{i + 1} in City{i}." for i in range(40)]
    labels = [None, ["person"], None, {"city": "a town"}]
    jobs = [(t, labels[i % 4]) for i, t in enumerate(texts)]

    def call(job):
        body = {"text": job[0]} if job[1] is None else {"text": job[0], "labels": job[1]}
        return client.post("/ner", json=body).json()["entities"]

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(call, jobs))
    assert got == [models["ner"].predict(t, labels=lb) for t, lb in jobs]
    assert client.app.state.batcher.batches < len(jobs)  # concurrent requests shared model calls


def test_missing_model_gives_404(ner_export):
    app = create_app({"ner": rt.load(ner_export[0])})
    with TestClient(app) as c:
        r = c.post("/summarize", json={"document": DOC})
        assert r.status_code == 404 and "no summarization model" in r.json()["error"]


def test_bearer_token(models):
    app = create_app(models, ServeLimits(token="s3cret"))
    with TestClient(app) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            r = c.post("/ner", json={"text": "Ada met Bob."}, headers=headers)
            assert r.status_code == 401 and "bearer token" in r.json()["error"]
        r = c.post("/ner", json={"text": "Ada met Bob."}, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and "entities" in r.json()
        assert c.get("/health").json()["models"] == {"ner": "", "summarization": ""}  # no paths without the token


def test_slow_body_gets_408():
    """A body that trickles in past body_timeout ends in 408 (TestClient sends bodies whole, so the
    request is faked)."""
    import asyncio
    import types

    from stage2.serve.requests import RequestError, _read_json

    class Trickle:
        headers = types.MappingProxyType({"content-type": "application/json"})

        async def stream(self):
            yield b'{"text": '
            await asyncio.sleep(1.0)
            yield b'"Ada"}'

    with pytest.raises(RequestError, match=r"did not arrive within 0\.2 s") as err:
        asyncio.run(_read_json(Trickle(), ServeLimits(body_timeout=0.2)))
    assert err.value.status == 408
    assert asyncio.run(_read_json(Trickle(), ServeLimits(body_timeout=5))) == {"text": "Ada"}


def test_large_requests_run_in_their_own_lane(models):
    app = create_app(models, ServeLimits(large_request_chars=100, max_wait_ms=1))
    with TestClient(app) as c:
        big = " ".join(["Ada met Bob in Paris."] * 20)
        assert c.post("/ner", json={"text": big}).json()["entities"] == models["ner"].predict(big)
        assert c.post("/ner", json={"text": "Ada met Bob."}).status_code == 200
        assert (app.state.large_batcher.batches, app.state.batcher.batches) == (1, 1)


def test_limits_are_validated():
    with pytest.raises(ValueError, match="header_timeout"):
        ServeLimits(header_timeout=0)
    with pytest.raises(ValueError, match="max_labels"):
        ServeLimits(max_labels=0)


def test_client_that_trickles_its_headers_is_dropped(models):
    """uvicorn with the header-timeout protocol: a slowloris client is disconnected, others are served."""
    import socket
    import threading
    import time

    uvicorn = pytest.importorskip("uvicorn")
    from stage2.serve import header_timeout_protocol

    app = create_app(models, ServeLimits())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=header_timeout_protocol(0.5), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 20
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /ner HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        slow.settimeout(5)
        started = time.time()
        assert slow.recv(100) == b""  # closed by the server
        assert time.time() - started < 3
        slow.close()
        with socket.create_connection(("127.0.0.1", port)) as ok:
            body = b'{"text": "Ada met Bob."}'
            ok.sendall(b"POST /ner HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ")
            ok.sendall(str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            ok.settimeout(10)
            reply = b""
            while chunk := ok.recv(4096):
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200") and b"entities" in reply
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/summarize", {"document": DOC, "max_sentence": 1}, "max_sentence"),
        ("/summarize", {"document": DOC, "threshold": 0.9}, "threshold"),
        ("/ner", {"text": "Ada met Bob.", "label": ["person"]}, "label"),
    ],
)
def test_unknown_request_fields_are_named_not_dropped(client, path, body, field):
    """Issue 24: {"max_sentence": 1} and {"threshold": 0.9} on /summarize were silently dropped."""
    r = client.post(path, json=body)
    assert r.status_code == 422
    message = r.json()["error"]
    assert f"'{field}'" in message and ("max_sentences" in message or "labels" in message)


class _SlowSummarizer:
    """A summariser that holds its lane until released (a saturated summary lane)."""

    task = "summarization"

    def __init__(self):
        import threading

        self.release = threading.Event()
        self.started = 0

    def summarize(self, docs, **options):
        self.started += 1
        self.release.wait(30)
        return [{"summary": "", "sentences": []} for _ in docs]


def test_summaries_and_ner_have_their_own_lanes_and_full_lanes_answer_429(models):
    """Issue 23: eight large /summarize requests made a small /ner request time out at 60 s (both ran in
    asyncio's default thread pool), and no queue was bounded."""
    import time

    slow = _SlowSummarizer()
    limits = ServeLimits(max_queue=2, max_wait_ms=5, large_request_chars=50)
    app = create_app({"ner": models["ner"], "summarization": slow}, limits)
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        big = "A long document sentence. " * 10
        waiting = [pool.submit(client.post, "/summarize", json={"document": big}) for _ in range(2)]
        deadline = time.monotonic() + 10
        while slow.started < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the second request is queued behind the first
        full = client.post("/summarize", json={"document": big})
        assert full.status_code == 429 and full.headers["Retry-After"] == "1"
        assert "large summary lane is full" in full.json()["error"]
        started = time.perf_counter()
        r = client.post("/ner", json={"text": "Ada Lovelace met Charles Babbage in London."})
        assert r.status_code == 200 and time.perf_counter() - started < 5  # not behind the summaries
        small = pool.submit(client.post, "/summarize", json={"document": "Short one. Two."})
        time.sleep(0.2)
        assert slow.started == 2  # the small-summary lane runs beside the large one
        slow.release.set()
        assert all(f.result().status_code == 200 for f in waiting) and small.result().status_code == 200


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("", 415),
        ("application/json; charset=utf-8", 200),
    ],
)
def test_a_json_content_type_is_required(client, kind, status):
    """Issue 23: a form-encoded or untyped body was read as JSON."""
    headers = {"content-type": kind} if kind else {}
    r = client.post("/ner", content=b'{"text": "Ada met Bob."}', headers=headers)
    assert r.status_code == status
    if status == 415:
        assert "application/json" in r.json()["error"]


def test_a_compute_deadline_answers_503_and_drops_queued_work():
    """Issue 23: no compute deadline; abandoned requests kept the server busy for minutes."""
    import time

    slow = _SlowSummarizer()
    app = create_app({"summarization": slow}, ServeLimits(max_seconds=0.5, large_request_chars=10_000))
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        started = time.perf_counter()
        first = pool.submit(client.post, "/summarize", json={"document": "One. Two."})
        time.sleep(0.1)
        second = pool.submit(client.post, "/summarize", json={"document": "Three. Four."})  # queued behind it
        assert first.result().status_code == 503 and second.result().status_code == 503
        assert "longer than 0.5 s" in second.result().json()["error"]
        assert time.perf_counter() - started < 5
        slow.release.set()
        time.sleep(0.3)
        assert slow.started == 1  # the queued request's work never ran


def test_work_is_cancelled_when_the_client_disconnects():
    import asyncio

    from stage2.serve.app import ClientGone, _bounded

    class GoneAfterAWhile:
        calls = 0

        async def is_disconnected(self):
            self.calls += 1
            return self.calls > 2

    async def main():
        work_done = asyncio.Event()

        async def work():
            await asyncio.sleep(30)
            work_done.set()

        started = asyncio.get_running_loop().time()
        with pytest.raises(ClientGone):
            await _bounded(GoneAfterAWhile(), work(), 60)
        assert asyncio.get_running_loop().time() - started < 5 and not work_done.is_set()

    asyncio.run(main())


def _flood_then_serve(models, protocol, addresses: list[str], connect_first: bool = False) -> bytes:
    """Start a service (connection limit 8) with ``protocol``, hold one half-open connection (a request line and
    nothing more) from each of ``addresses``, then send a whole request from 127.0.0.2 (connected before the
    flood with ``connect_first``); its reply."""
    import socket
    import threading
    import time

    uvicorn = pytest.importorskip("uvicorn")
    app = create_app(models, ServeLimits())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol, limit_concurrency=8, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    flood = []
    try:
        deadline = time.time() + 20
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        ok = socket.socket()
        ok.bind(("127.0.0.2", 0))  # another client address
        if connect_first:
            ok.connect(("127.0.0.1", port))
        for address in addresses:
            s = socket.socket()
            s.bind((address, 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"POST /ner HTTP/1.1\r\n")
            flood.append(s)
        time.sleep(0.5)
        with ok:
            if not connect_first:
                ok.connect(("127.0.0.1", port))
            body = b'{"text": "Ada met Bob."}'
            head = b"POST /ner HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            ok.sendall(head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            ok.settimeout(10)
            reply = b""
            while chunk := ok.recv(4096):
                reply += chunk
        return reply
    finally:
        for s in flood:
            s.close()
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize(("per_client", "status"), [(None, b"503"), (4, b"200")])
def test_one_clients_half_open_connections_cannot_lock_out_the_others(models, per_client, status):
    """Issue 23: 300 connections that each sent only a request line got every legitimate request a 503.
    With a per-client share, one address holds at most its share; another address is still served."""
    from stage2.serve import header_timeout_protocol

    protocol = header_timeout_protocol(30.0, per_client=per_client)  # None: the lock-out, reproduced
    reply = _flood_then_serve(models, protocol, ["127.0.0.1"] * 30)
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:80]


@pytest.mark.parametrize(("capacity", "status"), [(None, b"503"), (6, b"200")])
def test_half_open_connections_from_many_addresses_cannot_lock_out_the_others(models, capacity, status):
    """Issue 23: the per-client share does not help when each address holds one half-open connection. With a
    capacity (below the connection limit), a new connection closes the one that has waited longest for its
    headers, so a client that sends a whole request is served. The capacity is two below the limit: the evicted
    connection may still count when the new request is read."""
    from stage2.serve import header_timeout_protocol

    protocol = header_timeout_protocol(30.0, per_client=4, capacity=capacity)  # None: the lock-out, reproduced
    reply = _flood_then_serve(models, protocol, [f"127.0.0.{10 + i}" for i in range(30)])
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:80]


def test_a_client_that_connected_just_before_a_flood_is_still_served(models):
    """Issue 23 (found by the soak): a connection opened just before a burst of half-open ones was the one
    that had waited longest for its headers, so the burst closed it (BrokenPipe at the client). Now only a
    connection that has waited a grace second is closed when another joins, and whole headers arriving make
    room by closing those still waiting."""
    from stage2.serve import header_timeout_protocol

    protocol = header_timeout_protocol(30.0, per_client=4, capacity=6)
    reply = _flood_then_serve(models, protocol, [f"127.0.0.{10 + i}" for i in range(30)], connect_first=True)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:80]


def test_an_allowed_hosts_list_refuses_other_host_headers(models):
    """Issue 23: an optional Host allow-list (DNS rebinding, requests meant for another site)."""
    app = create_app(models, ServeLimits(allowed_hosts=("api.example.com",)))
    with TestClient(app, base_url="http://api.example.com") as ok:
        assert ok.post("/ner", json={"text": "Ada met Bob."}).status_code == 200
    with TestClient(app, base_url="http://evil.example.net") as other:
        assert other.post("/ner", json={"text": "Ada met Bob."}).status_code == 400


class _SteppingModel:
    """A model whose calls run in steps and honour withdrawal between them, as the runtime's batches do."""

    task = "ner"

    def __init__(self, steps: int = 100, pause: float = 0.02):
        self.steps, self.pause, self.done_steps = steps, pause, 0

    def _work(self):
        import time

        from stage2.runtime._base import check_stop

        for _ in range(self.steps):
            check_stop()
            time.sleep(self.pause)
            self.done_steps += 1

    def predict(self, texts, labels=None, threshold=0.5):
        self._work()
        return [[] for _ in texts]

    def summarize(self, docs, **options):
        self._work()
        return [{"summary": "", "sentences": []} for _ in docs]


@pytest.mark.parametrize("path", ["/ner", "/summarize"])
def test_a_running_model_call_stops_at_the_deadline(path):
    """Issue 23: a request past its deadline got its 503, but its running model call went on to the end
    (a large NER batch kept the CPU for minutes). Now the call stops at its next batch."""
    import time

    model = _SteppingModel()
    task = "ner" if path == "/ner" else "summarization"
    app = create_app({task: model}, ServeLimits(max_seconds=0.3, large_request_chars=10_000))
    body = {"text": "Ada met Bob."} if path == "/ner" else {"document": "One. Two."}
    with TestClient(app) as client:
        assert client.post(path, json=body).status_code == 503
        time.sleep(0.5)
        stopped_at = model.done_steps
        time.sleep(0.3)
    assert model.done_steps == stopped_at < 40  # 0.3 s of 0.02 s steps (not all 100), then nothing more


def test_the_ner_lane_bounds_queued_and_running_requests_alike():
    """Review item: the NER micro-batcher counted only queued requests (a running batch was free), the
    summary lanes queued plus running; both now count a request from arrival to answer."""
    import asyncio

    from stage2.serve.batching import MicroBatcher
    from stage2.serve.requests import RequestError

    async def scenario():
        model = _SteppingModel(steps=10, pause=0.02)
        batcher = MicroBatcher(model, ServeLimits(max_queue=1, max_wait_ms=1))
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["Ada met Bob."], None))
        await asyncio.sleep(0.05)  # running now: nothing is queued, one request is in the lane
        with pytest.raises(RequestError) as err:
            await batcher.submit(["Bob met Ada."], None)
        assert err.value.status == 429
        await first
        await batcher.stop()

    asyncio.run(scenario())


def test_a_written_summariser_answers_on_the_summary_route(tiny_written, tmp_path):
    from stage2.export.written import export_written
    from stage2.serve.app import load_models

    export_written(tiny_written, tmp_path / "written")
    models = load_models([str(tmp_path / "written")])
    doc = "Anna: Are we meeting at five?\nTom: Yes."
    with TestClient(create_app(models, ServeLimits(max_wait_ms=5))) as c:
        answer = c.post("/summarize", json={"document": doc, "max_words": 5}).json()
        refused = c.post("/summarize", json={"document": doc, "focus": "when?"})
    assert answer["abstractive"] is True and len(answer["summary"].split()) <= 5
    assert answer == models["summarization"].summarize(doc, max_words=5)
    assert refused.status_code == 422 and "focus" in refused.json()["error"]
