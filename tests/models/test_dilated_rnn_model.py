"""The Dilated RNN family: interleaving = the naive dilated recurrence, padding, contract, presets."""

import dataclasses

import pytest
import torch
from torch import nn

from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.errors import NmtError
from nmt.models import dilated_rnn
from nmt.models.dilated_rnn import (
    DilatedRecurrentLayer,
    DilatedRNN,
    DilatedRNNConfig,
    DilatedRNNModel,
    deinterleave,
    interleave,
)
from nmt.modules.luong_decoder import LuongDecoderConfig
from tests.models.contract_helpers import random_batch, step_by_step

V = 30

torch.set_num_threads(1)


def small_config(decoder: dict | None = None, **changes) -> DilatedRNNConfig:
    """A small config; ``decoder`` changes the nested decoder config's fields."""
    dec = LuongDecoderConfig(embed_dim=7, hidden_size=10, layers=1, out_embed_dim=9)
    cfg = DilatedRNNConfig(
        src_vocab_size=V, tgt_vocab_size=V + 3, cell="lstm", encoder_embed_dim=8,
        encoder_hidden_size=6, encoder_layers=3, encoder_bidirectional=True,
        decoder=dataclasses.replace(dec, **(decoder or {})),
    )
    return dataclasses.replace(cfg, **changes)


def small_model(seed=0, **changes) -> DilatedRNNModel:
    torch.manual_seed(seed)
    model = DilatedRNNModel(small_config(**changes))
    with torch.no_grad():  # non-zero pad rows, so a pad that leaks shows
        model.encoder.embed_tokens.weight[PAD_ID].normal_()
        model.decoder.embed_tokens.weight[PAD_ID].normal_()
    return model.eval()


def batch(seed=1, lengths=(7, 4, 2), tgt_lengths=(6, 3, 5)):
    return random_batch(V, seed, lengths, tgt_lengths)


# -- the dilated layer --------------------------------------------------------------------------


def test_interleave_roundtrip_and_layout():
    x = torch.arange(2 * 7).view(2, 7, 1).float()
    xs = interleave(x, 3)  # (6, 3, 1): ⌈7/3⌉ = 3 steps, zero-padded at the end
    assert xs.shape == (6, 3, 1)
    assert xs[1, :, 0].tolist() == [1.0, 4.0, 0.0]  # row 0, sub-sequence 1: steps 1, 4, (pad)
    assert xs[3, :, 0].tolist() == [7.0, 10.0, 13.0]  # row 1, sub-sequence 0: steps 0, 3, 6
    assert torch.equal(deinterleave(xs, 3, 7), x)
    assert torch.equal(interleave(x, 1), x)


def naive_dilated_gru(cell: nn.GRUCell, x: torch.Tensor, s: int, reverse: bool = False):
    """c_t = f(x_t, c_{t−s}) one step at a time (c_{<0} = 0); ``reverse``: c_t = f(x_t, c_{t+s})."""
    B, T, _ = x.shape
    steps = range(T - 1, -1, -1) if reverse else range(T)
    out = [None] * T
    for t in steps:
        prev = t + s if reverse else t - s
        h = out[prev] if 0 <= prev < T else x.new_zeros(B, cell.hidden_size)
        out[t] = cell(x[:, t], h)
    return torch.stack(out, dim=1)


def gru_cell_from(rnn: nn.GRU) -> nn.GRUCell:
    cell = nn.GRUCell(rnn.input_size, rnn.hidden_size)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l0"))
    return cell


@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_interleaving_equals_naive_dilated_recurrence(s):
    torch.manual_seed(s)
    layer = DilatedRecurrentLayer("gru", 3, 5, s, bidirectional=True)
    x = torch.randn(2, 11, 3)
    mask = torch.ones(2, 11, dtype=torch.bool)
    with torch.no_grad():
        out = layer(x, mask)
        fwd = naive_dilated_gru(gru_cell_from(layer.directions[0]), x, s)
        bwd = naive_dilated_gru(gru_cell_from(layer.directions[1]), x, s, reverse=True)
    torch.testing.assert_close(out, torch.cat([fwd, bwd], dim=-1), atol=1e-6, rtol=1e-6)


