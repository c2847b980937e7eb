"""Learning-rate schedules: ``factor(epoch, epochs)`` multiplies the base learning rate.

``epoch`` counts from 0; the trainer sets ``optimizer.lr = base_lr * factor(epoch, epochs)``
at the start of each epoch.

* constant: 1.
* step (step_size=30, gamma=0.1): ``gamma ** (epoch // step_size)`` (torch's StepLR).
* cosine (eta_min_factor=0.0): ``m + (1 - m) (1 + cos(pi epoch / epochs)) / 2`` with
  ``m = eta_min_factor`` (torch's CosineAnnealingLR with T_max = epochs, eta_min = m lr).
"""

from __future__ import annotations

import math

from nngrid.core.hyper import Component, Hyper
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

SCHEDULES = Registry("schedule")


def _check_epoch(epoch: int, epochs: int) -> None:
    if epochs < 1 or epoch < 0:
        raise NngridError(f"schedule needs epoch >= 0 and epochs >= 1, got {epoch!r}, {epochs!r}")


class Schedule(Component):
    """Base class: ``factor(epoch, epochs) -> float``; parameters declared in ``hypers``."""

    name = "schedule"

    def factor(self, epoch: int, epochs: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


@SCHEDULES.register("constant")
class Constant(Schedule):
    """The base learning rate throughout."""

    def factor(self, epoch, epochs):
        _check_epoch(epoch, epochs)
        return 1.0


@SCHEDULES.register("step")
class Step(Schedule):
    """Multiply by ``gamma`` every ``step_size`` epochs: ``gamma ** (epoch // step_size)``."""

    hypers = (
        Hyper("step_size", int, 30, low=1, help="epochs between two decays"),
        Hyper("gamma", float, 0.1, low=0.0, high=1.0, low_open=True, help="decay factor"),
    )

    def factor(self, epoch, epochs):
        _check_epoch(epoch, epochs)
        return self.gamma ** (epoch // self.step_size)


@SCHEDULES.register("cosine")
class Cosine(Schedule):
    """Cosine annealing from 1 to ``eta_min_factor`` over ``epochs``."""

    hypers = (
        Hyper("eta_min_factor", float, 0.0, low=0.0, high=1.0, help="final factor of the lr"),
    )

    def factor(self, epoch, epochs):
        _check_epoch(epoch, epochs)
        m = self.eta_min_factor
        return m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
