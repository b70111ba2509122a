"""The lexical shortlist file: per source piece, the target pieces that translate it.

Marian's ``--shortlist`` and CTranslate2's vocabulary map: most of a decoding step's output layer is
spent on target pieces that cannot appear in the translation of the batch at hand. A shortlist
names, per source piece, the target pieces that co-occur with it, plus the target corpus's most
frequent pieces; :mod:`nmt.search.shortlist` narrows the output layer to them.

Built by :func:`build_shortlist` (`nmt shortlist DATA_DIR`) from a binarized training split: for
every source piece s and target piece t, the sentence pairs containing both, ranked by the Dice
coefficient 2·c(s, t) / (c(s) + c(t)) (frequent pieces co-occur with everything; Dice ranks the
pieces that occur *where s does*), the best ``per_source`` kept. Stored as JSON over pieces, not
ids, and bound to a model's dictionaries (:meth:`Shortlist.ids`) when loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmt.data.binarized import TokenArray
from nmt.data.dictionary import SPECIALS, Dictionary
from nmt.data.files import atomic_write
from nmt.data.pipeline import Pipeline
from nmt.data.text import require_file
from nmt.errors import NmtError

FORMAT, VERSION = "nmt-shortlist", 1
_CHUNK = 20_000  # sentence pairs counted at a time


@dataclass
class Shortlist:
    """``frequent`` target pieces always allowed; ``table`` source piece -> its target pieces."""

    source_lang: str
    target_lang: str
    frequent: list[str]
    table: dict[str, list[str]]

    def save(self, path: str | Path) -> None:
        doc = {"format": FORMAT, "version": VERSION, "source_lang": self.source_lang,
               "target_lang": self.target_lang, "frequent": self.frequent, "table": self.table}
        with atomic_write(path) as f:
            json.dump(doc, f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> Shortlist:
        """Read a shortlist file; anything that is not one is a one-line NmtError."""
        try:
            doc = json.loads(require_file(path, "shortlist").read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise NmtError(f"{path}: not a shortlist (not UTF-8 JSON); build one with "
                           "`nmt shortlist DATA_DIR --output FILE`") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise NmtError(f"{path}: not an {FORMAT} file of version {VERSION}")
        fields = (doc.get("source_lang"), doc.get("target_lang"), doc.get("frequent"), doc.get("table"))
        if not (isinstance(fields[0], str) and isinstance(fields[1], str) and _strings(fields[2])
                and isinstance(fields[3], dict) and all(_strings(v) for v in fields[3].values())):
            raise NmtError(f"{path}: damaged shortlist (languages, frequent or table malformed)")
        return cls(*fields)

    def ids(self, pipeline: Pipeline) -> tuple[list[int], dict[int, np.ndarray]]:
        """The shortlist in the ids of a model's dictionaries (pieces they lack are left out):
        (the frequent target ids with the specials, sorted; source id -> its target ids)."""
        if (self.source_lang, self.target_lang) != (pipeline.source_lang, pipeline.target_lang):
            raise NmtError(f"the shortlist is for {self.source_lang}->{self.target_lang}, the model "
                           f"translates {pipeline.source_lang}->{pipeline.target_lang}")
        src, tgt = pipeline.source.dictionary, pipeline.target.dictionary
        frequent = {tgt.index(p) for p in self.frequent} | set(range(len(SPECIALS)))
        table = {}
        for piece, targets in self.table.items():
            sid = src.index(piece)
            if sid >= len(SPECIALS):
                table[sid] = np.array(sorted({tgt.index(t) for t in targets}), dtype=np.int64)
        return sorted(frequent), table


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# -- building ---------------------------------------------------------------------------------


def build_shortlist(data_dir: str | Path, split: str = "train", frequent: int = 100,
                    per_source: int = 100) -> Shortlist:
    """Count a binarized split of ``data_dir`` (`nmt preprocess` output) into a shortlist."""
    if frequent < 0 or per_source < 1:
        raise NmtError(f"--frequent must be >= 0 and --per-source >= 1, got {frequent} and {per_source}")
    pipeline = Pipeline.load(data_dir)
    src_dict, tgt_dict = pipeline.source.dictionary, pipeline.target.dictionary
    src = TokenArray(data_dir, split, pipeline.source_lang, len(src_dict))
    tgt = TokenArray(data_dir, split, pipeline.target_lang, len(tgt_dict))
    if len(src) != len(tgt) or len(src) == 0:
        raise NmtError(f"{data_dir}: split {split!r} has {len(src)} source and {len(tgt)} target "
                       "sentences; a shortlist needs equal, non-zero counts")
    keys, pairs, src_df, tgt_df = _cooccurrences(src, tgt, len(tgt_dict))
    table = _best_targets(keys, pairs, src_df, tgt_df, len(tgt_dict), per_source, src_dict, tgt_dict)
    tgt_counts = np.bincount(tgt.tokens, minlength=len(tgt_dict))
    tgt_counts[: len(SPECIALS)] = 0
    top = [int(i) for i in np.argsort(-tgt_counts, kind="stable")[:frequent] if tgt_counts[i] > 0]
    return Shortlist(pipeline.source_lang, pipeline.target_lang,
                     [tgt_dict.symbols[i] for i in top], table)


def _cooccurrences(src: TokenArray, tgt: TokenArray, tgt_vocab: int):
    """Sentence-level counts: (pair keys s·V_t + t, their counts, source df, target df)."""
    keys = np.zeros(0, dtype=np.int64)
    counts = np.zeros(0, dtype=np.int64)
    src_df = np.zeros(int(src.tokens.max(initial=0)) + 1, dtype=np.int64)
    tgt_df = np.zeros(tgt_vocab, dtype=np.int64)
    for start in range(0, len(src), _CHUNK):
        chunk = []
        for i in range(start, min(start + _CHUNK, len(src))):
            s, t = np.unique(src[i]), np.unique(tgt[i])
            src_df[s] += 1
            tgt_df[t] += 1
            chunk.append((s[:, None] * tgt_vocab + t[None, :]).ravel())  # (|s|·|t|,)
        new_keys, new_counts = np.unique(np.concatenate(chunk), return_counts=True)
        keys, inverse = np.unique(np.concatenate([keys, new_keys]), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([counts, new_counts])).astype(np.int64)
    return keys, counts, src_df, tgt_df


def _best_targets(keys, pairs, src_df, tgt_df, tgt_vocab, per_source, src_dict: Dictionary,
                  tgt_dict: Dictionary) -> dict[str, list[str]]:
    """Per source piece, its ``per_source`` target pieces of highest Dice coefficient."""
    s, t = keys // tgt_vocab, keys % tgt_vocab
    keep = (s >= len(SPECIALS)) & (t >= len(SPECIALS))
    s, t, pairs = s[keep], t[keep], pairs[keep]
    dice = 2.0 * pairs / (src_df[s] + tgt_df[t])
    order = np.lexsort((-pairs, -dice, s))  # by source, then best Dice, then more pairs
    s, t = s[order], t[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first row of each source piece
    ends = np.r_[starts[1:], len(s)]
    return {src_dict.symbols[int(s[a])]: [tgt_dict.symbols[int(x)] for x in t[a:min(b, a + per_source)]]
            for a, b in zip(starts, ends)}
