"""Replica processes sharing each batch: sums and shares that hold over many turns, a
replica that fails or is killed said clearly (nobody hangs), and Stop leaving none."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from dlworkshop.classifier import datasets, replicas
from dlworkshop.errors import UserError

TURNS = 300


def _expected(turn: int, count: int) -> np.ndarray:
    return sum(np.arange(4, dtype=np.float32) + turn * 10 + rank for rank in range(count))


def _counting(exchange: replicas.Exchange) -> None:
    """Each turn, a value only this replica and this turn give; wrong sums raise."""
    for turn in range(TURNS):
        mine = np.arange(4, dtype=np.float32) + turn * 10 + exchange.rank
        got = exchange.total(mine)
        if not np.array_equal(got, _expected(turn, exchange.replicas)):
            raise AssertionError(f"replica {exchange.rank}, turn {turn}: {got}")
        shared = exchange.first(mine if exchange.rank == 0 else None, 4)
        if not np.array_equal(shared, np.arange(4, dtype=np.float32) + turn * 10):
            raise AssertionError(f"replica {exchange.rank}, turn {turn}: first {shared}")
    exchange.total(np.ones(1, np.float32))  # only replicas that saw every turn right come


def _failing(exchange: replicas.Exchange) -> None:
    exchange.total(np.zeros(4, np.float32))
    if exchange.rank == 2:
        raise UserError("No space left on device while loading the data.")
    exchange.total(np.zeros(4, np.float32))


def _killed(exchange: replicas.Exchange) -> None:
    exchange.total(np.zeros(4, np.float32))
    if exchange.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    exchange.total(np.zeros(4, np.float32))


def test_sums_and_shares_hold_over_many_turns() -> None:
    team = replicas.Team(3, 4, _counting, ())
    try:
        _counting(team.exchange)  # replica 0 is this process
    finally:
        team.close()
    assert [p.exitcode for p in team.processes] == [0, 0]


@pytest.mark.parametrize(("target", "said"), [
    (_failing, "No space left on device"),
    (_killed, "exited with code -9"),
])  # fmt: skip
def test_a_lost_replica_is_said_and_nobody_hangs(target, said: str) -> None:
    team = replicas.Team(3, 4, target, ())
    began = time.monotonic()
    try:
        team.exchange.total(np.zeros(4, np.float32))
        with pytest.raises(replicas.ReplicaLost):
            team.exchange.total(np.zeros(4, np.float32))
        assert said in team.failure()
    finally:
        team.close()
    assert time.monotonic() - began < 60
    assert not any(p.is_alive() for p in team.processes)


@pytest.mark.skipif(not datasets.DEBIAN_FASHION.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")  # fmt: skip
def test_stop_ends_a_shared_run_and_leaves_no_replica(home) -> None:
    from dlworkshop.classifier.train import Options, TrainProgress, TrainStarted, train

    stopping = False
    events = train(Options(network="lenet", epochs=1, processes=2), stop=lambda: stopping)
    with pytest.raises(UserError, match="Training stopped; nothing was exported"):
        for event in events:
            if isinstance(event, TrainStarted):
                assert event.processes == 2
            if isinstance(event, TrainProgress):
                assert event.samples_per_s > 0
                stopping = True
    assert stopping
    assert multiprocessing.active_children() == []
