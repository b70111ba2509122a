"""The TCN family on small random models: contract, causality, receptive field, padding, presets."""

import dataclasses

import pytest
import torch

from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.errors import NmtError
from nmt.models.tcn import TCNConfig, TCNLevel, TCNModel, expand_levels
from tests.models.contract_helpers import random_batch, step_by_step

V = 30

torch.set_num_threads(1)


def small_config(**changes) -> TCNConfig:
    cfg = TCNConfig(
        src_vocab_size=V, tgt_vocab_size=V + 3, embed_dim=8,
        # widths change (1x1 residual), kernels 3 and 2
        encoder_layers=[{"channels": 12, "kernel": 3, "repeat": 2}, {"channels": 10, "kernel": 2}],
        decoder_layers=[{"channels": 12, "kernel": 3, "repeat": 2}, {"channels": 10, "kernel": 2}],
        decoder_out_embed_dim=9, decoder_attention="all", dropout=0.1, embed_dropout=0.1,
    )
    return dataclasses.replace(cfg, **changes)


def randomise(model, std=None):
    """Non-zero biases and pad rows (so nothing passes by accident); with ``std`` every parameter
    ~ N(0, std), so a dependence through many layers is not attenuated below float resolution."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if std is not None:
                p.normal_(0, std)
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
        model.encoder.embed_tokens.weight[PAD_ID].normal_()
        model.decoder.embed_tokens.weight[PAD_ID].normal_()
    return model.eval()


def small_model(seed=0, **changes) -> TCNModel:
    torch.manual_seed(seed)
    return randomise(TCNModel(small_config(**changes)))


def batch(seed=1, lengths=(7, 4, 2), tgt_lengths=(6, 3, 5)):
    return random_batch(V, seed, lengths, tgt_lengths)


def test_levels_are_data():
    levels = expand_levels([{"channels": 8, "kernel": 3, "repeat": 2}, {"channels": 4, "kernel": 2}])
    assert levels == [TCNLevel(8, 3, 1), TCNLevel(8, 3, 2), TCNLevel(4, 2, 4)]
    assert [lv.dilation for lv in expand_levels([{"channels": 4, "kernel": 2, "repeat": 5}],
                                                cycle=3)] == [1, 2, 4, 1, 2]
    for bad, match in (([], "at least one"), ([{"channel": 8, "kernel": 3}], "expected"),
                       ([{"channels": "wide", "kernel": 3}], "must be ints"),
                       ([{"channels": 8, "kernel": 0}], "kernel >= 1"), (["[(8, 3)]"], "expected")):
        with pytest.raises(NmtError, match=match):
            expand_levels(bad)


def test_config_errors():
    with pytest.raises(NmtError, match="vocab"):
        TCNModel(TCNConfig())
    for changes, match in (({"decoder_attention": "first"}, "decoder_attention"),
                           ({"decoder_attention": [True]}, "decoder_attention"),
                           ({"decoder_attention": [False, False, False]}, "at least one"),
                           ({"tie_output": True}, "tie_output"),
                           ({"dropout": 1.0}, "dropout"),
                           ({"dilation_cycle": -1}, "dilation_cycle"),
                           ({"src_vocab_size": 5, "share_embeddings": True}, "share_embeddings"),
                           ({"decoder_layers": [{"channels": 4}]}, "TCN level")):
        with pytest.raises(NmtError, match=match):
            small_config(**changes).validate()


def test_shapes_positions_and_attention_layers():
    model = small_model()
    src, lens, tgt_in = batch()
    assert model(src, lens, tgt_in).shape == (3, 6, V + 3)
    assert model.max_positions() == (1022, 1022)
    assert sorted(model.decoder.attention) == ["0", "1", "2"]
    assert model.encoder.grad_scale == pytest.approx(1 / 6)
    enc = model.encode(src, lens)
    assert enc.z.shape == enc.ze.shape == (3, 7, 8)
    assert torch.all(enc.z[src.eq(PAD_ID)] == 0)
    last = small_model(decoder_attention="last", positions=False, max_target_positions=50)
    assert sorted(last.decoder.attention) == ["2"] and last.max_positions() == (1024, 50)
    assert last.decoder.embed_positions is None


@pytest.mark.parametrize("changes", [
    {},
    {"decoder_attention": "last", "tie_output": True, "decoder_out_embed_dim": 8},
    {"decoder_attention": [True, False, True], "positions": False, "share_embeddings": True,
     "tgt_vocab_size": V, "dilation_cycle": 2},
])
def test_incremental_equals_teacher_forced(changes):
    model = small_model(**changes)
    src, lens, tgt_in = batch()
    with torch.no_grad():
        full = model.log_probs(model(src, lens, tgt_in))
        steps, state = step_by_step(model, src, lens, tgt_in)
    real = tgt_in.ne(PAD_ID)  # after a target pad, nothing is defined
    torch.testing.assert_close(steps[real], full[real], atol=1e-5, rtol=1e-5)
    assert state.step == 6 and state.attn.shape == (3, 7)
    torch.testing.assert_close(state.attn.sum(-1), torch.ones(3))
    assert torch.all(state.attn[src.eq(PAD_ID)] == 0)
    # the buffers hold exactly (k−1)·d inputs per convolution
    levels = model.cfg.decoder_levels()
    assert [w.size(1) for w in state.windows] == [(lv.kernel - 1) * lv.dilation
                                                  for lv in levels for _ in range(2)]


def test_incremental_after_folding_weight_norm():
    from nmt.modules.weight_norm import fold_weight_norm

    model = small_model()
    src, lens, tgt_in = batch()
    with torch.no_grad():
        full = model.log_probs(model(src, lens, tgt_in))
        fold_weight_norm(model)
        steps, _ = step_by_step(model, src, lens, tgt_in)
    real = tgt_in.ne(PAD_ID)
    torch.testing.assert_close(steps[real], full[real], atol=1e-5, rtol=1e-5)


def test_decoder_is_causal():
    model = small_model()
    src, lens, tgt_in = batch(tgt_lengths=(6, 6, 6))
    with torch.no_grad():
        base = model(src, lens, tgt_in)
        for t in range(1, 6):
            changed = tgt_in.clone()
            changed[:, t] = (changed[:, t] - 4 + 7) % (V - 4) + 4  # another real token
            out = model(src, lens, changed)
            assert torch.equal(out[:, :t], base[:, :t])
            assert not torch.allclose(out[:, t], base[:, t])


def test_receptive_field_by_perturbation():
    """Decoder output t depends on tgt_in[t − H] and not on tgt_in[t − H − 1], H = field − 1;
    the encoder's z_t on src[t − a] and src[t + b] and nothing further, (a, b) = context."""
    torch.manual_seed(0)
    model = randomise(TCNModel(small_config(dropout=0.0)).double(), std=0.5)
    levels = model.cfg.decoder_levels()
    H = sum(2 * (lv.kernel - 1) * lv.dilation for lv in levels)
    assert H == 2 * (2 * 1 + 2 * 2 + 1 * 4) == 20
    assert model.receptive_field() == (21, 21)
    g = torch.Generator().manual_seed(3)
    src = torch.randint(4, V, (1, 45), generator=g)
    tgt_in = torch.randint(4, V, (1, 45), generator=g)
    t = 30

    def differs(tokens, position, fn):
        changed = tokens.clone()
        changed[0, position] = 4 + (changed[0, position] - 4 + 5) % (V - 4)
        return not torch.equal(fn(changed), fn(tokens))

    with torch.no_grad():
        dec = lambda y: model(src, None, y)[0, t]  # noqa: E731
        assert differs(tgt_in, t - H, dec) and not differs(tgt_in, t - H - 1, dec)
        a, b = model.encoder.tcn.context
        assert a + b == H and (a, b) == (10, 10)
        enc = lambda x: model.encode(x).z[0, t]  # noqa: E731
        assert differs(src, t - a, enc) and not differs(src, t - a - 1, enc)
        assert differs(src, t + b, enc) and not differs(src, t + b + 1, enc)


