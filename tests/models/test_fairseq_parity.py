"""Import of fairseq `fconv` checkpoints and numerical parity with fairseq 0.12.2 on its fixtures.

The fixtures are read in place from ../shared/fixtures/fairseq_fconv_tiny (see its README.md).
"""

import argparse
import copy
import json
from functools import cache
from pathlib import Path

import pytest
import torch

from nmt.data.dictionary import PAD_ID
from nmt.errors import NmtError
from nmt.models.convs2s import ConvS2SModel, LayerSpec
from nmt.models.fairseq_import import (
    convs2s_from_fairseq_state,
    load_fairseq_checkpoint,
    parse_fairseq_spec,
)
from nmt.modules.learned_positions import make_positions
from nmt.modules.weight_norm import fold_weight_norm

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "fairseq_fconv_tiny"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"fairseq reference fixtures not found at {FIXTURES}"
)
MODELS = ["tiny1", "tiny2"]
TOL_ENC = 1e-5  # encoder outputs, activations, attention (README's suggested tolerances)
TOL_OUT = 1e-4  # logits and log-probs


@cache
def fixture_model(name: str) -> ConvS2SModel:
    config, state = load_fairseq_checkpoint(FIXTURES / name / "checkpoint.pt")
    model = ConvS2SModel(config)
    model.load_state_dict(state)  # strict: every weight has its place, nothing is left over
    return model.eval()


@cache
def forward_fixture(name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(FIXTURES / name / "forward.safetensors")


@cache
def run_with_activations(name: str, reference_convs: bool = False):
    """Our teacher-forced pass on the fixture batch, with fairseq's hooked activations (the
    convolutions' outputs before the GLU only with ``reference_convs``: the pass then runs each
    GLU convolution as ``forward_reference``, a Conv1d, instead of one product over its taps)."""
    model, f = fixture_model(name), forward_fixture(name)
    acts, hooks = {}, []

    def keep(key, transpose=False):
        def hook(module, inputs, output):
            if isinstance(output, tuple):
                acts[key + ".attn_scores"] = output[1]
                output = output[0]
            acts[key] = output.transpose(1, 2) if transpose else output

        return hook

    for side in ("encoder", "decoder"):
        part = getattr(model, side)
        hooks += [part.fc1.register_forward_hook(keep(f"act.{side}.fc1.out")),
                  part.fc2.register_forward_hook(keep(f"act.{side}.fc2.out"))]
        for i, layer in enumerate(part.layers):
            if reference_convs:
                layer.conv.forward = layer.conv.forward_reference
            hooks.append(layer.conv.conv.register_forward_hook(
                keep(f"act.{side}.convolutions.{i}.out", transpose=True)))
            if layer.attention is not None:
                hooks.append(layer.attention.register_forward_hook(keep(f"act.{side}.attention.{i}.out")))
    try:
        with torch.no_grad():
            enc = model.encode(f["src_tokens"], f["src_lengths"])
            logits, attn = model.decoder(f["prev_output_tokens"], enc)
    finally:
        for h in hooks:
            h.remove()
        for layer in [*model.encoder.layers, *model.decoder.layers]:
            layer.conv.__dict__.pop("forward", None)
    return enc, logits, attn, acts


def max_err(ours, theirs, mask=None):
    diff = (ours.float() - theirs.float()).abs()
    return (diff[mask] if mask is not None else diff).max().item()


# ---------------------------------------------------------------- spec parsing (no fixtures needed)

def test_parse_fairseq_specs():
    assert parse_fairseq_spec("[(32, 3)] * 2") == [(32, 3), (32, 3)]
    wmt = parse_fairseq_spec("[(512, 3)] * 9 + [(1024, 3)] * 4 + [(2048, 1)] * 2")
    assert len(wmt) == 15 and wmt[8] == (512, 3) and wmt[9] == (1024, 3) and wmt[-1] == (2048, 1)
    assert parse_fairseq_spec(" 2 * [(8, 3, 0)] ") == [(8, 3, 0)] * 2
    assert parse_fairseq_spec("[(32, 3), (48, 5), (48, 2)]") == [(32, 3), (48, 5), (48, 2)]
    assert parse_fairseq_spec("True") is True
    assert parse_fairseq_spec("[True, False] * 2") == [True, False, True, False]


@pytest.mark.parametrize("bad", ["__import__('os').system('true')", "[(1, 1)] * n",
                                 "[(1, 1)] * 10 ** 9", "[(1, 1)] * 100000", "[(1, 1)] +",
                                 "[(1, 1)] * 2.0", "3 + 4"])
def test_parse_rejects_anything_but_literal_lists(bad):
    with pytest.raises(NmtError):
        parse_fairseq_spec(bad)


def test_import_synthetic_state_with_defaults():
    """A fairseq-shaped state dict from our own model: arch strings parsed, unknown keys dropped."""
    arch = {"encoder_embed_dim": 8, "encoder_layers": "[(12, 3)] * 2 + [(16, 2)]",
            "decoder_embed_dim": 8, "decoder_layers": "[(12, 3), (16, 1)]",
            "decoder_out_embed_dim": 10, "decoder_attention": "[True, False]"}
    state = {"encoder.embed_tokens.weight": torch.zeros(30, 8),
             "decoder.embed_tokens.weight": torch.zeros(31, 8),
             "encoder.embed_positions.weight": torch.zeros(64, 8),
             "decoder.embed_positions.weight": torch.zeros(70, 8)}
    config, _ = convs2s_from_fairseq_state(state, arch)
    assert (config.src_vocab_size, config.tgt_vocab_size) == (30, 31)
    assert config.encoder_specs() == [LayerSpec(12, 3), LayerSpec(12, 3), LayerSpec(16, 2)]
    assert config.decoder_attention == [True, False]
    assert config.dropout == 0.1 and not config.tie_output  # fairseq's fconv defaults
    assert ConvS2SModel(config).max_positions() == (62, 68)


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(NmtError, match="not found"):
        load_fairseq_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NmtError, match="not a loadable"):
        load_fairseq_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": {"decoder.fc3.bias": torch.zeros(3)}, "args": argparse.Namespace()},
               tmp_path / "other.pt")
    with pytest.raises(NmtError, match="missing encoder.embed_tokens.weight"):
        load_fairseq_checkpoint(tmp_path / "other.pt")


