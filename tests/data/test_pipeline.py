"""Pipeline round trips on real Multi30k text, for every subword mode."""

import pytest

from nmt.data.dictionary import UNK_ID
from nmt.data.pipeline import Pipeline
from nmt.data.preprocess import PreprocessOptions, preprocess
from nmt.data.subword import WORD_BOUNDARY

MODES = {
    "subword-nmt": dict(bpe="subword-nmt", bpe_merges=2000),
    "sentencepiece": dict(bpe="sentencepiece", vocab_size=1000),
    "char": dict(bpe="char"),
    "none": dict(bpe="none"),
}


@pytest.fixture(scope="module", params=list(MODES))
def built(request, multi30k_text, tmp_path_factory):
    dest = tmp_path_factory.mktemp(request.param) / "bin"
    opts = PreprocessOptions(
        source_lang="en", target_lang="de", destdir=str(dest),
        trainpref=[str(multi30k_text / "train")], validpref=[str(multi30k_text / "valid")],
        workers=1, **MODES[request.param],
    )
    preprocess(opts, log=lambda *_: None)
    return request.param, Pipeline.load(dest), multi30k_text


def test_decode_encode_is_detokenized_tokenization(built):
    mode, pipe, text = built
    lines = (text / "valid.de").read_text(encoding="utf-8").splitlines()[:200]
    side = pipe.target
    checked = 0
    for line in lines:
        ids = side.encode(line)
        if UNK_ID in ids:
            continue
        expected = side.words.detokenize(side.words.tokenize(line))
        assert side.decode(ids) == expected
        checked += 1
    assert checked > (50 if mode == "none" else 150)  # word level meets many unknowns


def test_segmentation_is_the_chosen_mode(built):
    mode, pipe, _ = built
    pieces = pipe.source.pieces("Two young, White males are outside near many bushes.")
    if mode == "char":
        assert WORD_BOUNDARY in pieces and all(len(p) == 1 for p in pieces)
    elif mode == "none":
        assert pieces == ["Two", "young", ",", "White", "males", "are", "outside", "near", "many", "bushes", "."]
    elif mode == "subword-nmt":
        assert any(p.endswith("@@") for p in pipe.source.pieces("unbelievablyfancifulwords"))
    else:
        assert any(p.startswith("\u2581") for p in pieces)


def test_pipeline_survives_serialisation(built, tmp_path):
    _, pipe, _ = built
    copy = Pipeline(pipe.spec, pipe.assets)
    line = "A man in an orange hat starring at something."
    assert copy.encode(line) == pipe.encode(line)
    copy.save(tmp_path)
    assert Pipeline.load(tmp_path).encode(line) == pipe.encode(line)


def test_source_ids_in_every_format_end_with_eos_and_agree(built):
    """A raw line, its Moses tokens and its pieces give the same ids; eos is appended once."""
    from nmt.data.dictionary import EOS_ID

    _, pipe, text = built
    side = pipe.source
    line = (text / "valid.en").read_text(encoding="utf-8").splitlines()[3]
    raw = pipe.source_ids(line)
    assert raw.ids[-1] == EOS_ID and EOS_ID not in raw.ids[:-1] and not raw.cut
    assert raw.ids[:-1] == side.encode(line) and len(raw.pieces) == len(raw.ids) - 1
    tokens = " ".join(side.words.tokenize(line))
    assert pipe.source_ids(tokens, "tokens").ids == raw.ids
    assert pipe.source_ids(side.join(raw.pieces, "pieces"), "pieces").ids == raw.ids
    assert side.join(raw.pieces, "tokens") == tokens
    assert pipe.source_ids("  \t ") is None and pipe.source_ids("") is None
    cut = pipe.source_ids(line, max_len=3)
    assert cut.cut and cut.ids == raw.ids[:2] + [EOS_ID] and cut.pieces == raw.pieces[:2]


@pytest.mark.parametrize("kind, spec", [
    ("subword-nmt", {"type": "subword-nmt", "codes": "bpe.codes"}),
    ("sentencepiece", {"type": "sentencepiece", "model": "spm.model"}),
])
def test_an_unreadable_subword_model_is_one_error_that_quotes_nothing(kind, spec):
    """subword-nmt prints a bad codes line and exits; sentencepiece raises a C++ error: both
    become one NmtError naming the asset, without its content."""
    from nmt.data.subword import build_segmenter
    from nmt.errors import NmtError

    name = spec.get("codes") or spec.get("model")
    with pytest.raises(NmtError, match=f"'{name}'") as info:
        build_segmenter(spec, {name: b"#version: 0.2\nSECRETLINE\n"})
    assert "SECRETLINE" not in str(info.value)
