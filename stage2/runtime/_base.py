"""What every runtime model shares: the ONNX Runtime session, the tokenizer and the export config."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from stage2.batching import length_batches
from stage2.formats import migrate_export
from stage2.io import tokenizable
from stage2.registry import EXPORT_CONFIG, read_config

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Cancelled(Exception):
    """The caller withdrew the work (a service request past its deadline, or whose client left): the
    model call stopped at a batch boundary instead of running to the end."""


_STOP: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar("stage2_stop", default=None)


@contextlib.contextmanager
def stop_when(withdrawn: Callable[[], bool]) -> Iterator[None]:
    """Model calls made inside this block (in this thread) stop with :class:`Cancelled` before their
    next batch once ``withdrawn()`` is true: work nobody waits for is not finished.

    >>> with stop_when(lambda: True):
    ...     check_stop()
    Traceback (most recent call last):
    stage2.runtime._base.Cancelled: withdrawn by the caller
    """
    token = _STOP.set(withdrawn)
    try:
        yield
    finally:
        _STOP.reset(token)


def check_stop(withdrawn: Callable[[], bool] | None = None) -> None:
    """Raise :class:`Cancelled` if this thread's work (or ``withdrawn``, when given) was withdrawn."""
    check = withdrawn or _STOP.get()
    if check is not None and check():
        raise Cancelled("withdrawn by the caller")


_SOLO: contextvars.ContextVar[bool] = contextvars.ContextVar("stage2_solo", default=False)
"""Set while a lone call runs on :attr:`RuntimeModel._solo` (see :meth:`RuntimeModel.map_batches`)."""


_IN_GROUP: contextvars.ContextVar[bool] = contextvars.ContextVar("stage2_in_group", default=False)
"""Set on a worker while it runs a group of :meth:`RuntimeModel.map_groups` (its batches then run in turn)."""


