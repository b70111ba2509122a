"""The model contract (nmt/models/base.py), tested once for every family in the registry.

Each family is represented by its smallest-named preset (``*_small``, else its first) at a tiny
vocabulary; a new family registered with presets gets these tests without writing them. The
families' own test modules keep what is particular to them (configurations, causality, papers'
details).
"""

import dataclasses

import pytest
import torch

from nmt import registry
from nmt.data.dictionary import EOS_ID, PAD_ID
from nmt.search import SearchConfig, beam_search, greedy_search
from tests.models.contract_helpers import random_batch, step_by_step

V = 23

pytestmark = pytest.mark.usefixtures("one_thread")


def representative_presets() -> dict[str, str]:
    """family -> the name of the preset that stands for it."""
    chosen: dict[str, str] = {}
    for name in sorted(registry.ARCHS):
        family = registry.family_of(registry.ARCHS[name]())
        if family not in chosen or (name.endswith("_small") and not chosen[family].endswith("_small")):
            chosen[family] = name
    return chosen


PRESETS = representative_presets()


def test_every_family_is_represented():
    assert set(PRESETS) == set(registry.FAMILIES)


def tiny_model(family: str, seed: int = 0):
    cfg = dataclasses.replace(registry.preset(PRESETS[family]), src_vocab_size=V,
                              tgt_vocab_size=V)
    torch.manual_seed(seed)
    model = registry.build_model(cfg).eval()
    with torch.no_grad():  # non-zero pad rows, so a pad that leaks into a real position shows
        for name, p in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                p[PAD_ID].normal_()
    return model


@pytest.fixture(params=sorted(registry.FAMILIES))
def model(request):
    return tiny_model(request.param)


def test_step_by_step_equals_the_full_forward(model):
    src, lens, tgt_in = random_batch(V)
    with torch.no_grad():
        full = model.log_probs(model(src, lens, tgt_in))
        steps, _ = step_by_step(model, src, lens, tgt_in)
    real = tgt_in.ne(PAD_ID)
    assert full.dtype == steps.dtype == torch.float32
    torch.testing.assert_close(steps[real], full[real], atol=1e-5, rtol=1e-5)


def test_padding_on_either_side_changes_nothing(model):
    """A sentence scores the same alone, right-padded and left-padded next to a longer one."""
    g = torch.Generator().manual_seed(5)
    sent = torch.cat([torch.randint(4, V, (4,), generator=g), torch.tensor([EOS_ID])])
    other = torch.cat([torch.randint(4, V, (10,), generator=g), torch.tensor([EOS_ID])])
    tgt_in = torch.tensor([[EOS_ID, 7, 8, 9]] * 2)
    with torch.no_grad():
        alone = model.log_probs(model(sent.unsqueeze(0), torch.tensor([5]), tgt_in[:1]))
        for left in (False, True):
            src = torch.full((2, 11), PAD_ID)
            src[1] = other
            if left:
                src[0, 6:] = sent
            else:
                src[0, :5] = sent
            got = model.log_probs(model(src, torch.tensor([5, 11]), tgt_in))[:1]
            torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-5)


def test_reordering_returns_new_objects_that_decode_the_chosen_rows(model):
    src, lens, tgt_in = random_batch(V)
    index = torch.tensor([2, 2, 0])
    with torch.no_grad():
        enc = model.encode(src, lens)
        _, state = step_by_step(model, src, lens, tgt_in[:, :3])
        before = [t.clone() for t in tensors_of(state) + tensors_of(enc)]
        new_state, new_enc = model.reorder_state(state, index), model.reorder_encoder_out(enc, index)
        assert new_state is not state and new_enc is not enc
        old = tensors_of(state) + tensors_of(enc)
        assert all(torch.equal(o, b) for o, b in zip(old, before))  # the old objects untouched
        for o, n in zip(old, tensors_of(new_state) + tensors_of(new_enc), strict=True):
            assert torch.equal(n, o[index])  # every tensor is batch-first and selected by rows
        lp, _ = model.decode_step(tgt_in[index, 3], new_state, new_enc)
        full = model.log_probs(model(src[index], lens[index], tgt_in[index]))[:, 3]
    torch.testing.assert_close(lp, full, atol=1e-5, rtol=1e-5)


def tensors_of(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in tensors_of(item)]
    if dataclasses.is_dataclass(obj):
        return [t for f in dataclasses.fields(obj) for t in tensors_of(getattr(obj, f.name))]
    return []


def test_a_step_leaves_its_inputs_alone(model):
    src, lens, tgt_in = random_batch(V)
    with torch.no_grad():
        enc = model.encode(src, lens)
        _, state = step_by_step(model, src, lens, tgt_in[:, :2])
        before = [t.clone() for t in tensors_of(state) + tensors_of(enc)]
        prev = tgt_in[:, 2].clone()
        model.decode_step(prev, state, enc)
    after = tensors_of(state) + tensors_of(enc)
    assert all(torch.equal(a, b) for a, b in zip(after, before)) and torch.equal(prev, tgt_in[:, 2])


def test_beam_one_is_greedy(model):
    src, lens, _ = random_batch(V)
    cfg = SearchConfig(beam=1, max_len_a=0, max_len_b=8)
    with torch.no_grad():
        beam = beam_search(model, src, lens, cfg)
        greedy = greedy_search(model, src, lens, cfg)
    for b, g in zip(beam, greedy):
        assert torch.equal(b[0].tokens, g[0].tokens)
        assert b[0].score == pytest.approx(g[0].score, abs=1e-4)


@pytest.mark.parametrize("name", sorted(registry.ARCHS))
def test_every_preset_builds_and_takes_a_step(name):
    """Presets too big for a unit test's backward pass (Luong's 4 x 1000, WMT ConvS2S) only run
    forward; every preset decodes step by step exactly as it scores the batch at once."""
    from tests.models.contract_helpers import check_preset

    assert len(registry.ARCHS[name].__doc__.strip().splitlines()[0]) < 130  # --list-archs lines
    family = registry.family_of(registry.ARCHS[name]())
    check_preset(registry.FAMILIES[family][1], registry.ARCHS[name], backward_params=20_000_000)
