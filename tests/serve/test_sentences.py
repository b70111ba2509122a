"""Splitting a request's text into sentences and joining the translations back."""

import pytest

from nmt.serve.sentences import join_sentences, split_sentences

TEXTS = [
    "A dog runs.",
    "A dog runs. Two men sit!  \"Why?\" she asked.\n\nNew paragraph here.  ",
    "  leading space. Trailing space ",
    "no end punctuation",
    "",
    "Ein Satz.\nZwei Sätze? Ja. 3 Hunde.",
    "e.g. lower case after a period stays one sentence",
]


@pytest.mark.parametrize("text", TEXTS)
def test_joining_the_sentences_gives_the_text_back(text):
    sentences, separators = split_sentences(text)
    assert join_sentences(sentences, separators) == text
    assert len(separators) == len(sentences) + 1
    assert all(s == s.strip() for s in sentences)


def test_where_sentences_end():
    assert split_sentences("A dog runs. Two men sit!  \"Why?\" she asked.\n\nNew.")[0] == [
        "A dog runs.", "Two men sit!", "\"Why?\" she asked.", "New."]
    assert split_sentences("e.g. lower case stays")[0] == ["e.g. lower case stays"]
    assert split_sentences("")[0] == [""]


def test_translations_keep_the_texts_spacing():
    sentences, separators = split_sentences("One.  Two.\nThree.")
    assert join_sentences(["Eins.", "Zwei.", "Drei."], separators) == "Eins.  Zwei.\nDrei."
