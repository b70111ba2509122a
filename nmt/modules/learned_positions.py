"""Learned position embeddings with fairseq's numbering (Gehring et al. 2017, §3.1)."""

from __future__ import annotations

from torch import Tensor, nn


def make_positions(tokens: Tensor, pad_id: int) -> Tensor:
    """Position ids from the pad mask: ``cumsum(tok != pad) · (tok != pad) + pad``.

    The first real token gets ``pad + 1`` (2 with fairseq's ids) whatever the padding side, and pads
    get ``pad``, so left- and right-padded batches see the same positions. (B, T) -> (B, T) long.
    """
    mask = tokens.ne(pad_id).long()
    return mask.cumsum(dim=1) * mask + pad_id


class LearnedPositionalEmbedding(nn.Embedding):
    """An embedding table indexed by position: ``p = (p_1, …, p_m)``, ``p_j ∈ R^f`` (paper §3.1).

    Row ``pad_id`` is the padding row (never trained), rows below it are unused, so a table of
    ``num_positions`` rows holds at most ``num_positions − pad_id − 1`` tokens.
    """

    def __init__(self, num_positions: int, embedding_dim: int, pad_id: int):
        super().__init__(num_positions, embedding_dim, padding_idx=pad_id)

    @property
    def max_positions(self) -> int:
        return self.num_embeddings - self.padding_idx - 1

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, T) token ids -> (B, T, D) embeddings of their positions."""
        return super().forward(make_positions(tokens, self.padding_idx))

    def at_step(self, step: int | Tensor, batch_size: int) -> Tensor:
        """The embedding of incremental step ``step`` (0-based; position ``pad + 1 + step``), one
        step for the whole batch or one per row (``step`` (B,) long, rows that joined a running
        search at different steps). Returns (B, 1, D)."""
        if isinstance(step, Tensor):
            if step.numel() and int(step.max()) >= self.max_positions:
                raise IndexError(f"step {int(step.max())} is past the {self.max_positions} "
                                 "learned positions")
            return self.weight[self.padding_idx + 1 + step].unsqueeze(1)  # (B, 1, D)
        if step >= self.max_positions:
            raise IndexError(f"step {step} is past the {self.max_positions} learned positions")
        return self.weight[self.padding_idx + 1 + step].expand(batch_size, 1, -1)
