"""The training loop: batches -> updates -> validation -> checkpoints, resumable at any update.

One update consumes ``update_freq`` batches; the loss of each is divided by the number of target
tokens of the whole update, so the gradient is the per-token mean however the work is split.
Progress (epoch, update, batches consumed in the epoch), the optimiser, the schedule and the RNG
go into every checkpoint, and a restart in the same ``save_dir`` continues exactly where the last
checkpoint stopped (same batches, same dropout masks).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from nmt import registry
from nmt.checkpoint import Checkpoint, files, load_checkpoint, pipeline_sha256, save_checkpoint
from nmt.checkpoint.schema import DamagedCheckpoint
from nmt.config import dump_yaml, to_dict
from nmt.data.batching import BatchIterator
from nmt.data.dataset import Batch, ParallelDataset
from nmt.data.files import atomic_write
from nmt.data.pipeline import Pipeline
from nmt.errors import NmtError
from nmt.scoring import corpus_scores
from nmt.search import SearchConfig, search
from nmt.training.distributed import World
from nmt.training.eta import clock, remaining_seconds
from nmt.training.finetune import load_parent
from nmt.training.loss import label_smoothed_nll, perplexity
from nmt.training.optim import build_optimizer
from nmt.training.options import TrainConfig
from nmt.training.resume import check_parent_state, check_resume, refuse
from nmt.training.schedule import LRSchedule


@dataclass
class Progress:
    epoch: int = 1  # the epoch in progress (1-based)
    update: int = 0  # optimiser updates done
    batch_in_epoch: int = 0  # batches of this epoch already consumed
    nonfinite_in_row: int = 0
    best_loss: float | None = None  # best validation value of best_metric (BLEU negated)
    epochs_without_best: int = 0
    train_seconds: float = 0.0  # wall time spent training, over all runs up to the checkpoint


def autocast(cfg: TrainConfig):
    """bf16/fp16 autocast on the configured device, or nothing for fp32."""
    if cfg.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(cfg.device).type, dtype=dtype)


class Trainer:
    """Trains one model; under torchrun each process is one rank of a DistributedDataParallel run
    (only rank 0 writes checkpoints and logs)."""

    def __init__(self, cfg: TrainConfig, data_dir: str | Path, save_dir: str | Path, log=print,
                 world: World | None = None):
        cfg.validate()
        self.world = world or World()
        self.cfg, self.save_dir = cfg, Path(save_dir)
        self.log = log if (log is not None and self.world.is_master) else (lambda *_: None)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed + self.world.rank)
        self.pipeline = Pipeline.load(data_dir)
        self.pipeline_fingerprint = pipeline_sha256(self.pipeline.spec, self.pipeline.assets)
        self.train_data = ParallelDataset(data_dir, "train", self.pipeline)
        self.valid_data = ParallelDataset(data_dir, cfg.valid_split, self.pipeline)
        parent, model_cfg = None, cfg.model
        if cfg.finetune_from:  # the parent's model (also when resuming the fine-tuning run)
            parent, model_cfg = load_parent(cfg.finetune_from, self.pipeline)
        self.model_cfg = replace(
            model_cfg,
            src_vocab_size=len(self.pipeline.source.dictionary),
            tgt_vocab_size=len(self.pipeline.target.dictionary),
        )
        self.model = registry.build_model(self.model_cfg).to(cfg.device)
        self.ddp_model = self.model
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp_model = DistributedDataParallel(self.model)
        self.optimizer = build_optimizer(cfg.optim, [p for p in self.model.parameters() if p.requires_grad])
        self.schedule = LRSchedule(cfg.schedule, self.optimizer, cfg.optim.lr)
        self.batches = BatchIterator(self.train_data, cfg.max_tokens, cfg.batch_size, seed=cfg.seed)
        self.scaler = torch.amp.GradScaler(torch.device(cfg.device).type, enabled=cfg.precision == "fp16")
        self.tensorboard = _tensorboard(self.save_dir) if cfg.tensorboard and self.world.is_master else None
        self.stop_signal: int | None = None
        self.done_reason: str | None = None
        self.progress = Progress()
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self._clock_base = 0.0
        if parent is not None and not (self.save_dir / files.LAST).is_file():
            self._start_from(parent)
        self._resume()
        self._clock_start = time.monotonic()
        self._updates_at_start = self.progress.update

    # -- checkpoints ---------------------------------------------------------------------------

    def _start_from(self, parent: Checkpoint) -> None:
        """Fine-tuning's first start: the parent's weights, and its optimiser and schedule state
        unless reset; progress starts at update 0. All of it is checked before any is taken."""
        check_parent_state(Path(self.cfg.finetune_from), parent, self,
                           optimizer=not self.cfg.reset_optimizer,
                           schedule=not self.cfg.reset_lr_scheduler)
        self.model.load_state_dict(parent.model)
        if parent.optimizer is not None and not self.cfg.reset_optimizer:
            self.optimizer.load_state_dict(parent.optimizer)
        if "schedule" in parent.meta and not self.cfg.reset_lr_scheduler:
            self.schedule.load_state_dict(parent.meta["schedule"])
        self.log(json.dumps({"event": "finetune", "checkpoint": self.cfg.finetune_from,
                             "parent_update": parent.meta.get("progress", {}).get("update"),
                             "optimizer": "reset" if self.cfg.reset_optimizer else "kept",
                             "lr_scheduler": "reset" if self.cfg.reset_lr_scheduler else "kept"}))

    def _resume(self) -> None:
        """Continue from checkpoint_last, when there is one; all of it is checked first
        (:func:`nmt.training.resume.check_resume`), so a refusal changes nothing."""
        last = self.save_dir / files.LAST
        if not last.is_file():
            return
        try:
            ckpt = load_checkpoint(last)
        except DamagedCheckpoint as e:
            refuse(last, e.problem)
        check_resume(last, ckpt, self)
        meta = ckpt.meta
        self.model.load_state_dict(ckpt.model)
        if ckpt.optimizer is not None:
            self.optimizer.load_state_dict(ckpt.optimizer)
        self.schedule.load_state_dict(meta["schedule"])
        self.progress = Progress(**meta["progress"])
        self._clock_base = self.progress.train_seconds
        if ckpt.rng is not None and not self.world.distributed:
            torch.set_rng_state(ckpt.rng)  # exact resume; ranks of a larger world reseed instead
        elif self.world.distributed:
            torch.manual_seed(self.cfg.seed + 1000 * self.progress.update + self.world.rank)
        shown = dict(meta["progress"])
        if shown.get("best_loss") is not None:  # kept negated for BLEU (lower is better inside)
            shown["best_loss"] = abs(shown["best_loss"])
        self.log(json.dumps({"event": "resume", "checkpoint": str(last), **shown}))

    def _tick(self) -> float:
        """Training wall time so far, including earlier runs resumed from."""
        self.progress.train_seconds = self._clock_base + time.monotonic() - self._clock_start
        return self.progress.train_seconds

    def checkpoint(self) -> Checkpoint:
        self._tick()
        meta = {
            "arch": self.cfg.arch,
            "family": registry.family_of(self.model_cfg),
            "model_config": to_dict(self.model_cfg),
            "train_config": to_dict(self.cfg),
            "pipeline": self.pipeline.spec,
            "pipeline_sha256": self.pipeline_fingerprint,
            "progress": to_dict(self.progress),
            "schedule": self.schedule.state_dict(),
        }
        return Checkpoint(
            meta=meta,
            model=self.model.state_dict(),
            assets=self.pipeline.assets,
            optimizer=self.optimizer.state_dict() if self.cfg.save_optimizer_state else None,
            rng=torch.get_rng_state(),
        )

    def save(self, names: list[str]) -> None:
        """Rank 0 writes the checkpoint under each name (each write atomic)."""
        if not self.world.is_master:
            return
        ckpt = self.checkpoint()
        for name in names:
            save_checkpoint(self.save_dir / name, ckpt)
        files.prune(self.save_dir, self.cfg.keep_last)

    # -- one update ----------------------------------------------------------------------------

    def _loss(self, batch: Batch, model=None) -> tuple[torch.Tensor, torch.Tensor]:
        batch = batch.to(self.cfg.device)
        with autocast(self.cfg):
            logits = (model or self.model)(batch.src, batch.src_lens, batch.tgt_in)
        return label_smoothed_nll(logits, batch.tgt_out, self.cfg.label_smoothing,
                                  overwrite_logits=True)  # nothing else reads them

    def train_step(self, group: list[Batch]) -> dict | None:
        """One optimiser update over ``group`` (``update_freq`` batches); None if skipped.

        With fp16 (CUDA) the loss is scaled by a GradScaler, which skips and backs off on
        overflow by itself; otherwise a non-finite loss or gradient skips the update here."""
        self.model.train()
        # an empty share (the end of an epoch on a larger world) still joins the gradient
        # all-reduce, with a zero-weight copy of the first batch of the update
        weights = [1.0] * len(group) if group else [0.0]
        group = group or [self.train_data.collate(self.batches.epoch_batches(self.progress.epoch)[0])]
        local = [float(sum(b.ntokens for b, w in zip(group, weights) if w))]
        ntokens = self.world.all_reduce_sum(local)[0]  # the loss is a mean over the global tokens
        scale = self.world.size / max(ntokens, 1.0)  # DDP averages over ranks; undo that
        loss_sum = nll_sum = 0.0
        for i, (batch, weight) in enumerate(zip(group, weights)):
            sync = contextlib.nullcontext() if i == len(group) - 1 or not self.world.distributed \
                else self.ddp_model.no_sync()
            with sync:
                loss, nll = self._oom_guard(batch)
                self.scaler.scale(loss * (scale * weight)).backward()
            loss_sum += weight * float(loss.detach())
            nll_sum += weight * float(nll)
        loss_sum, nll_sum = self.world.all_reduce_sum([loss_sum, nll_sum])
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.cfg.optim.clip_norm if self.cfg.optim.clip_norm > 0 else float("inf")
        gnorm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        if not (math.isfinite(gnorm) and math.isfinite(loss_sum)):
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler.is_enabled():
                self.scaler.update()  # fp16 overflow: smaller scale next time, not an error
                return None
            return self._skip_nonfinite(loss_sum, gnorm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.update += 1
        self.progress.nonfinite_in_row = 0
        self.schedule.step_update(self.progress.update)
        return {"loss": loss_sum, "nll": nll_sum, "ntokens": int(ntokens), "gnorm": gnorm}

    def _oom_guard(self, batch: Batch):
        """The forward pass, with out-of-memory turned into advice instead of a traceback."""
        try:
            return self._loss(batch, self.ddp_model)
        except torch.OutOfMemoryError:
            raise NmtError(
                f"out of memory on a batch of {len(batch)} sentences ({batch.src.numel()} source and "
                f"{batch.tgt_in.numel()} target positions); lower --max-tokens (now {self.cfg.max_tokens}) "
                "and raise --update-freq to keep the effective batch"
            ) from None

    def _skip_nonfinite(self, loss_sum: float, gnorm: float) -> None:
        self.progress.nonfinite_in_row += 1
        self.log(json.dumps({"event": "skip", "reason": "non-finite loss or gradient", "loss": loss_sum,
                             "gnorm": gnorm, "in_a_row": self.progress.nonfinite_in_row}))
        if self.progress.nonfinite_in_row >= self.cfg.max_nonfinite:
            raise NmtError(
                f"{self.progress.nonfinite_in_row} updates in a row had a non-finite loss or gradient; "
                "stopping (lower the learning rate, use --clip-norm, or check the data)"
            )
        return None

    # -- validation ----------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict:
        self.model.eval()
        it = BatchIterator(self.valid_data, self.cfg.max_tokens, self.cfg.batch_size, shuffle=False)
        loss_sum = nll_sum = ntokens = 0.0
        for batch in it(1):
            loss, nll = self._loss(batch)
            loss_sum, nll_sum, ntokens = loss_sum + float(loss), nll_sum + float(nll), ntokens + batch.ntokens
        nll_tok = nll_sum / max(ntokens, 1)
        metrics = {"valid_loss": loss_sum / max(ntokens, 1), "valid_nll": nll_tok, "valid_ppl": perplexity(nll_tok)}
        if self.cfg.valid_bleu:
            metrics["valid_bleu"] = self.validate_bleu(it)
        return metrics

    @torch.no_grad()
    def validate_bleu(self, it: BatchIterator) -> float:
        """sacreBLEU of the valid split's translations (detokenized) against its references as the
        pipeline detokenizes them, through the same scoring function as `nmt score`."""
        cfg = SearchConfig(beam=self.cfg.valid_beam, attention=False,  # the text alone is scored
                           autocast_dtype="bfloat16" if self.cfg.precision == "bf16" else None)
        hyps, refs = [], []
        target = self.pipeline.target
        for batch in it(1):
            batch = batch.to(self.cfg.device)
            for hyp, ref in zip(search(self.model, batch.src, batch.src_lens, cfg), batch.tgt_out.tolist()):
                hyps.append(target.decode(hyp[0].tokens.tolist()))
                refs.append(target.decode(ref))
        return corpus_scores(hyps, [refs])[0].score

    # -- the loop ------------------------------------------------------------------------------

    def stop_reason(self) -> str | None:
        c, p = self.cfg, self.progress
        if self.stop_signal is not None:
            return f"interrupted by {signal.Signals(self.stop_signal).name}"
        if c.max_update is not None and p.update >= c.max_update:
            return f"reached max_update {c.max_update}"
        if c.max_epoch is not None and p.epoch > c.max_epoch:
            return f"reached max_epoch {c.max_epoch}"
        if c.stop_time_minutes is not None and self._tick() >= 60 * c.stop_time_minutes:
            return f"reached stop_time_minutes {c.stop_time_minutes}"
        if self.schedule.finished():
            return f"learning rate {self.schedule.lr:.3g} fell below min_lr {c.schedule.min_lr:g}"
        if c.patience >= 0 and p.epochs_without_best > c.patience:
            return f"validation loss did not improve for {p.epochs_without_best} epochs (patience {c.patience})"
        return None

    def agreed_stop(self) -> str | None:
        """:meth:`stop_reason`, agreed by all ranks (any rank stopping stops them all)."""
        reason = self.stop_reason()
        if self.world.distributed and self.world.all_reduce_sum([1.0 if reason else 0.0])[0] and not reason:
            reason = "another rank stopped"
        return reason

    def train(self) -> dict:
        """Train until a stopping rule fires; returns the last validation metrics.

        SIGINT/SIGTERM: the current update finishes, checkpoint_last is written and training
        stops (``stop_signal`` is set); a second signal exits at once."""
        if self.world.is_master:
            # the resolved config as trained, vocabulary sizes from the data included
            resolved = replace(self.cfg, model=self.model_cfg)
            with atomic_write(self.save_dir / "config.yaml") as f:
                f.write(dump_yaml(resolved))
        metrics: dict = {}
        with self._signals():
            while (reason := self.agreed_stop()) is None:
                if self._train_epoch():
                    metrics = self._end_epoch()
            if self.progress.batch_in_epoch and self.progress.update > self._updates_at_start:
                metrics = self._stop_mid_epoch() or metrics
        self.done_reason = reason
        p = self.progress  # after an epoch's end p.epoch already names the next one
        self.log(json.dumps({"event": "done", "reason": reason, "update": p.update,
                             "epoch": p.epoch if p.batch_in_epoch else p.epoch - 1}))
        return metrics

    def banner(self) -> str:
        """One line for a person at the start: model, data, where it goes, how it runs."""
        params = sum(p.numel() for p in self.model.parameters())
        resumed = f", resuming at update {self.progress.update}" if self.progress.update else ""
        return (f"{registry.family_of(self.model_cfg)} {self.cfg.arch}, {params:,} parameters; "
                f"{len(self.train_data):,} train / {len(self.valid_data):,} valid sentences "
                f"({self.pipeline.source_lang}->{self.pipeline.target_lang}); save dir "
                f"{self.save_dir}; {self.cfg.precision} on {self.cfg.device}, "
                f"{torch.get_num_threads()} thread(s){resumed}")

    def summary(self) -> str:
        """One line for a person at the end of a run: why it stopped, the best checkpoint and
        its validation value, and the command that uses it."""
        best = self.save_dir / files.BEST
        p, metric = self.progress, "BLEU" if self.cfg.best_metric == "bleu" else "loss"
        if p.best_loss is None or not best.is_file():
            return f"stopped ({self.done_reason}) before any validation: no checkpoint_best yet"
        return (f"stopped ({self.done_reason}) at update {p.update}; best checkpoint {best} "
                f"(valid {metric} {abs(p.best_loss):.3f}); translate with: "
                f"nmt translate --checkpoint {best} --input FILE")

    @contextlib.contextmanager
    def _signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, _frame):
            if self.stop_signal is not None:
                os._exit(128 + signum)  # a second signal: leave at once (the last checkpoint stays)
            self.stop_signal = signum
            print(f"nmt train: {signal.Signals(signum).name}: finishing this update and saving "
                  "checkpoint_last (send it again to quit at once)", file=sys.stderr, flush=True)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _train_epoch(self) -> bool:
        """Train on the rest of the current epoch; False if a stopping rule interrupted it."""
        p, c = self.progress, self.cfg
        batches = self.batches.epoch_batches(p.epoch)  # the global order; ranks split each update
        per_update = c.update_freq * self.world.size
        window = _Window()
        bar = tqdm(total=len(batches), initial=p.batch_in_epoch, desc=f"epoch {p.epoch}",
                   disable=None if self.world.is_master else True, leave=False)
        with bar:
            while p.batch_in_epoch < len(batches):
                group_idx = batches[p.batch_in_epoch : p.batch_in_epoch + per_update]
                mine = group_idx[self.world.rank :: self.world.size]
                stats = self.train_step([self.train_data.collate(i) for i in mine])
                p.batch_in_epoch += len(group_idx)
                bar.update(len(group_idx))
                if stats is not None:
                    window.add(stats)
                    if p.update % c.log_interval == 0:
                        self._log_train(window, bar, len(batches))
                    if c.save_interval_updates and p.update % c.save_interval_updates == 0:
                        self.save([files.LAST, files.interval_name(p.epoch, p.update)])
                # a stop on the epoch's last update ends the epoch first (validation, schedule)
                if p.batch_in_epoch < len(batches) and self.agreed_stop() is not None:
                    return False
        return True

    def _log_train(self, window: _Window, bar, epoch_batches: int) -> None:
        record = {"event": "train", "epoch": self.progress.epoch, "update": self.progress.update,
                  "lr": self.schedule.lr, **window.summary(), "train_seconds": round(self._tick(), 1)}
        shown = {"loss": f"{record['loss']:.3f}", "lr": f"{record['lr']:.3g}",
                 "tok_s": f"{record['tokens_per_s']:.0f}"}
        left = self._eta(epoch_batches)
        if left is not None:
            shown["ETA"] = clock(left)
        bar.set_postfix(shown)
        self.log(json.dumps(record))
        self._scalars("train", record)
        window.reset()

    def _eta(self, epoch_batches: int) -> float | None:
        """Seconds of training left by the stopping rules with a horizon (see nmt.training.eta)."""
        p, c = self.progress, self.cfg
        per_update = c.update_freq * self.world.size  # batches an update consumes
        return remaining_seconds(
            trained_seconds=p.train_seconds, stop_time_minutes=c.stop_time_minutes,
            updates_done=p.update - self._updates_at_start,
            seconds_this_run=p.train_seconds - self._clock_base, update=p.update,
            max_update=c.max_update, epoch=p.epoch, max_epoch=c.max_epoch,
            updates_left_in_epoch=(epoch_batches - p.batch_in_epoch) / per_update,
            updates_per_epoch=epoch_batches / per_update)

    def _improves(self, metrics: dict) -> bool:
        """Whether ``metrics`` beat the best so far by ``best_metric`` (then it becomes the best)."""
        p = self.progress
        key, sign = ("valid_bleu", -1.0) if self.cfg.best_metric == "bleu" else ("valid_loss", 1.0)
        value = sign * metrics[key]  # lower is better
        improved = p.best_loss is None or value < p.best_loss
        if improved:
            p.best_loss = value
        return improved

    def _stop_mid_epoch(self) -> dict | None:
        """A stop inside an epoch (max_update, stop_time_minutes, ...): validate, so that a run
        always leaves checkpoint_best, then save. After a signal only checkpoint_last is saved,
        at once; the validation comes when the run is resumed."""
        if self.stop_signal is not None:
            self.save([files.LAST])
            return None
        p = self.progress
        metrics = self.validate()
        improved = self._improves(metrics)
        self.log(json.dumps({"event": "valid", "epoch": p.epoch, "update": p.update, **metrics,
                             "best": abs(p.best_loss), "mid_epoch": True,
                             "train_seconds": round(self._tick(), 1)}))
        self._scalars("valid", {**metrics, "lr": self.schedule.lr})
        self.save([files.LAST] + ([files.BEST] if improved else []))
        return metrics

    def _end_epoch(self) -> dict:
        p = self.progress
        metrics = self.validate()
        improved = self._improves(metrics)
        p.epochs_without_best = 0 if improved else p.epochs_without_best + 1
        lr = self.schedule.step_epoch(metrics["valid_loss"])
        self.log(json.dumps({"event": "valid", "epoch": p.epoch, "update": p.update, **metrics,
                             "best": abs(p.best_loss), "next_lr": lr,
                             "train_seconds": round(self._tick(), 1)}))
        self._scalars("valid", {**metrics, "lr": lr})
        done_epoch = p.epoch
        p.epoch, p.batch_in_epoch = p.epoch + 1, 0
        names = [files.LAST] + ([files.BEST] if improved else [])
        if done_epoch % self.cfg.save_interval == 0:
            names.append(files.epoch_name(done_epoch))
        self.save(names)
        return metrics


    def _scalars(self, group: str, record: dict) -> None:
        if self.tensorboard is None:
            return
        for key, value in record.items():
            if isinstance(value, (int, float)) and key not in ("epoch", "update", "train_seconds"):
                self.tensorboard.add_scalar(f"{group}/{key}", value, self.progress.update)
        self.tensorboard.flush()


_TENSORBOARD_NOTED = False  # the note that TensorBoard is missing is printed once a process


def _tensorboard(save_dir: Path):
    """A TensorBoard writer when the tensorboard package is installed, else None (said once)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        global _TENSORBOARD_NOTED
        if not _TENSORBOARD_NOTED:
            _TENSORBOARD_NOTED = True
            print("nmt train: note: TensorBoard is not installed (pip install tensorboard); the "
                  "scalars are in train.log.jsonl only", file=sys.stderr)
        return None
    return SummaryWriter(str(save_dir / "tensorboard"))


