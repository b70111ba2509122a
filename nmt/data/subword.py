"""Subword segmentation of word tokens: subword-nmt BPE, sentencepiece, characters, or none.

Each segmenter turns a list of word tokens into a list of pieces and back. Learned models are held
as bytes (``assets``) so that a data directory and a checkpoint carry them the same way.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from nmt.errors import NmtError

SUBWORD_KINDS = ("subword-nmt", "sentencepiece", "char", "none")
WORD_BOUNDARY = "\u2581"  # '▁', the visible word-boundary symbol of character mode
BPE_SEPARATOR = "@@"


class Segmenter:
    """Identity segmentation (``--bpe none``): pieces are the word tokens."""

    kind = "none"

    def segment(self, tokens: list[str]) -> list[str]:
        return tokens

    def desegment(self, pieces: list[str]) -> list[str]:
        return pieces

    def spec(self) -> dict:
        return {"type": self.kind}


class CharSegmenter(Segmenter):
    """Characters, with ``▁`` as a token of its own between words: ``ab cd`` -> a b ▁ c d."""

    kind = "char"

    def segment(self, tokens: list[str]) -> list[str]:
        pieces: list[str] = []
        for i, tok in enumerate(tokens):
            if i:
                pieces.append(WORD_BOUNDARY)
            pieces.extend(tok)
        return pieces

    def desegment(self, pieces: list[str]) -> list[str]:
        return "".join(pieces).replace(WORD_BOUNDARY, " ").split()


class SubwordNmtSegmenter(Segmenter):
    """subword-nmt BPE (Sennrich et al. 2016) with ``@@`` continuation markers."""

    kind = "subword-nmt"

    def __init__(self, codes: str, asset: str):
        from subword_nmt.apply_bpe import BPE

        self.asset = asset
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said):  # on a bad line it prints it and exits
                self._bpe = BPE(io.StringIO(codes), separator=BPE_SEPARATOR)
        except SystemExit:
            where = re.search(r"invalid line (\d+)", said.getvalue())
            raise NmtError(f"BPE codes {asset!r} are malformed"
                           + (f" (line {where.group(1)})" if where else "")) from None

    def segment(self, tokens: list[str]) -> list[str]:
        return self._bpe.segment_tokens(tokens)

    def desegment(self, pieces: list[str]) -> list[str]:
        return (" ".join(pieces) + " ").replace(BPE_SEPARATOR + " ", "").split()

    def spec(self) -> dict:
        return {"type": self.kind, "codes": self.asset, "separator": BPE_SEPARATOR}


class SentencePieceSegmenter(Segmenter):
    """A sentencepiece model (Kudo & Richardson 2018) applied to the space-joined word tokens."""

    kind = "sentencepiece"

    def __init__(self, model: bytes, asset: str):
        import sentencepiece as spm

        self.asset = asset
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=model)
        except RuntimeError:
            raise NmtError(f"sentencepiece model {asset!r} is not a readable model") from None

    def segment(self, tokens: list[str]) -> list[str]:
        return self._sp.encode(" ".join(tokens), out_type=str)

    def desegment(self, pieces: list[str]) -> list[str]:
        return self._sp.decode_pieces(pieces).split()

    def spec(self) -> dict:
        return {"type": self.kind, "model": self.asset}


def build_segmenter(spec: dict, assets: dict[str, bytes]) -> Segmenter:
    """Rebuild a segmenter from its ``spec()`` and the asset bytes it names."""
    kind = spec.get("type")
    if kind == "none":
        return Segmenter()
    if kind == "char":
        return CharSegmenter()
    if kind == "subword-nmt":
        return SubwordNmtSegmenter(_asset(assets, spec["codes"]).decode("utf-8"), spec["codes"])
    if kind == "sentencepiece":
        return SentencePieceSegmenter(_asset(assets, spec["model"]), spec["model"])
    raise NmtError(f"unknown subword type {kind!r}; use one of {SUBWORD_KINDS}")


def _asset(assets: dict[str, bytes], name: str) -> bytes:
    if name not in assets:
        raise NmtError(f"pipeline asset {name!r} is missing")
    return assets[name]


def learn_subword_nmt(word_counts: Counter, merges: int) -> bytes:
    """Learn ``merges`` BPE merge operations from word frequencies; returns the codes file."""
    from subword_nmt.learn_bpe import learn_bpe

    vocab = io.StringIO("".join(f"{w} {c}\n" for w, c in word_counts.items()))
    out = io.StringIO()
    # subword-nmt draws its own tqdm bar: keep it for terminals, out of logs
    quiet = contextlib.nullcontext() if sys.stderr.isatty() else contextlib.redirect_stderr(io.StringIO())
    with quiet:
        learn_bpe(vocab, out, merges, min_frequency=2, is_dict=True)
    return out.getvalue().encode("utf-8")


def learn_sentencepiece(
    files: list[Path], vocab_size: int, model_type: str = "unigram", threads: int = 2
) -> bytes:
    """Train a sentencepiece model on text files; returns the serialised model."""
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "spm"
        try:
            spm.SentencePieceTrainer.train(
                input=",".join(str(f) for f in files),
                model_prefix=str(prefix),
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=1.0,
                input_sentence_size=10_000_000,
                shuffle_input_sentence=True,
                num_threads=threads,
                # ids are ours (nmt.data.dictionary); sentencepiece only segments
                bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
                minloglevel=2,
            )
        except RuntimeError as e:
            raise NmtError(f"sentencepiece training failed: {str(e).splitlines()[0]}") from None
        return prefix.with_suffix(".model").read_bytes()
