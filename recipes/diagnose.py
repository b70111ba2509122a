"""Why does a model translate worse than its loss promises? Measurements on one checkpoint.

    python recipes/diagnose.py --checkpoint CKPT --data data-bin/multi30k_en_de \
        --src work/multi30k_en_de/test.en --ref work/multi30k_en_de/test.de [--show 3]

Prints one JSON line with:

- ``loss_full`` / ``loss_steps``: teacher-forced nll per target token (nats) on the binarized test
  split, computed by the full forward pass and by step-by-step ``decode_step`` (must be equal);
- per search (greedy, beam 5): sacreBLEU, the length ratio (hypothesis / reference tokens), and
  three attention measures over the hypotheses' own attention (target steps × source pieces):
  ``attn_entropy`` (mean entropy of a step's attention, nats), ``attn_monotone`` (mean Spearman
  correlation between target step and the argmax source position: 1 = left to right) and
  ``attn_coverage`` (mean share of source pieces that are some step's argmax);
- with ``--show N``, the attention of the first N test sentences as text (one row per target
  piece, the argmax source piece and the weight it got).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
from sacrebleu.metrics import BLEU

from nmt.data.dataset import ParallelDataset
from nmt.data.dictionary import PAD_ID
from nmt.data.text import read_lines
from nmt.errors import NmtError
from nmt.search import SearchConfig, search
from nmt.translation import Translator, load_model


@torch.no_grad()
def teacher_forced_losses(model, data_dir: str, batch_size: int = 50) -> tuple[float, float]:
    """nll per target token of the test split: (full forward, step by step)."""
    data = ParallelDataset(data_dir, "test")
    full = steps = 0.0
    ntok = 0
    for start in range(0, len(data), batch_size):
        b = data.collate(range(start, min(start + batch_size, len(data))))
        real = b.tgt_out.ne(PAD_ID)
        lp_full = model.log_probs(model(b.src, b.src_lens, b.tgt_in))  # (B, T, V)
        enc = model.encode(b.src, b.src_lens)
        state, rows = model.init_state(enc), []
        for t in range(b.tgt_in.size(1)):
            lp, state = model.decode_step(b.tgt_in[:, t], state, enc)
            rows.append(lp)
        lp_steps = torch.stack(rows, dim=1)  # (B, T, V)
        gold = b.tgt_out.unsqueeze(-1)
        full -= lp_full.gather(-1, gold).squeeze(-1)[real].sum().item()
        steps -= lp_steps.gather(-1, gold).squeeze(-1)[real].sum().item()
        ntok += int(real.sum())
    return full / ntok, steps / ntok


def spearman(xs: list[int]) -> float | None:
    """Spearman correlation between 0..n-1 and xs, tied values sharing their mean rank (None for
    fewer than 2 steps or a constant xs)."""
    n = len(xs)
    if n < 2 or len(set(xs)) == 1:
        return None
    order = sorted(range(n), key=xs.__getitem__)
    ranks = [0.0] * n
    start = 0
    while start < n:  # a run of equal values gets the mean of its positions in sorted order
        end = start
        while end + 1 < n and xs[order[end + 1]] == xs[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2
        start = end + 1
    pair = torch.tensor([list(range(n)), ranks], dtype=torch.float64)  # (2, n)
    return float(torch.corrcoef(pair)[0, 1])


def attention_measures(best: list, sources: list) -> dict:
    """best: per sentence (target pieces, attention (T', S) or None) of the best hypothesis."""
    entropies, monotone, coverage = [], [], []
    for (pieces, attention), src in zip(best, sources):
        if attention is None or src is None:
            continue
        att = attention[: len(pieces), : len(src.pieces)].float()  # (T, S)
        if att.numel() == 0:
            continue
        p = att / att.sum(-1, keepdim=True).clamp_min(1e-9)
        entropies.append(float(-(p * p.clamp_min(1e-9).log()).sum(-1).mean()))
        peaks = att.argmax(-1).tolist()  # the most-attended source piece of each target step
        rho = spearman(peaks)
        if rho is not None:
            monotone.append(rho)
        coverage.append(len(set(peaks)) / len(src.pieces))
    mean = lambda v: round(sum(v) / len(v), 4) if v else None  # noqa: E731
    return {"attn_entropy": mean(entropies), "attn_monotone": mean(monotone),
            "attn_coverage": mean(coverage)}


def run_search(loaded, lines: list[str], refs: list[str], beam: int) -> tuple[dict, list, list]:
    """Translate ``lines`` with ``beam`` (greedy for 1): measures, and per sentence the best
    hypothesis' (pieces, attention) and its source."""
    tr = Translator(loaded, SearchConfig(beam=beam))
    sources = [tr.source(line) for line in lines]
    texts, best = [""] * len(lines), [([], None)] * len(lines)
    for batch, src, lens in tr.encoded_batches(sources):
        for i, nbest in zip(batch, search(tr.model, src, lens, tr.cfg)):
            out = tr.output(nbest[0], sources[i])
            texts[i], best[i] = out.text, (out.pieces, nbest[0].attention)
    score = BLEU().corpus_score(texts, [refs])  # sacreBLEU's defaults, as `nmt score`
    result = {"bleu": round(score.score, 2), "length_ratio": round(score.sys_len / score.ref_len, 3)}
    result.update(attention_measures(best, sources))
    return result, best, sources


def show(best: list, sources: list, n: int) -> None:
    for (pieces, att), src in list(zip(best, sources))[:n]:
        if att is None or src is None:
            continue
        att = att[: len(pieces), : len(src.pieces)]
        print("SOURCE:", " ".join(f"{i}:{p}" for i, p in enumerate(src.pieces)), file=sys.stderr)
        for t, piece in enumerate(pieces):
            w, s = att[t].max(-1)
            print(f"  {piece:>16} <- {int(s):2d} {src.pieces[int(s)]:<16} {float(w):.2f}",
                  file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="binarized data dir with a test split")
    ap.add_argument("--src", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        lines, refs = list(read_lines(args.src)), list(read_lines(args.ref))
        if len(lines) != len(refs):
            raise NmtError(f"{args.src} has {len(lines)} lines but {args.ref} has {len(refs)}")
        loaded = load_model(args.checkpoint)
        full, steps = teacher_forced_losses(loaded.model, args.data)
    except NmtError as e:
        print(f"diagnose.py: {e}", file=sys.stderr)
        return 2
    report = {"checkpoint": args.checkpoint, "loss_full": round(full, 5), "loss_steps": round(steps, 5),
              "ppl": round(math.exp(full), 2)}
    for name, beam in (("greedy", 1), ("beam5", 5)):
        result, outs, sources = run_search(loaded, lines, refs, beam)
        report[name] = result
        if args.show and name == "beam5":
            show(outs, sources, args.show)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