# ---------------------------------------------------------------------------- parity on fixtures

@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_config_read_back(name):
    model = fixture_model(name)
    expected = json.loads((FIXTURES / name / "config.json").read_text())
    cfg = model.cfg
    for side in ("encoder", "decoder"):
        specs = getattr(cfg, f"{side}_specs")()
        assert [list(s) for s in specs] == expected[f"{side}_convolutions"]
    assert cfg.attention_layers() == expected["decoder_attention_per_layer"]
    assert cfg.tie_output == expected["share_input_output_embed"]
    n_params = sum(p.numel() for p in model.parameters())  # shared tables counted once
    assert n_params == expected["num_parameters"]
    if cfg.tie_output:
        assert model.decoder.fc3.weight is model.decoder.embed_tokens.weight


@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_positions(name):
    f = forward_fixture(name)
    assert torch.equal(make_positions(f["src_tokens"], PAD_ID), f["encoder_positions"])
    assert torch.equal(make_positions(f["prev_output_tokens"], PAD_ID), f["decoder_positions"])


@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_encoder_outputs_and_attention(name):
    f = forward_fixture(name)
    enc, _, attn, _ = run_with_activations(name)
    assert torch.equal(enc.pad_mask, f["encoder_padding_mask"])
    assert max_err(enc.z, f["encoder_out_z"]) < TOL_ENC
    assert max_err(enc.ze, f["encoder_out_ze"]) < TOL_ENC
    assert max_err(attn, f["decoder_attn_avg"]) < TOL_ENC


@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_layer_activations(name):
    f = forward_fixture(name)
    _, _, _, acts = run_with_activations(name, reference_convs=True)
    rows = f["act_rows"]
    expected_keys = {k for k in f if k.startswith("act.")}
    assert expected_keys == set(acts)
    for key in sorted(expected_keys):
        assert max_err(acts[key][rows], f[key]) < TOL_ENC, key


