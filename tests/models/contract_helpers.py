"""Helpers shared by the model-family tests: random padded batches and step-by-step decoding."""

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
