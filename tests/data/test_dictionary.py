from collections import Counter

import pytest

from nmt.data.dictionary import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Dictionary
from nmt.errors import NmtError


def test_special_ids_are_fairseqs():
    d = Dictionary()
    assert (BOS_ID, PAD_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert d.symbols == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (d.bos, d.pad, d.eos, d.unk) == (0, 1, 2, 3)


def test_build_orders_by_frequency_then_alphabet_and_pads_size():
    d = Dictionary.build(Counter({"b": 5, "a": 5, "c": 9, "rare": 1}), threshold=2, padding_factor=8)
    assert d.symbols[4:7] == ["c", "a", "b"]
    assert "rare" not in d
    assert len(d) == 8 and d.symbols[7] == "madeupword0000"


def test_nwords_and_unknowns():
    d = Dictionary.build(Counter({"x": 3, "y": 2, "z": 1}), nwords=2, padding_factor=1)
    assert len(d) == 6
    assert d.encode(["x", "z", "y"]) == [4, UNK_ID, 5]
    assert d.decode([4, UNK_ID, EOS_ID, PAD_ID]) == ["x", "<unk>"]


def test_text_round_trip_and_fairseq_file(fairseq_fixtures):
    text = (fairseq_fixtures / "dict.en.txt").read_text(encoding="utf-8")
    d = Dictionary.from_text(text)
    assert len(d) == 9808  # README: 9,804 lines + 4 specials
    assert d.to_text() == text
    assert d.symbols[4] == "." and d.index("madeupword0004") == 9807


def test_bad_dictionary_lines_name_the_line():
    with pytest.raises(NmtError, match="line 2"):
        Dictionary.from_text("a 1\nno-count-here\n")


def test_the_sentence_conventions_are_fairseqs():
    from nmt.data.dictionary import EOS_ID, source_sequence, target_sequences

    assert source_sequence([7, 8]) == [7, 8, EOS_ID]
    assert target_sequences([7, 8]) == ([EOS_ID, 7, 8], [7, 8, EOS_ID])
    assert source_sequence([]) == [EOS_ID] and target_sequences([]) == ([EOS_ID], [EOS_ID])
