from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import stage2.runtime as rt
from stage2.registry import EXPORT_CONFIG

TEXTS = [
    "Ada Lovelace met Charles Babbage in London.",
    "",
    "   ",
    "The quick brown fox jumps over the lazy dog near the river bank in Paris, France, on Monday morning. " * 3,
    "NASA and the ESA launched Artemis; Dr. Smith said it cost $4.1 billion.",
]
DOCUMENT = (
    "The council approved the budget on Monday. Spending on schools rises by 4%. Critics said it was too "
    'small. The mayor defended the plan. "We did what we could," she said. A final vote comes next month. '
    "Businesses welcomed the tax freeze. Unions asked for more."
)


def same_entities(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "score"} == {k: v for k, v in y.items() if k != "score"}
        assert abs(x["score"] - y["score"]) < 1e-3


def test_export_writes_a_complete_folder_with_parity(ner_export):
    out, _, report = ner_export
    for name in ("model.onnx", "head.npz", "tokenizer.json", EXPORT_CONFIG, "export_report.json", "README.md"):
        assert (out / name).exists(), name
    saved = json.loads((out / "export_report.json").read_text())
    assert saved["parity"]["max_abs_diff"] <= 1e-4
    assert saved["opset"] >= 14 and saved["versions"]["onnxruntime"]
    assert saved["metric"] is None and "no dev data" in saved["metric_note"]
    assert report["parity"] == saved["parity"]


def test_runtime_matches_torch_with_own_and_run_time_labels(ner_export):
    out, model, _ = ner_export
    runtime = rt.load(out)
    assert isinstance(runtime, rt.NERRuntime)
    same_entities_all = [runtime.predict(TEXTS), model.predict(TEXTS)]
    for a, b in zip(*same_entities_all, strict=True):
        same_entities(a, b)
    labels = {"politician": "a person who holds political office", "river": "a river"}
    for text in TEXTS:
        same_entities(runtime.predict(text, labels=labels), model.predict(text, labels=labels))
    assert runtime.predict("   ") == []


def test_runtime_threshold_matches_torch(entity_export):
    out, model = entity_export
    runtime = rt.load(out)
    words = [TEXTS[0].split()]
    labels = {"politician": "", "river": "", "person": "", "city": ""}
    everything = runtime.predict_words(words, labels=labels)[0]
    scores = sorted({s for _, s in everything})
    cut = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2  # between two scores: no float ties
    kept = runtime.predict_words(words, labels=labels, threshold=cut)[0]
    assert kept == [(span, s) for span, s in everything if s >= cut]
    assert [span for span, _ in kept] == [span for span, _ in model.predict_words(words, labels, threshold=cut)[0]]
    with pytest.raises(ValueError, match="threshold"):
        runtime.predict(TEXTS[0], threshold=-1)


def test_runtime_windows_long_inputs_like_torch(ner_export):
    out, model, _ = ner_export
    runtime = rt.load(out)
    words = [f"w{i}" for i in range(200)]  # far beyond the 32-subword window
    assert len(runtime.make_windows(0, words)) > 1
    a = runtime.predict_words([words])[0]
    b = model.predict_words([words])[0]
    assert [s for s, _ in a] == [s for s, _ in b]
    ctx = (["before", "this"], ["after", "that"])
    assert [w.input_ids for w in runtime.make_windows(0, ["Ada"], ctx)] == [
        w.input_ids for w in model.make_windows(0, ["Ada"], ctx)
    ]


def test_export_never_changes_the_callers_model(_semantic_model, tmp_path, copy_model):
    from stage2.export import export

    model = copy_model(_semantic_model).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export(model, tmp_path / "x")
    assert model.training
    assert all(np.array_equal(before[k].numpy(), v.numpy()) for k, v in model.state_dict().items())


