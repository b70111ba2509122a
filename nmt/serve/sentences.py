"""Long texts in, sentences out, and back: a request's text is translated sentence by sentence
(the models were trained on sentences) and reassembled with the text's own line breaks and
spaces between the translations.

A sentence ends at a line break, or at ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or
brackets) followed by white space and then an upper-case letter, a digit or an opening quote or
bracket. Abbreviations such as "Dr. Smith" are split too; a sentence-level model translates the
pieces acceptably, and a wrong split never loses text.
"""

from __future__ import annotations

import re

# end punctuation + closing marks, then the white space we keep, then a capital/digit/opener
_SPLIT = re.compile(r"([.!?\u2026][\"'\u201d\u2019)\]]*)(\s+)(?=[\"'\u201c\u2018(\[]?[^\W\d_a-z]|\d)",
                    re.UNICODE)


def split_sentences(text: str) -> tuple[list[str], list[str]]:
    """``text`` -> (sentences, separators): ``separators[0]`` is the text's leading white space
    and ``separators[i + 1]`` what follows ``sentences[i]`` (spaces, line breaks), so
    :func:`join_sentences` of the sentences themselves gives ``text`` back. Blank lines stay
    in the separators; an empty text is one empty sentence."""
    leading = text[: len(text) - len(text.lstrip())]
    sentences, separators = [], [leading]
    for line, brk in _lines(text[len(leading):]):
        parts = _SPLIT.split(line)
        # parts: sentence, end-marks, spaces, sentence, end-marks, spaces, ..., sentence
        pieces = [parts[0]]
        gaps = []
        for i in range(1, len(parts), 3):
            pieces[-1] += parts[i]
            gaps.append(parts[i + 1])
            pieces.append(parts[i + 2])
        for piece, gap in zip(pieces, [*gaps, brk]):
            stripped = piece.rstrip()
            sentences.append(stripped)
            separators.append(piece[len(stripped):] + gap)
    return sentences, separators


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
