"""QRNN and character-level QRNN encoder-decoders: contract properties, padding, presets."""

import dataclasses

import pytest
import torch

from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.errors import NmtError
from nmt.models import char_qrnn, qrnn
from nmt.models.qrnn import QRNNConfig, QRNNModel
from nmt.modules.step_order import reverse_real_steps

V = 40


pytestmark = pytest.mark.usefixtures("one_thread")


CONFIGS = {
    "bidirectional": {},
    "dense_ifo_wide_first": {"dense": True, "pooling": "ifo", "encoder_kernels": [4, 2, 2]},
    "char_paper_style": {"bidirectional": False, "reverse_source": True, "encoder_causal": False,
                         "encoder_kernels": [6, 2, 2]},
    "f_pooling_tied": {"pooling": "f", "tie_output": True, "embed_dim": 10,
                       "decoder_kernels": [1, 3, 2]},
    "attention_all_positions": {"decoder_attention": "all", "positions": True},
    "scaled_embeddings_tied": {"scale_embeddings": True, "tie_output": True, "embed_dim": 10},
    "attend_embeddings_reversed": {"attend_embeddings": True, "embed_dim": 10,
                                   "reverse_source": True},
    "attention_all_dense_f": {"decoder_attention": "all", "dense": True, "pooling": "f"},
}


def small_model(seed=0, **changes) -> QRNNModel:
    cfg = QRNNConfig(src_vocab_size=V, tgt_vocab_size=V, embed_dim=8, hidden_size=10, layers=3,
                     zoneout=0.2, dropout=0.1)
    torch.manual_seed(seed)
    model = QRNNModel(dataclasses.replace(cfg, **changes))
    with torch.no_grad():  # non-zero pad rows, so nothing passes by accident
        model.encoder.embed_tokens.weight[PAD_ID].normal_()
        model.decoder.embed_tokens.weight[PAD_ID].normal_()
    return model.eval()


