"""The LSTM attention family on small random models: contract properties, padding, presets."""

import dataclasses

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.errors import NmtError
from nmt.models.lstm import LSTMConfig, LSTMModel, Staircase
from nmt.modules.luong_decoder import uniform_lstm
from tests.models.contract_helpers import random_batch, step_by_step

V = 30


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and lose a lot on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_config(**changes) -> LSTMConfig:
    cfg = LSTMConfig(
        src_vocab_size=V, tgt_vocab_size=V + 3, encoder_embed_dim=8, encoder_hidden_size=6,
        encoder_layers=2, encoder_bidirectional=True, decoder_embed_dim=7,
        decoder_hidden_size=12, decoder_layers=2, decoder_out_embed_dim=9, attention="general",
    )
    return dataclasses.replace(cfg, **changes)


def small_model(seed=0, **changes) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(small_config(**changes))
    with torch.no_grad():  # non-zero pad rows, so a pad that leaks shows
        model.encoder.embed_tokens.weight[PAD_ID].normal_()
        model.decoder.embed_tokens.weight[PAD_ID].normal_()
    return model.eval()


def batch(seed=1, lengths=(7, 4, 2), tgt_lengths=(6, 3, 5)):
    return random_batch(V, seed, lengths, tgt_lengths)


@pytest.mark.parametrize("changes", [
    {"attention": "dot", "input_feeding": True, "decoder_hidden_size": 12},
    {"attention": "dot", "input_feeding": False, "decoder_hidden_size": 12},
    {"attention": "general", "input_feeding": True},
    {"attention": "general", "input_feeding": False},
    {"attention": "concat", "attention_dim": 5},
    {"encoder_bidirectional": False, "encoder_layers": 3, "reverse_source": True},
    {"decoder_out_embed_dim": 7, "tie_output": True, "decoder_layers": 1},
])
def test_incremental_equals_teacher_forced(changes):
    model = small_model(**changes)
    src, src_lens, tgt_in = batch()
    with torch.no_grad():
        full = model.log_probs(model(src, src_lens, tgt_in))  # (B, T, V)
        steps, state = step_by_step(model, src, src_lens, tgt_in)
    assert full.shape == (3, 6, V + 3) and steps.dtype == torch.float32
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=0)
    assert state.attn.shape == (3, 7)
    assert state.attn[1, 4:].eq(0).all() and state.attn[2, 2:].eq(0).all()


def test_padding_invariance():
    """Extra pad columns, and a row's batch-mates, change nothing at real positions."""
    model = small_model()
    src, src_lens, tgt_in = batch()
    wider = torch.cat([src, torch.full((3, 4), PAD_ID)], dim=1)
    with torch.no_grad():
        base = model(src, src_lens, tgt_in)
        torch.testing.assert_close(model(wider, src_lens, tgt_in), base, atol=1e-6, rtol=0)
        alone = model(src[2:, :2], src_lens[2:], tgt_in[2:])
        torch.testing.assert_close(alone, base[2:], atol=1e-6, rtol=0)
        enc = model.encode(wider, src_lens)
    assert enc.pad_mask.sum().item() == 3 * 11 - 13


def test_left_padding_equals_right_padding():
    model = small_model(reverse_source=True)
    src, src_lens, tgt_in = batch()
    left = torch.full_like(src, PAD_ID)
    for row, n in enumerate(src_lens.tolist()):
        left[row, src.size(1) - n :] = src[row, :n]
    with torch.no_grad():
        torch.testing.assert_close(model(left, src_lens, tgt_in), model(src, src_lens, tgt_in),
                                   atol=1e-6, rtol=0)
        _, right_state = step_by_step(model, src, src_lens, tgt_in)
        _, left_state = step_by_step(model, left, src_lens, tgt_in)
    for row, n in enumerate(src_lens.tolist()):  # attention stays at the caller's positions
        torch.testing.assert_close(left_state.attn[row, -n:], right_state.attn[row, :n])


def test_staircase_equals_packing():
    torch.manual_seed(0)
    rnn = uniform_lstm(5, 4, 2)
    lens = [6, 6, 4, 3, 3, 1]
    x = torch.randn(len(lens), 6, 5)
    out, h, c = Staircase(lens)(rnn, x)
    packed, (h_ref, c_ref) = rnn(pack_padded_sequence(x, torch.tensor(lens), batch_first=True))
    out_ref, _ = pad_packed_sequence(packed, batch_first=True)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)


