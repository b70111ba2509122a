"""The training configuration: everything `nmt train` needs besides the data and save directories.

Resolved as preset < recipe YAML < ``--set`` (and the fairseq-named flags, which are ``--set``
shorthands). The resolved config is written to ``SAVE_DIR/config.yaml`` and into every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nmt.errors import NmtError
from nmt.registry import ModelConfig
from nmt.training.optim import OptimConfig
from nmt.training.schedule import ScheduleConfig

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    arch: str = ""
    model: ModelConfig | None = None  # the preset's config; YAML/--set merge into it by field name
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    # batches
    max_tokens: int | None = 4000
    batch_size: int | None = None
    update_freq: int = 1
    valid_split: str = "valid"
    valid_bleu: bool = False  # also translate the valid split each epoch and compute sacreBLEU
    valid_beam: int = 1  # beam for valid_bleu (1: greedy)
    best_metric: str = "loss"  # loss | bleu (needs valid_bleu): which checkpoint is checkpoint_best
    # loss
    label_smoothing: float = 0.1
    # hardware and numerics
    precision: str = "fp32"  # fp32 | bf16 (CPU autocast or CUDA) | fp16 (CUDA only)
    device: str = "cpu"
    threads: int | None = None  # torch intra-op threads; None: all cores
    seed: int = 1
    # stopping
    max_epoch: int | None = None
    max_update: int | None = None
    stop_time_minutes: float | None = None
    patience: int = -1  # stop after this many epochs without a better best_metric (-1: never)
    max_nonfinite: int = 10  # consecutive non-finite updates (skipped) before training stops
    # checkpoints and logs
    save_interval: int = 1  # write checkpoint{epoch} every N epochs (last and best: every epoch)
    save_interval_updates: int = 0  # also save every N updates (0: only at epoch ends)
    keep_last: int = 5  # epoch / interval checkpoints kept besides last and best (-1: all)
    save_optimizer_state: bool = True
    # fine-tuning (nmt/training/finetune.py): start a new run from another run's checkpoint
    finetune_from: str | None = None  # its model config and weights replace the preset's
    reset_optimizer: bool = False  # start the optimiser afresh instead of from its state
    reset_lr_scheduler: bool = False  # start the schedule afresh instead of from its state
    log_interval: int = 50  # updates between log lines
    tensorboard: bool = True  # also write TensorBoard scalars to SAVE_DIR/tensorboard when installed

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise NmtError(f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise NmtError("fp16 needs --device cuda; on CPU use --precision bf16")
        if self.update_freq < 1:
            raise NmtError("update_freq must be >= 1")
        if self.max_tokens is None and self.batch_size is None:
            raise NmtError("set max_tokens or batch_size")
        if self.best_metric not in ("loss", "bleu") or (self.best_metric == "bleu" and not self.valid_bleu):
            raise NmtError("best_metric is 'loss', or 'bleu' together with valid_bleu: true")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise NmtError("label_smoothing must be in [0, 1)")
