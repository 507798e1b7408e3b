"""stage2.summarization.head: the sentence-scoring head, one function for torch (with gradients) and numpy."""

from __future__ import annotations

import numpy as np
import torch

from stage2.summarization.config import SummarizerConfig
from stage2.summarization.head import position_bias, sentence_scores

SENTENCES = [
    "The council approved the budget on Monday.",
    "Spending on schools rises by four percent.",
    "Critics said the increase was too small.",
    "The mayor defended the decision on Tuesday.",
    "A final vote is expected next month.",
    "Local businesses welcomed the tax freeze.",
    "Teachers called for more money for schools.",
    "The plan starts in May.",
    "Parents were pleased with the plan.",
    "Nobody else commented.",
] * 2


def _head(hidden: int = 8, dim: int = 4, features: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {"prior": (features,), "dialogue_prior": (features,), "salience": (hidden,)}
    shapes |= {"dialogue_salience": (hidden,), "position_bias.weight": (4, 1)}
    shapes |= {"sentence_proj.weight": (dim, hidden), "sentence_proj.bias": (dim,)}
    shapes |= {"context_proj.weight": (dim, hidden), "context_proj.bias": (dim,)}
    shapes |= {
        "mlp.0.weight": (16, 2 * dim + features),
        "mlp.0.bias": (16,),
        "mlp.2.weight": (1, 16),
        "mlp.2.bias": (1,),
    }
    return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


def test_sentence_scores_are_the_same_on_numpy_and_torch():
    config = {**SummarizerConfig(position_buckets=4).to_dict(), "focus_context": 1, "focus_lexical_context": 1}
    head = _head(features=len(config["features"]))
    rng = np.random.default_rng(1)
    emb, prompt = rng.normal(size=(len(SENTENCES), 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)
    t_head = {k: torch.from_numpy(v).requires_grad_() for k, v in head.items()}
    for kwargs in ({}, {"dialogue": True}, {"extra_relevance": 0.5, "focus": "school spending"}):
        got = sentence_scores(head, emb, prompt, SENTENCES, config, **kwargs)
        want = sentence_scores(t_head, torch.from_numpy(emb), torch.from_numpy(prompt), SENTENCES, config, **kwargs)
        assert got.shape == (len(SENTENCES),) and np.abs(got - want.detach().numpy()).max() < 1e-4, kwargs
    want.sum().backward()  # the torch path keeps its gradients
    assert all(t_head[k].grad is not None for k in ("prior", "salience", "mlp.0.weight", "position_bias.weight"))


def test_position_buckets_split_the_text_evenly():
    table = np.arange(3, dtype=np.float32)[:, None]
    assert position_bias(table, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert position_bias(torch.from_numpy(table), 2).tolist() == [0, 1]
    assert position_bias(table, 0).shape == (0,)