def test_encoder_padding_invariance():
    """A sentence encodes the same alone, right- or left-padded, next to longer sentences."""
    model = small_model()
    g = torch.Generator().manual_seed(5)
    sent = torch.randint(4, V, (5,), generator=g)
    other = torch.randint(4, V, (11,), generator=g)
    with torch.no_grad():
        alone = model.encode(sent.unsqueeze(0))
        for left in (False, True):
            src = torch.full((2, 11), PAD_ID)
            src[1] = other
            if left:
                src[0, 6:] = sent
            else:
                src[0, :5] = sent
            enc = model.encode(src)
            span = slice(6, 11) if left else slice(0, 5)
            torch.testing.assert_close(enc.z[0, span], alone.z[0], atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(enc.ze[0, span], alone.ze[0], atol=1e-6, rtol=1e-6)
        tgt_in = torch.tensor([[EOS_ID, 7, 8, 9]])
        base = model.log_probs(model(sent.unsqueeze(0), None, tgt_in))
        padded = torch.cat([sent, torch.full((4,), PAD_ID)]).unsqueeze(0)
        torch.testing.assert_close(model.log_probs(model(padded, None, tgt_in)), base,
                                   atol=1e-5, rtol=1e-5)


def test_tiny_batch_overfits():
    torch.manual_seed(0)
    model = TCNModel(small_config(embed_dim=16, dropout=0.0, embed_dropout=0.0,
                             encoder_layers=[{"channels": 16, "kernel": 3, "repeat": 2}],
                             decoder_layers=[{"channels": 16, "kernel": 3, "repeat": 2}],
                             decoder_out_embed_dim=16)).train()
    src, lens, tgt_in = batch(seed=4, lengths=(5, 4, 4, 3), tgt_lengths=(5, 4, 3, 4))
    tgt_out = torch.cat([tgt_in[:, 1:], torch.full((4, 1), PAD_ID)], dim=1)
    tgt_out[tgt_out.eq(PAD_ID) & tgt_in.ne(PAD_ID)] = EOS_ID
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
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
