"""Token-bucket batching over a real binarized Multi30k sample."""

import numpy as np
import pytest
import torch

from nmt.data.batching import BatchIterator, make_batches
from nmt.data.dataset import ParallelDataset
from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.data.preprocess import PreprocessOptions, preprocess
from nmt.errors import NmtError


@pytest.fixture(scope="module")
def dataset(multi30k_text, tmp_path_factory):
    dest = tmp_path_factory.mktemp("batching") / "bin"
    preprocess(
        PreprocessOptions(source_lang="en", target_lang="de", destdir=str(dest),
                          trainpref=[str(multi30k_text / "train")], bpe_merges=2000, workers=1),
        log=lambda *_: None,
    )
    return ParallelDataset(dest, "train")


@pytest.mark.parametrize("max_tokens,max_sentences", [(500, None), (1000, 16), (4000, None)])
def test_batches_respect_budget_and_cover_every_sentence_once(dataset, max_tokens, max_sentences):
    it = BatchIterator(dataset, max_tokens, max_sentences, seed=3)
    batches = it.epoch_batches(1)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(dataset)))
    for b in batches:
        longest = max(dataset.src_sizes[b].max(), dataset.tgt_sizes[b].max())
        assert longest * len(b) <= max_tokens
        if max_sentences:
            assert len(b) <= max_sentences
        batch = dataset.collate(b)
        assert batch.src.numel() <= max_tokens and batch.tgt_in.numel() <= max_tokens


def test_epochs_reshuffle_reproducibly(dataset):
    it = BatchIterator(dataset, 1000, seed=7)
    e1, e1_again, e2 = it.epoch_batches(1), it.epoch_batches(1), it.epoch_batches(2)
    assert all(np.array_equal(a, b) for a, b in zip(e1, e1_again))
    assert not all(np.array_equal(a, b) for a, b in zip(e1, e2))


def test_shards_partition_the_epoch(dataset):
    shards = [BatchIterator(dataset, 1000, seed=1, rank=r, world_size=3).epoch_batches(4) for r in range(3)]
    ids = np.concatenate([np.concatenate(s) for s in shards])
    assert sorted(ids.tolist()) == list(range(len(dataset)))


def test_collate_layout(dataset):
    batch = dataset.collate([5, 0, 9])
    for row, i in enumerate([5, 0, 9]):
        x, y = dataset.src[i], dataset.tgt[i]
        n, m = len(x), len(y)
        assert batch.src[row, :n].tolist() == x.tolist() and batch.src[row, n] == EOS_ID
        assert (batch.src[row, n + 1:] == PAD_ID).all() and batch.src_lens[row] == n + 1
        assert batch.tgt_in[row, 0] == EOS_ID and batch.tgt_in[row, 1:m + 1].tolist() == y.tolist()
        assert batch.tgt_out[row, :m].tolist() == y.tolist() and batch.tgt_out[row, m] == EOS_ID
    assert batch.ntokens == int((batch.tgt_out != PAD_ID).sum())
    assert batch.src.dtype == torch.long


def test_oversized_sentence_is_a_clear_error():
    with pytest.raises(NmtError, match="--max-tokens"):
        make_batches(np.array([3, 50]), np.array([4, 4]), max_tokens=20)
