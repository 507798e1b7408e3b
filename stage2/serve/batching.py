"""Micro-batching of concurrent NER requests, and the second lane that large requests run in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stage2.labels import LabelSet
from stage2.ner.decoding import DEFAULT_THRESHOLD
from stage2.runtime._base import Cancelled, stop_when
from stage2.serve.requests import ServeLimits, lane_full

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    texts: list[str]
    labels: Any
    future: asyncio.Future[Any]
    threshold: float | None = DEFAULT_THRESHOLD


@dataclass
class MicroBatcher:
    """Collects concurrent NER requests and runs them through the model together."""

    model: Any
    limits: ServeLimits
    executor: Any = None  # where model calls run (default: asyncio's thread pool)
    name: str = "NER"
    queue: asyncio.Queue[_Job | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    batches: int = 0
    waiting: int = 0  # requests queued or running (bounded by limits.max_queue)

    def start(self) -> None:
        """Start the worker (inside the running event loop)."""
        self.task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        await self.queue.put(None)
        if self.task is not None:
            await self.task

    async def submit(self, texts: list[str], labels: Any, threshold: float | None = DEFAULT_THRESHOLD) -> list[Any]:
        """Entities per text (those scoring at least ``threshold``), batched with whatever else arrives
        now for the same labels and threshold."""
        if self.waiting >= self.limits.max_queue:  # queued or running, as a Lane counts
            raise lane_full(self.name, self.waiting)
        self.waiting += 1
        try:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            await self.queue.put(_Job(texts, labels, future, threshold))
            return list(await future)
        finally:
            self.waiting -= 1

    async def _work(self) -> None:
        pending: list[_Job] = []
        stopping = False
        while not stopping or pending:
            if not pending:
                job = await self.queue.get()
                if job is None:
                    stopping = True
                    continue
                pending.append(job)
            deadline = asyncio.get_running_loop().time() + self.limits.max_wait_ms / 1000
            while not stopping and sum(len(j.texts) for j in pending) < self.limits.max_batch:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    break
                if job is None:
                    stopping = True
                    break
                pending.append(job)
            pending = [j for j in pending if not j.future.done()]  # past its deadline, or its client left
            if not pending:
                continue
            key = _batch_key(pending[0])
            batch = [j for j in pending if _batch_key(j) == key]
            pending = [j for j in pending if _batch_key(j) != key]
            texts = [t for j in batch for t in j.texts]
            try:
                labels = None if batch[0].labels is None else LabelSet.from_dict(batch[0].labels)
                predict = functools.partial(self.model.predict, texts, labels, threshold=batch[0].threshold)
                withdrawn = functools.partial(_all_done, batch)  # every request of the batch cancelled or timed out
                results = await asyncio.get_running_loop().run_in_executor(
                    self.executor, functools.partial(_stoppable, predict, withdrawn)
                )
            except Cancelled:
                logger.info("%s: a batch's requests were all withdrawn; its model call stopped early", self.name)
                continue
            except Exception as err:  # a bad label set fails its own requests only
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(err)
                continue
            self.batches += 1
            offset = 0
            for j in batch:
                if not j.future.done():
                    j.future.set_result(results[offset : offset + len(j.texts)])
                offset += len(j.texts)


def _all_done(batch: list[_Job]) -> bool:
    return all(j.future.done() for j in batch)


def _stoppable(call: Callable[[], Any], withdrawn: Callable[[], bool]) -> Any:
    """``call()`` in a lane's thread, stopping between model batches once ``withdrawn()``."""
    with stop_when(withdrawn):
        return call()


def _batch_key(job: _Job) -> str:
    """Requests answered by one model call: the same labels and threshold."""
    return json.dumps([job.labels, job.threshold], sort_keys=True)


def _lower_priority() -> None:
    """Run this thread at a lower CPU priority (Linux: nice is per thread), so that small requests win
    the cores while a large one runs; a no-op where that is not possible."""
    import os
    import threading

    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _large_lane_model(model: Any) -> Any:
    """The model the large-request lane runs: a second session of the same export on one thread, so a
    large request neither queues small requests behind its batches in the runtime's worker pool nor
    takes every core from them."""
    from stage2.loading import load
    from stage2.runtime import NERRuntime

    if isinstance(model, NERRuntime):
        return load(model.folder, backend="onnx", tasks=["ner"], threads=1)
    return model


@contextlib.asynccontextmanager
async def ner_lanes(model: Any, limits: ServeLimits) -> AsyncIterator[tuple[MicroBatcher, MicroBatcher]]:
    """The two NER lanes, running: small requests micro-batched on ``model``, large ones on a one-thread
    session of it in a background thread at lower priority. On exit queued requests are answered first."""
    small_thread = ThreadPoolExecutor(1, thread_name_prefix="stage2-ner")  # never shared with summaries
    background = ThreadPoolExecutor(1, thread_name_prefix="stage2-large", initializer=_lower_priority)
    batcher = MicroBatcher(model, limits, executor=small_thread, name="small NER")
    large = MicroBatcher(_large_lane_model(model), limits, executor=background, name="large NER")
    batcher.start()
    large.start()
    try:
        yield batcher, large
    finally:
        await batcher.stop()
        await large.stop()
        small_thread.shutdown()
        background.shutdown()


class Lane:
    """Work of one kind on its own thread, with at most ``limits.max_queue`` requests waiting (then 429)."""

    def __init__(self, name: str, limits: ServeLimits, low_priority: bool = False) -> None:
        self.name = name
        self.limit = limits.max_queue
        self.waiting = 0
        initializer = _lower_priority if low_priority else None
        self.executor = ThreadPoolExecutor(
            1, thread_name_prefix=f"stage2-{name.replace(' ', '-')}", initializer=initializer
        )

    async def run(self, call: Any) -> Any:
        """``call()`` on the lane's thread, after those queued before it."""
        if self.waiting >= self.limit:
            raise lane_full(self.name, self.waiting)
        self.waiting += 1
        withdrawn = threading.Event()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.executor, functools.partial(_stoppable, call, withdrawn.is_set)
            )
        except asyncio.CancelledError:  # deadline or client gone: a running call stops at its next batch
            withdrawn.set()
            raise
        finally:
            self.waiting -= 1


@contextlib.contextmanager
def summary_lanes(limits: ServeLimits) -> Iterator[dict[str, Lane]]:
    """The summary lanes: small documents, and large ones (over ``limits.large_request_chars`` in all) at
    a lower CPU priority, each on its own thread, so neither waits behind the other or behind NER."""
    lanes = {"small": Lane("small summary", limits), "large": Lane("large summary", limits, low_priority=True)}
    try:
        yield lanes
    finally:
        for lane in lanes.values():
            lane.executor.shutdown(wait=True)
