"""Dynamic batching: concurrent requests share one forward pass."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dlworkshop.classifier.model import Classifier


class Batcher:
    """Collects inputs for up to `max_delay` seconds or `batch_size` items, then runs them
    as one batch on a dedicated thread, so the event loop never waits for MXNet."""

    def __init__(self, classifier: Classifier, batch_size: int = 8, max_delay: float = 0.005):
        self.classifier = classifier
        self.batch_size = max(1, batch_size)
        self.max_delay = max(0.0, max_delay)
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"mxnet-{classifier.spec.name}")
        self.batches = 0
        self.items = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def submit(self, array: np.ndarray) -> np.ndarray:
        """Queue one preprocessed input; returns its row of probabilities."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((array, future))
        return await future

    async def _collect(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        loop = asyncio.get_running_loop()
        batch = [await self.queue.get()]
        deadline = loop.time() + self.max_delay
        while len(batch) < self.batch_size:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            live = [(a, f) for a, f in batch if not f.done()]  # drop cancelled requests
            if not live:
                continue
            arrays = np.stack([a for a, _ in live])
            try:
                probs = await loop.run_in_executor(
                    self.executor, self.classifier.probabilities, arrays
                )
            except Exception as exc:  # fail this batch's requests, keep serving
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(live)
            for (_, future), row in zip(live, probs, strict=True):
                if not future.done():
                    future.set_result(row)
