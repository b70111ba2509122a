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
    "Dr. Smith met J. K. Rowling at E.S.E. Electronics. See No. 5.",
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


@pytest.mark.parametrize("text, lang, sentences", [
    # test2016 line 361, one sentence: split at "E.S.E." it was translated as two
    ("A man is walking past a large sign that says E.S.E. Electronics.", "en",
     ["A man is walking past a large sign that says E.S.E. Electronics."]),
    ("But Rep. Bill Shuster met Mr. Hawkins in the U.S. Senate. Then he left.", "en",
     ["But Rep. Bill Shuster met Mr. Hawkins in the U.S. Senate.", "Then he left."]),
    ("See No. 5 today. I said No. Then I left.", "en",
     ["See No. 5 today.", "I said No.", "Then I left."]),  # "No." keeps only before a number
    ("Am 22. September wird gewählt. Dann St. Josef.", "de",
     ["Am 22. September wird gewählt.", "Dann St. Josef."]),
    ("Jeudi, M. Snowden a parlé. Il est parti.", "fr", ["Jeudi, M. Snowden a parlé.", "Il est parti."]),
    ("He won. \"Yes.\" Then he left.", "en", ["He won.", "\"Yes.\"", "Then he left."]),
])
def test_moses_non_breaking_rules(text, lang, sentences):
    assert split_sentences(text, lang)[0] == sentences


def test_translations_keep_the_texts_spacing():
    sentences, separators = split_sentences("One.  Two.\nThree.")
    assert join_sentences(["Eins.", "Zwei.", "Drei."], separators) == "Eins.  Zwei.\nDrei."
