import pytest
import torch

from nmt.modules.learned_positions import LearnedPositionalEmbedding, make_positions

PAD = 1


def test_positions_start_at_pad_plus_one_on_either_side():
    left = torch.tensor([[1, 1, 7, 8, 2], [5, 6, 7, 8, 2]])
    right = torch.tensor([[7, 8, 2, 1, 1], [5, 6, 7, 8, 2]])
    assert make_positions(left, PAD).tolist() == [[1, 1, 2, 3, 4], [2, 3, 4, 5, 6]]
    assert make_positions(right, PAD).tolist() == [[2, 3, 4, 1, 1], [2, 3, 4, 5, 6]]


def test_embedding_lookup_and_incremental_steps():
    emb = LearnedPositionalEmbedding(10, 3, PAD)
    assert emb.max_positions == 8
    tokens = torch.tensor([[4, 5, 6, 1]])
    out = emb(tokens)
    for t in range(3):
        torch.testing.assert_close(emb.at_step(t, 2), emb.weight[t + 2].expand(2, 1, 3))
        torch.testing.assert_close(out[0, t], emb.weight[t + 2])
    torch.testing.assert_close(out[0, 3], emb.weight[PAD])
    with pytest.raises(IndexError):
        emb.at_step(8, 1)
