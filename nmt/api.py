"""The Python API: load a checkpoint once, translate strings.

    import nmt
    model = nmt.load("checkpoint_best.safetensors", precision="bf16", threads=2)
    model.translate("A dog runs.")                  # -> "Ein Hund läuft."
    model.translate(["A dog runs.", ""], beam=5)    # -> ["Ein Hund läuft.", ""]
    model.translate_nbest(["A dog runs."], nbest=3) # -> [[Translation(text, score, ...), ...]]
    model.translate("A dog runs.", prefix="Ein Hund")           # output starts with the prefix
    model.translate_nbest(["A dog runs."], nbest=4, sampling=True, topp=0.9, seed=1)  # samples
    nmt.load(["a.safetensors", "b.safetensors"])     # an ensemble (same pipeline)
    nmt.load("checkpoint_best.safetensors", shortlist="shortlist.json")  # `nmt shortlist`

Everything goes through :class:`nmt.translation.Translator`, the code path of `nmt translate`:
the same pipeline, batching and search, so the same options give the same translations.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from nmt.errors import NmtError
from nmt.heap import keep_freed_memory
from nmt.search import SearchConfig
from nmt.search.shortlist import BoundShortlist
from nmt.translation import (
    ContinuousTranslator,
    LoadedModel,
    Output,
    Translator,
    bind_shortlist,
    prepare_models,
    read_shortlist,
)

Translation = Output  # text, score, pieces, alignment (source piece, target piece), positional_scores
PRECISIONS = ("fp32", "bf16")


def load(path: str | Path | list, *, precision: str = "fp32", quantize: str = "none",
         device: str = "cpu", threads: int | None = None,
         shortlist: str | Path | None = None) -> Model:
    """The model of checkpoint ``path``, ready to translate; a list of paths is their ensemble
    (their probabilities averaged each step; their pipelines must be identical).

    ``precision`` 'fp32' | 'bf16' (autocast: about 3x faster on CPUs with AMX or AVX-512-BF16),
    ``quantize`` 'none' | 'int8' (int8 Linear layers and convolution taps, CPU), ``threads`` the
    intra-op threads (None: PyTorch's default). Denormal floats are flushed to zero for the
    process, as `nmt` commands do (arithmetic on them is slow on x86 and changes no translation),
    and freed memory is kept for reuse (:mod:`nmt.heap`; ``NMT_KEEP_FREED_MEMORY=0`` turns that off). ``shortlist``:
    a file from `nmt shortlist`; the output layer then covers each batch's candidates only."""
    if precision not in PRECISIONS:
        raise NmtError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    torch.set_flush_denormal(True)
    keep_freed_memory()
    table = read_shortlist(shortlist) if shortlist is not None else None
    loaded = prepare_models(path, device=device, quantize=quantize, threads=threads)
    return Model(loaded, precision, device, bind_shortlist(table, loaded.pipeline) if table else None)


class Model:
    """A loaded checkpoint. ``source_lang``, ``target_lang``, ``family`` and ``meta`` (the
    checkpoint's metadata: configs, training progress) describe it."""

    def __init__(self, loaded: LoadedModel, precision: str = "fp32", device: str = "cpu",
                 shortlist: BoundShortlist | None = None):
        self.loaded, self.precision, self.device = loaded, precision, device
        self.shortlist = shortlist
        self.source_lang = loaded.pipeline.source_lang
        self.target_lang = loaded.pipeline.target_lang
        self.family: str = loaded.meta.get("family", "")
        self.meta = loaded.meta

    @property
    def num_parameters(self) -> int:
        """The model's parameter count."""
        return sum(p.numel() for p in self.loaded.model.parameters())

    def __repr__(self) -> str:
        return (f"nmt.Model({self.family}, {self.source_lang}->{self.target_lang}, "
                f"{self.precision})")

    def translate(self, text: str | list[str], *, beam: int = 5, lenpen: float = 1.0,
                  max_len_a: float = 0.0, max_len_b: int = 200, batch_size: int = 128,
                  prefix: str | list[str] | None = None) -> str | list[str]:
        """The best translation of a string, or of each string of a list (empty in, empty out);
        ``prefix`` (a string, or one per line) is where each translation must start."""
        lines = [text] if isinstance(text, str) else list(text)
        prefixes = [prefix] if isinstance(prefix, str) else prefix
        outputs = self.translate_nbest(lines, beam=beam, lenpen=lenpen, max_len_a=max_len_a,
                                       max_len_b=max_len_b, batch_size=batch_size,
                                       prefixes=prefixes, attention=False)  # text only
        best = [found[0].text if found else "" for found in outputs]
        return best[0] if isinstance(text, str) else best

    def continuous(self, *, beam: int = 5, nbest: int = 1, lenpen: float = 1.0,
                   max_len_a: float = 0.0, max_len_b: int = 200,
                   attention: bool = True) -> ContinuousTranslator | None:
        """A :class:`~nmt.translation.ContinuousTranslator` with these options (continuous
        batching, as `nmt serve` uses it), or None where the model or options cannot join a
        running search (a family without ``supports_joining``, an ensemble, a shortlist).
        ``attention=False`` leaves the outputs' attention and alignment out, and runs faster."""
        if self.shortlist is not None or not getattr(self.loaded.model, "supports_joining", False):
            return None
        cfg = SearchConfig(beam=beam, nbest=nbest, lenpen=lenpen, max_len_a=max_len_a,
                           max_len_b=max_len_b, attention=attention,
                           autocast_dtype="bfloat16" if self.precision == "bf16" else None)
        return ContinuousTranslator(self.loaded, cfg, device=self.device)

    def translate_nbest(self, lines: list[str], *, beam: int = 5, nbest: int = 1,
                        lenpen: float = 1.0, max_len_a: float = 0.0, max_len_b: int = 200,
                        batch_size: int = 128, prefixes: list[str] | None = None,
                        **search) -> list[list[Translation]]:
        """Per line, its ``nbest`` translations, best first: text, score (length-normalised
        log-probability), pieces, alignment and per-piece log-probabilities; an empty list for an
        empty line. ``prefixes``: one target prefix per line ('' for none). More search options
        (``min_len``, ``unkpen``, ``no_repeat_ngram_size``; ``sampling`` with ``temperature``,
        ``topk``, ``topp``, ``seed``: ``nbest`` samples) by name, as
        :class:`nmt.search.SearchConfig` spells them."""
        if isinstance(lines, str):
            raise NmtError("translate_nbest takes a list of lines; use translate() for one string")
        cfg = SearchConfig(beam=beam, nbest=nbest, lenpen=lenpen, max_len_a=max_len_a,
                           max_len_b=max_len_b,
                           autocast_dtype="bfloat16" if self.precision == "bf16" else None)
        try:
            cfg = replace(cfg, **search)
        except TypeError:
            raise NmtError(f"unknown search options {sorted(search)}") from None
        translator = Translator(self.loaded, cfg, batch_size=batch_size, device=self.device,
                                shortlist=self.shortlist)
        return translator.translate(lines, prefixes)
