"""Helpers shared by the model-family tests: random padded batches, step-by-step decoding and
the checks every preset must pass."""

import dataclasses

import torch

from nmt.data.dictionary import EOS_ID, PAD_ID


def random_batch(vocab: int, seed=1, lengths=(7, 4, 2), tgt_lengths=(6, 3, 5)):
    """Right-padded sources with eos last and targets starting with eos: (src, src_lens, tgt_in)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((len(lengths), max(lengths)), PAD_ID)
    for row, n in enumerate(lengths):
        src[row, :n] = torch.randint(4, vocab, (n,), generator=g)
        src[row, n - 1] = EOS_ID
    tgt_in = torch.full((len(tgt_lengths), max(tgt_lengths)), PAD_ID)
    for row, n in enumerate(tgt_lengths):
        tgt_in[row, :n] = torch.randint(4, vocab, (n,), generator=g)
        tgt_in[row, 0] = EOS_ID
    return src, torch.tensor(lengths), tgt_in


def step_by_step(model, src, src_lens, tgt_in):
    """Feed ``tgt_in`` one token at a time through the contract: (log-probs (B, T, V), last state)."""
    enc = model.encode(src, src_lens)
    state, out = model.init_state(enc), []
    for t in range(tgt_in.size(1)):
        lp, state = model.decode_step(tgt_in[:, t], state, enc)
        out.append(lp)
    return torch.stack(out, dim=1), state


def check_preset(model_class, preset, vocab: int = 13, backward_params: int | None = None) -> None:
    """A preset has a one-line docstring, validates, trains a step on a tiny batch (finite logits
    of the right shape; backward only up to ``backward_params`` parameters when given, for presets
    too big to differentiate in a unit test) and decodes step by step exactly as it scores the
    batch at once."""
    doc = (preset.__doc__ or "").strip().splitlines()
    assert doc and doc[0]
    assert preset().src_vocab_size == 0  # the trainer fills the vocabulary sizes in
    cfg = dataclasses.replace(preset(), src_vocab_size=vocab, tgt_vocab_size=vocab)
    cfg.validate()
    torch.manual_seed(0)
    model = model_class(cfg).train()
    src, lens, tgt_in = random_batch(vocab, lengths=(5, 3), tgt_lengths=(4, 2))
    logits = model(src, lens, tgt_in)
    assert logits.shape == (2, 4, vocab) and torch.isfinite(logits).all()
    if backward_params is None or sum(p.numel() for p in model.parameters()) <= backward_params:
        logits.logsumexp(-1).mean().backward()
    model.eval()
    with torch.no_grad():
        lp, _ = step_by_step(model, src, lens, tgt_in)
        full = model.log_probs(model(src, lens, tgt_in))
    real = tgt_in.ne(PAD_ID)
    assert torch.isfinite(lp[real]).all()
    torch.testing.assert_close(lp[real], full[real], atol=1e-5, rtol=1e-5)
