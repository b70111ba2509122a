"""Search on a small randomly initialised ConvS2S: the contract as a real family implements it."""

import pytest
import torch

from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.models.convs2s import ConvS2SConfig, ConvS2SModel
from nmt.search import SearchConfig, beam_search, greedy_search, search

V = 40
LENGTHS = [9, 6, 3, 7, 2]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    layers = [{"channels": 12, "kernel": 3}, {"channels": 16, "kernel": 2}]
    cfg = ConvS2SConfig(src_vocab_size=V, tgt_vocab_size=V, encoder_embed_dim=8,
                        encoder_layers=layers, decoder_embed_dim=8,
                        decoder_layers=[layers[0], {"channels": 16, "kernel": 4}],
                        decoder_out_embed_dim=10, dropout=0.1)
    m = ConvS2SModel(cfg)
    with torch.no_grad():  # a peakier output layer, so hypotheses end at different lengths
        m.decoder.fc3.bias.normal_(0, 1.0)
        m.decoder.fc3.bias[EOS_ID] += 1.8  # (with seed 0: greedy lengths 16, 16, 4, 4, 2)
    return m.eval()


def sources(left_pad=True):
    g = torch.Generator().manual_seed(3)
    src = torch.full((len(LENGTHS), max(LENGTHS)), PAD_ID)
    for row, n in enumerate(LENGTHS):
        tokens = torch.cat([torch.randint(4, V, (n - 1,), generator=g), torch.tensor([EOS_ID])])
        if left_pad:
            src[row, src.size(1) - n:] = tokens
        else:
            src[row, :n] = tokens
    return src, torch.tensor(LENGTHS)


def tokens_of(result):
    return [[h.tokens.tolist() for h in nbest] for nbest in result]


@pytest.mark.parametrize("lenpen", [0.0, 1.0])
def test_beam_one_equals_greedy(model, lenpen):
    cfg = SearchConfig(beam=1, lenpen=lenpen, max_len_b=15)
    greedy = greedy_search(model, *sources(), cfg)
    beam = beam_search(model, *sources(), cfg)
    assert tokens_of(greedy) == tokens_of(beam)
    for g, b in zip(greedy, beam):
        assert g[0].score == pytest.approx(b[0].score, abs=1e-5)
        torch.testing.assert_close(g[0].positional_scores, b[0].positional_scores,
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(g[0].attention, b[0].attention, atol=1e-6, rtol=0)


def test_nbest_top_equals_one_best(model):
    one = search(model, *sources(), SearchConfig(beam=4, max_len_b=15))
    four = search(model, *sources(), SearchConfig(beam=4, nbest=4, max_len_b=15))
    assert [n[0] for n in tokens_of(one)] == [n[0] for n in tokens_of(four)]
    for nbest in four:
        scores = [h.score for h in nbest]
        assert scores == sorted(scores, reverse=True)
        for h in nbest:  # the score is the length-normalised sum of the positional scores
            assert float(h.positional_scores.sum()) / len(h.tokens) == pytest.approx(h.score,
                                                                                       abs=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
def test_padding_side_and_batch_do_not_matter(model, beam):
    cfg = SearchConfig(beam=beam, max_len_b=15)
    left = search(model, *sources(True), cfg)
    right = search(model, *sources(False), cfg)
    assert tokens_of(left) == tokens_of(right)
    src, lens = sources(False)
    for row, n in enumerate(LENGTHS):
        single = search(model, src[row:row + 1, :n], lens[row:row + 1], cfg)
        assert tokens_of(single)[0] == tokens_of(left)[row]
        assert single[0][0].score == pytest.approx(left[row][0].score, abs=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
def test_attention_over_the_real_source_tokens(model, beam):
    result = search(model, *sources(), SearchConfig(beam=beam, nbest=beam, max_len_b=15))
    for n, nbest in zip(LENGTHS, result):
        for h in nbest:
            assert h.attention.shape == (len(h.tokens), n)
            # every decoder layer attends, so the layer average still sums to 1 per step
            torch.testing.assert_close(h.attention.sum(dim=1), torch.ones(len(h.tokens)))


@pytest.mark.parametrize("lenpen", [0.0, 1.0])
def test_early_stop_keeps_the_result(model, lenpen):
    cfg = SearchConfig(beam=4, nbest=2, lenpen=lenpen, max_len_b=15)
    plain = search(model, *sources(), cfg)
    early = search(model, *sources(), SearchConfig(**{**cfg.__dict__, "early_stop": True}))
    assert tokens_of(plain) == tokens_of(early)


@pytest.mark.parametrize("beam", [1, 3])
def test_bf16_autocast_runs(model, beam):
    result = search(model, *sources(), SearchConfig(beam=beam, max_len_b=15,
                                                    autocast_dtype="bfloat16"))
    for nbest in result:
        h = nbest[0]
        assert h.tokens[-1] == EOS_ID and h.positional_scores.dtype == torch.float32
        assert torch.isfinite(h.positional_scores).all()
