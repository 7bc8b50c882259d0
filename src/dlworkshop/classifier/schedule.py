"""The training's learning-rate schedule, as an MXNet scheduler the optimizer carries.

A scheduler object (not set_learning_rate calls) because in a distributed run the
optimizer runs on the parameter servers, pickled there: this module is what they unpickle.
"""

from __future__ import annotations

import math

from mxnet.lr_scheduler import LRScheduler


class EpochCosine(LRScheduler):
    """Cosine decay from base_lr over the run, one value per epoch: the last epochs settle
    instead of bouncing."""

    def __init__(self, base_lr: float, epochs: int, batches: int) -> None:
        super().__init__(base_lr)
        self.epochs, self.batches = epochs, batches

    def epoch_lr(self, epoch: int) -> float:
        """The rate of an epoch, counted from 0."""
        return self.base_lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))

    def __call__(self, num_update: int) -> float:
        # The optimizer counts updates from 1.
        return self.epoch_lr(min(max(num_update - 1, 0) // self.batches, self.epochs - 1))
