"""Word-level text steps for one language: normalisation, Moses tokenization, lowercasing.

All Moses processing is sacremoses (the Python port of the Moses scripts). The steps and their
settings are a plain dict (:class:`TextSteps`) that is stored in ``pipeline.json``, so the exact same
processing is rebuilt at translation time.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, fields

from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer

from nmt.errors import NmtError

UNICODE_FORMS = ("NFC", "NFKC", "NFD", "NFKD", "none")
TOKENIZERS = ("moses", "none")


@dataclass
class TextSteps:
    """The word-level steps of one language, in the order they run."""

    lang: str
    unicode_norm: str = "NFC"  # one of UNICODE_FORMS
    punct_norm: bool = True  # Moses normalize-punctuation.perl
    tokenizer: str = "moses"  # one of TOKENIZERS
    moses_escape: bool = False  # Moses XML escaping (&apos; ...): off unless matching old data
    aggressive_dash_splits: bool = False  # Moses -a
    lowercase: bool = False

    def __post_init__(self):
        if self.unicode_norm not in UNICODE_FORMS:
            raise NmtError(f"unknown Unicode normalisation {self.unicode_norm!r}; use one of {UNICODE_FORMS}")
        if self.tokenizer not in TOKENIZERS:
            raise NmtError(f"unknown tokenizer {self.tokenizer!r}; use one of {TOKENIZERS}")

    @classmethod
    def from_dict(cls, d: dict) -> TextSteps:
        if not isinstance(d, dict):
            raise NmtError("a pipeline description's text steps must be a JSON object")
        kinds = {f.name: bool if f.type == "bool" else str for f in fields(cls)}
        unknown = set(d) - set(kinds)
        if unknown:
            raise NmtError(f"unknown text step settings {sorted(unknown)} in pipeline description")
        for name, value in d.items():
            if not isinstance(value, kinds[name]):
                raise NmtError(f"text step setting {name!r} must be a {kinds[name].__name__} "
                               "in the pipeline description")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class WordProcessor:
    """Runs :class:`TextSteps` forwards (raw -> tokens) and backwards (tokens -> raw text)."""

    def __init__(self, steps: TextSteps):
        self.steps = steps
        self._punct = MosesPunctNormalizer(lang=steps.lang) if steps.punct_norm else None
        self._tok = MosesTokenizer(lang=steps.lang) if steps.tokenizer == "moses" else None
        self._detok = MosesDetokenizer(lang=steps.lang) if steps.tokenizer == "moses" else None

    def normalize(self, line: str) -> str:
        if self.steps.unicode_norm != "none":
            line = unicodedata.normalize(self.steps.unicode_norm, line)
        if self._punct is not None:
            line = self._punct.normalize(line)
        return line.strip()

    def tokenize(self, line: str) -> list[str]:
        """Raw line -> word tokens (normalised, tokenized, optionally lowercased)."""
        line = self.normalize(line)
        if self._tok is None:
            tokens = line.split()
        else:
            tokens = self._tok.tokenize(
                line,
                escape=self.steps.moses_escape,
                aggressive_dash_splits=self.steps.aggressive_dash_splits,
            )
        # lowercase after tokenizing, as Moses recipes do: the tokenizer's rules see the case
        return [t.lower() for t in tokens] if self.steps.lowercase else tokens

    def detokenize(self, tokens: list[str]) -> str:
        """Word tokens -> plain text (the inverse of :meth:`tokenize` up to normalisation)."""
        if self._detok is None:
            return " ".join(tokens)
        if self.steps.aggressive_dash_splits:
            tokens = " ".join(tokens).replace(" @-@ ", "-").split()
        return self._detok.detokenize(tokens, unescape=self.steps.moses_escape)