class _Window:
    """Running sums between two log lines."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.loss = self.nll = self.gnorm = 0.0
        self.ntokens = self.updates = 0
        self.t0 = time.perf_counter()

    def add(self, stats: dict) -> None:
        self.loss += stats["loss"]
        self.nll += stats["nll"]
        self.ntokens += stats["ntokens"]
        self.gnorm += stats["gnorm"]
        self.updates += 1

    def summary(self) -> dict:
        n = max(self.ntokens, 1)
        return {
            "loss": self.loss / n, "nll": self.nll / n, "ppl": perplexity(self.nll / n),
            "gnorm": self.gnorm / max(self.updates, 1),
            "tokens_per_s": self.ntokens / max(time.perf_counter() - self.t0, 1e-9),
        }


def human_line(record: dict) -> str:
    """A JSON log record as a person reads it, e.g.
    ``epoch 3 | update 384 | loss 4.94 | ppl 72.6 | lr 0.25 | 4,812 tok/s``."""
    event = record.get("event")
    head = f"epoch {record.get('epoch')} | update {record.get('update')}"
    if event == "train":
        return (f"{head} | loss {record['loss']:.2f} | ppl {record['ppl']:.1f} | "
                f"lr {record['lr']:.3g} | {record['tokens_per_s']:,.0f} tok/s")
    if event == "valid":
        bleu = f" | bleu {record['valid_bleu']:.2f}" if "valid_bleu" in record else ""
        where = " (inside the epoch, at the stop)" if record.get("mid_epoch") else ""
        return (f"valid {head} | loss {record['valid_loss']:.3f} | ppl {record['valid_ppl']:.1f}"
                f"{bleu} | best {record['best']:.3f}{where}")
    if event == "done":
        return f"done: {record.get('reason')} ({head})"
    details = ", ".join(f"{k} {v}" for k, v in record.items() if k != "event")
    return f"{event}: {details}"


def open_log(save_dir: Path, fmt: str = "auto"):
    """A log function that prints each JSON record (as JSON, or as a human line for ``fmt``
    'human', or 'auto' on a terminal) and appends it to ``save_dir/train.log.jsonl``."""
    save_dir.mkdir(parents=True, exist_ok=True)
    path = save_dir / "train.log.jsonl"
    human = fmt == "human" or (fmt == "auto" and sys.stdout.isatty())

    def log(line: str) -> None:
        tqdm.write(human_line(json.loads(line)) if human and line.startswith("{") else line)
        if line.startswith("{"):
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())

    return log