def test_runtime_is_thread_safe(ner_export):
    out, _, _ = ner_export
    runtime = rt.load(out)
    label_sets = [None, {"animal": "an animal"}, ["person", "city"]]
    jobs = [(TEXTS[i % len(TEXTS)], label_sets[i % 3]) for i in range(24)]
    expected = [runtime.predict(t, labels=lb) for t, lb in jobs]
    fresh = rt.load(out)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda job: fresh.predict(job[0], labels=job[1]), jobs))
    assert got == expected


def test_runtime_rejects_bad_labels_and_inputs(ner_export):
    out, _, _ = ner_export
    runtime = rt.load(out)
    with pytest.raises(ValueError):
        runtime.predict("Ada", labels={})
    with pytest.raises(TypeError, match="text 1"):
        runtime.predict(["ok", 3])


def test_linear_head_export_and_label_subsets(_linear_model, tmp_path, copy_model):
    from stage2.export import export

    model = copy_model(_linear_model)
    report = export(model, tmp_path / "lin")
    assert report["parity"]["max_abs_diff"] <= 1e-4
    runtime = rt.load(tmp_path / "lin")
    own = model.labels.keys
    for labels in (None, [own[-1]]):
        same_entities(runtime.predict(TEXTS[0], labels=labels), model.predict(TEXTS[0], labels=labels))
    with pytest.raises(ValueError, match="cannot read others"):
        runtime.predict("Ada", labels=["unknown"])


def test_summarizer_runtime_matches_torch(summarizer_export):
    out, model, report = summarizer_export
    assert report["parity"]["max_abs_diff"] <= 1e-4
    runtime = rt.load(out)
    assert isinstance(runtime, rt.SummarizerRuntime)
    dialogue = "Ann: Are we still on for lunch?\nBob: Yes, at noon.\nAnn: Great, I'll book a table.\nBob: Thanks!"
    cases = [{"max_sentences": 2}, {"max_words": 20}, {"ratio": 0.5}, {"max_sentences": 2, "focus": "taxes"}]
    meeting = "\n".join(
        f"P{i % 3}: We discuss item {i}, the {('budget', 'design', 'colour')[i // 10]}." for i in range(30)
    )
    focused = {"max_words": 30, "focus": "What did they say about the design?"}  # neighbourhood terms count
    for doc, kwargs in [(DOCUMENT, k) for k in cases] + [(dialogue, {"max_sentences": 2}), (meeting, focused)]:
        a, b = runtime.summarize(doc, **kwargs), model.summarize(doc, **kwargs)
        assert [s["index"] for s in a["sentences"]] == [s["index"] for s in b["sentences"]]
        assert a["summary"] == b["summary"]
        for x, y in zip(a["sentences"], b["sentences"], strict=True):
            assert abs(x["score"] - y["score"]) < 1e-3
    assert runtime.summarize("  ") == {"summary": "", "sentences": []}
    batch = runtime.summarize([DOCUMENT, ""], max_sentences=1)
    assert len(batch) == 2 and batch[1]["summary"] == ""


def test_gelu_matches_torch():
    import torch

    from stage2.arrays import gelu

    x = np.linspace(-6, 6, 101, dtype=np.float32)
    assert np.abs(gelu(x) - torch.nn.functional.gelu(torch.from_numpy(x)).numpy()).max() < 1e-6


