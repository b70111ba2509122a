"""Translating text with a checkpoint: raw text in, detokenized text out. The one home of
translation: `nmt translate`, `nmt bench translate` and the recipes' tools come through here.

:func:`load_model` rebuilds a checkpoint's model (eval mode, weight norm folded) and its
`Pipeline`, nothing else. A :class:`Translator` turns lines into ids with the pipeline
(:meth:`Pipeline.source_ids`), sorts them by length into batches (restoring the input order
afterwards), searches (:mod:`nmt.search`) and turns the best hypotheses back into text. An empty or
white-space-only line gives an empty translation. Unknown-word replacement (``replace_unk``)
copies, for each ``<unk>`` output, the source piece it attends to most, or that piece's entry in
a dictionary file (Jean et al. 2015; Luong et al. 2015), as the ConvS2S paper did.

A :class:`ContinuousTranslator` does the same for a server's stream of requests: lines join a
running beam search (:mod:`nmt.search.continuous`) and come back as soon as they are translated.

Decoding options beyond search's own: a target prefix per line (raw text, segmented like the
targets; the output starts with it), an ensemble of checkpoints (:func:`prepare_models`, their
pipelines identical) and a lexical shortlist (:mod:`nmt.search.shortlist`), which narrows the
output layer to each batch's candidate target pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nmt import registry
from nmt.checkpoint import Checkpoint, load_checkpoint, pipeline_sha256
from nmt.checkpoint.schema import DamagedCheckpoint, check_finite
from nmt.data.dictionary import EOS_ID, PAD_ID, UNK
from nmt.data.pipeline import FORMATS, Pipeline, Source
from nmt.data.shortlist import Shortlist
from nmt.data.text import read_lines
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.modules.int8 import quantize_int8
from nmt.modules.weight_norm import fold_weight_norm
from nmt.search import Ensemble, Hypothesis, SearchConfig, search_batches
from nmt.search.continuous import ContinuousBeamSearch
from nmt.search.shortlist import BoundShortlist, ShortlistedModel, to_narrowed


@dataclass
class LoadedModel:
    model: Seq2SeqModel
    pipeline: Pipeline
    meta: dict


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model of checkpoint ``path`` in eval mode, weight norm folded into the weights.

    Nothing of the file is used unchecked: its metadata (:mod:`nmt.checkpoint.schema`), the
    config's field types, the weights' names and shapes against the config (before the model is
    built: a config claiming a huge vocabulary allocates nothing), the dictionaries against the
    vocabulary sizes and the weights' finiteness; each problem is a one-line NmtError."""
    ckpt = load_checkpoint(path, with_optimizer=False)
    meta = ckpt.meta
    for key in ("family", "model_config", "pipeline"):
        if key not in meta:
            raise NmtError(f"{path}: checkpoint metadata lacks {key!r} (not a model checkpoint?)")
    cfg = _checked_model_config(path, ckpt)
    pipeline = _checked_pipeline(path, ckpt, cfg)
    check_finite(path, ckpt.model)
    model = registry.build_model(cfg)
    model.load_state_dict(ckpt.model)
    model.eval()
    fold_weight_norm(model)
    return LoadedModel(model.to(device), pipeline, meta)


def _checked_model_config(path: str | Path, ckpt: Checkpoint) -> object:
    """The model config of ``ckpt``, its field types checked and its weights found to fit it."""
    shapes = {k: tuple(v.shape) for k, v in ckpt.model.items()}
    try:
        return registry.config_for_weights(ckpt.meta["family"], ckpt.meta["model_config"], shapes)
    except NmtError as e:
        raise DamagedCheckpoint(path, str(e)) from None


def checkpoint_pipeline(path: str | Path) -> Pipeline:
    """The pipeline a checkpoint carries (text processing, subword model, dictionaries): for
    `nmt preprocess --pipeline-from CHECKPOINT`, e.g. to count a shortlist for an imported model."""
    ckpt = load_checkpoint(path, with_optimizer=False)
    if "pipeline" not in ckpt.meta:
        raise NmtError(f"{path}: checkpoint metadata lacks 'pipeline' (not a model checkpoint?)")
    return _pipeline(path, ckpt)


def _pipeline(path: str | Path, ckpt: Checkpoint) -> Pipeline:
    try:
        return Pipeline(ckpt.meta["pipeline"], ckpt.assets)
    except NmtError as e:
        raise DamagedCheckpoint(path, f"its pipeline cannot be rebuilt: {e}") from None


def _checked_pipeline(path: str | Path, ckpt: Checkpoint, cfg: object) -> Pipeline:
    """The checkpoint's pipeline, its dictionaries as large as the model's vocabularies."""
    pipeline = _pipeline(path, ckpt)
    sides = ((pipeline.source, cfg.src_vocab_size), (pipeline.target, cfg.tgt_vocab_size))
    for side, size in sides:
        if side.dictionary is None or len(side.dictionary) != size:
            raise DamagedCheckpoint(path, f"the {side.lang} dictionary does not match the "
                                          "model's vocabulary")
    return pipeline


