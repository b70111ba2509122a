"""Translating text with a loaded checkpoint: raw text in, detokenized text out.

Lines are turned into ids by the checkpoint's `Pipeline`, sorted by length into batches (restoring
the input order afterwards), searched (:mod:`nmt.search`) and turned back into text. An empty or
white-space-only line gives an empty translation. Unknown-word replacement (``replace_unk``)
copies, for each ``<unk>`` output, the source piece it attends to most, or that piece's entry in
a dictionary file (Jean et al. 2015; Luong et al. 2015), as the ConvS2S paper did.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nmt.data.dictionary import EOS_ID, PAD_ID, UNK
from nmt.data.text import read_lines
from nmt.errors import NmtError
from nmt.inference import LoadedModel
from nmt.search import Hypothesis, SearchConfig, search

FORMATS = ("raw", "tokens", "pieces")  # raw text; Moses tokens; subword pieces (BPE applied)


@dataclass
class Output:
    text: str
    score: float
    pieces: list[str]
    alignment: list[tuple[int, int]] = field(default_factory=list)  # (source piece, target piece)
    positional_scores: list[float] = field(default_factory=list)


@dataclass
class Source:
    ids: list[int]  # with eos
    pieces: list[str]  # without eos


class Translator:
    def __init__(self, loaded: LoadedModel, cfg: SearchConfig, max_tokens: int | None = None,
                 batch_size: int | None = 128, input_format: str = "raw", output_format: str = "raw",
                 replace_unk: bool = False, unk_dict: dict[str, str] | None = None,
                 device: str = "cpu"):
        for name, fmt in (("input", input_format), ("output", output_format)):
            if fmt not in FORMATS:
                raise NmtError(f"unknown --{name}-format {fmt!r}; use one of {', '.join(FORMATS)}")
        cfg.validate()
        self.model, self.pipeline, self.cfg = loaded.model, loaded.pipeline, cfg
        self.max_tokens, self.batch_size = max_tokens, batch_size
        self.input_format, self.output_format = input_format, output_format
        self.replace_unk, self.unk_dict = replace_unk, unk_dict or {}
        self.device = torch.device(device)
        self.max_source = self.model.max_positions()[0]
        self.truncated = 0

    # -- text <-> ids --------------------------------------------------------------------------

    def source(self, line: str) -> Source | None:
        """A raw line -> source ids with eos (None for an empty line); over-long input is cut."""
        side = self.pipeline.source
        if not line.strip():
            return None
        if self.input_format == "raw":
            pieces = side.pieces(line)
        elif self.input_format == "tokens":
            pieces = side.segmenter.segment(line.split())
        else:
            pieces = line.split()
        if not pieces:
            return None
        if len(pieces) + 1 > self.max_source:
            pieces = pieces[: self.max_source - 1]
            self.truncated += 1
        return Source(side.dictionary.encode(pieces) + [EOS_ID], pieces)

    def output(self, hyp: Hypothesis, src: Source) -> Output:
        side = self.pipeline.target
        ids = hyp.tokens.tolist()
        if ids and ids[-1] == EOS_ID:
            ids = ids[:-1]
        pieces = side.dictionary.decode(ids)
        alignment = []
        if hyp.attention is not None:
            best = hyp.attention[: len(pieces), : len(src.pieces)].argmax(-1).tolist()
            alignment = list(zip(best, range(len(pieces))))
            if self.replace_unk:
                pieces = [self.unk_dict.get(src.pieces[s], src.pieces[s]) if p == UNK else p
                          for p, (s, _) in zip(pieces, alignment)]
        if self.output_format == "pieces":
            text = " ".join(pieces)
        elif self.output_format == "tokens":
            text = " ".join(side.segmenter.desegment(pieces))
        else:
            text = side.decode_pieces(pieces)
        return Output(text, hyp.score, pieces, alignment, hyp.positional_scores.tolist())

    # -- batches -------------------------------------------------------------------------------

    def _batches(self, sources: list[Source | None]) -> list[list[int]]:
        """Indices of non-empty sources, sorted by length and cut by max_tokens / batch_size."""
        order = sorted((i for i, s in enumerate(sources) if s is not None), key=lambda i: len(sources[i].ids))
        batches, current, longest = [], [], 0
        for i in order:
            n = len(sources[i].ids)
            too_many = self.batch_size is not None and len(current) >= self.batch_size
            too_big = self.max_tokens is not None and max(longest, n) * (len(current) + 1) > self.max_tokens
            if current and (too_many or too_big):
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, n)
        if current:
            batches.append(current)
        return batches

    def _tensors(self, batch: list[Source]) -> tuple[torch.Tensor, torch.Tensor]:
        lens = torch.tensor([len(s.ids) for s in batch])
        src = torch.full((len(batch), int(lens.max())), PAD_ID, dtype=torch.long)  # (B, S)
        for row, s in enumerate(batch):
            src[row, : len(s.ids)] = torch.tensor(s.ids)
        return src.to(self.device), lens.to(self.device)

    def encoded_batches(self, sources: list[Source | None]) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """What search sees: per batch, the indices into ``sources`` it holds, the padded source ids
        (B, S) and their lengths (B,), on the translator's device. Empty sources are left out."""
        return [(batch, *self._tensors([sources[i] for i in batch])) for batch in self._batches(sources)]

    def translate(self, lines: list[str]) -> list[list[Output]]:
        """n-best outputs per line, in input order (an empty list for an empty line)."""
        sources = [self.source(line) for line in lines]
        results: list[list[Output]] = [[] for _ in lines]
        for batch, src, lens in self.encoded_batches(sources):
            nbest_lists = search(self.model, src, lens, self.cfg)
            for i, hyps in zip(batch, nbest_lists):
                results[i] = [self.output(h, sources[i]) for h in hyps]
        return results


def load_unk_dict(path: str | Path) -> dict[str, str]:
    """``source target`` per line (the first target wins): the --replace-unk dictionary."""
    table: dict[str, str] = {}
    for lineno, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if len(parts) < 2:
            raise NmtError(f"{path}, line {lineno}: expected 'source target'")
        table.setdefault(parts[0], parts[1])
    return table


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every Linear layer (weights int8, activations quantised on
    the fly); convolutions and embeddings stay in float."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice, not the user's concern
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
