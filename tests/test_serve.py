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
    app = create_app(models, ServeLimits(max_body_bytes=2000, max_items=8, max_chars=500, max_wait_ms=20))
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
        ("/ner", b'{"text": "' + b"a" * 3000 + b'"}', 413, "limit"),
        ("/summarize", b'{"document": "x", "max_sentences": "3"}', 422, "integer"),
    ],
)
def test_bad_requests_get_clear_4xx(client, path, body, status, message):
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
