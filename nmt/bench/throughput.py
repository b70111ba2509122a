"""Measurements behind `nmt bench`: each returns a JSON-ready dict of medians over repeats.

Speed is measured in-process over repeated windows after a warm-up; quote medians, and compare two
variants in one run (the machine is shared and noisy).
"""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path

from nmt.data.batching import BatchIterator
from nmt.data.dataset import ParallelDataset


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_data(data_dir: str | Path, split: str = "train", max_tokens: int = 4000,
               batch_size: int | None = None, repeats: int = 3) -> dict:
    """Batching + collation throughput: one full epoch per repeat, as the trainer consumes it."""
    t0 = time.perf_counter()
    dataset = ParallelDataset(data_dir, split)
    open_s = time.perf_counter() - t0
    it = BatchIterator(dataset, max_tokens, batch_size, seed=1)
    rates, sent_rates, tok_rates, n_batches = [], [], [], 0
    for epoch in range(1, repeats + 1):
        t = time.perf_counter()
        n_batches = sentences = tokens = 0
        for batch in it(epoch):
            n_batches += 1
            sentences += len(batch)
            tokens += batch.ntokens
        dt = time.perf_counter() - t
        rates.append(n_batches / dt)
        sent_rates.append(sentences / dt)
        tok_rates.append(tokens / dt)
    return {
        "benchmark": "data",
        "data": str(data_dir),
        "split": split,
        "max_tokens": max_tokens,
        "batches_per_epoch": n_batches,
        "open_seconds": round(open_s, 4),
        "batches_per_s": round(statistics.median(rates), 1),
        "sentences_per_s": round(statistics.median(sent_rates), 1),
        "target_tokens_per_s": round(statistics.median(tok_rates), 1),
        "repeats": repeats,
        "peak_rss_mb": peak_rss_mb(),
    }


def count_flops(run) -> int:
    """Floating-point operations of ``run()``'s matrix products and convolutions, counted from
    their shapes by torch's FlopCounterMode (elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def _flops_per_target_token(trainer, batches) -> float:
    """:func:`count_flops` of one training step (forward + backward) per target token."""

    def step(batch) -> None:
        loss, _ = trainer._loss(batch)
        loss.backward()

    flops = tokens = 0
    for batch in batches:
        flops += count_flops(lambda b=batch: step(b))
        trainer.model.zero_grad(set_to_none=True)
        tokens += batch.ntokens
    return flops / max(tokens, 1)


def matmul_peak_gflops(precision: str = "bf16", device: str = "cpu", n: int = 2048,
                       repeats: int = 5) -> float:
    """This host's matrix-product peak on the current threads: the best of ``repeats`` timed
    (n x n) @ (n x n) products in ``precision`` ('fp32' | 'bf16' | 'fp16'), 2·n³ operations each."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b  # warm-up: the library picks and caches its kernel
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def bench_train(cfg, data_dir: str | Path, warmup: int = 5, windows: int = 5,
                window_updates: int = 10) -> dict:
    """Training throughput: target tokens/s over ``windows`` windows of ``window_updates`` updates
    each, after ``warmup`` updates; the median window is reported, with the FLOP rate it means
    and that rate's share of this host's matrix-product peak in the run's precision."""
    import tempfile

    import torch

    from nmt.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, data_dir, tmp, log=lambda *_: None)
        order = [b for epoch in range(1, 1000) for b in trainer.batches.epoch_batches(epoch)]
        need = (warmup + windows * window_updates) * cfg.update_freq
        groups = [order[i : i + cfg.update_freq] for i in range(0, need, cfg.update_freq)]
        rates = []
        for g in groups[:warmup]:
            trainer.train_step([trainer.train_data.collate(i) for i in g])
        for w in range(windows):
            chunk = groups[warmup + w * window_updates : warmup + (w + 1) * window_updates]
            collated = [[trainer.train_data.collate(i) for i in g] for g in chunk]
            t = time.perf_counter()
            for group in collated:
                trainer.train_step(group)
            rates.append(sum(b.ntokens for g in collated for b in g) / (time.perf_counter() - t))
        sample = [trainer.train_data.collate(i) for g in groups[warmup : warmup + 3] for i in g]
        fpt = _flops_per_target_token(trainer, sample)
        params = sum(p.numel() for p in trainer.model.parameters())
    tok_s = statistics.median(rates)
    peak = matmul_peak_gflops(cfg.precision, cfg.device)
    return {
        "benchmark": "train", "arch": cfg.arch, "precision": cfg.precision,
        "threads": torch.get_num_threads(), "max_tokens": cfg.max_tokens, "update_freq": cfg.update_freq,
        "target_tokens_per_s": round(tok_s, 1), "windows_tokens_per_s": [round(r, 1) for r in rates],
        "parameters": params, "flops_per_target_token": round(fpt), "gflops_per_s": round(fpt * tok_s / 1e9, 1),
        "matmul_peak_gflops_per_s": round(peak, 1),  # 2048³ products in the run's precision
        "share_of_peak": round(fpt * tok_s / 1e9 / peak, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_translate(translator, lines: list[str], repeats: int = 3, flops: bool = False) -> dict:
    """Translation throughput over ``lines``, end to end (raw text in, detokenized text out) and
    search alone (pre-encoded batches); medians of ``repeats`` passes after one warm-up pass.
    ``flops``: also the search's rate of floating-point operations (:func:`count_flops`, one more,
    untimed pass) and its share of this host's matrix-product peak in the search's precision."""
    import torch

    from nmt.search.common import autocast_dtype

    batches = [(*b, None) for b in translator.encoded_batches([translator.source(line) for line in lines])]

    def search() -> None:  # the path of translate: through the shortlist when there is one
        for _ in translator.search_batches(batches):
            pass

    translator.translate(lines[:200])  # warm-up
    full, search_only, out_tokens = [], [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        results = translator.translate(lines)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        search()
        search_only.append(time.perf_counter() - t)
        out_tokens = sum(len(r[0].pieces) + 1 for r in results if r)
    n = len(lines)
    rate = {}
    if flops:
        gflops = count_flops(search) / statistics.median(search_only) / 1e9
        precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
            autocast_dtype(translator.cfg), "fp32")
        peak = matmul_peak_gflops(precision)
        rate = {"search_gflops_per_s": round(gflops, 1), "matmul_peak_gflops_per_s": round(peak, 1),
                "share_of_peak": round(gflops / peak, 3)}
    return {
        "benchmark": "translate", "sentences": n, "beam": translator.cfg.beam,
        "batch_size": translator.batch_size, "max_tokens": translator.max_tokens,
        "precision": str(translator.cfg.autocast_dtype or "fp32"), "threads": torch.get_num_threads(),
        "shortlist": translator.shortlist is not None,
        "sentences_per_s": round(n / statistics.median(full), 1),
        "target_tokens_per_s": round(out_tokens / statistics.median(full), 1),
        "search_sentences_per_s": round(n / statistics.median(search_only), 1),
        "seconds": [round(s, 3) for s in full], **rate, "peak_rss_mb": peak_rss_mb(),
    }