def test_bidirectional_encoder_equals_packed_nn_lstm():
    """The per-direction layers compute what one packed bidirectional nn.LSTM computes."""
    model = small_model(encoder_dropout_out=0.0)
    enc = model.encoder
    ref = torch.nn.LSTM(8, 6, 2, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for i, (fwd, bwd) in enumerate(zip(enc.forward_lstms, enc.backward_lstms)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{i}").copy_(getattr(fwd, f"{name}_l0"))
                getattr(ref, f"{name}_l{i}_reverse").copy_(getattr(bwd, f"{name}_l0"))
        src, src_lens, _ = batch(lengths=(3, 7, 1, 4))
        out, h, c = enc(src, src_lens)
        packed = pack_padded_sequence(enc.embed_tokens(src), src_lens, batch_first=True,
                                      enforce_sorted=False)
        out_ref, (h_ref, c_ref) = ref(packed)
        out_ref, _ = pad_packed_sequence(out_ref, batch_first=True)
    torch.testing.assert_close(out, out_ref)
    by_layer = lambda s: s.view(2, 2, 4, 6).permute(2, 0, 1, 3).reshape(4, 2, 12)  # noqa: E731
    torch.testing.assert_close(h, by_layer(h_ref))
    torch.testing.assert_close(c, by_layer(c_ref))


def test_reverse_source_reads_the_sentence_backwards():
    model = small_model(encoder_bidirectional=False, reverse_source=True)
    plain = small_model(encoder_bidirectional=False)
    src, src_lens, _ = batch()
    backwards = src.clone()
    for row, n in enumerate(src_lens.tolist()):
        backwards[row, :n] = src[row, :n].flip(0)
    with torch.no_grad():
        out, h, _ = model.encoder(src, src_lens)
        ref, h_ref, _ = plain.encoder(backwards, src_lens)
    torch.testing.assert_close(h, h_ref)
    for row, n in enumerate(src_lens.tolist()):
        torch.testing.assert_close(out[row, :n], ref[row, :n].flip(0))


def test_config_errors_and_sharing():
    with pytest.raises(NmtError, match="vocab"):
        LSTMModel(LSTMConfig())
    with pytest.raises(NmtError, match="'dot' needs"):
        LSTMModel(small_config(attention="dot", decoder_hidden_size=10))
    with pytest.raises(NmtError, match="attention must be"):
        LSTMModel(small_config(attention="bahdanau"))
    with pytest.raises(NmtError, match="tie_output"):
        LSTMModel(small_config(tie_output=True))
    with pytest.raises(NmtError, match="dropout"):
        LSTMModel(small_config(decoder_dropout_out=1.0))
    with pytest.raises(NmtError, match="share_embeddings"):
        LSTMModel(small_config(share_embeddings=True))
    torch.manual_seed(0)
    model = LSTMModel(small_config(tgt_vocab_size=V, decoder_embed_dim=8, decoder_out_embed_dim=8,
                                   tie_output=True, share_embeddings=True))
    assert model.decoder.fc_out.weight is model.encoder.embed_tokens.weight
    assert model.decoder.embed_tokens is model.encoder.embed_tokens
    assert model.max_positions() == (1024, 1024)


def test_train_mode_bf16_autocast_and_gradients():
    model = small_model(encoder_dropout_in=0.2, decoder_dropout_out=0.3).train()
    src, src_lens, tgt_in = batch()
    logits = model(src, src_lens, tgt_in)
    logits.logsumexp(-1).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["encoder.backward_lstms.1.weight_hh_l0"].abs().sum() > 0
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        lp, _ = step_by_step(model, src, src_lens, tgt_in)
        full = model.log_probs(model(src, src_lens, tgt_in))
    assert lp.dtype == torch.float32 and torch.isfinite(lp).all()
    torch.testing.assert_close(lp, full, atol=0.1, rtol=0)


def test_a_tiny_batch_overfits():
    torch.manual_seed(0)
    cfg = small_config(encoder_embed_dim=16, encoder_hidden_size=16, encoder_layers=1,
                       decoder_embed_dim=16, decoder_hidden_size=32, decoder_layers=1,
                       decoder_out_embed_dim=16, encoder_dropout_in=0.0, encoder_dropout_out=0.0,
                       decoder_dropout_in=0.0, decoder_dropout_out=0.0)
    model = LSTMModel(cfg).train()
    src, src_lens, tgt_in = batch(lengths=(7, 5, 4, 2), tgt_lengths=(6, 5, 3, 4))
    tgt_out = torch.full_like(tgt_in, PAD_ID)
    for row in range(4):
        n = int(tgt_in[row].ne(PAD_ID).sum())
        tgt_out[row, : n - 1], tgt_out[row, n - 1] = tgt_in[row, 1:n], EOS_ID
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(src, src_lens, tgt_in).transpose(1, 2),
                                                 tgt_out, ignore_index=PAD_ID)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.02
