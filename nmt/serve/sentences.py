"""Long texts in, sentences out, and back: a request's text is translated sentence by sentence
(the models were trained on sentences) and reassembled with the text's own line breaks and
spaces between the translations.

A sentence ends at a line break, or at ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or
brackets) followed by white space and then an upper-case letter, a digit or an opening quote or
bracket; except, as in Moses' ``split-sentences.perl``, after a period that ends

- a non-breaking prefix of the text's language ("Dr. Smith", "J. K. Rowling"), from the lists
  sacremoses ships for its tokenizer (English's for a language it has none for);
- an upper-case acronym written with periods ("E.S.E. Electronics", "the U.S. Army");
- a prefix that only numbers follow ("No. 5") when a number follows.

A wrong split never loses text, but a line it cuts in two is translated as two sentences, where
`nmt translate` translates the line as one.
"""

from __future__ import annotations

import functools
import re

from sacremoses import MosesTokenizer

# end punctuation + closing marks, then the white space we keep, then a capital/digit/opener
_SPLIT = re.compile(r"([.!?\u2026][\"'\u201d\u2019)\]]*)(\s+)(?=[\"'\u201c\u2018(\[]?[^\W\d_a-z]|\d)",
                    re.UNICODE)


def split_sentences(text: str, lang: str = "en") -> tuple[list[str], list[str]]:
    """``text`` in language ``lang`` -> (sentences, separators): ``separators[0]`` is the text's
    leading white space and ``separators[i + 1]`` what follows ``sentences[i]`` (spaces, line
    breaks), so :func:`join_sentences` of the sentences themselves gives ``text`` back. Blank
    lines stay in the separators; an empty text is one empty sentence."""
    leading = text[: len(text) - len(text.lstrip())]
    sentences, separators = [], [leading]
    for line, brk in _lines(text[len(leading):]):
        pieces, gaps, start = [], [], 0
        for m in _SPLIT.finditer(line):
            if not _keeps_together(line, m, lang):
                pieces.append(line[start: m.end(1)])
                gaps.append(m.group(2))
                start = m.end()
        pieces.append(line[start:])
        for piece, gap in zip(pieces, [*gaps, brk]):
            stripped = piece.rstrip()
            sentences.append(stripped)
            separators.append(piece[len(stripped):] + gap)
    return sentences, separators


def _keeps_together(line: str, boundary: re.Match, lang: str) -> bool:
    """Whether Moses' rules keep the period at ``boundary`` inside its sentence."""
    if boundary.group(1) != ".":
        return False
    word = _word_before(line, boundary.start())
    prefixes, numeric_only = _nonbreaking_prefixes(lang)
    if word in prefixes:
        return True
    acronym = word.rpartition(".")  # "E.S.E" -> ("E.S", ".", "E")
    if acronym[1] and acronym[2] and all(c.isupper() or c == "-" for c in acronym[2]):
        return True
    return word in numeric_only and line[boundary.end()].isdigit()  # the lookahead saw a character


def _word_before(line: str, end: int) -> str:
    """The word ending at ``end``: the letters, digits, ``_``, ``.`` and ``-`` before it (Moses')."""
    start = end
    while start and (line[start - 1].isalnum() or line[start - 1] in "_.-"):
        start -= 1
    return line[start:end]


@functools.cache
def _nonbreaking_prefixes(lang: str) -> tuple[frozenset[str], frozenset[str]]:
    """(prefixes, prefixes before numbers only) of ``lang``, as sacremoses' tokenizer has them."""
    tokenizer = MosesTokenizer(lang=lang or "en")
    numeric_only = frozenset(tokenizer.NUMERIC_ONLY_PREFIXES)
    return frozenset(tokenizer.NONBREAKING_PREFIXES) - numeric_only, numeric_only


def _lines(text: str) -> list[tuple[str, str]]:
    """(line, its line break and the white space after it) pairs."""
    out = []
    for m in re.finditer(r"([^\n]*)(\n\s*|$)", text):
        if m.group(0) == "" and out:
            break
        out.append((m.group(1), m.group(2)))
    return out


def join_sentences(translations: list[str], separators: list[str]) -> str:
    """The inverse of :func:`split_sentences` with each sentence replaced by its translation."""
    return separators[0] + "".join(t + sep for t, sep in zip(translations, separators[1:]))