def test_naive_equivalence_with_padding():
    """Row 1 is 6 real steps of 11: its outputs are the naive recurrence over those 6 steps."""
    torch.manual_seed(0)
    layer = DilatedRecurrentLayer("gru", 3, 5, 4, bidirectional=True)
    x = torch.randn(2, 11, 3)
    mask = torch.ones(2, 11, dtype=torch.bool)
    mask[1, 6:] = False
    with torch.no_grad():
        out = layer(x, mask)
        real = x[1:, :6]
        fwd = naive_dilated_gru(gru_cell_from(layer.directions[0]), real, 4)
        bwd = naive_dilated_gru(gru_cell_from(layer.directions[1]), real, 4, reverse=True)
    torch.testing.assert_close(out[1:, :6], torch.cat([fwd, bwd], dim=-1), atol=1e-6, rtol=1e-6)
    assert torch.all(out[1, 6:] == 0)


def test_dilation_limits_the_dependence():
    """A unidirectional layer with dilation s: output t depends on x_{t−s}, not on x_{t−1}."""
    torch.manual_seed(0)
    layer = DilatedRecurrentLayer("lstm", 3, 4, 3)
    x = torch.randn(1, 10, 3)
    mask = torch.ones(1, 10, dtype=torch.bool)
    with torch.no_grad():
        base = layer(x, mask)
        for p, expect in ((6, True), (5, False), (7, False), (3, True), (8, False)):
            x2 = x.clone()
            x2[0, p] += 1.0
            assert (not torch.equal(layer(x2, mask)[0, 9], base[0, 9])) == expect, p


@pytest.mark.parametrize("cell", ["lstm", "gru", "qrnn"])
def test_stack_padding_invariance(cell):
    torch.manual_seed(0)
    stack = DilatedRNN(3, 4, [1, 2, 4], cell=cell, bidirectional=True).eval()
    x = torch.randn(3, 9, 3)
    lens = torch.tensor([9, 5, 1])
    mask = torch.arange(9).expand(3, 9) < lens.unsqueeze(1)
    x = x.masked_fill(~mask.unsqueeze(-1), 5.0)  # garbage in the padding
    with torch.no_grad():
        out, finals = stack(x, mask)
        assert out.shape == (3, 9, 8) and finals.shape == (3, 3, 8)
        for row, n in enumerate(lens.tolist()):
            alone, alone_finals = stack(x[row : row + 1, :n], mask[row : row + 1, :n])
            torch.testing.assert_close(out[row : row + 1, :n], alone, atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(finals[row : row + 1], alone_finals, atol=1e-6, rtol=1e-6)
            assert torch.all(out[row, n:] == 0)
    assert [layer.dilation for layer in stack.layers] == [1, 2, 4]


# -- the model ----------------------------------------------------------------------------------


def test_config_errors():
    with pytest.raises(NmtError, match="vocab"):
        DilatedRNNModel(DilatedRNNConfig())
    for changes, match in (({"cell": "rnn"}, "cell"),
                           ({"encoder_dilations": [1, 2]}, "encoder_dilations"),
                           ({"encoder_dilations": [1, 0, 2]}, "encoder_dilations"),
                           ({"encoder_dropout_in": 1.5}, "encoder_dropout_in"),
                           ({"decoder": {"attention": "additive"}}, "attention"),
                           ({"decoder": {"attention": "dot"}}, "dot"),
                           ({"decoder": {"dropout_out": 1.0}}, "decoder.dropout_out"),
                           ({"qrnn_pooling": "x"}, "qrnn_pooling"),
                           ({"tie_output": True}, "tie_output")):
        with pytest.raises(NmtError, match=match):
            small_config(**changes).validate()
    assert small_config().dilations() == [1, 2, 4]
    assert small_config(encoder_dilations=[1, 3, 9]).dilations() == [1, 3, 9]


@pytest.mark.parametrize("changes", [
    {},
    {"cell": "gru", "encoder_bidirectional": False,
     "decoder": {"layers": 3, "input_feeding": False}},
    {"cell": "qrnn", "qrnn_kernel": 2, "zoneout": 0.1, "tie_output": True,
     "decoder": {"attention": "concat", "out_embed_dim": 7}},
    {"encoder_dilations": [1, 3, 5], "decoder": {"attention": "dot", "hidden_size": 12}},
])
def test_incremental_equals_teacher_forced(changes):
    model = small_model(**changes)
    src, lens, tgt_in = batch()
    with torch.no_grad():
        full = model.log_probs(model(src, lens, tgt_in))
        steps, state = step_by_step(model, src, lens, tgt_in)
    real = tgt_in.ne(PAD_ID)
    torch.testing.assert_close(steps[real], full[real], atol=1e-5, rtol=1e-5)
    assert state.attn.shape == (3, 7) and torch.all(state.attn[src.eq(PAD_ID)] == 0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "qrnn"])
