"""Learning-rate schedules, applied per update and per epoch (after validation).

- ``paper`` (Gehring et al. 2017, §5): a fixed rate; once the validation loss stops improving,
  divide the rate by ``1 / lr_shrink`` (10) after every epoch; training stops below ``min_lr``.
- ``reduce_on_plateau``: multiply by ``lr_shrink`` when the validation loss has not improved for
  more than ``patience`` epochs.
- ``inverse_sqrt`` (Vaswani et al. 2017): linear warm-up from ``warmup_init_lr`` to ``lr`` over
  ``warmup_updates``, then ``lr · sqrt(warmup_updates / update)``.
- ``fixed``: the rate never changes (``min_lr`` still stops training if set above it).
All but ``inverse_sqrt`` also accept a linear warm-up over ``warmup_updates``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from nmt.errors import NmtError

SCHEDULES = ("paper", "reduce_on_plateau", "inverse_sqrt", "fixed")
ALIASES = {"reduce_lr_on_plateau": "reduce_on_plateau"}  # fairseq's name -> ours


@dataclass
class ScheduleConfig:
    name: str = "paper"  # one of SCHEDULES
    lr_shrink: float = 0.1
    min_lr: float = 1e-4
    patience: int = 0  # reduce_on_plateau: epochs without improvement tolerated
    warmup_updates: int = 0
    warmup_init_lr: float = 1e-7


class LRSchedule:
    """Owns the optimiser's learning rate; its state (:data:`STATE_TYPES`) goes into checkpoints."""

    # state_dict() field -> type (what a checkpoint's "schedule" must hold to be resumed from)
    STATE_TYPES = {"lr": float, "base_lr": float, "best": float | None, "bad_epochs": int,
                   "annealing": bool}

    def __init__(self, cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, base_lr: float):
        if cfg.name in ALIASES:  # fairseq's spelling
            cfg = replace(cfg, name=ALIASES[cfg.name])
        if cfg.name not in SCHEDULES:
            raise NmtError(f"unknown lr schedule {cfg.name!r}; use one of {', '.join(SCHEDULES)}")
        if cfg.name == "inverse_sqrt" and cfg.warmup_updates < 1:
            raise NmtError("the inverse_sqrt schedule needs schedule.warmup_updates >= 1")
        self.cfg, self.optimizer = cfg, optimizer
        self.base_lr = base_lr  # the rate after warm-up, before any shrinking
        self.best: float | None = None
        self.bad_epochs = 0
        self.annealing = False
        self._set(self.lr_at(0))

    def _set(self, lr: float) -> None:
        self.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def lr_at(self, update: int) -> float:
        c = self.cfg
        if c.warmup_updates and update < c.warmup_updates:
            return c.warmup_init_lr + (self.base_lr - c.warmup_init_lr) * update / c.warmup_updates
        if c.name == "inverse_sqrt":
            return self.base_lr * math.sqrt(c.warmup_updates / max(update, 1))
        return self.base_lr

    def step_update(self, update: int) -> float:
        """Call after each optimiser update with the new update count."""
        self._set(self.lr_at(update))
        return self.lr

    def step_epoch(self, valid_loss: float | None) -> float:
        """Call after each epoch's validation; returns the rate for the next epoch."""
        c = self.cfg
        improved = valid_loss is not None and (self.best is None or valid_loss < self.best)
        if improved:
            self.best, self.bad_epochs = valid_loss, 0
        elif valid_loss is not None:
            self.bad_epochs += 1
        if c.name == "paper":
            self.annealing = self.annealing or (valid_loss is not None and not improved)
            if self.annealing:
                self.base_lr *= c.lr_shrink
        elif c.name == "reduce_on_plateau" and self.bad_epochs > c.patience:
            self.base_lr *= c.lr_shrink
            self.bad_epochs = 0
        if c.name != "inverse_sqrt":
            self._set(self.base_lr)
        return self.lr

    def finished(self) -> bool:
        """True once the rate has fallen below ``min_lr`` (the paper's stopping rule)."""
        return self.cfg.name != "inverse_sqrt" and self.cfg.min_lr > 0 and self.base_lr < self.cfg.min_lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "base_lr": self.base_lr, "best": self.best,
                "bad_epochs": self.bad_epochs, "annealing": self.annealing}

    def load_state_dict(self, state: dict) -> None:
        self.base_lr, self.best = state["base_lr"], state["best"]
        self.bad_epochs, self.annealing = state["bad_epochs"], state["annealing"]
        self._set(state["lr"])
