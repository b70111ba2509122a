"""The one BLEU/chrF/TER entry point, over sacreBLEU; training-time validation calls it too.

Scores are computed on detokenized hypotheses against raw references, and every result carries
sacreBLEU's signature. :func:`tokenized_bleu` is the other kind of BLEU, the case-sensitive
BLEU over Moses-tokenized text that the ConvS2S paper reports (multi-bleu.perl style); it is
labelled as such and is not comparable to sacreBLEU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nmt.errors import NmtError

METRICS = ("bleu", "chrf", "ter")


@dataclass
class Score:
    metric: str  # "BLEU", "chrF2", "TER", or "tokenized BLEU"
    score: float
    signature: str
    text: str  # sacreBLEU's own one-line rendering

    def to_dict(self) -> dict:
        return {"metric": self.metric, "score": round(self.score, 4), "signature": self.signature, "text": self.text}


def _check_counts(hyps: list[str], refs: list[list[str]]) -> None:
    if not hyps:
        raise NmtError("no hypotheses to score (the file is empty)")
    for i, ref in enumerate(refs, 1):
        if len(ref) != len(hyps):
            raise NmtError(f"unequal line counts: {len(hyps)} hypotheses, {len(ref)} lines in reference {i}")


def corpus_scores(hyps: list[str], refs: list[list[str]], metrics=("bleu",), lowercase: bool = False,
                  tokenize: str | None = None) -> list[Score]:
    """sacreBLEU corpus scores of ``hyps`` against one or more reference streams."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    _check_counts(hyps, refs)
    results = []
    for name in metrics:
        if name == "bleu":
            metric = BLEU(lowercase=lowercase, **({"tokenize": tokenize} if tokenize else {}))
        elif name == "chrf":
            metric = CHRF(lowercase=lowercase)
        elif name == "ter":
            metric = TER()  # sacreBLEU's default: case-insensitive
        else:
            raise NmtError(f"unknown metric {name!r}; use {', '.join(METRICS)}")
        result = metric.corpus_score(hyps, refs)
        signature = str(metric.get_signature())
        results.append(Score(result.name, float(result.score), signature, f"{result.name}|{signature} = {result.format(score_only=False).split(' = ', 1)[-1]}"))
    return results


def tokenized_bleu(hyps: list[str], refs: list[list[str]], lang: str) -> Score:
    """Case-sensitive BLEU over Moses-tokenized hypotheses and references (multi-bleu.perl style,
    as in Gehring et al. 2017). Not sacreBLEU: never compare it with sacreBLEU figures."""
    from sacrebleu.metrics import BLEU
    from sacremoses import MosesTokenizer

    _check_counts(hyps, refs)
    tok = MosesTokenizer(lang=lang)

    def moses(lines):
        return [tok.tokenize(line, escape=False, return_str=True) for line in lines]

    metric = BLEU(tokenize="none", smooth_method="none", force=True)
    result = metric.corpus_score(moses(hyps), [moses(r) for r in refs])
    signature = f"tokenized:moses-{lang}|case:mixed|smooth:none|nrefs:{len(refs)}"
    return Score("tokenized BLEU", float(result.score), signature,
                 f"tokenized BLEU ({signature}; multi-bleu style, not sacreBLEU) = {result.format(score_only=False).split(' = ', 1)[-1]}")


def test_set_references(name: str, langpair: str) -> list[list[str]]:
    """References of a sacreBLEU test set, read from sacreBLEU's cache only (``$SACREBLEU`` or
    ``~/.sacrebleu``, in its plain-text form ``NAME/NAME_.PAIR.FIELD``): never downloads, so an
    offline machine fails at once, not after a time-out."""
    from sacrebleu.dataset import DATASETS

    if name not in DATASETS:
        raise NmtError(f"unknown sacreBLEU test set {name!r}")
    dataset = DATASETS[name]
    if langpair not in dataset.langpairs:
        raise NmtError(f"test set {name} has no language pair {langpair} (it has {', '.join(sorted(dataset.langpairs))})")
    root = Path(os.environ.get("SACREBLEU", Path.home() / ".sacrebleu"))
    stem = root / name / f"{name.replace('/', '_')}.{langpair}"
    needed = [Path(f"{stem}.{field}") for field in dataset.fieldnames(langpair)]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise NmtError(
            f"the references of {name} {langpair} are not in the sacreBLEU cache (missing {missing[0]}); "
            "point SACREBLEU at a cache that has them (e.g. SACREBLEU=../shared/data/sacrebleu)"
        )
    ref_fields = [f for f in dataset.fieldnames(langpair) if f.startswith("ref")]
    return [Path(f"{stem}.{field}").read_text(encoding="utf-8").rstrip("\n").split("\n") for field in ref_fields]