def prepare_model(path: str | Path, *, device: str = "cpu", quantize: str = "none",
                  threads: int | None = None) -> LoadedModel:
    """:func:`load_model` with the run's settings: intra-op ``threads`` (None: leave as is) and
    ``quantize`` 'none' | 'int8' (CPU only). `nmt translate` and :func:`nmt.load` both load here."""
    if quantize not in ("none", "int8"):
        raise NmtError(f"unknown quantize {quantize!r}; use 'none' or 'int8'")
    if threads:
        torch.set_num_threads(threads)
    dev = device_of(device)
    loaded = load_model(path, str(dev))
    if quantize == "int8":
        if dev.type != "cpu":
            raise NmtError("--quantize int8 is a CPU feature")
        loaded.model = quantize_int8(loaded.model)
    return loaded


def prepare_models(paths: str | Path | list, **settings) -> LoadedModel:
    """One checkpoint as :func:`prepare_model`, or several as one :class:`Ensemble` (same
    ``settings``). Ensemble members must share their pipeline (text processing, subword model,
    dictionaries): each reads the same source ids and scores the same target ids. The ensemble's
    metadata is the first member's, with every member's under ``ensemble``."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if len(paths) == 1:
        return prepare_model(paths[0], **settings)
    loaded = [prepare_model(p, **settings) for p in paths]
    first = pipeline_sha256(loaded[0].pipeline.spec, loaded[0].pipeline.assets)
    for path, member in zip(paths[1:], loaded[1:]):
        if pipeline_sha256(member.pipeline.spec, member.pipeline.assets) != first:
            raise NmtError(f"cannot ensemble {paths[0]} and {path}: their pipelines differ "
                           "(dictionaries, subword model or text processing); ensemble models "
                           "trained on the same preprocessed data")
    meta = {**loaded[0].meta, "ensemble": [m.meta for m in loaded]}
    return LoadedModel(Ensemble([m.model for m in loaded]).eval(), loaded[0].pipeline, meta)


def device_of(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NmtError("--device cuda was asked for, but CUDA is not available here")
    return torch.device(name)


@dataclass
class Output:
    text: str
    score: float
    pieces: list[str]
    alignment: list[tuple[int, int]] = field(default_factory=list)  # (source piece, target piece)
    positional_scores: list[float] = field(default_factory=list)
    attention: torch.Tensor | None = None  # (target pieces + eos, source pieces), float32
    source_pieces: list[str] = field(default_factory=list)  # what the model read (eos left out)


class Translator:
    def __init__(self, loaded: LoadedModel, cfg: SearchConfig, max_tokens: int | None = None,
                 batch_size: int | None = 128, input_format: str = "raw", output_format: str = "raw",
                 replace_unk: bool = False, unk_dict: dict[str, str] | None = None,
                 device: str = "cpu", shortlist: BoundShortlist | None = None):
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
        self.shortlist = shortlist

    # -- text <-> ids --------------------------------------------------------------------------

    def source(self, line: str) -> Source | None:
        """A line -> source ids with eos (None for an empty line); over-long input is cut."""
        src = self.pipeline.source_ids(line, self.input_format, self.max_source)
        self.truncated += bool(src is not None and src.cut)
        return src

    def prefix_ids(self, line: str) -> list[int]:
        """A target prefix in the input format -> target ids (no eos); [] for an empty one."""
        side = self.pipeline.target
        return side.dictionary.encode(side.split(line, self.input_format)) if line.strip() else []

    def output(self, hyp: Hypothesis, src: Source) -> Output:
        side = self.pipeline.target
        ids = hyp.tokens.tolist()
        if ids and ids[-1] == EOS_ID:
            ids = ids[:-1]
        pieces = side.dictionary.decode(ids)
        alignment, attention = [], None
        if hyp.attention is not None:
            attention = hyp.attention[: len(pieces) + 1, : len(src.pieces)].float()
            best = hyp.attention[: len(pieces), : len(src.pieces)].argmax(-1).tolist()
            alignment = list(zip(best, range(len(pieces))))
            if self.replace_unk:
                pieces = [self.unk_dict.get(src.pieces[s], src.pieces[s]) if p == UNK else p
                          for p, (s, _) in zip(pieces, alignment)]
        text = side.join(pieces, self.output_format)
        return Output(text, hyp.score, pieces, alignment, hyp.positional_scores.tolist(), attention,
                      src.pieces)

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
        return _padded([s.ids for s in batch]).to(self.device), lens.to(self.device)

    def encoded_batches(self, sources: list[Source | None]) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """What search sees: per batch, the indices into ``sources`` it holds, the padded source ids
        (B, S) and their lengths (B,), on the translator's device. Empty sources are left out."""
        return [(batch, *self._tensors([sources[i] for i in batch])) for batch in self._batches(sources)]

    def translate(self, lines: list[str], prefixes: list[str] | None = None,
                  progress: Callable[[int], object] | None = None) -> list[list[Output]]:
        """n-best outputs per line, in input order (an empty list for an empty line); each output
        starts with its line's target prefix when ``prefixes`` (one per line, '' for none) are
        given. ``progress(n)`` is called after each batch with its number of sentences."""
        if prefixes is not None and len(prefixes) != len(lines):
            raise NmtError(f"{len(prefixes)} target prefixes for {len(lines)} lines")
        sources = [self.source(line) for line in lines]
        prefix_ids = [self.prefix_ids(p) for p in prefixes] if prefixes is not None else None
        results: list[list[Output]] = [[] for _ in lines]
        batches = [(batch, src, lens, None if prefix_ids is None else
                    self._prefix_tensor([prefix_ids[i] for i in batch]))
                   for batch, src, lens in self.encoded_batches(sources)]
        for batch, nbest_lists in self.search_batches(batches):
            for i, hyps in zip(batch, nbest_lists):
                results[i] = [self.output(h, sources[i]) for h in hyps]
            if progress is not None:
                progress(len(batch))
        if progress is not None:
            progress(sum(s is None for s in sources))  # the empty lines
        return results

    def search_batches(self, batches: list[tuple[list[int], torch.Tensor, torch.Tensor,
                                                 torch.Tensor | None]]):
        """(batch, n-best lists) for each (batch, src, lens, prefix), the batches of
        :meth:`encoded_batches` with their target prefixes. The batches run side by side as they
        end (:func:`nmt.search.search_batches`), longest first, so the longest sentences, those
        likeliest to run on to ``max_len``, share their last steps with the rest. With a
        shortlist, each batch over its own candidates (:class:`ShortlistedModel`)."""
        if self.shortlist is None:
            return search_batches(self.model, batches[::-1], self.cfg)
        return self._shortlisted_batches(batches[::-1])

    def _shortlisted_batches(self, batches):
        """:meth:`search_batches` over each batch's shortlist candidates, the chosen tokens mapped
        back to the full vocabulary."""
        model = ShortlistedModel(self.model)
        narrowed = []
        for batch, src, lens, prefix in batches:
            ids = self.shortlist.candidates(src, prefix)  # (C,) sorted target ids
            group = model.add(src, ids)
            narrowed.append(((batch, group), src, lens, None if prefix is None else to_narrowed(ids, prefix)))
        for (batch, group), nbest_lists in search_batches(model, narrowed, self.cfg):
            model.release(group)
            for hyps in nbest_lists:
                for h in hyps:
                    h.tokens = model.ids[group][h.tokens]
            yield batch, nbest_lists

    def _prefix_tensor(self, prefixes: list[list[int]]) -> torch.Tensor | None:
        """Target prefixes -> (B, P) padded with pad, or None when all are empty."""
        if not any(prefixes):
            return None
        return _padded(prefixes).to(self.device)


