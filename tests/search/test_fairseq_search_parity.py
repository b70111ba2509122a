"""Search parity with fairseq 0.12.2's SequenceGenerator on the tiny fconv fixtures.

The fixtures are read in place from ../shared/fixtures/fairseq_fconv_tiny (see its README.md,
"fairseq's search rules", search.safetensors and gen/): hypotheses must match exactly, sentence
scores within 1e-5 nats, positional scores within 1e-4.
"""

import math
from functools import cache
from pathlib import Path

import pytest
import torch

from nmt.data.dictionary import EOS_ID, PAD_ID, Dictionary
from nmt.models.convs2s import ConvS2SModel
from nmt.models.fairseq_import import load_fairseq_checkpoint
from nmt.search import SearchConfig, search

MODELS = ["tiny1", "tiny2"]
TOL_SCORE, TOL_POSITIONAL = 1e-5, 1e-4
BATCH = 64  # fairseq-generate's --batch-size for gen/


@cache
def fixture_model(path: Path) -> ConvS2SModel:
    config, state = load_fairseq_checkpoint(path / "checkpoint.pt")
    model = ConvS2SModel(config)
    model.load_state_dict(state)
    return model.eval()


def load_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path)


@pytest.mark.parametrize("beam", [5, 1])
@pytest.mark.parametrize("name", MODELS)
def test_fixture_batch_matches_fairseq(fairseq_fixtures, name, beam):
    """All ``beam`` finished hypotheses of the 16-sentence batch, in fairseq's order."""
    batch = load_safetensors(fairseq_fixtures / name / "forward.safetensors")
    ref = load_safetensors(fairseq_fixtures / name / "search.safetensors")
    result = search(fixture_model(fairseq_fixtures / name), batch["src_tokens"],
                    batch["src_lengths"], SearchConfig(beam=beam, nbest=beam))
    lengths, key = ref[f"beam{beam}.lengths"], f"beam{beam}"
    worst_score = worst_positional = 0.0
    for row, nbest in enumerate(result):
        assert len(nbest) == beam
        for rank, hyp in enumerate(nbest):
            n = int(lengths[row, rank])
            assert hyp.tokens.tolist() == ref[f"{key}.tokens"][row, rank, :n].tolist(), (row, rank)
            worst_score = max(worst_score, abs(hyp.score - float(ref[f"{key}.score"][row, rank])))
            diff = hyp.positional_scores - ref[f"{key}.positional_scores"][row, rank, :n]
            worst_positional = max(worst_positional, float(diff.abs().max()))
    assert worst_score <= TOL_SCORE
    assert worst_positional <= TOL_POSITIONAL


@pytest.mark.parametrize("beam, long_hyps", [(1, 1), (5, 2)])
def test_forced_eos_at_max_len(fairseq_fixtures, beam, long_hyps):
    """tiny2's row 0 (test line 7) reaches max_len = 200: 200 tokens + the forced eos."""
    batch = load_safetensors(fairseq_fixtures / "tiny2" / "forward.safetensors")
    result = search(fixture_model(fairseq_fixtures / "tiny2"), batch["src_tokens"][:1],
                    batch["src_lengths"][:1], SearchConfig(beam=beam, nbest=beam))
    assert sum(len(h.tokens) == 201 for h in result[0]) == long_hyps
    assert all(len(h.tokens) <= 201 for h in result[0])


def test_source_text_batches(fairseq_fixtures):
    """Batches of the 1,000 test sources by length, longest first, left-padded (as fairseq)."""
    assert len(fixture_batches(fairseq_fixtures)) == math.ceil(1000 / BATCH)


@cache
def fixture_batches(fixtures: Path) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
    vocab = Dictionary.load(fixtures / "dict.en.txt")
    lines = (fixtures / "test_2016_flickr.bpe.en").read_text(encoding="utf-8").splitlines()
    ids = [vocab.encode(line.split()) + [EOS_ID] for line in lines]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # stable
    batches = []
    for start in range(0, len(order), BATCH):
        rows = order[start:start + BATCH]
        width = max(len(ids[i]) for i in rows)
        src = torch.full((len(rows), width), PAD_ID)
        for r, i in enumerate(rows):
            src[r, width - len(ids[i]):] = torch.tensor(ids[i])
        batches.append((rows, src, torch.tensor([len(ids[i]) for i in rows])))
    return batches


def read_generate_tsv(path: Path) -> dict[int, tuple[float, str]]:
    """fairseq's H- lines: id -> (score in nats, hypothesis)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        out[int(fields[0])] = (float(fields[1]) * math.log(2), fields[2] if len(fields) > 2 else "")
    return out


@pytest.mark.slow  # about 1.5 s each on an idle machine
@pytest.mark.parametrize("beam", [5, 1])
@pytest.mark.parametrize("name", MODELS)
def test_test_set_matches_fairseq_generate(fairseq_fixtures, name, beam):
    """All 1,000 test sentences: the same hypotheses as fairseq-generate, scores within 1e-5."""
    model = fixture_model(fairseq_fixtures / name)
    target_vocab = Dictionary.load(fairseq_fixtures / "dict.de.txt")
    expected = read_generate_tsv(fairseq_fixtures / name / "gen" / f"beam{beam}.bpe.tsv")
    assert len(expected) == 1000
    mismatches, worst = [], 0.0
    for rows, src, lens in fixture_batches(fairseq_fixtures):
        for i, nbest in zip(rows, search(model, src, lens, SearchConfig(beam=beam))):
            hyp = nbest[0]
            text = " ".join(target_vocab.symbols[t] for t in hyp.tokens[:-1].tolist())
            score, ref_text = expected[i]
            if text != ref_text:
                mismatches.append(i)
            worst = max(worst, abs(hyp.score - score))
    assert mismatches == []
    assert worst <= TOL_SCORE