def test_runtime_never_imports_torch(ner_export, summarizer_export):
    code = f"""
import json
import sys
for name in ("torch", "transformers", "safetensors", "datasets"):
    sys.modules[name] = None  # any import of these now fails
import stage2.runtime as rt
ner = rt.load({str(ner_export[0])!r})
print(json.dumps(ner.predict("Ada Lovelace met Charles Babbage in London.", labels=["person", "city"])))
print(rt.load({str(summarizer_export[0])!r}).summarize({DOCUMENT!r}, max_sentences=1)["summary"] != "")
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers") and sys.modules[m] is not None))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    entities, summarised, loaded = out.stdout.splitlines()
    same = rt.load(ner_export[0]).predict("Ada Lovelace met Charles Babbage in London.", labels=["person", "city"])
    assert json.loads(entities) == same  # the torch-free process predicts what this one does
    assert (summarised, loaded) == ("True", "[]")


def test_load_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model 'no-such-model'"):
        rt.load("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"without stage2_export\.json"):
        rt.load(tmp_path / "empty")


def test_int8_runs_one_window_at_a_time_so_batching_changes_nothing(_semantic_model, tmp_path, copy_model):
    from stage2.export import export

    export(copy_model(_semantic_model), tmp_path / "q", quantize="int8")
    runtime = rt.load(tmp_path / "q")
    assert runtime.batch_limit(32) == 1
    texts = [t for t in TEXTS if t.strip()] * 3
    assert runtime.predict(texts, batch_size=32) == [runtime.predict(t) for t in texts]
    # on the CPU, `threads` one-input calls run side by side, each on one core; results are unchanged
    parallel, serial = rt.load(tmp_path / "q", threads=3), rt.load(tmp_path / "q", threads=1)
    assert (parallel.workers, serial.workers) == (3, 1)
    assert parallel.predict(texts, batch_size=32) == serial.predict(texts, batch_size=32)
    calls: list[str] = []
    original = parallel.run

    def spy(feeds):
        import threading

        calls.append(threading.current_thread().name)
        return original(feeds)

    parallel.run = spy
    parallel.predict(texts)
    assert any(name.startswith("stage2-runtime") for name in calls)
    # the sentences of a call are dealt into one group per worker, each windowed, run and decoded whole on it
    groups: list[tuple[str, int]] = []
    whole = parallel._spans

    def spans_spy(sentences, *rest):
        import threading

        groups.append((threading.current_thread().name, len(sentences)))
        return whole(sentences, *rest)

    parallel._spans = spans_spy
    assert parallel.predict(texts, batch_size=32) == serial.predict(texts, batch_size=32)
    assert len(groups) == 3 and all(name.startswith("stage2-runtime") for name, _ in groups)
    assert sum(n for _, n in groups) == len(texts) and max(n for _, n in groups) - min(n for _, n in groups) <= 1


def test_a_lone_int8_call_spreads_over_every_core_with_the_same_answers(_semantic_model, tmp_path, copy_model):
    import threading

    from stage2.export import export

    export(copy_model(_semantic_model), tmp_path / "q", quantize="int8")
    model, reference = rt.load(tmp_path / "q", threads=2), rt.load(tmp_path / "q", threads=1)
    text = "Marie Curie worked in Paris ."
    assert model._solo is None  # opened at the first lone call, not at load
    assert model.predict(text) == reference.predict(text)
    assert model._solo is not None and model._solo is not model.session
    solo_threads = model._solo.get_session_options().intra_op_num_threads
    assert (solo_threads, model.session.get_session_options().intra_op_num_threads) == (2, 1)

    # while another call of the model runs, a one-sentence call keeps to its own core
    inside, release = threading.Event(), threading.Event()
    used: list[bool] = []
    original = model.run

    def spy(feeds):
        from stage2.runtime._base import _SOLO

        used.append(_SOLO.get())
        if threading.current_thread().name.startswith("blocker"):
            inside.set()
            release.wait(10)
        return original(feeds)

    model.run = spy
    blocker = threading.Thread(target=model.predict, args=(text,), name="blocker")
    blocker.start()
    assert inside.wait(10)
    assert model.predict(text) == reference.predict(text)
    release.set()
    blocker.join(10)
    assert used == [True, False]  # the blocker ran alone on every core; the call beside it did not


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("stage2_export.json", b"{not json", r"stage2_export\.json: not valid JSON"),
        ("stage2_export.json", b"[1]", r"stage2_export\.json: expected a JSON object"),
        ("stage2_export.json", b'{"task": "ner"}', r"stage2_export\.json: missing field"),
        ("stage2_export.json", b"\xff\xfe", r"stage2_export\.json: not UTF-8"),
        ("model.onnx", b"garbage", r"model\.onnx: not a loadable ONNX model"),
        ("tokenizer.json", b"{oops", r"tokenizer\.json: cannot be read as a tokenizer"),
        ("head.npz", b"garbage", r"head\.npz: cannot be read"),
    ],
)
def test_damaged_export_files_are_named(ner_export, tmp_path, file, content, message):
    """A corrupt file of an export gives an error naming that file, never a bare traceback."""
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(ner_export[0], folder)
    (folder / file).write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        rt.load(folder)


@pytest.mark.parametrize(("value", "message"), [(None, "got NoneType"), (b"Ada", "decode it first"), (5, "got int")])
def test_wrong_input_types_are_type_errors_that_say_what_was_expected(ner_export, summarizer_export, value, message):
    with pytest.raises(TypeError, match=message):
        rt.load(ner_export[0]).predict(value)
    with pytest.raises(TypeError, match=message):
        rt.load(summarizer_export[0]).summarize(value)
    with pytest.raises(TypeError, match=message):
        ner_export[1].predict(value)


def test_lone_surrogates_are_read_and_offsets_stay_exact(ner_export, summarizer_export):
    """Undecodable bytes (surrogateescape) or lone surrogates reach the tokenizer as U+FFFD; results
    index the caller's own string."""
    text = "Ada Lovelace met Bob in Par\udce9s. It was \ud800 fine."
    runtime = rt.load(ner_export[0])
    for found in (runtime.predict(text), ner_export[1].predict(text)):
        assert all(text[e["char_start"] : e["char_end"]] == e["text"] for e in found)
    assert runtime.predict(text) == ner_export[1].predict(text)
    result = rt.load(summarizer_export[0]).summarize(text, max_sentences=1)
    assert all(text[s["start"] : s["end"]] == s["text"] for s in result["sentences"])


