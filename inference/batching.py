"""Work queued from the event loop and done in batches on one thread of its own.

A model's interpreter is not thread-safe, and XNNPACK runs a batch of photos
faster than the same photos one by one; so each model gets one `Batcher`:
callers await their item's result, and whenever the thread is free it takes
everything waiting as one batch. No item ever waits for a batch to fill: when
the bot is idle a photo runs alone at once, under load the queue forms batches
itself. The classifier and the people model have a batcher each, so neither
waits for the other's batch to finish before starting its next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """`await batcher(item)` → `run([... item ...])`'s result for it, `run` called on the batcher's thread."""

    def __init__(self, run: Callable[[list[In]], Sequence[Out]], max_batch: int, name: str) -> None:
        self.run, self.max_batch, self.name = run, max_batch, name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._serve(self._queue), name=self.name)
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _serve(self, queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await loop.run_in_executor(self._executor, self.run, [item for item, _ in batch])
            except Exception as error:  # noqa: BLE001 - every waiting caller must hear about it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        """Stop the worker and release the thread."""
        if self._worker:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker, self._queue = None, None
        self._executor.shutdown(wait=True)