def _session(path: Path, threads: int | None, chosen: list[str]) -> Any:
    """An ONNX Runtime session of ``path`` on ``threads`` cores (None: its default); a file it cannot load
    raises an error that names it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=chosen)
    except Exception as err:  # onnxruntime's InvalidProtobuf, Fail, ... share no public base class
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ValueError(f"{path}: not a loadable ONNX model ({first}); re-run `stage2 export`") from None


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0]
_BLAS_SAVED: list[tuple[Any, int]] = []


@functools.lru_cache(maxsize=1)
def _blas_libraries() -> tuple[Any, ...]:
    """The BLAS libraries loaded in this process (threadpoolctl's controllers of them)."""
    from threadpoolctl import ThreadpoolController

    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS runs on one thread inside this block (in every thread of the process, while any is
    inside): OpenBLAS leaves its threads spinning after a product, on the cores the runtime's ONNX
    Runtime workers need next. The extractive summariser's head cost a 400-word article about 60 ms
    instead of 38 that way (evaluation/results/summarizer_variants.json)."""
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_SAVED[:] = [(lib, lib.num_threads) for lib in _blas_libraries()]
            for lib, _ in _BLAS_SAVED:
                lib.set_num_threads(1)
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                for lib, threads in _BLAS_SAVED:
                    lib.set_num_threads(threads)


def providers() -> list[str]:
    """CUDA when this onnxruntime build has it, else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def read_export_config(folder: Path) -> dict[str, Any]:
    """``stage2_export.json`` of an export folder; a missing, unreadable or malformed file raises an
    error that names it."""
    if not (folder / EXPORT_CONFIG).exists():
        raise FileNotFoundError(f"{folder}: no {EXPORT_CONFIG}; not a stage2 export (see `stage2 export`)")
    return migrate_export(read_config(folder / EXPORT_CONFIG), folder / EXPORT_CONFIG)


def _require(meta: dict[str, Any], path: Path, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing}; the export is damaged (re-run `stage2 export`)")


class Tokens:
    """The exported tokenizer (``tokenizer.json``), with exact word-to-subword alignment."""

    def __init__(self, folder: Path, special: dict[str, int]) -> None:
        from tokenizers import Tokenizer

        path = folder / "tokenizer.json"
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises a bare Exception for a missing or malformed file
            raise ValueError(f"{path}: cannot be read as a tokenizer ({str(err).splitlines()[0][:200]})") from None
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.cls_id = special["cls"]
        self.sep_id = special["sep"]
        self.pad_id = special["pad"]
        self.unk_id = special["unk"]

    def word_subwords(self, words: Sequence[str]) -> list[list[int]]:
        """Subword ids of each word (an empty tokenisation becomes the unknown token)."""
        if not words:
            return []
        return self._pieces(
            words, self.tokenizer.encode(tokenizable(words), is_pretokenized=True, add_special_tokens=False)
        )

    def word_subwords_many(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """:meth:`word_subwords` of each sentence, tokenised in one batch call (the same ids)."""
        if not sentences:
            return []
        filled = [tokenizable(words) if words else ["x"] for words in sentences]  # encode_batch needs a word
        encodings = self.tokenizer.encode_batch(filled, is_pretokenized=True, add_special_tokens=False)
        return [self._pieces(words, enc) if words else [] for words, enc in zip(sentences, encodings, strict=True)]

    def _pieces(self, words: Sequence[str], enc: Any) -> list[list[int]]:
        """Each word's subword ids from its encoding (a word without any: the unknown token)."""
        pieces: list[list[int]] = [[] for _ in words]
        for tok_id, w in zip(enc.ids, enc.word_ids, strict=True):
            if w is not None:
                pieces[w].append(tok_id)
        return [p if p else [self.unk_id] for p in pieces]

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each text, without special tokens."""
        if not texts:
            return []
        return [e.ids for e in self.tokenizer.encode_batch(tokenizable(texts), add_special_tokens=False)]


def _inside(folder: Path, name: Any, meta_path: Path, field: str) -> Path:
    """The export file ``name`` names, which must be a plain file name inside ``folder`` (no ``..``, no
    absolute path, no symlink out of it): an export folder is untrusted input."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"{meta_path}: field {field!r} must name a file inside the export folder, got {name!r}")
    path = folder / name
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{path}: a symlink out of the export folder ({path.resolve()}); copy the file in instead")
    return path


def pad(rows: Sequence[Sequence[int]], value: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids [n, max_len], mask [n, max_len])`` as int64."""
    length = max(len(r) for r in rows)
    ids = np.full((len(rows), length), value, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


class RuntimeModel:
    """An exported stage2 model: ``model.onnx``, ``head.npz``, ``tokenizer.json`` and ``stage2_export.json``."""

    task = ""

    def __init__(self, folder: str | Path, threads: int | None = None, provider: str | None = None) -> None:
        import os

        self.folder = Path(folder)
        meta_path = self.folder / EXPORT_CONFIG
        self.meta: dict[str, Any] = read_export_config(self.folder)
        _require(self.meta, meta_path, ("task", "model_config", "onnx", "head", "special"))
        if self.meta.get("task") != self.task:
            raise ValueError(f"{self.folder} is a {self.meta.get('task')!r} export, not {self.task!r}")
        if not isinstance(self.meta["model_config"], dict):
            raise ValueError(f"{meta_path}: field 'model_config': expected an object")
        self.config: dict[str, Any] = self.meta["model_config"]
        chosen = [provider] if provider else providers()
        # Dynamic int8 quantises activations with one scale per batch, so a text's scores would depend on
        # what it is batched with: int8 graphs run one input at a time (deterministic). On the CPU such
        # small calls use one core each best, so ``threads`` calls run side by side instead of one call
        # spreading over ``threads`` cores (about 1.5-1.7x the throughput on 2 cores for CoNLL sentences).
        int8 = self.meta.get("quantization") == "int8"
        self.max_batch: int | None = 1 if int8 else None
        cores = threads or os.cpu_count() or 1
        self.workers = cores if int8 and chosen[0] == "CPUExecutionProvider" else 1
        onnx_path = _inside(self.folder, self.meta["onnx"], meta_path, "onnx")
        if not onnx_path.is_file():
            raise FileNotFoundError(f"{onnx_path}: missing; the export is incomplete (re-run `stage2 export`)")
        self._open = lambda n: _session(onnx_path, n, chosen)
        self.session = self._open(1 if self.workers > 1 else threads)
        # A lone one-input call (one sentence, nothing else running) would leave the other cores idle: it
        # runs on a second session that spreads it over all of them (same answers, lower latency); see
        # :meth:`map_batches`. Opened at the first such call.
        self._solo: Any = None
        self._active = 0
        self.spread_lone_calls = True
        """False keeps every call on one core (several processes sharing the cores, or a latency A/B)."""
        self.output_names = [o.name for o in self.session.get_outputs()]
        head_path = _inside(self.folder, self.meta["head"], meta_path, "head")
        try:
            with np.load(head_path) as head:
                self.head = {k: head[k].astype(np.float32) for k in head.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{head_path}: cannot be read ({err}); re-run `stage2 export`") from None
        self.tokens = Tokens(self.folder, self.meta["special"])
        self._lock = threading.Lock()  # guards caches; onnxruntime sessions are themselves thread-safe
        self._pool: ThreadPoolExecutor | None = None

    def batch_limit(self, batch_size: int) -> int:
        """The batch size actually used: ``batch_size``, or 1 for an int8 graph."""
        return min(batch_size, self.max_batch or batch_size)

    def map_batches(
        self, lengths: Sequence[int], batch_size: int, fn: Callable[[list[int]], T]
    ) -> list[tuple[list[int], T]]:
        """``fn`` over length-sorted batches of the inputs (see :func:`~stage2.batching.length_batches`),
        as ``(indices, result)`` pairs. With several workers (int8 on the CPU) the batches are dealt, longest
        first, into one share per worker, and the shares run side by side; a lone batch (one input, no other
        call of this model running) runs on every core at once. Inside :meth:`map_groups` they run in turn.
        """
        parts = length_batches(lengths, self.batch_limit(batch_size))
        withdrawn = _STOP.get()  # read here: the pool's threads do not share this thread's context

        def share(chunk: list[list[int]]) -> list[tuple[list[int], T]]:
            out = []
            for part in chunk:
                check_stop(withdrawn)
                out.append((part, fn(part)))
            return out

        if self.workers < 2 or _IN_GROUP.get():
            return share(parts)
        with self._lock:
            self._active += 1
            alone = self.spread_lone_calls and self._active == 1 and len(parts) == 1
            if alone and self._solo is None:
                self._solo = self._open(self.workers)
            pool = self._worker_pool() if len(parts) > 1 else None
        try:
            if pool is None:
                token = _SOLO.set(alone)
                try:
                    return share(parts)
                finally:
                    _SOLO.reset(token)
            return [pair for done in pool.map(share, self._shares(parts[::-1])) for pair in done]
        finally:
            with self._lock:
                self._active -= 1

    def map_groups(self, costs: Sequence[int], fn: Callable[[list[int]], T]) -> list[tuple[list[int], T]]:
        """``fn`` over groups of the items (one group per worker, dealt by ``costs`` largest first so the
        groups cost about the same), as ``(indices, result)`` pairs. With several workers each group runs
        whole on one of them, its own batches in turn (see :meth:`map_batches`): the Python work around the
        model calls (windows, decoding) then runs beside the other workers' model calls instead of after
        them. One group when there is one worker or one item (which then may use every core)."""
        if self.workers < 2 or len(costs) < 2 or _IN_GROUP.get():
            everything = list(range(len(costs)))
            return [(everything, fn(everything))]
        withdrawn = _STOP.get()

        def group(members: list[int]) -> T:
            inside, stop = _IN_GROUP.set(True), _STOP.set(withdrawn)
            try:
                check_stop()
                return fn(members)
            finally:
                _STOP.reset(stop)
                _IN_GROUP.reset(inside)

        groups = self._shares(sorted(range(len(costs)), key=lambda i: -costs[i]))
        with self._lock:
            self._active += 1
            pool = self._worker_pool()
        try:
            return list(zip(groups, pool.map(group, groups), strict=True))
        finally:
            with self._lock:
                self._active -= 1

    def _shares(self, ordered: list[T]) -> list[list[T]]:
        """``ordered`` (largest first) dealt round-robin into one non-empty share per worker."""
        return [share for share in (ordered[k :: self.workers] for k in range(self.workers)) if share]

    def _worker_pool(self) -> ThreadPoolExecutor:
        """The workers' thread pool (made at first use; call with the lock held)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="stage2-runtime")
        return self._pool

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One session call; outputs by name, as float32 (:class:`Cancelled` first if the work was withdrawn)."""
        check_stop()
        outs = (self._solo if _SOLO.get() else self.session).run(None, feeds)
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(self.output_names, outs, strict=True)}
