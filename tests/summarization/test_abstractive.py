"""The written summariser in torch: warm start, cached decoding, copying, windows, training, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stage2.summarization.abstractive import AbstractiveSummarizer, TorchSteps
from stage2.summarization.abstractive_training import (
    EncodedSources,
    similar_length_batches,
    summary_ids,
    teacher_forced_loss,
)
from stage2.summarization.data import SummaryExample

DIALOGUE = "Anna: Are we meeting at the cafe at five?\nTom: Yes, see you there. Bring the tickets."


def test_step_by_step_decoding_with_the_cache_equals_the_whole_sequence_at_once(tiny_written):
    dec = tiny_written.decoder
    memory, ids = tiny_written.encode([DIALOGUE])[0]
    cross = dec.cross_kv(memory[None])
    src, mask = ids[None], torch.ones(1, len(ids), dtype=torch.long)
    target = torch.tensor([[101, 2002, 3003, 4004, 5005]])
    with torch.no_grad():
        whole, _ = dec(target, torch.arange(5)[None], dec.empty_past(1), cross, src, mask, tiny_written.words)
        past = dec.empty_past(1)
        for t in range(5):
            one, past = dec(target[:, t : t + 1], torch.tensor([[t]]), past, cross, src, mask, tiny_written.words)
            torch.testing.assert_close(one[0, 0], whole[0, t], atol=1e-5, rtol=1e-4)
    assert past.shape[-2] == 5


def test_without_the_gate_every_word_is_copied_from_the_source(tiny_written):
    dec = tiny_written.decoder
    with torch.no_grad():
        dec.gate.bias.fill_(-50.0)  # probability of generating from the vocabulary ~ 0
    steps = TorchSteps(tiny_written)
    source = steps.source(DIALOGUE)
    logp, _ = steps.step(np.array([[101]]), np.array([[0]]), None, source)
    probs = np.exp(logp[0])
    assert probs[np.unique(source["source_ids"])].sum() == pytest.approx(1.0, abs=1e-4)
    assert 101 not in source["source_ids"] and 102 not in source["source_ids"]  # window markers are never copied


def test_a_document_longer_than_a_window_is_read_whole(tiny_written):
    text = " ".join(f"word{i}" for i in range(40))
    windows = tiny_written.windows(text)
    inner = [t for w in windows for t in w[1:-1]]
    assert len(windows) > 1 and all(len(w) <= 16 for w in windows)
    assert inner == tiny_written.tokenizer(text, add_special_tokens=False)["input_ids"]
    memory, ids = tiny_written.encode([text])[0]
    assert memory.shape[0] == len(ids) == sum(len(w) for w in windows)


def test_training_steps_lower_the_loss_and_leave_the_encoder_alone(tiny_written):
    docs = [DIALOGUE, "Mia: I lost my keys.\nLeo: Check the car!", "Sam: Lunch at noon?\nEve: Sure."]
    sums = ["Anna and Tom meet at five.", "Mia lost her keys.", "Sam and Eve have lunch at noon."]
    sources = EncodedSources.build(tiny_written, docs, progress=False)
    targets = [summary_ids(tiny_written, s) for s in sums]
    before = {k: v.clone() for k, v in tiny_written.encoder.state_dict().items()}
    opt = torch.optim.AdamW([p for p in tiny_written.parameters() if p.requires_grad], lr=3e-3)
    tiny_written.train()
    losses = []
    for _ in range(25):
        loss = teacher_forced_loss(tiny_written, sources, targets, [0, 1, 2])
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert all(torch.equal(before[k], v) for k, v in tiny_written.encoder.state_dict().items())
    assert not tiny_written.encoder.training  # the frozen encoder never runs with dropout


def test_the_source_cache_is_reused_and_identical(tiny_written, tmp_path, monkeypatch):
    docs = [DIALOGUE, "Mia: I lost my keys."]
    first = EncodedSources.build(tiny_written, docs, tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the encoder ran again")

    monkeypatch.setattr("stage2.summarization.abstractive_training._encode_chunk", fail)
    again = EncodedSources.build(tiny_written, docs, tmp_path, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(first.memory, again.memory, strict=True))


def test_similar_length_batches_cover_every_example_once_per_pass():
    lengths = [5, 100, 7, 98, 6, 99, 8, 97]
    batches = similar_length_batches(lengths, 2, 4, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[1]]) <= 3 for b in batches)
    assert batches == similar_length_batches(lengths, 2, 4, seed=1)


def test_saved_and_loaded_models_write_the_same_summary(tiny_written, tmp_path):
    tiny_written.save_pretrained(tmp_path / "m")
    loaded = AbstractiveSummarizer.from_pretrained(tmp_path / "m")
    a = tiny_written.summarize(DIALOGUE, num_beams=2, max_words=6, unsupported=False)
    b = loaded.summarize(DIALOGUE, num_beams=2, max_words=6, unsupported=False)
    assert a == b and a["abstractive"] is True and a["sentences"] == []
    assert len(a["summary"].split()) <= 6


def test_weights_that_do_not_fit_are_refused_naming_the_file(tiny_written, tmp_path):
    from safetensors.torch import load_file, save_file

    tiny_written.save_pretrained(tmp_path / "m")
    state = load_file(str(tmp_path / "m" / "model.safetensors"))
    state.pop("decoder.gate.weight")
    save_file(state, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ValueError, match=r"model\.safetensors.*decoder\.gate\.weight"):
        AbstractiveSummarizer.from_pretrained(tmp_path / "m")


def test_a_focus_question_is_refused_and_empty_documents_get_empty_summaries(tiny_written):
    with pytest.raises(ValueError, match="no focus"):
        tiny_written.summarize(DIALOGUE, focus="when do they meet?")
    assert tiny_written.summarize([""])[0]["summary"] == ""


def test_stage2_load_finds_a_saved_written_summariser(tiny_written, tmp_path):
    import stage2

    tiny_written.save_pretrained(tmp_path / "m")
    assert isinstance(stage2.load(tmp_path / "m", backend="torch"), AbstractiveSummarizer)
    _ = SummaryExample  # the training data type the recipe reads


def test_trained_top_layers_read_joined_windows_as_the_export_reads_them_one_by_one(tokenizer):
    """Training runs the top layers on a document's joined windows with a block mask; inference and the export
    run them window by window: both give the same memory."""
    from stage2.summarization.abstractive import AbstractiveConfig
    from tests.conftest import _tiny_bert

    enc = _tiny_bert()
    enc.encoder.layer = enc.encoder.layer[:1]  # as build() leaves it: the top layer moved out
    enc.config.num_hidden_layers = 1
    cfg = AbstractiveConfig(
        decoder_layers=[0], window=16, hidden=32, heads=2, intermediate=64, max_positions=128, train_top=1
    )
    model = AbstractiveSummarizer(enc, tokenizer, cfg).eval()
    text = " ".join(f"word{i}" for i in range(30))
    whole, ids = model.encode([text])[0]
    sources = EncodedSources.build(model, [text], progress=False)  # the frozen part only, as cached
    frozen = sources.memory[0].float()[None]
    window = (ids[None] == tokenizer.cls_token_id).cumsum(dim=1)
    same = window[:, :, None] == window[:, None, :]
    with torch.no_grad():
        joined = model.refine(frozen, ((~same).float() * -1e4)[:, None])[0]
    assert (window.max() > 1) and torch.allclose(joined, whole, atol=1e-2)
