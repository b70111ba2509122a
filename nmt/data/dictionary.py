"""Token <-> id maps, with the special symbols defined in one place.

The special symbols and their ids follow fairseq, so that fairseq dictionaries and checkpoints load
without remapping: ``<s>`` = 0 (bos), ``<pad>`` = 1, ``</s>`` = 2 (eos), ``<unk>`` = 3.
The text format is fairseq's too: one ``<token> <count>`` line per ordinary symbol, most frequent
first, the specials implied in front (line *i* has id *i* + 4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from nmt.errors import NmtError

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIALS = (BOS, PAD, EOS, UNK)
BOS_ID, PAD_ID, EOS_ID, UNK_ID = range(4)
PAD_FILLER = "madeupword{:04d}"  # fairseq's name for the rows that pad the size to a multiple


# What the model sees of a sentence (fairseq's conventions): the source is ``x_1 .. x_n </s>``,
# the decoder reads ``</s> y_1 .. y_m`` and predicts ``y_1 .. y_m </s>``. Training batches
# (nmt.data.dataset) and translation (nmt.data.pipeline) both build them here.


def _plain(ids: Iterable[int]) -> list[int]:
    """Python ints; a numpy row (the binarized data) converts in one call, not element by element."""
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def source_sequence(ids: Iterable[int]) -> list[int]:
    """Source ids -> ``x_1 .. x_n </s>``."""
    return [*_plain(ids), EOS_ID]


def target_sequences(ids: Iterable[int]) -> tuple[list[int], list[int]]:
    """Target ids -> (decoder input ``</s> y_1 .. y_m``, decoder output ``y_1 .. y_m </s>``)."""
    ids = _plain(ids)
    return [EOS_ID, *ids], [*ids, EOS_ID]


class Dictionary:
    """An ordered vocabulary: the four specials, then ordinary symbols by falling frequency."""

    bos, pad, eos, unk = BOS_ID, PAD_ID, EOS_ID, UNK_ID

    def __init__(self, symbols: Iterable[str] = (), counts: Iterable[int] | None = None):
        self.symbols: list[str] = list(SPECIALS)
        self.counts: list[int] = [0] * len(SPECIALS)
        self._index: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}
        counts = list(counts) if counts is not None else None
        for i, sym in enumerate(symbols):
            self.add(sym, counts[i] if counts is not None else 0)

    def add(self, symbol: str, count: int = 0) -> int:
        if symbol in self._index:
            idx = self._index[symbol]
            self.counts[idx] += count
            return idx
        if not symbol or any(ch.isspace() for ch in symbol):
            raise NmtError(f"dictionary symbol {symbol!r} is empty or contains white space")
        self._index[symbol] = len(self.symbols)
        self.symbols.append(symbol)
        self.counts.append(count)
        return self._index[symbol]

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dictionary) and self.symbols == other.symbols

    def index(self, symbol: str) -> int:
        return self._index.get(symbol, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Tokens to ids (unknown -> ``<unk>``); no eos is added here."""
        get = self._index.get
        return [get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> list[str]:
        """Ids to tokens; pad/bos/eos are dropped when ``strip_specials`` (``<unk>`` is kept)."""
        drop = {BOS_ID, PAD_ID, EOS_ID} if strip_specials else set()
        return [self.symbols[i] for i in ids if i not in drop]

    @classmethod
    def build(
        cls,
        counter: Counter,
        threshold: int = 0,
        nwords: int = -1,
        padding_factor: int = 8,
    ) -> Dictionary:
        """Keep symbols seen at least ``threshold`` times, at most ``nwords`` of them (-1: all).

        Ties in frequency are broken alphabetically so a build is deterministic. The size is padded
        to a multiple of ``padding_factor`` with ``madeupwordNNNN`` rows, as fairseq does (it keeps
        matrix shapes friendly to vector units).
        """
        items = sorted(
            ((s, c) for s, c in counter.items() if c >= threshold and s not in SPECIALS),
            key=lambda sc: (-sc[1], sc[0]),
        )
        if nwords >= 0:
            items = items[:nwords]
        d = cls((s for s, _ in items), (c for _, c in items))
        i = 0
        while padding_factor > 1 and len(d) % padding_factor:
            d.add(PAD_FILLER.format(i), 0)
            i += 1
        return d

    def to_text(self) -> str:
        return "".join(f"{s} {c}\n" for s, c in zip(self.symbols[4:], self.counts[4:]))

    @classmethod
    def from_text(cls, text: str, name: str = "dictionary") -> Dictionary:
        """Parse fairseq's format: ``<token> <count>`` per line, split at the last space."""
        d = cls()
        for lineno, line in enumerate(text.splitlines(), 1):
            sym, sep, count = line.rstrip("\n").rpartition(" ")
            if not sep or not count.lstrip("-").isdigit():
                raise NmtError(f"{name}, line {lineno}: expected '<token> <count>'")
            if sym in d and sym not in SPECIALS:
                raise NmtError(f"{name}, line {lineno}: a symbol listed twice")
            if sym not in SPECIALS:
                d.add(sym, int(count))
        return d

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "dictionary") -> Dictionary:
        """:meth:`from_text` of a file's bytes; bytes that are not UTF-8 are a one-line error."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NmtError(f"{name} is not UTF-8 text (byte {e.start + 1})") from None
        return cls.from_text(text, name)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_text(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Dictionary:
        path = Path(path)
        if not path.is_file():
            raise NmtError(f"dictionary file not found: {path}")
        return cls.from_bytes(path.read_bytes(), name=str(path))
