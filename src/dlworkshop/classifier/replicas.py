"""Data parallelism on one machine: replica processes that share every batch.

MXNet runs a small network's operators on one core per process here (a second OpenMP
thread slows LeNet down), so a training run uses the other cores as replicas: each
process holds the same network, computes the gradients of its share of every batch, and
all of them sum those gradients through shared memory and apply the same update. The
sum is taken in the same order everywhere, so the replicas' weights stay identical and
the run does what one process would do with the whole batch.

Replica 0 is the trainer itself; the others are spawned processes that run the same
loop (`train._replica`), quietly. Two slot sets alternate between exchanges, so a
replica writing the next exchange never overwrites one another is still reading.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from dlworkshop.errors import UserError

LOST = ("A training process stopped before the run finished ({detail}); nothing was "
        "exported. Try again, or train with --processes 1.")  # fmt: skip


class Exchange:
    """Shared slots and a barrier: sum arrays over every replica, or take replica 0's."""

    def __init__(self, slots: Any, barrier: Any, size: int, replicas: int, rank: int) -> None:
        self.barrier, self.replicas, self.rank = barrier, replicas, rank
        # [user][parity][rank]: user 0 is total() and first(), user 1 the gradients, whose
        # exchanges run in the engine, possibly while another replica is still reading.
        view = np.frombuffer(slots, dtype=np.float32).reshape(2, 2, replicas, size)
        self.view, self.gradient_view = view[0], view[1]
        self.turn = 0

    def meet(self) -> None:
        """Wait until every replica has written this turn's slot; the next turn uses the
        other one."""
        self.turn += 1
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise ReplicaLost() from None

    def total(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of `values` over every replica (the same on each)."""
        slot = self.view[self.turn % 2]
        slot[self.rank, :values.size] = values
        self.meet()
        total = slot[0, :values.size].copy()
        for rank in range(1, self.replicas):  # in rank order on every replica: the same sums
            total += slot[rank, :values.size]
        return total

    def first(self, values: np.ndarray | None, size: int) -> np.ndarray:
        """Replica 0's `values` (which the others pass as None), on every replica."""
        slot = self.view[self.turn % 2]
        if self.rank == 0:
            assert values is not None
            slot[0, :size] = values
        self.meet()
        return slot[0, :size].copy()


class ReplicaLost(Exception):
    """Another replica has gone (failed, killed or stopped): this one stops too."""


def flat(arrays: list) -> np.ndarray:
    """MXNet arrays as one float32 vector (waits for the engine to compute them)."""
    from mxnet import nd

    return nd.concat(*[a.reshape((-1,)) for a in arrays], dim=0).asnumpy()


def split(whole: Any, arrays: list) -> list:
    """`whole` (a vector, numpy or MXNet) cut into views shaped as `arrays`, in order."""
    parts, offset = [], 0
    for array in arrays:
        parts.append(whole[offset:offset + array.size].reshape(array.shape))
        offset += array.size
    return parts


def unflatten(vector: np.ndarray, arrays: list) -> None:
    """Write `vector` back into MXNet arrays shaped as `flat` read them."""
    for array, part in zip(arrays, split(vector, arrays), strict=True):
        array[:] = part


class SharedGradients:
    """Each replica's gradients go to the shared slots and are summed there by MXNet's
    engine, without passing through Python. (Copying them out and back through numpy,
    and Gluon's Trainer's per-parameter work, cost a third of each step.)"""

    def __init__(self, exchange: Exchange, params: list) -> None:
        from mxnet import autograd, nd

        self.exchange = exchange
        self.params = [p for p in params if p.grad_req != "null"]
        self.weights = [p.data() for p in self.params]
        size = sum(w.size for w in self.weights)
        ctx = self.weights[0].context
        # Backward writes every gradient into one array, a part per parameter. A static
        # graph keeps the gradient arrays of its first backward, so this one stays; each
        # step copies it (in the engine) to the step's slot.
        self.mine = nd.zeros((size,), ctx=ctx)
        parts = split(self.mine, self.weights)
        for param, part in zip(self.params, parts, strict=True):
            # What Gluon's Parameter._init_grad does, with a part of `mine` as the buffer
            # (MXNet 1.9 keeps a parameter's gradients in _grad, one per context).
            param._grad = [part]
        autograd.mark_variables(self.weights, parts, [p.grad_req for p in self.params])
        # MXNet arrays over the shared memory itself (zero copy): [parity][rank].
        self.slots = [[nd.from_numpy(exchange.gradient_view[parity, rank, :size])
                       for rank in range(exchange.replicas)] for parity in (0, 1)]  # fmt: skip
        self.total = nd.zeros((size,), ctx=ctx)
        self.total_parts = split(self.total, self.weights)
        self.steps = 0

    def summed(self) -> list:
        """After backward: every replica's gradients, summed in rank order (so the same
        on each), one array per parameter. Another replica reads this step's slot until
        it has summed; the one after next reuses it, by when that replica has met again."""
        from mxnet import nd

        slots = self.slots[self.steps % 2]
        self.steps += 1
        mine = slots[self.exchange.rank]
        self.mine.copyto(mine)
        mine.wait_to_read()
        self.exchange.meet()
        nd.add_n(*slots, out=self.total)
        return self.total_parts


class Team:
    """Replica 0's side: start the others, watch them, stop them."""

    def __init__(self, replicas: int, size: int, target: Any, args: tuple) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process holding MXNet
        self.slots = ctx.RawArray("f", 2 * 2 * replicas * size)
        self.barrier = ctx.Barrier(replicas)
        self.exchange = Exchange(self.slots, self.barrier, size, replicas, 0)
        self.processes, self.conns = [], []
        for rank in range(1, replicas):
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=_run_replica, daemon=True,
                                  name=f"dlworkshop-train-replica-{rank}",
                                  args=(target, args, self.slots, self.barrier, size,
                                        replicas, rank, theirs))  # fmt: skip
            process.start()
            theirs.close()
            self.processes.append(process)
            self.conns.append(ours)
        self._closing = False
        self._lost: Any = None  # the replica whose end broke the barrier
        self._decided = threading.Event()  # a replica was lost, or all have ended
        # The watcher alone reaps the replicas: two threads waiting on one child race,
        # and the loser reads no exit code (a finished replica looked still running).
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name="dlworkshop-replica-watch")  # fmt: skip
        self._watcher.start()

    def _watch(self) -> None:
        """Reap each replica as it ends; one that fails or is killed breaks the barrier,
        so nobody hangs. (One that finished exits with 0, perhaps while the others still
        leave the last barrier, which an abort then would break under them.)"""
        running: dict[Any, Any] = {p.sentinel: p for p in self.processes}
        while running:
            for sentinel in wait(list(running)):
                process = running.pop(sentinel)
                process.join()  # its sentinel can be ready before its exit code is
                if process.exitcode != 0 and not self._closing and self._lost is None:
                    self._lost = process
                    self.barrier.abort()
                    self._decided.set()
        self._decided.set()

    def failure(self) -> str:
        """What the lost replica said, or its exit code."""
        self._decided.wait(5)
        lost = self._lost
        if lost is None:
            return "a replica was lost"
        conn = self.conns[self.processes.index(lost)]
        with contextlib.suppress(EOFError, OSError):
            if conn.poll(0):
                return str(conn.recv())
        return f"a replica exited with code {lost.exitcode}"

    def close(self) -> None:
        """Stop the replicas (at the end of a run they have already returned)."""
        self._closing = True
        self.barrier.abort()  # any replica still waiting stops
        for conn in self.conns:
            conn.close()  # and any still computing leaves at once (see _run_replica)
        self._watcher.join(5)
        if self._watcher.is_alive():
            for process in self.processes:
                process.kill()  # signals only one not yet reaped; never reaps itself
            self._watcher.join(5)


def _run_replica(target: Any, args: tuple, slots: Any, barrier: Any, size: int,
                 replicas: int, rank: int, conn: Connection) -> None:  # fmt: skip
    """A spawned replica: run the loop; leave at once if replica 0's process goes."""

    def orphaned() -> None:
        with contextlib.suppress(EOFError, OSError):
            conn.recv()
        os._exit(0)  # replica 0 is gone (or done): nothing here is worth keeping

    threading.Thread(target=orphaned, daemon=True).start()
    exchange = Exchange(slots, barrier, size, replicas, rank)
    try:
        target(*args, exchange)
    except ReplicaLost:
        return
    except UserError as exc:  # told to replica 0, which says it to the learner
        conn.send(str(exc))
        sys.exit(1)
    except BaseException as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
        raise
