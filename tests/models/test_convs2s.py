"""ConvS2S on randomly initialised models: contract properties, padding, init, gradient scaling."""

import dataclasses
import math

import pytest
import torch

from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.errors import NmtError
from nmt.models.convs2s import (
    ConvS2SConfig,
    ConvS2SModel,
    LayerSpec,
    compress_layers,
    expand_layers,
)

V = 40


def small_config(**changes) -> ConvS2SConfig:
    cfg = ConvS2SConfig(
        src_vocab_size=V,
        tgt_vocab_size=V,
        encoder_embed_dim=8,
        # widths change (projection), an even kernel, a residual from two blocks back
        encoder_layers=[{"channels": 12, "kernel": 3}, {"channels": 16, "kernel": 2},
                        {"channels": 16, "kernel": 5, "residual": 2}],
        decoder_embed_dim=8,
        decoder_layers=[{"channels": 12, "kernel": 3}, {"channels": 16, "kernel": 4},
                        {"channels": 16, "kernel": 1}],
        decoder_out_embed_dim=10,
        decoder_attention=[True, False, True],
        dropout=0.1,
    )
    return dataclasses.replace(cfg, **changes)


def small_model(seed=0, **changes) -> ConvS2SModel:
    torch.manual_seed(seed)
    model = ConvS2SModel(small_config(**changes))
    with torch.no_grad():  # non-zero biases and pad rows, so nothing passes by accident
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
        model.encoder.embed_tokens.weight[PAD_ID].normal_()
        model.decoder.embed_tokens.weight[PAD_ID].normal_()
    return model.eval()


