"""Shared fixtures: a tiny random NER model built once per session and handed out as deep copies
(sentence-transformers style), plus small hand-written examples. Everything is offline."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

LABELS = {"person": "a human being", "city": "a town or a city"}


def _tiny_model(tokenizer, head: str, labels, max_length: int = 32, seed: int = 0):
    import torch
    import transformers

    from stage2.labels import LabelSet
    from stage2.ner.config import NERConfig
    from stage2.ner.modeling import NERModel

    torch.manual_seed(seed)
    enc_config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    encoder = transformers.BertModel(enc_config)
    config = NERConfig(
        encoder="tiny",
        head=head,
        labels=LabelSet.from_user(labels).to_dict(),
        encoder_config=encoder.config.to_dict(),
        projection_dim=32,
        max_length=max_length,
        window_overlap=4,
    )
    return NERModel(config, encoder, tokenizer).eval()


def _copy(model):
    # The tokenizer is read-only here: share it instead of copying it.
    return copy.deepcopy(model, memo={id(model.tokenizer): model.tokenizer})


@pytest.fixture
def copy_model():
    """Copies a session-scoped model (sharing its read-only tokenizer) for a test that changes it."""
    return _copy


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models run far faster on one thread, above all on a busy machine (20x here with 2 cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from stage2.backbone import default_encoder_path

    return AutoTokenizer.from_pretrained(default_encoder_path())


@pytest.fixture(scope="session")
def _semantic_model(tokenizer):
    return _tiny_model(tokenizer, "label-semantic", LABELS)


@pytest.fixture(scope="session")
def _linear_model(tokenizer):
    return _tiny_model(tokenizer, "linear", LABELS)


@pytest.fixture
def tiny_model(_semantic_model):
    """A fresh copy of the tiny random label-semantic model (labels: person, city)."""
    return _copy(_semantic_model)


@pytest.fixture
def tiny_linear_model(_linear_model):
    """A fresh copy of the tiny random linear-head model (labels: person, city)."""
    return _copy(_linear_model)


@pytest.fixture
def entity_model(tiny_model):
    """The tiny label-semantic model with ``O`` pushed far down, so every word is part of an entity."""
    import torch

    with torch.no_grad():
        tiny_model.outside[-1].bias.fill_(-50.0)
    return tiny_model


@pytest.fixture
def labels():
    return dict(LABELS)


@pytest.fixture
def examples():
    """Four hand-written training sentences with person and city entities."""
    from stage2.labels import Span
    from stage2.ner.data import NERExample

    return [
        NERExample(["Ada", "Lovelace", "lived", "in", "London", "."], [Span("person", 0, 2), Span("city", 4, 5)]),
        NERExample(["Alan", "Turing", "visited", "Paris", "."], [Span("person", 0, 2), Span("city", 3, 4)]),
        NERExample(["Bob", "went", "to", "Berlin", "yesterday", "."], [Span("person", 0, 1), Span("city", 3, 4)]),
        NERExample(["Grace", "Hopper", "flew", "to", "Rome", "."], [Span("person", 0, 2), Span("city", 4, 5)]),
    ]


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


# ----------------------------------------------------------------- summarisation


def _tiny_bert(seed: int = 0):
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return transformers.BertModel(config)


@pytest.fixture(scope="session")
def _summarizer(tokenizer):
    from stage2.summarization.config import SummarizerConfig
    from stage2.summarization.modeling import Summarizer

    enc = _tiny_bert()
    config = SummarizerConfig(encoder="tiny", encoder_config=enc.config.to_dict(), projection_dim=32, max_length=16)
    return Summarizer(config, enc, tokenizer).eval()


@pytest.fixture
def tiny_summarizer(_summarizer):
    """A fresh copy of the tiny random extractive summariser (16-subword windows, untrained head)."""
    return _copy(_summarizer)


@pytest.fixture(scope="session")
def _seq2seq():
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from stage2.backbone import default_encoder_path
    from stage2.summarization.seq2seq import Seq2SeqSummarizer

    # The bundled BERT tokenizer stands in for a T5 one (offline); T5 takes no token_type_ids.
    tok = AutoTokenizer.from_pretrained(default_encoder_path(), model_input_names=["input_ids", "attention_mask"])
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        d_kv=16,
        decoder_start_token_id=tok.pad_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
    )
    return Seq2SeqSummarizer(T5ForConditionalGeneration(config), tok, max_source_length=32, prefix="summarize: ").eval()


@pytest.fixture
def tiny_seq2seq(_seq2seq):
    """A fresh copy of a tiny random T5 wrapped as a :class:`Seq2SeqSummarizer` (32-token sources)."""
    return _copy(_seq2seq)


@pytest.fixture(scope="session")
def summ_fixtures() -> dict[str, str]:
    """Hand-written documents: ``news`` (abbreviations, numbers, quotes), ``dialogue`` (SAMSum style), ``bullets``."""
    folder = FIXTURES / "summarization"
    return {name: (folder / f"{name}.txt").read_text(encoding="utf-8") for name in ("news", "dialogue", "bullets")}


@pytest.fixture
def summ_examples():
    """Four short documents (news and a dialogue) with reference summaries."""
    from stage2.summarization.data import read_summarization_jsonl

    return read_summarization_jsonl(FIXTURES / "summarization" / "tiny.jsonl")


# ----------------------------------------------------------------- exports (ONNX Runtime)


@pytest.fixture(scope="session")
def ner_export(_semantic_model, tmp_path_factory):
    from stage2.export import export

    model = _copy(_semantic_model)
    out = tmp_path_factory.mktemp("exports") / "ner"
    report = export(model, out)
    return out, model, report


@pytest.fixture(scope="session")
def entity_export(_semantic_model, tmp_path_factory):
    """An export of the tiny model with ``O`` pushed far down (every word is in an entity, scores vary):
    for tests that cut entities by score."""
    import torch

    from stage2.export import export

    model = _copy(_semantic_model)
    with torch.no_grad():
        model.outside[-1].bias.fill_(-50.0)
    out = tmp_path_factory.mktemp("exports") / "entities"
    export(model, out)
    return out, model


@pytest.fixture(scope="session")
def trained_summarizer(_summarizer):
    """The tiny summariser with a random (non-zero) scoring head, so parity tests see the whole head."""
    import torch

    model = _copy(_summarizer)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.mlp.parameters():
            p.normal_(0.0, 0.5)
        model.position_bias.weight.normal_(0.0, 0.5)
        model.dialogue_prior.normal_(0.0, 2.0)
        model.salience.normal_(0.0, 0.5)
        model.dialogue_salience.normal_(0.0, 0.5)
    return model


@pytest.fixture(scope="session")
def summarizer_export(trained_summarizer, tmp_path_factory):
    from stage2.export import export

    out = tmp_path_factory.mktemp("exports") / "summarizer"
    report = export(trained_summarizer, out)
    return out, trained_summarizer, report


@pytest.fixture(scope="session")
def _written(tokenizer):
    from stage2.summarization.abstractive import AbstractiveConfig, AbstractiveSummarizer

    enc = _tiny_bert()
    cfg = AbstractiveConfig(
        encoder="tiny", decoder_layers=[0, 1], window=16, hidden=32, heads=2, intermediate=64, max_positions=128
    )
    return AbstractiveSummarizer(enc, tokenizer, cfg).eval()


@pytest.fixture
def tiny_written(_written):
    """A fresh copy of the tiny random written summariser (16-subword windows, 2 decoder layers)."""
    return _copy(_written)