class ContinuousTranslator:
    """Continuous batching with a :class:`Translator`'s text processing and outputs: lines
    :meth:`add`-ed now join the running search at the next :meth:`step`, which returns the lines
    that finished, each with its n-best :class:`Output`. Beam search only (no target prefix, n-gram
    blocking, sampling or shortlist), with a model that ``supports_joining``."""

    def __init__(self, loaded: LoadedModel, cfg: SearchConfig, device: str = "cpu"):
        self.translator = Translator(loaded, cfg, batch_size=None, device=device)
        self.search = ContinuousBeamSearch(loaded.model, cfg)

    def __len__(self) -> int:
        """Lines being translated."""
        return len(self.search)

    def add(self, lines: list[str], tags: list) -> list[tuple[object, list[Output]]]:
        """Start translating ``lines``, each known by its tag; empty lines are done at once and
        returned as (tag, [])."""
        tr = self.translator
        sources = [tr.source(line) for line in lines]
        started = [(tag, src) for tag, src in zip(tags, sources) if src is not None]
        if started:
            src, lens = tr._tensors([s for _, s in started])
            self.search.add(src, lens, started)
        return [(tag, []) for tag, src in zip(tags, sources) if src is None]

    def step(self) -> list[tuple[object, list[Output]]]:
        """One step of every line; (tag, n-best outputs) of the lines that finished."""
        return [(tag, [self.translator.output(h, src) for h in hyps])
                for (tag, src), hyps in self.search.step()]


def _padded(rows: list[list[int]]) -> torch.Tensor:
    """Id sequences -> (B, longest) long, padded with pad at the end."""
    out = torch.full((len(rows), max(map(len, rows))), PAD_ID, dtype=torch.long)  # (B, L)
    for row, ids in enumerate(rows):
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def read_shortlist(path: str | Path) -> Shortlist:
    """A shortlist file (`nmt shortlist`); a bad one fails here, before any model loads."""
    return Shortlist.load(path)


def bind_shortlist(table: Shortlist, pipeline: Pipeline) -> BoundShortlist:
    """``table`` in the ids of ``pipeline``'s dictionaries."""
    return BoundShortlist.of(*table.ids(pipeline))


def load_unk_dict(path: str | Path) -> dict[str, str]:
    """``source target`` per line (the first target wins): the --replace-unk dictionary."""
    table: dict[str, str] = {}
    for lineno, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if len(parts) < 2:
            raise NmtError(f"{path}, line {lineno}: expected 'source target'")
        table.setdefault(parts[0], parts[1])
    return table
