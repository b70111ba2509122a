"""`nmt train DATA_DIR --arch NAME --save-dir DIR [--config recipe.yaml] [--set key=value ...]`.

Under torchrun (``torchrun --nproc_per_node N -m nmt train ...``) each process is one rank of a
DistributedDataParallel run.

Precedence: preset < recipe YAML < flags (fairseq's names, shorthands for ``--set``) < ``--set``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from nmt import registry
from nmt.config import load_yaml, resolve_train_config
from nmt.data.files import no_space_left
from nmt.errors import UsageError
from nmt.training import distributed
from nmt.training.finetune import parent_arch
from nmt.training.lock import save_dir_lock
from nmt.training.options import TrainConfig
from nmt.training.trainer import Trainer, open_log

# flag -> config key (flags are --set shorthands with the names fairseq users know)
FLAGS = {
    "max_tokens": ("max_tokens", int), "batch_size": ("batch_size", int),
    "update_freq": ("update_freq", int), "optimizer": ("optim.name", str), "lr": ("optim.lr", float),
    "momentum": ("optim.momentum", float), "clip_norm": ("optim.clip_norm", float),
    "weight_decay": ("optim.weight_decay", float), "lr_scheduler": ("schedule.name", str),
    "min_lr": ("schedule.min_lr", float), "warmup_updates": ("schedule.warmup_updates", int),
    "label_smoothing": ("label_smoothing", float), "dropout": ("model.dropout", float),
    "max_epoch": ("max_epoch", int), "max_update": ("max_update", int),
    "stop_time_minutes": ("stop_time_minutes", float), "patience": ("patience", int),
    "seed": ("seed", int), "precision": ("precision", str), "device": ("device", str),
    "threads": ("threads", int), "save_interval": ("save_interval", int), "save_interval_updates": ("save_interval_updates", int),
    "keep_last": ("keep_last", int), "log_interval": ("log_interval", int),
    "best_metric": ("best_metric", str),
}
LOG_FORMATS = ("auto", "json", "human")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", nargs="?", help="a data directory made by nmt preprocess")
    p.add_argument("--save-dir", help="checkpoints, config.yaml and train.log.jsonl go here")
    p.add_argument("--list-archs", action="store_true", help="print the architecture presets and exit")
    p.add_argument("--log-format", choices=LOG_FORMATS, default="auto",
                   help="lines on stdout: human on a terminal and JSON otherwise (auto, the "
                        "default); train.log.jsonl always holds JSON")
    add_config_arguments(p)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """--arch, --config, --set and the fairseq-named shorthands (shared with `nmt bench train`)."""
    p.add_argument("--arch", help="architecture preset (see --list-archs); or `arch:` in the YAML")
    p.add_argument("--config", help="recipe YAML merged over the preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    g = p.add_argument_group("common settings (shorthands for --set; defaults are ConvS2S's, "
                             "other families start from Adam, see docs/training.md)")
    for flag, (key, kind) in FLAGS.items():
        g.add_argument("--" + flag.replace("_", "-"), type=kind, default=None,
                       help=f"= --set {key}=... (default: {_default_of(key)})")
    g.add_argument("--stop-time-hours", type=float, default=None,
                   help="= --stop-time-minutes 60 x HOURS (fairseq's spelling)")
    g.add_argument("--valid-bleu", action="store_true",
                   help="also translate the valid split each epoch and log its sacreBLEU")
    g.add_argument("--no-save-optimizer-state", dest="save_optimizer_state", action="store_false", default=None)
    f = p.add_argument_group("fine-tuning: a new run from another run's checkpoint")
    f.add_argument("--finetune-from", metavar="CKPT", help="start from CKPT's model config and "
                   "weights (the data must use its pipeline and dictionaries)")
    f.add_argument("--reset-optimizer", action="store_true", help="do not take CKPT's optimiser state")
    f.add_argument("--reset-lr-scheduler", action="store_true", help="do not take CKPT's lr schedule state")


def _default_of(key: str) -> object:
    """The TrainConfig default behind a flag's config key (the preset's for model.* keys)."""
    node: object = TrainConfig()
    for part in key.split("."):
        node = getattr(node, part, None)
    return "the preset's" if key.startswith("model.") else node


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Preset < YAML < flags < --set (see :func:`nmt.config.resolve_train_config`)."""
    overrides = [f"{key}={getattr(args, flag)}" for flag, (key, _) in FLAGS.items()
                 if getattr(args, flag) is not None]
    if args.save_optimizer_state is False:
        overrides.append("save_optimizer_state=false")
    if args.stop_time_hours is not None:
        overrides.append(f"stop_time_minutes={60 * args.stop_time_hours}")
    if args.valid_bleu:
        overrides.append("valid_bleu=true")
    if args.finetune_from:
        overrides.append(f"finetune_from={args.finetune_from}")
    for flag in ("reset_optimizer", "reset_lr_scheduler"):
        if getattr(args, flag):
            overrides.append(f"{flag}=true")
    arch = args.arch
    if not arch and args.finetune_from and not (
            args.config and load_yaml(args.config).get("arch")):
        arch = parent_arch(args.finetune_from)  # the parent's model replaces the preset anyway
    return resolve_train_config(arch, args.config, [*overrides, *args.set])


def run(args: argparse.Namespace) -> int:
    if args.list_archs:
        for name, line in registry.describe_archs():
            print(f"{name:24s} {line}")
        return 0
    if not args.data_dir:
        raise UsageError("missing DATA_DIR, a directory made by `nmt preprocess` "
                         "(usage: nmt train DATA_DIR --arch NAME --save-dir DIR)")
    if not args.save_dir:
        raise UsageError("missing --save-dir DIR, where checkpoints and logs go "
                         "(usage: nmt train DATA_DIR --arch NAME --save-dir DIR)")
    cfg = resolve_config(args)
    save_dir = Path(args.save_dir)
    world = distributed.init_from_env(cfg.device)  # torchrun: one rank of a DDP run
    # rank 0 holds the save directory for the whole run; the other ranks only read from it
    lock = save_dir_lock(save_dir) if world.is_master else contextlib.nullcontext()
    try:
        with no_space_left(save_dir), lock:
            log = open_log(save_dir, args.log_format) if world.is_master else None
            trainer = Trainer(cfg, args.data_dir, save_dir, log=log, world=world)
            if world.is_master:
                print(f"nmt train: {trainer.banner()}", file=sys.stderr)
            trainer.train()
    finally:
        distributed.shutdown()
    if world.is_master and trainer.stop_signal is None:
        print(f"nmt train: {trainer.summary()}", file=sys.stderr)
    if trainer.stop_signal is not None:
        if world.is_master:
            print(f"nmt train: interrupted; checkpoint_last holds update {trainer.progress.update}: "
                  "run the same command to resume", file=sys.stderr)
        return 128 + trainer.stop_signal
    return 0