@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_logits_and_log_probs(name):
    f = forward_fixture(name)
    model = fixture_model(name)
    _, logits, _, _ = run_with_activations(name)
    lprobs = model.log_probs(logits)
    real = f["target"].ne(PAD_ID)
    sel = f["vocab_sel"]
    assert max_err(logits[..., sel], f["logits_sel"], real) < TOL_OUT
    assert max_err(lprobs[..., sel], f["lprobs_sel"], real) < TOL_OUT
    assert max_err(torch.logsumexp(logits, -1), f["logits_logsumexp"], real) < TOL_OUT
    assert max_err(logits.max(-1).values, f["logits_max"], real) < TOL_OUT
    target_lprobs = lprobs.gather(-1, f["target"].unsqueeze(-1)).squeeze(-1)
    assert max_err(target_lprobs, f["target_lprobs"], real) < TOL_OUT
    row = int(f["full_row_index"])
    assert max_err(logits[row][real[row]], f["logits_full_row"]) < TOL_OUT
    assert torch.equal(logits.argmax(-1)[real], f["logits_argmax"][real])
    topk = lprobs.topk(8, dim=-1)
    assert max_err(topk.values, f["topk_lprobs"], real) < TOL_OUT
    nll = -target_lprobs[real].sum().item()
    checks = json.loads((FIXTURES / name / "checks.json").read_text())
    assert nll == pytest.approx(checks["sum_nll_nats_nonpad"], abs=1e-2)


@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_incremental_decoding_matches_fixture(name):
    f = forward_fixture(name)
    model = fixture_model(name)
    prev, real = f["prev_output_tokens"], f["target"].ne(PAD_ID)
    with torch.no_grad():
        enc = model.encode(f["src_tokens"], f["src_lengths"])
        state, steps = model.init_state(enc), []
        for t in range(prev.size(1)):
            log_probs, state = model.decode_step(prev[:, t], state, enc)
            steps.append(log_probs)
    lprobs = torch.stack(steps, dim=1)
    target_lprobs = lprobs.gather(-1, f["target"].unsqueeze(-1)).squeeze(-1)
    assert max_err(target_lprobs, f["target_lprobs"], real) < TOL_OUT
    assert max_err(lprobs[..., f["vocab_sel"]], f["lprobs_sel"], real) < TOL_OUT


@needs_fixtures
@pytest.mark.parametrize("name", MODELS)
def test_right_padded_source_gives_the_same_outputs(name):
    f = forward_fixture(name)
    model = fixture_model(name)
    src = f["src_tokens"]
    right = torch.full_like(src, PAD_ID)
    for row in range(src.size(0)):
        real = src[row][src[row].ne(PAD_ID)]
        right[row, : real.numel()] = real
    with torch.no_grad():
        logits = model(right, f["src_lengths"], f["prev_output_tokens"])
    real = f["target"].ne(PAD_ID)
    assert max_err(logits[..., f["vocab_sel"]], f["logits_sel"], real) < TOL_OUT


@needs_fixtures
def test_folded_weight_norm_gives_the_same_outputs():
    f = forward_fixture("tiny2")
    model = copy.deepcopy(fixture_model("tiny2"))
    fold_weight_norm(model)
    assert not any("parametrizations" in k for k in model.state_dict())
    with torch.no_grad():
        logits = model(f["src_tokens"], f["src_lengths"], f["prev_output_tokens"])
    real = f["target"].ne(PAD_ID)
    assert max_err(logits[..., f["vocab_sel"]], f["logits_sel"], real) < TOL_OUT


@needs_fixtures
def test_old_decoder_weight_norm_layout_is_folded():
    """fairseq checkpoints with decoder.version < 2 normalise decoder convs per kernel tap."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(FIXTURES / "tiny1" / "checkpoint.pt", map_location="cpu",
                          weights_only=True)
    state = dict(ckpt["model"])
    state["decoder.version"] = torch.tensor([1.0])
    for i in range(2):
        prefix = f"decoder.convolutions.{i}."
        g, v = state.pop(prefix + "weight_g"), state.pop(prefix + "weight_v")
        w = g * v / v.norm(dim=(0, 1), keepdim=True)  # the effective (K, in, out) weight
        state[prefix + "weight_v"] = w * 3.0
        state[prefix + "weight_g"] = w.norm(dim=(1, 2), keepdim=True)  # (K, 1, 1)
    config, ours = convs2s_from_fairseq_state(state, ckpt["cfg"]["model"])
    model = ConvS2SModel(config).eval()
    model.load_state_dict(ours)
    f = forward_fixture("tiny1")
    with torch.no_grad():
        logits = model(f["src_tokens"], f["src_lengths"], f["prev_output_tokens"])
    real = f["target"].ne(PAD_ID)
    assert max_err(logits[..., f["vocab_sel"]], f["logits_sel"], real) < TOL_OUT
