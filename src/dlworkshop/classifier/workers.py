"""Model workers: processes that each decode, preprocess and run one model, fed by the front.

MXNet's forward pass and Pillow's decoding each use one core per process here, so the
server runs one worker process per core (as MXNet Model Server does) and keeps the HTTP
front in the parent, which only reads bodies and writes answers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import multiprocessing
import os
import pickle
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from dlworkshop.classifier.preprocess import BadImage, ImageTooLarge

READY_TIMEOUT = 300.0  # a first start may fetch and convert the model


class Overloaded(Exception):
    """Every worker is busy and the queue is full: answer 503 with Retry-After."""


class WorkerLost(Exception):
    """The worker running this request died; it is being restarted."""


def _serve(conn: Connection, model: str, gpu: bool, threads: int, cpu: int | None) -> None:
    """The worker process: load the model, then classify batches until told to stop."""
    # Before MXNet is imported: one OpenMP thread per worker, one worker per core.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")
    # The front must never wait for a core behind its own workers: it is what keeps
    # them fed. A little lower priority lets it preempt them at once (measured: +3-4%
    # images/s at 8 and 32 clients on two cores).
    with contextlib.suppress(OSError):
        os.nice(5)
    if cpu is not None:  # its own core: see cpus_for
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    from dlworkshop.classifier import model as model_mod

    try:
        classifier = model_mod.load(model, gpu)
        spec = classifier.spec
        warm = np.zeros((1, spec.channels, spec.input_size, spec.input_size), np.float32)
        classifier.probabilities(warm)  # the first pass allocates: not on a learner's clock
    except Exception as exc:  # the parent reports it; a worker has no one else to tell
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    gc.freeze()  # the model's objects live as long as the worker: no collection need scan them
    conn.send(("ready", {"fused": classifier.fused, "pid": os.getpid()}))
    while True:
        try:
            count = conn.recv()  # a batch's size (its images follow raw), or None: stop
            if count is None:
                return
            images = [conn.recv_bytes() for _ in range(count)]
        except (EOFError, OSError):  # the front is gone
            return
        conn.send(_classify(classifier, images))


def _classify(classifier: Any, images: list[bytes]) -> list[tuple]:
    """("ok", the prediction as a dict) or ("bad", message, too_large) for each image, in
    order. The verdict is worked out here, beside the forward pass, where its numbers are
    still in cache, and what goes back to the front is a few hundred bytes."""
    answers: list[tuple] = []
    arrays, places = [], []
    for data in images:
        try:
            arrays.append(classifier.preprocess(data))
            places.append(len(answers))
            answers.append(("ok", None))
        except BadImage as exc:
            answers.append(("bad", str(exc), isinstance(exc, ImageTooLarge)))
    if arrays:
        batch = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)  # no copy for one
        predictions = classifier.judge.verdicts(classifier.probabilities(batch))
        for place, prediction in zip(places, predictions, strict=True):
            answers[place] = ("ok", prediction.to_dict())
    return answers


def cpus_for(count: int) -> list[int | None]:
    """The core each of `count` workers is bound to: the cores this process may run on,
    in turn. With the front and two workers runnable on two cores, the scheduler kept
    moving workers between cores, each move costing a worker its warm caches: bound,
    the server ran 5-6% more images/s at 32 clients, and its p99 fell (benchmarks)."""
    from dlworkshop import cores

    if not hasattr(os, "sched_getaffinity"):  # not Linux: leave it to the scheduler
        return [None] * count
    cpus = sorted(os.sched_getaffinity(0))
    if cores.available() < len(cpus):
        # A CPU quota below the cores we may run on (an ECS task, `docker run --cpus`):
        # the cores are shared with others, and a bound worker could not move off a busy one.
        return [None] * count
    return [cpus[i % len(cpus)] for i in range(count)]


@dataclass
class Worker:
    """One worker process, the pipe to it and the batches it has not answered yet."""

    index: int
    cpu: int | None = None  # the core it is bound to, if any
    depth: int = 2
    process: Any = None
    conn: Connection | None = None
    status: str = "STARTING"
    pid: int | None = None
    restarts: int = 0
    fused: bool = False
    started_at: float = field(default_factory=time.time)
    inflight: collections.deque = field(default_factory=collections.deque)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        # Up to `depth` batches sent ahead: the next one waits in the pipe while the
        # worker runs the current one, so it never idles for a round trip to the front.
        self.slots = asyncio.Semaphore(self.depth)


class Pool:
    """N worker processes behind one bounded queue, with TorchServe-style batching."""

    def __init__(
        self,
        model: str,
        workers: int,
        batch_size: int = 1,
        max_delay: float = 0.005,
        max_queue: int = 64,
        gpu: bool = False,
        threads: int = 1,
        pin: bool = True,
    ) -> None:
        self.model = model
        self.size = max(1, workers)
        self.batch_size = max(1, batch_size)
        self.max_delay = max(0.0, max_delay)
        self.max_queue = max(1, max_queue)
        self.gpu, self.threads = gpu, threads
        self.queue: asyncio.Queue[tuple[bytes, asyncio.Future]] = asyncio.Queue()
        cpus = cpus_for(self.size) if pin else [None] * self.size
        self.workers = [Worker(i, cpu) for i, cpu in enumerate(cpus)]
        # Threads only start and stop processes; requests travel over the event loop.
        self.io = ThreadPoolExecutor(self.size, thread_name_prefix=f"spawn-{model}")
        self.context = multiprocessing.get_context("spawn")  # never fork MXNet
        self.pending = 0  # admitted and not yet answered
        self.batches = 0
        self.items = 0
        self._tasks: list[asyncio.Task] = []

    # ---- life --------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every worker and wait until each has loaded the model."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.io, self._spawn, w)
                               for w in self.workers))  # fmt: skip
        for worker in self.workers:
            await self._attach(worker)
            self._tasks += [loop.create_task(self._feed(worker)),
                            loop.create_task(self._read(worker))]  # fmt: skip

    async def _attach(self, worker: Worker) -> None:
        """Talk to a started worker through asyncio streams on its pipe (a socket pair):
        no thread hand-offs per request, the same framing as multiprocessing's."""
        assert worker.conn is not None
        sock = socket.socket(fileno=os.dup(worker.conn.fileno()))
        worker.conn.close()
        worker.conn = None
        worker.reader, worker.writer = await asyncio.open_connection(sock=sock)
        worker.ready.set()

    def _spawn(self, worker: Worker) -> None:
        """Start (or restart) one worker process and wait for its ready message."""
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(child, self.model, self.gpu, self.threads, worker.cpu),
            name=f"dlworkshop-worker-{self.model}-{worker.index}", daemon=True,
        )  # fmt: skip
        worker.status = "STARTING"
        process.start()
        child.close()
        if not parent.poll(READY_TIMEOUT):
            process.kill()
            raise RuntimeError(f"A model worker for {self.model} did not start in time.")
        try:
            kind, detail = parent.recv()
        except (EOFError, OSError):  # it died before saying anything
            process.join(5)  # its pipe closes before its exit code can be read
            kind, detail = "failed", f"exit code {process.exitcode}"
        if kind != "ready":
            process.join(5)
            raise RuntimeError(f"A model worker for {self.model} failed to start: {detail}")
        worker.process, worker.conn = process, parent
        worker.pid, worker.fused = detail["pid"], detail["fused"]
        worker.status, worker.started_at = "READY", time.time()

    async def stop(self) -> None:
        """Stop the feeders and the workers."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self.workers:
            if worker.writer is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    _write(worker.writer, None)  # asks the worker to exit
                    worker.writer.close()
            if worker.process is not None:
                worker.process.join(2)
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join(2)
        self.io.shutdown(wait=False, cancel_futures=True)
        waiting = [f for w in self.workers for batch in w.inflight for _, f in batch]
        while not self.queue.empty():
            waiting.append(self.queue.get_nowait()[1])
        for future in waiting:
            if not future.done():
                future.set_exception(WorkerLost("The server is shutting down."))

    # ---- requests ----------------------------------------------------------------------
    async def submit(self, data: bytes) -> dict:
        """Classify one image; its prediction as a dict (raises BadImage, Overloaded,
        WorkerLost)."""
        if self.pending >= self.max_queue:
            raise Overloaded(f"{self.pending} requests are already waiting.")
        self.pending += 1
        try:
            future = asyncio.get_running_loop().create_future()
            self.queue.put_nowait((data, future))
            kind, *rest = await future
        finally:
            self.pending -= 1
        if kind == "bad":
            message, too_large = rest
            raise ImageTooLarge(message) if too_large else BadImage(message)
        return rest[0]

    async def _collect(self) -> list[tuple[bytes, asyncio.Future]]:
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

    async def _feed(self, worker: Worker) -> None:
        """Send batches to one worker, up to its depth ahead of its answers."""
        while True:
            await worker.ready.wait()
            batch = [(d, f) for d, f in await self._collect() if not f.done()]
            if not batch:
                continue
            await worker.slots.acquire()
            if not worker.ready.is_set():  # it died meanwhile: another worker takes these
                worker.slots.release()
                for item in batch:
                    self.queue.put_nowait(item)
                continue
            worker.inflight.append(batch)
            writer = worker.writer
            with contextlib.suppress(OSError, RuntimeError):
                # A dead pipe is noticed by _read, which answers this batch 503.
                _write(writer, [d for d, _ in batch])
                if writer is not None:
                    await writer.drain()

    async def _read(self, worker: Worker) -> None:
        """Answer each batch as its worker finishes it; restart the worker when it dies."""
        while True:
            await worker.ready.wait()
            try:
                answers = await _read_frame(worker.reader)
            except (EOFError, OSError, ValueError, asyncio.IncompleteReadError,
                    pickle.UnpicklingError) as exc:  # fmt: skip
                worker.ready.clear()
                lost = WorkerLost(f"A model worker stopped ({type(exc).__name__}) while "
                                  "working on this request; it is being restarted. "
                                  "Try again in a moment.")  # fmt: skip
                while worker.inflight:
                    for _, future in worker.inflight.popleft():
                        if not future.done():
                            future.set_exception(lost)
                    worker.slots.release()
                await self._restart(worker)
                continue
            batch = worker.inflight.popleft()
            worker.slots.release()
            self.batches += 1
            self.items += len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def _restart(self, worker: Worker) -> None:
        worker.status = "RESTARTING"
        loop = asyncio.get_running_loop()
        if worker.writer is not None:
            worker.writer.close()
        if worker.process is not None:
            worker.process.kill()
            await loop.run_in_executor(self.io, worker.process.join, 5)
        worker.restarts += 1
        while True:
            try:
                await loop.run_in_executor(self.io, self._spawn, worker)
                await self._attach(worker)
                return
            except (RuntimeError, OSError):  # try again: a worker must come back
                worker.status = "RESTARTING"
                await asyncio.sleep(1.0)

    def describe(self) -> list[dict]:
        """TorchServe's "workers" entries: one per process."""
        return [{"id": str(9000 + w.index), "pid": w.pid, "status": w.status,
                 "gpu": self.gpu, "restarts": w.restarts, "fused": w.fused, "cpu": w.cpu,
                 "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(w.started_at))}
                for w in self.workers]  # fmt: skip


def _write(writer: asyncio.StreamWriter | None, images: list[bytes] | None) -> None:
    """A batch in multiprocessing.Connection's framing (a 4-byte length, then the bytes):
    its size pickled, then each image raw (pickling 200 KB copied it for nothing), or
    None: stop."""
    if writer is None:
        raise OSError("no worker")
    count = pickle.dumps(None if images is None else len(images))
    frames = [struct.pack("!i", len(count)), count]
    for data in images or ():
        frames += [struct.pack("!i", len(data)), data]  # bodies are far below 2 GiB
    writer.writelines(frames)


async def _read_frame(reader: asyncio.StreamReader | None) -> Any:
    """One message a worker sent with Connection.send."""
    if reader is None:
        raise EOFError("no worker")
    (size,) = struct.unpack("!i", await reader.readexactly(4))
    if size == -1:  # Connection's header for messages over 2 GiB
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return pickle.loads(await reader.readexactly(size))