def test_model_padding_invariance(cell):
    """A sentence translates the same alone, right- or left-padded, next to a longer one."""
    model = small_model(cell=cell)
    g = torch.Generator().manual_seed(5)
    sent = torch.randint(4, V, (5,), generator=g)
    other = torch.randint(4, V, (11,), generator=g)
    tgt_in = torch.tensor([[EOS_ID, 7, 8, 9]] * 2)
    with torch.no_grad():
        alone = model.log_probs(model(sent.unsqueeze(0), None, tgt_in[:1]))
        for left in (False, True):
            src = torch.full((2, 11), PAD_ID)
            src[1] = other
            src[0, 6:] = sent if left else src[0, 6:]
            src[0, :5] = src[0, :5] if left else sent
            got = model.log_probs(model(src, src.ne(PAD_ID).sum(1), tgt_in))[:1]
            torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-5)
            enc = model.encode(src)
            assert enc.keys.shape[-1] == 11 and enc.pad_mask[0].sum() == 6


def test_tiny_batch_overfits():
    torch.manual_seed(0)
    model = DilatedRNNModel(small_config(
        cell="gru", encoder_embed_dim=16, encoder_hidden_size=16, encoder_dropout_in=0.0,
        encoder_dropout_out=0.0, decoder={"embed_dim": 16, "hidden_size": 32, "out_embed_dim": 16,
                                          "dropout_in": 0.0, "dropout_out": 0.0})).train()
    src, lens, tgt_in = batch(seed=4, lengths=(5, 4, 4, 3), tgt_lengths=(5, 4, 3, 4))
    tgt_out = torch.cat([tgt_in[:, 1:], torch.full((4, 1), PAD_ID)], dim=1)
    tgt_out[tgt_out.eq(PAD_ID) & tgt_in.ne(PAD_ID)] = EOS_ID
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    # A 3-layer recurrent encoder from a ±0.1 init needs more steps than a 1-layer one; with a
    # decoder of 16 units this lr can saturate h~ into predicting the unigram distribution.
    for _ in range(300):
        opt.zero_grad()
        logits = model(src, lens, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                 tgt_out.reshape(-1), ignore_index=PAD_ID)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    model.eval()
    with torch.no_grad():
        pred = model(src, lens, tgt_in).argmax(-1)
    assert torch.equal(pred[tgt_out.ne(PAD_ID)], tgt_out[tgt_out.ne(PAD_ID)])


def test_a_config_stored_flat_by_older_versions_loads_nested():
    """Checkpoints saved before the decoder config was nested hold ``decoder_*`` fields."""
    from nmt import registry

    new = dilated_rnn.dilated_rnn_small()
    old = {k: v for k, v in dataclasses.asdict(new).items() if k != "decoder"}
    old.update({"decoder_embed_dim": 256, "decoder_hidden_size": 256, "decoder_layers": 1,
                "decoder_out_embed_dim": 256, "decoder_dropout_in": 0.2,
                "decoder_dropout_out": 0.2, "attention": "general", "attention_dim": 0,
                "input_feeding": True})
    assert registry.config_from_dict("dilated_rnn", old) == new
    assert registry.config_from_dict("dilated_rnn", dataclasses.asdict(new)) == new
    with pytest.raises(NmtError, match="unknown keys"):
        registry.config_from_dict("dilated_rnn", {**old, "decoder_size": 3})
    with pytest.raises(NmtError, match="unknown keys"):  # a damaged 'decoder' is not merged into
        registry.config_from_dict("dilated_rnn", {**old, "decoder": "lstm"})
    with pytest.raises(NmtError, match="'decoder.layers' must be an integer, found a string"):
        registry.config_from_dict("dilated_rnn", {**dataclasses.asdict(new),
                                                  "decoder": {"layers": "2"}})
