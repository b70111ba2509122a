"""int8 matrix products (nmt.modules.int8): the op against its plain-PyTorch reference, narrowing,
and every family quantised."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nmt import registry
from nmt.modules import int8
from nmt.modules.int8 import Int8Linear, full_range_inputs, quantize_int8
from nmt.modules.weight_norm import fold_weight_norm
from nmt.search import SearchConfig, beam_search
from tests.models.contract_helpers import random_batch
from tests.models.test_contract import V, tiny_model


def reference(layer: Int8Linear, x: torch.Tensor) -> torch.Tensor:
    """y = s_x·s_o·Σ (q − z_x)·Q_oi + b, from dequantised values with PyTorch's own qparams."""
    scale, zero_point = torch._choose_qparams_per_tensor(x, layer.reduce_range)
    xq = torch.quantize_per_tensor(x, scale, zero_point, torch.quint8).dequantize()
    return xq @ layer.qweight.dequantize().t() + layer.bias


@pytest.mark.parametrize("reduce_range", [True, False])
def test_the_int8_product_equals_its_reference(reduce_range):
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    layer = Int8Linear.from_linear(linear)
    layer.reduce_range = reduce_range
    x = torch.randn(2, 7, 64) * 3
    y = layer(x)
    assert y.shape == (2, 7, 48) and y.dtype == torch.float32
    torch.testing.assert_close(y.reshape(14, 48), reference(layer, x.reshape(14, 64)),
                               rtol=0, atol=1e-5)


ENGINES = [e for e in ("onednn", "x86", "fbgemm") if e in torch.backends.quantized.supported_engines]


@pytest.mark.parametrize("engine", ENGINES)
def test_each_packing_engine_gives_the_reference_and_leaves_the_global_engine(engine, monkeypatch):
    """oneDNN packs on AMX hosts (:func:`amx_engine`); whichever packs, the product is the
    reference's and PyTorch's own engine setting is as it was."""
    monkeypatch.setattr(int8, "amx_engine", lambda: engine)
    before = torch.backends.quantized.engine
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(nn.Linear(64, 48))
    assert torch.backends.quantized.engine == before
    x = torch.randn(9, 64) * 3
    torch.testing.assert_close(layer(x), reference(layer, x), rtol=0, atol=1e-4)
    torch.testing.assert_close(layer.rows(torch.tensor([3, 0]))(x), layer(x)[:, [3, 0]])


def test_per_row_scales_keep_small_rows_precise():
    """A row of weights 1,000 times smaller than the others keeps its relative precision."""
    torch.manual_seed(0)
    linear = nn.Linear(32, 8)
    with torch.no_grad():
        linear.weight[0] *= 1e-3
        linear.bias.zero_()
    x = torch.randn(16, 32)
    y, want = Int8Linear.from_linear(linear)(x), linear(x).detach()
    for row in (0, 1):
        err = (y[:, row] - want[:, row]).abs().max() / want[:, row].abs().max()
        assert err < 0.05, row


def test_inputs_of_any_float_dtype_give_float32():
    layer = Int8Linear.from_linear(nn.Linear(16, 4))
    x = torch.randn(3, 16)
    assert torch.equal(layer(x.bfloat16()), layer(x.bfloat16().float()))


def test_narrowed_rows_give_exactly_the_full_layers_outputs():
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(nn.Linear(32, 20))
    ids = torch.tensor([0, 3, 4, 11, 19])
    x = torch.randn(6, 32)
    narrowed = layer.rows(ids)
    assert narrowed.out_features == 5 and narrowed.reduce_range == layer.reduce_range
    assert torch.equal(narrowed(x), layer(x)[:, ids])


def test_full_range_inputs_follow_the_cpu():
    assert full_range_inputs() == bool(torch.cpu._is_vnni_supported())


@pytest.mark.parametrize("family", sorted(registry.FAMILIES))
def test_every_family_quantises_and_translates(family):
    """Every Linear but the exempt ones and every tap product become int8; teacher-forced
    log-probs stay near the float model's, and beam search runs (LSTM and Dilated-RNN attention
    read their weights directly: those layers stay float)."""
    float_model = fold_weight_norm(tiny_model(family))
    model = quantize_int8(fold_weight_norm(tiny_model(family)))
    for module in model.modules():
        exempt = set(getattr(module, "int8_exempt", ()))
        for name, child in module.named_children():
            assert not isinstance(child, nn.Linear) or name in exempt, (family, name)
        if hasattr(module, "linearized_weight"):
            assert isinstance(module.int8_taps, Int8Linear)
    assert any(isinstance(m, Int8Linear) for m in model.modules())
    src, lens, tgt_in = random_batch(V)
    with torch.inference_mode():
        got = model.log_probs(model(src, lens, tgt_in))
        want = float_model.log_probs(float_model(src, lens, tgt_in))
        assert (got - want).abs().max() < 0.1 * want.abs().max()
        found = beam_search(model, src, lens, SearchConfig(beam=2, max_len_b=5))
    assert len(found) == src.size(0) and all(hyps for hyps in found)