def batch(seed=1):
    """Sources of lengths 7, 4, 2 left-padded, targets right-padded; eos at the right places."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((3, 7), PAD_ID)
    for row, n in enumerate((7, 4, 2)):
        src[row, 7 - n :] = torch.randint(4, V, (n,), generator=g)
        src[row, -1] = EOS_ID
    tgt_in = torch.full((3, 6), PAD_ID)
    for row, n in enumerate((6, 3, 5)):
        tgt_in[row, :n] = torch.randint(4, V, (n,), generator=g)
        tgt_in[row, 0] = EOS_ID
    return src, src.ne(PAD_ID).sum(1), tgt_in


def test_layer_stacks_are_data():
    stack = [{"channels": 512, "kernel": 3, "repeat": 2}, {"channels": 1024, "kernel": 1}]
    specs = expand_layers(stack)
    assert specs == [LayerSpec(512, 3, 1)] * 2 + [LayerSpec(1024, 1, 1)]
    assert expand_layers([(32, 3), (48, 5, 0)]) == [LayerSpec(32, 3, 1), LayerSpec(48, 5, 0)]
    assert compress_layers(specs) == stack
    with pytest.raises(NmtError, match="keys are"):
        expand_layers([{"channel": 512, "kernel": 3}])
    with pytest.raises(NmtError, match="residual"):
        expand_layers([(32, 3, 2)])
    with pytest.raises(NmtError, match="at least one"):
        expand_layers([])
    with pytest.raises(NmtError, match="must be ints"):
        expand_layers([{"channels": "wide", "kernel": 3}])
    with pytest.raises(NmtError, match="expected"):
        expand_layers(["[(512, 3)] * 2"])


def test_config_errors():
    with pytest.raises(NmtError, match="vocab"):
        ConvS2SModel(ConvS2SConfig())
    with pytest.raises(NmtError, match="decoder_attention"):
        small_config(decoder_attention=[True]).validate()
    with pytest.raises(NmtError, match="tie_output"):
        small_config(tie_output=True).validate()


def test_shapes_and_max_positions():
    model = small_model()
    src, lens, tgt_in = batch()
    logits = model(src, lens, tgt_in)
    assert logits.shape == (3, 6, V)
    assert model.max_positions() == (1022, 1022)
    enc = model.encode(src, lens)
    assert enc.z.shape == enc.ze.shape == (3, 7, 8)
    assert torch.all(enc.z[src.eq(PAD_ID)] == 0)


def decode_incrementally(model, src, lens, tgt_in):
    enc = model.encode(src, lens)
    state, steps = model.init_state(enc), []
    for t in range(tgt_in.size(1)):
        log_probs, state = model.decode_step(tgt_in[:, t], state, enc)
        steps.append(log_probs)
    return torch.stack(steps, dim=1), state


@pytest.mark.parametrize("changes", [{}, {"tie_output": True, "decoder_out_embed_dim": 8},
                                     {"share_embeddings": True, "decoder_attention": True}])
def test_incremental_equals_teacher_forced(changes):
    model = small_model(**changes)
    src, lens, tgt_in = batch()
    with torch.no_grad():
        full = model.log_probs(model(src, lens, tgt_in))
        steps, state = decode_incrementally(model, src, lens, tgt_in)
    assert steps.dtype == torch.float32 and state.step == tgt_in.size(1)
    real = tgt_in.ne(PAD_ID)
    torch.testing.assert_close(steps[real], full[real], atol=1e-5, rtol=1e-5)
    assert [w.shape[1] for w in state.windows] == [2, 3, 0]  # k - 1 inputs per layer, no more


def test_causality():
    model = small_model()
    src, lens, tgt_in = batch()
    logits = model(src, lens, tgt_in)
    for t in range(tgt_in.size(1)):
        changed = tgt_in.clone()
        changed[:, t] = (changed[:, t] + 1 - 4) % (V - 4) + 4
        other = model(src, lens, changed)
        torch.testing.assert_close(other[:, :t], logits[:, :t], atol=0, rtol=0)
        assert not torch.allclose(other[:, t], logits[:, t])


def test_padding_invariance():
    model = small_model()
    src, lens, tgt_in = batch()
    logits = model(src, lens, tgt_in)
    # move the source padding to the right and add more of it: real outputs do not change
    right = torch.full((3, 10), PAD_ID)
    for row in range(3):
        real = src[row][src[row].ne(PAD_ID)]
        right[row, : real.numel()] = real
    enc_l, enc_r = model.encode(src, lens), model.encode(right, lens)
    for row in range(3):
        n = int(lens[row])
        torch.testing.assert_close(enc_r.z[row, :n], enc_l.z[row, -n:], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(enc_r.ze[row, :n], enc_l.ze[row, -n:], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model(right, lens, tgt_in), logits, atol=1e-5, rtol=1e-5)
    # each sentence alone, without any padding, gives the same real outputs as in the batch
    for row in range(3):
        n, m = int(lens[row]), int(tgt_in[row].ne(PAD_ID).sum())
        alone = model(src[row : row + 1, -n:], lens[row : row + 1], tgt_in[row : row + 1, :m])
        torch.testing.assert_close(alone[0], logits[row, :m], atol=1e-5, rtol=1e-5)


def test_scalings_of_the_encoder_output():
    model = small_model()
    src, lens, _ = batch()
    enc = model.encode(src, lens)
    e = model.encoder.embed_tokens(src) + model.encoder.embed_positions(src)
    torch.testing.assert_close(enc.ze, (enc.z + e) * math.sqrt(0.5))


def test_init_statistics():
    torch.manual_seed(0)
    p = 0.2
    cfg = ConvS2SConfig(src_vocab_size=2000, tgt_vocab_size=2000, encoder_embed_dim=64,
                        encoder_layers=[{"channels": 256, "kernel": 3},
                                        {"channels": 320, "kernel": 5}],
                        decoder_embed_dim=64, decoder_layers=[{"channels": 256, "kernel": 3}],
                        decoder_out_embed_dim=96, dropout=p)
    model = ConvS2SModel(cfg)
    enc, dec = model.encoder, model.decoder
    expected = {  # std of the effective weight: sqrt(4p/n) before a GLU, sqrt(p/n) otherwise,
        # p = 1 - dropout where the layer's input passes through dropout, else 1; n = fan-in
        enc.embed_tokens: 0.1, enc.embed_positions: 0.1, dec.embed_tokens: 0.1,
        enc.fc1: math.sqrt((1 - p) / 64), dec.fc1: math.sqrt((1 - p) / 64),
        enc.layers[0].conv.conv: math.sqrt(4 * (1 - p) / (3 * 256)),
        enc.layers[1].conv.conv: math.sqrt(4 * (1 - p) / (5 * 256)),
        dec.layers[0].conv.conv: math.sqrt(4 * (1 - p) / (3 * 256)),
        enc.layers[1].projection: math.sqrt(1 / 256),
        enc.fc2: math.sqrt(1 / 320), dec.fc2: math.sqrt(1 / 256),
        dec.layers[0].attention.in_projection: math.sqrt(1 / 256),
        dec.layers[0].attention.out_projection: math.sqrt(1 / 64),
        dec.fc3: math.sqrt((1 - p) / 96),
    }
    for module, std in expected.items():
        w = module.weight.detach()
        if isinstance(module, torch.nn.Embedding):
            assert torch.all(w[PAD_ID] == 0)
            w = torch.cat([w[:PAD_ID], w[PAD_ID + 1 :]])
        assert w.mean().abs().item() < 0.05 * std
        assert w.std().item() == pytest.approx(std, rel=0.03), module
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            assert torch.all(param == 0), name
    assert enc.layers[0].projection is None  # 256 -> 256 needs none


def test_tied_output_and_shared_embeddings():
    model = small_model(tie_output=True, decoder_out_embed_dim=8, share_embeddings=True,
                        decoder_attention=True)
    assert model.decoder.fc3.weight is model.decoder.embed_tokens.weight
    assert model.decoder.embed_tokens is model.encoder.embed_tokens


def grads(model, src, lens, tgt_in, weights):
    model.zero_grad()
    (model(src, lens, tgt_in) * weights).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_encoder_gradient_is_scaled_by_one_over_twice_the_attention_layers():
    model = small_model()
    assert model.encoder.grad_scale == 1 / (2 * 2)  # two of the three decoder layers attend
    src, lens, tgt_in = batch()
    weights = torch.randn(3, 6, V)
    scaled = grads(model, src, lens, tgt_in, weights)
    model.encoder.grad_scale = 1.0
    plain = grads(model, src, lens, tgt_in, weights)
    for name in scaled:
        if name.startswith("decoder."):
            torch.testing.assert_close(scaled[name], plain[name])
        elif "embed_" in name:  # the embeddings also reach the decoder through (z + e), unscaled
            assert not torch.allclose(scaled[name], 0.25 * plain[name])
        else:
            torch.testing.assert_close(scaled[name], 0.25 * plain[name], atol=1e-7, rtol=1e-4)


def test_dropout_only_in_training():
    model = small_model(dropout=0.5)
    src, lens, tgt_in = batch()
    torch.testing.assert_close(model(src, lens, tgt_in), model(src, lens, tgt_in))
    model.train()
    assert not torch.allclose(model(src, lens, tgt_in), model(src, lens, tgt_in))