def batch(seed=1):
    """Sources of lengths 7, 4, 2 right-padded with eos last; targets right-padded."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((3, 7), PAD_ID)
    for row, n in enumerate((7, 4, 2)):
        src[row, :n] = torch.randint(4, V, (n,), generator=g)
        src[row, n - 1] = EOS_ID
    tgt_in = torch.full((3, 6), PAD_ID)
    for row, n in enumerate((6, 3, 5)):
        tgt_in[row, :n] = torch.randint(4, V, (n,), generator=g)
        tgt_in[row, 0] = EOS_ID
    return src, src.ne(PAD_ID).sum(1), tgt_in


def decode_incrementally(model, src, lens, tgt_in):
    enc = model.encode(src, lens)
    state, steps = model.init_state(enc), []
    for t in range(tgt_in.size(1)):
        log_probs, state = model.decode_step(tgt_in[:, t], state, enc)
        steps.append(log_probs)
    return torch.stack(steps, dim=1), state


@pytest.mark.parametrize("name", list(CONFIGS))
def test_incremental_equals_teacher_forced(name):
    model = small_model(**CONFIGS[name])
    src, lens, tgt_in = batch()
    with torch.no_grad():
        full = model.log_probs(model(src, lens, tgt_in))
        steps, state = decode_incrementally(model, src, lens, tgt_in)
    assert full.shape == (3, 6, V) and steps.dtype == torch.float32
    real = tgt_in.ne(PAD_ID)
    torch.testing.assert_close(steps[real], full[real], atol=1e-5, rtol=1e-5)
    kernels = model.cfg.kernels("decoder")
    assert [w.shape[1] for w in state.windows] == [k - 1 for k in kernels]
    assert [c.shape for c in state.cells] == [(3, 10)] * 3 and state.step == 6
    assert state.attn.shape == (3, 7)
    torch.testing.assert_close(state.attn.sum(-1), torch.ones(3))
    assert torch.all(state.attn[src.eq(PAD_ID)] == 0)


def test_causality_of_the_decoder():
    model = small_model()
    src, lens, tgt_in = batch()
    logits = model(src, lens, tgt_in)
    for t in range(tgt_in.size(1)):
        changed = tgt_in.clone()
        changed[:, t] = (changed[:, t] + 1 - 4) % (V - 4) + 4
        other = model(src, lens, changed)
        torch.testing.assert_close(other[:, :t], logits[:, :t], atol=0, rtol=0)
        assert not torch.allclose(other[:, t], logits[:, t])


def moved(src, width, left):
    out = torch.full((src.size(0), width), PAD_ID)
    for row in range(src.size(0)):
        real = src[row][src[row].ne(PAD_ID)]
        if left:
            out[row, width - real.numel() :] = real
        else:
            out[row, : real.numel()] = real
    return out


@pytest.mark.parametrize("name", ["bidirectional", "dense_ifo_wide_first", "char_paper_style"])
def test_padding_invariance_of_the_encoder(name):
    model = small_model(**CONFIGS[name])
    src, lens, tgt_in = batch()
    enc = model.encode(src, lens)
    logits = model(src, lens, tgt_in)
    for left in (False, True):
        other_src = moved(src, 10, left)
        other = model.encode(other_src, lens)
        for row, n in enumerate(lens.tolist()):
            s = 10 - n if left else 0
            torch.testing.assert_close(other.out[row, s : s + n], enc.out[row, :n], atol=1e-6,
                                       rtol=1e-5)
            assert torch.all(other.out[row][other_src[row].eq(PAD_ID)] == 0)
        for got, want in zip(other.gate_biases, enc.gate_biases):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(model(other_src, lens, tgt_in), logits, atol=1e-5, rtol=1e-5)
    for row, n in enumerate(lens.tolist()):  # each sentence alone, unpadded
        m = int(tgt_in[row].ne(PAD_ID).sum())
        alone = model(src[row : row + 1, :n], lens[row : row + 1], tgt_in[row : row + 1, :m])
        torch.testing.assert_close(alone[0], logits[row, :m], atol=1e-5, rtol=1e-5)


def test_reversed_source_is_the_reversed_sentence_in_source_order():
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=torch.bool)
    order = reverse_real_steps(mask)
    assert order.tolist() == [[2, 1, 0, 3, 4], [0, 4, 3, 2, 1], [4, 3, 2, 1, 0]]
    assert torch.equal(order.gather(1, order), torch.arange(5).expand(3, 5))  # an involution
    rev = small_model(**CONFIGS["char_paper_style"])
    fwd = small_model(**{**CONFIGS["char_paper_style"], "reverse_source": False})
    src, lens, _ = batch()
    flipped = src.gather(1, reverse_real_steps(src.ne(PAD_ID)))
    a, b = rev.encode(src, lens), fwd.encode(flipped, lens)
    for row, n in enumerate(lens.tolist()):
        torch.testing.assert_close(a.out[row, :n], b.out[row, :n].flip(0))
    for got, want in zip(a.gate_biases, b.gate_biases):
        torch.testing.assert_close(got, want)


def test_decoder_layers_read_the_encoder_final_states():
    model = small_model()
    src, lens, tgt_in = batch()
    logits = model(src, lens, tgt_in)
    for n in range(3):
        with torch.no_grad():
            saved = model.decoder.encoder_maps[n].weight.clone()
            model.decoder.encoder_maps[n].weight.zero_()
            assert not torch.allclose(model(src, lens, tgt_in), logits)
            model.decoder.encoder_maps[n].weight.copy_(saved)


def test_dropout_and_zoneout_only_in_training():
    model = small_model(dropout=0.0, zoneout=0.5)
    src, lens, tgt_in = batch()
    torch.testing.assert_close(model(src, lens, tgt_in), model(src, lens, tgt_in))
    model.train()
    assert not torch.allclose(model(src, lens, tgt_in), model(src, lens, tgt_in))


def test_config_errors():
    with pytest.raises(NmtError, match="vocab"):
        QRNNModel(QRNNConfig())
    base = small_model().cfg
    for changes, message in [({"encoder_kernels": [6, 2]}, "encoder_kernels"),
                             ({"decoder_kernels": 0}, "decoder_kernels"),
                             ({"pooling": "ofi"}, "pooling"), ({"zoneout": 1.0}, "zoneout"),
                             ({"tie_output": True}, "tie_output"),
                             ({"decoder_attention": "first"}, "decoder_attention"),
                             ({"attend_embeddings": True}, "attend_embeddings"),
                             ({"share_embeddings": True, "tgt_vocab_size": V + 1}, "share")]:
        with pytest.raises(NmtError, match=message):
            dataclasses.replace(base, **changes).validate()


def test_every_parameter_learns_and_a_tiny_batch_overfits():
    model = small_model(dropout=0.0, zoneout=0.0, **CONFIGS["dense_ifo_wide_first"]).train()
    src, lens, tgt_in = batch()
    tgt_out = torch.cat([tgt_in[:, 1:], torch.full((3, 1), PAD_ID)], dim=1)
    tgt_out[tgt_out.eq(PAD_ID) & tgt_in.ne(PAD_ID)] = EOS_ID
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for step in range(40):
        opt.zero_grad()
        logits = model(src, lens, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1),
                                                 ignore_index=PAD_ID)
        loss.backward()
        if step == 0:
            silent = [n for n, p in model.named_parameters() if p.grad is None
                      or (p.grad == 0).all()]
            assert silent == []
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_char_preset_follows_the_paper():
    cfg = char_qrnn.char_qrnn_iwslt_de_en()
    assert (cfg.layers, cfg.hidden_size, cfg.kernels("encoder"), cfg.kernels("decoder")) == (
        4, 320, [6, 2, 2, 2], [2, 2, 2, 2])
    assert cfg.reverse_source and not cfg.bidirectional and not cfg.encoder_causal
    assert cfg.dropout == 0 and cfg.zoneout == 0
    assert char_qrnn.CharQRNNModel is QRNNModel


def test_patent_notice_in_the_docstrings():
    for module in (qrnn, char_qrnn):
        assert "US 11,080,595 B2" in " ".join(module.__doc__.split())


@pytest.mark.parametrize("preset", qrnn.PRESETS + char_qrnn.PRESETS, ids=lambda f: f.__name__)
def test_a_new_encoder_passes_signals_on(preset):
    """The defect behind issue 11: with U(−0.1, 0.1) embeddings and PyTorch's default Linear init,
    the first encoder layer's candidates z started at |z| ≈ 0.03, its outputs smaller still, so the
    attention scores stayed ~0 and the decoder learned to ignore the source. Every preset's encoder
    must start with candidates of a useful size."""
    cfg = dataclasses.replace(preset(), src_vocab_size=V, tgt_vocab_size=V, dropout=0.0)
    torch.manual_seed(0)
    model = QRNNModel(cfg).eval()
    src = torch.randint(4, V, (8, 30))
    layer = model.encoder.qrnn.layers[0][0]
    seen = {}
    original = layer.gates
    layer.gates = lambda pre: seen.setdefault("z", original(pre))
    with torch.no_grad():
        model.encode(src)
    z = seen["z"][0]
    assert z.abs().mean() > 0.2, f"{preset.__name__}: mean |z| {z.abs().mean():.3f} at initialisation"
