"""Continuous beam search (sentences join and leave a running search) on the families that
support joining (ConvS2S, the LSTM and Dilated-RNN attention models): a sentence alone gets
exactly beam search's hypotheses; sentences joining at different steps get beam search's
translations; the model contract's joining half (concat of states and encoder outputs, per-row
positions) agrees with separate decoding."""

from dataclasses import replace

import pytest
import torch

from nmt.errors import NmtError
from nmt.models.dilated_rnn import DilatedRNNConfig, DilatedRNNModel
from nmt.models.lstm import LSTMConfig, LSTMModel
from nmt.models.qrnn import QRNNConfig, QRNNModel
from nmt.search import SearchConfig, beam_search
from nmt.search.continuous import ContinuousBeamSearch
from tests.search.test_convs2s_search import V, sources
from tests.search.test_convs2s_search import model as convs2s  # noqa: F401  (fixture)


def _lstm(**options):
    torch.manual_seed(1)
    return LSTMModel(LSTMConfig(src_vocab_size=V, tgt_vocab_size=V, encoder_embed_dim=8,
                                encoder_hidden_size=8, decoder_embed_dim=8, decoder_hidden_size=8,
                                decoder_out_embed_dim=8, **options)).eval()


def _dilated_rnn():
    torch.manual_seed(2)
    return DilatedRNNModel(DilatedRNNConfig(src_vocab_size=V, tgt_vocab_size=V, encoder_embed_dim=8,
                                            encoder_hidden_size=8, encoder_layers=2)).eval()


@pytest.fixture(scope="module", params=["convs2s", "lstm", "lstm-concat-nofeed", "dilated_rnn"])
def model(request, convs2s):  # noqa: F811
    return {"convs2s": lambda: convs2s,
            "lstm": _lstm,
            "lstm-concat-nofeed": lambda: _lstm(attention="concat", input_feeding=False),
            "dilated_rnn": _dilated_rnn}[request.param]()

CONFIGS = [SearchConfig(beam=5, max_len_b=15), SearchConfig(beam=3, nbest=3, lenpen=0.0),
           SearchConfig(beam=4, nbest=2, max_len_b=3, min_len=2, unkpen=0.5),
           SearchConfig(beam=2, max_len_a=1.0, max_len_b=1),
           SearchConfig(beam=4, nbest=2, lenpen=0.5, early_stop=True)]


def run(search: ContinuousBeamSearch, joins: dict[int, list[int]], src, lens) -> dict:
    """Sentences ``joins[step]`` join before that step; (row -> n-best) when all are done."""
    done, step = {}, 0
    while len(search) or any(s >= step for s in joins):
        if step in joins:
            rows = joins[step]
            width = int(lens[rows].max())  # each cohort padded to its own longest, at the end
            search.add(trim(src[rows], width), lens[rows], rows)
        done.update(search.step())
        step += 1
    return done


def trim(src, width):
    """Right-padded rows (sources(left_pad=False)) cut to ``width`` columns."""
    return src[:, :width]


def same(a, b) -> bool:
    return (len(a) == len(b) and all(
        x.tokens.tolist() == y.tokens.tolist() and x.score == y.score
        and torch.equal(x.positional_scores, y.positional_scores)
        and (x.attention is None) == (y.attention is None)
        and (x.attention is None or torch.equal(x.attention, y.attention)) for x, y in zip(a, b)))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_a_sentence_alone_gets_exactly_beam_search(model, cfg):
    src, lens = sources(left_pad=False)
    for row in range(src.size(0)):
        width = int(lens[row])
        alone = beam_search(model, src[row:row + 1, :width], lens[row:row + 1], cfg)[0]
        found = run(ContinuousBeamSearch(model, cfg), {0: [row]}, src, lens)
        assert same(found[row], alone), row


@pytest.mark.parametrize("cfg", CONFIGS)
def test_sentences_joining_at_different_steps_get_beam_search_translations(model, cfg):
    src, lens = sources(left_pad=False)
    expected = {row: beam_search(model, src[row:row + 1, :int(lens[row])], lens[row:row + 1], cfg)[0]
                for row in range(src.size(0))}
    found = run(ContinuousBeamSearch(model, cfg), {0: [0, 2], 1: [1], 4: [3, 4]}, src, lens)
    assert sorted(found) == list(range(src.size(0)))
    for row, hyps in found.items():
        want = expected[row]
        assert [h.tokens.tolist() for h in hyps] == [h.tokens.tolist() for h in want], row
        assert [h.score for h in hyps] == pytest.approx([h.score for h in want], rel=1e-6, abs=1e-5)
        for h, w in zip(hyps, want):
            assert h.attention.shape == w.attention.shape
            assert torch.allclose(h.attention, w.attention, atol=1e-6)


def test_without_attention_the_same_hypotheses_join_and_leave(model):
    src, lens = sources(left_pad=False)
    cfg = SearchConfig(beam=3, nbest=2)
    schedule = {0: [0, 2], 1: [1], 4: [3, 4]}
    kept = run(ContinuousBeamSearch(model, cfg), schedule, src, lens)
    left_out = run(ContinuousBeamSearch(model, replace(cfg, attention=False)), schedule, src, lens)
    assert sorted(left_out) == sorted(kept)
    for row, hyps in left_out.items():
        assert all(h.attention is None for h in hyps)
        assert same(hyps, [replace(h, attention=None) for h in kept[row]]), row


def test_joined_states_decode_as_the_separate_ones(model):
    src, lens = sources(left_pad=False)
    with torch.inference_mode():
        a_enc, b_enc = model.encode(src[:2, :9], lens[:2]), model.encode(src[2:, :7], lens[2:])
        a_state, b_state = model.init_state(a_enc), model.init_state(b_enc)
        tokens = torch.tensor([5, 6])
        _, a_state = model.decode_step(tokens, a_state, a_enc)  # a is one step ahead of b
        lp_a, _ = model.decode_step(tokens, a_state, a_enc)
        lp_b, _ = model.decode_step(torch.tensor([7, 8, 9]), b_state, b_enc)
        joined, _ = model.decode_step(torch.tensor([5, 6, 7, 8, 9]),
                                      model.concat_states([a_state, b_state]),
                                      model.concat_encoder_out([a_enc, b_enc]))
    assert torch.allclose(joined, torch.cat([lp_a, lp_b]), atol=1e-5)


def test_what_continuous_search_refuses(model):
    qrnn = QRNNModel(QRNNConfig(src_vocab_size=V, tgt_vocab_size=V)).eval()
    with pytest.raises(NmtError, match="cannot join"):
        ContinuousBeamSearch(qrnn, SearchConfig())
    for cfg in (SearchConfig(sampling=True), SearchConfig(no_repeat_ngram_size=2)):
        with pytest.raises(NmtError):
            ContinuousBeamSearch(model, cfg)
    search = ContinuousBeamSearch(model, SearchConfig())
    src, lens = sources(left_pad=False)
    with pytest.raises(NmtError, match="tags"):
        search.add(src, lens, ["only one"])
    assert search.step() == [] and len(search) == 0