@pytest.mark.parametrize("field", ["onnx", "head"])
def test_export_files_must_lie_inside_the_export_folder(ner_export, tmp_path, field):
    """Issue 23: stage2_export.json could name '../elsewhere.onnx' or a symlink out of the folder."""
    import shutil

    copy = tmp_path / "export"
    shutil.copytree(ner_export[0], copy)
    meta = json.loads((copy / EXPORT_CONFIG).read_text())
    original = meta[field]
    meta[field] = f"../{original}"
    (copy / EXPORT_CONFIG).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"field '{field}' must name a file inside the export folder"):
        rt.load(copy)
    meta[field] = original
    (copy / EXPORT_CONFIG).write_text(json.dumps(meta))
    outside = tmp_path / f"outside-{original}"
    shutil.move(copy / original, outside)
    (copy / original).symlink_to(outside)
    with pytest.raises(ValueError, match="symlink out of the export folder"):
        rt.load(copy)


def test_withdrawn_work_stops_between_batches(ner_export):
    """Issue 23: a model call could not be stopped once running; now it stops before its next batch."""
    from stage2.runtime._base import Cancelled, stop_when

    model = rt.load(ner_export[0])
    calls = []
    real = model.run
    model.run = lambda feeds: (calls.append(1), real(feeds))[1]
    texts = [f"Ada Lovelace met person number {i} in London." for i in range(12)]
    with stop_when(lambda: len(calls) >= 2), pytest.raises(Cancelled):
        model.predict(texts, batch_size=1)
    assert len(calls) <= 3  # not one call per text
    assert len(model.predict(texts, batch_size=1)) == 12  # outside the block nothing is withdrawn


def test_one_blas_thread_limits_numpy_blas_inside_and_restores_it(summarizer_export):
    from threadpoolctl import threadpool_info

    from stage2.runtime._base import one_blas_thread

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread():
        with one_blas_thread():  # nested (or another thread's) use keeps the limit until the last one leaves
            assert all(n == 1 for n in blas_threads())
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before
    model = rt.load(summarizer_export[0])
    text = "The council met on Monday. It approved the new park. Work starts in May."
    limited = model.summarize(text, max_sentences=1)
    model.limit_blas = False
    assert model.summarize(text, max_sentences=1) == limited
