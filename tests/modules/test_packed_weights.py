"""nmt.modules.packed_weights: float32 products through MKL's packed weight, bit for bit F.linear."""

import math

import pytest
import torch
import torch.nn.functional as F

from nmt.modules import packed_weights
from nmt.modules.linear import linear
from nmt.modules.packed_weights import BF16, FP32, MAX_ROWS, MIN_ROWS, applies, packed_linear

pytestmark = pytest.mark.skipif(not packed_weights._AVAILABLE, reason="PyTorch built without MKL")

# (out, in) of the products a ConvS2S search takes: attention projections, convolution taps,
# the output layer over a Multi30k and a WMT-sized vocabulary
SHAPES = [(256, 256), (256, 512), (512, 768), (9808, 256), (40000, 512)]


def packed(x, w, b):
    """The packed product (a weight seen for the first time is only marked as seen)."""
    out = packed_linear(x, w, b)
    out = out if out is not None else packed_linear(x, w, b)
    if out is None and packed_weights._SEEN[FP32][w][1] is False:
        pytest.skip("this host's MKL gives packed products other last bits at these rows "
                    "(_agrees): packing stays off here, F.linear is used")
    assert out is not None
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("out_features, in_features", SHAPES)
def test_the_packed_product_is_f_linear_bit_for_bit(out_features, in_features, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        w, b = torch.randn(out_features, in_features), torch.randn(out_features)
        for rows in (MIN_ROWS, MIN_ROWS + 1, 31, 60, 64, 129, MAX_ROWS, 640):
            x = torch.randn(rows, in_features)
            assert torch.equal(packed(x, w, b), F.linear(x, w, b)), rows
            assert torch.equal(packed(x, w, None), F.linear(x, w)), rows
    finally:
        torch.set_num_threads(before)


def test_few_or_many_rows_autocast_and_gradients_take_f_linear():
    w, b = torch.randn(64, 32), torch.randn(64)
    x = torch.randn(MIN_ROWS, 32)
    assert applies(x, w, b, MIN_ROWS)
    assert not applies(x[:-1], w, b, MIN_ROWS - 1)  # MKL's small-matrix kernels sum otherwise
    assert applies(torch.randn(MAX_ROWS, 32), w, b, MAX_ROWS)
    assert not applies(torch.randn(MAX_ROWS + 1, 32), w, b, MAX_ROWS + 1)  # faster unpacked
    assert not applies(x.bfloat16(), w.bfloat16(), b.bfloat16(), MIN_ROWS)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # oneDNN's packed bf16 product instead
        assert applies(x, w, b, MIN_ROWS) == (BF16 if packed_weights._BF16_AVAILABLE else None)
    trained = w.clone().requires_grad_()
    assert not applies(x, trained, b, MIN_ROWS)
    with torch.no_grad():
        assert applies(x, trained, b, MIN_ROWS)


def test_a_weight_whose_packed_product_differs_is_never_packed(monkeypatch):
    w, b, x = torch.randn(64, 32), torch.randn(64), torch.randn(20, 32)
    assert packed_linear(x, w, b) is None  # seen once
    product = packed_weights._product  # as another host's MKL might multiply: other last bits
    monkeypatch.setattr(packed_weights, "_product",
                        lambda *args: torch.nextafter(product(*args), torch.tensor(math.inf)))
    assert packed_linear(x, w, b) is None  # checked, found different: F.linear from now on
    assert packed_weights._SEEN[FP32][w][1] is False
    monkeypatch.undo()
    assert packed_linear(x, w, b) is None
    assert torch.equal(linear(x, w, b), F.linear(x, w, b))


def test_a_weight_changed_in_place_is_packed_again():
    w, b = torch.randn(64, 32), torch.randn(64)
    x = torch.randn(20, 32)
    packed(x, w, b)
    w.mul_(2)  # a new version: seen once more before it is packed again
    assert packed_linear(x, w, b) is None
    assert torch.equal(packed_linear(x, w, b), F.linear(x, w, b))


def test_a_weight_made_under_inference_mode_is_packed():
    with torch.inference_mode():  # no version counter: such a weight is replaced, not changed
        w, b, x = torch.randn(64, 32), torch.randn(64), torch.randn(20, 32)
        assert torch.equal(packed(x, w, b), F.linear(x, w, b))


def test_linear_packs_a_weight_it_sees_again_and_keeps_shapes():
    w, b = torch.randn(48, 32), torch.randn(48)
    x = torch.randn(3, 7, 32)  # 21 rows
    with torch.no_grad():
        first, second = linear(x, w, b), linear(x, w, b)
    if packed_weights._SEEN[FP32][w][1] is False:
        pytest.skip("this host's MKL gives packed products other last bits (_agrees)")
    assert packed_weights._SEEN[FP32][w][1] is not None
    assert second.shape == (3, 7, 48)
    assert torch.equal(first, second) and torch.equal(second, F.linear(x, w, b))


def bf16_packed(x, w, b):
    """The packed bf16 product under autocast (a weight seen for the first time is only marked)."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = packed_linear(x, w, b, BF16)
        out = out if out is not None else packed_linear(x, w, b, BF16)
        if out is None and packed_weights._SEEN[BF16][w][1] is False:
            pytest.skip("this host's oneDNN gives packed bf16 products other last bits at the "
                        "checked rows (_agrees): packing stays off here, F.linear is used")
        return out, F.linear(x, w, b)


@pytest.mark.skipif(not packed_weights._BF16_AVAILABLE, reason="PyTorch built without oneDNN")
@pytest.mark.parametrize("out_features, in_features", SHAPES[:4])
def test_the_packed_bf16_product_is_autocasts_f_linear(out_features, in_features):
    """Within bf16 rounding at every row count (oneDNN may pick another kernel for another row
    count, packed or not), bit for bit at one row and at 16."""
    torch.manual_seed(0)
    w, b = torch.randn(out_features, in_features) * 0.05, torch.randn(out_features)
    for rows in (1, 5, 16, 60, 129, 256, 640):
        out, expected = bf16_packed(torch.randn(rows, in_features), w, b)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), expected.float(), rtol=2 ** -7, atol=2 ** -7)
        if rows in (1, 16):
            assert torch.equal(out, expected), rows


@pytest.mark.skipif(not packed_weights._BF16_AVAILABLE, reason="PyTorch built without oneDNN")
def test_linear_packs_for_bf16_autocast_only_without_gradients():
    w, b = torch.randn(48, 32, requires_grad=True), torch.randn(48, requires_grad=True)
    x = torch.randn(3, 7, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert applies(x, w, b, 21) is None  # gradients are recorded
        with torch.no_grad():
            assert applies(x, w, b, 21) == BF16
            first, second, expected = linear(x, w, b), linear(x, w, b), F.linear(x, w, b)
    if packed_weights._SEEN[BF16][w][1] is False:
        pytest.skip("this host's oneDNN gives packed bf16 products other last bits (_agrees)")
    assert packed_weights._SEEN[BF16][w][1] is not None
    assert second.shape == (3, 7, 48) and second.dtype == torch.bfloat16
    assert torch.equal(first, expected) and torch.equal(second, expected)


def test_a_weight_the_library_cannot_pack_takes_f_linear(monkeypatch):
    """A CPU whose oneDNN has no bf16 kernels raises when packing: F.linear from then on."""
    def refuse(*args):
        raise RuntimeError("mkldnn_linear: bf16 path needs the cpu support avx512bw")

    monkeypatch.setattr(packed_weights, "_pack", refuse)
    w, b, x = torch.randn(64, 32), torch.randn(64), torch.randn(20, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert packed_linear(x, w, b, BF16) is None and packed_linear(x, w, b, BF16) is None
        assert packed_weights._SEEN[BF16][w][1] is False
        assert torch.equal(linear(x, w, b), F.linear(x, w, b))
