"""nmt.modules.linear: large bf16 products over rows rounded up to a bucket, results unchanged."""

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from nmt.modules.linear import MIN_ROWS, ROW_BUCKET, Linear, bucketed_rows, linear


class ProductRows(TorchDispatchMode):
    """Records the row count of every matrix product aten runs (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.addmm, torch.ops.aten.mm):
            a = args[1] if func.overloadpacket is torch.ops.aten.addmm else args[0]
            self.rows.append(a.size(0))
        return func(*args, **(kwargs or {}))


def test_bucketed_rows_rounds_up_to_the_bucket():
    assert bucketed_rows(1) == ROW_BUCKET
    assert bucketed_rows(ROW_BUCKET) == ROW_BUCKET
    assert bucketed_rows(ROW_BUCKET + 1) == 2 * ROW_BUCKET


def test_large_bf16_products_run_on_bucketed_rows_with_the_same_values_and_gradients():
    torch.manual_seed(0)
    layer = Linear(16, 24)
    rows = MIN_ROWS + 37  # not a multiple of the bucket
    x = torch.randn(1, rows, 16, requires_grad=True)
    reference = layer.weight.detach().bfloat16().float(), layer.bias.detach().bfloat16().float()
    with torch.autocast("cpu", dtype=torch.bfloat16), ProductRows() as seen:
        y = layer(x)
    y.float().square().sum().backward()
    assert y.shape == (1, rows, 24)
    assert seen.rows[0] == bucketed_rows(rows)  # the forward product
    expected = F.linear(x.detach().bfloat16().float(), *reference)
    torch.testing.assert_close(y.float(), expected, atol=2e-2, rtol=2e-2)
    grad_x, grad_w = x.grad.clone(), layer.weight.grad.clone()

    x.grad = None
    layer.weight.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain = F.linear(x, layer.weight, layer.bias)
    plain.float().square().sum().backward()
    torch.testing.assert_close(grad_x, x.grad, atol=5e-2, rtol=2e-2)
    torch.testing.assert_close(grad_w, layer.weight.grad, atol=5e-1, rtol=2e-2)


class OpNames(TorchDispatchMode):
    """Records the aten ops run (forward and backward) with their first argument's shape."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        self.ops.append((func.overloadpacket.__name__, None if first is None else tuple(first.shape)))
        return func(*args, **(kwargs or {}))


def test_the_bias_rides_in_the_product_and_its_gradient_sums_only_real_rows():
    torch.manual_seed(0)
    rows, d, out = MIN_ROWS + 5, 24, 40
    x = torch.randn(rows, d, requires_grad=True)
    weight = torch.randn(out, d, requires_grad=True)
    bias = torch.randn(out, requires_grad=True)
    grad = torch.randn(rows, out)
    with torch.autocast("cpu", dtype=torch.bfloat16), OpNames() as seen:
        y = linear(x, weight, bias)
    y.backward(grad)
    names = [name for name, _ in seen.ops]
    assert "addmm" not in names and "sum" not in names  # no pass of the bias over the result
    xb, wb, bb = (t.detach().bfloat16().double() for t in (x, weight, bias))
    torch.testing.assert_close(y.double(), xb @ wb.T + bb, atol=0.1, rtol=1e-2)  # bf16 result
    gb = grad.bfloat16().double()
    torch.testing.assert_close(bias.grad.double(), gb.sum(0), atol=0.2, rtol=1e-2)
    torch.testing.assert_close(weight.grad.double(), gb.T @ xb, atol=0.5, rtol=1e-2)
    torch.testing.assert_close(x.grad.double(), gb @ wb, atol=0.2, rtol=1e-2)
    assert (x.grad.dtype, weight.grad.dtype, bias.grad.dtype) == (torch.float32,) * 3


def test_bf16_products_without_bias_match_the_plain_product():
    torch.manual_seed(0)
    x = torch.randn(MIN_ROWS + 100, 32).bfloat16().requires_grad_()
    weight = torch.randn(48, 32).bfloat16().requires_grad_()
    y = linear(x, weight)
    plain = F.linear(x, weight)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y, plain)
    grad = torch.randn_like(plain)
    for mine, theirs in zip(torch.autograd.grad(y, (x, weight), grad),
                            torch.autograd.grad(plain, (x, weight), grad)):
        assert mine.dtype == torch.bfloat16
        torch.testing.assert_close(mine.float(), theirs.float(), atol=0.5, rtol=2e-2)


def test_float32_and_small_products_are_plain():
    torch.manual_seed(0)
    w, b = torch.randn(8, 4), torch.randn(8)
    big = torch.randn(MIN_ROWS + 3, 4)
    with ProductRows() as seen:
        out = linear(big, w, b)  # float32: MKL, no padding, bit-identical to F.linear
    assert seen.rows == [MIN_ROWS + 3]
    assert torch.equal(out, F.linear(big, w, b))
    small = torch.randn(MIN_ROWS - 1, 4).bfloat16()
    with ProductRows() as seen:
        linear(small, w.bfloat16(), b.bfloat16())
    assert seen.rows == [MIN_ROWS - 1]


def test_linear_keeps_nn_linear_state_dict_names():
    assert set(Linear(3, 2).state_dict()) == set(torch.nn.Linear(3, 2).state_dict())
    assert isinstance(Linear(3, 2), torch.nn.Linear)


def test_a_gradient_written_over_the_padded_product_is_taken_without_a_copy():
    """The training loss writes the logits' gradient over the logits (overwrite_logits): the
    product's backward then uses its own padded buffer, with the same gradients as a copy."""
    from nmt.training.loss import cpu_kernel, label_smoothed_nll

    if cpu_kernel() is None:
        import pytest

        pytest.skip("no C++ compiler for the loss kernel")
    torch.manual_seed(1)
    layer = Linear(16, 40)
    rows = MIN_ROWS + 37
    x = torch.randn(rows, 16, requires_grad=True)
    target = torch.randint(2, 40, (rows,))
    target[:9] = 1  # pads
    results = {}
    for overwrite in (False, True):
        x.grad = layer.weight.grad = layer.bias.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = label_smoothed_nll(layer(x), target, 0.1, overwrite_logits=overwrite)
        with OpNames() as seen:
            (loss / rows).backward()
        copies = [shape for name, shape in seen.ops if name == "copy_" and shape == (rows, 40)]
        results[overwrite] = x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone(), copies
    assert results[False][3] and not results[True][3]  # the copy into padded rows is gone
    for a, b in zip(results[False][:3], results[True][:3]):
        assert torch.equal(a, b)


def test_a_layer_over_some_of_its_rows_gives_its_outputs_there():
    torch.manual_seed(0)
    layer = Linear(8, 30)
    ids = torch.tensor([0, 3, 4, 17, 29])
    narrowed = layer.rows(ids)
    x = torch.randn(6, 8)
    assert isinstance(narrowed, Linear) and narrowed.out_features == 5
    assert not narrowed.weight.requires_grad and narrowed.weight.data_ptr() != layer.weight.data_ptr()
    torch.testing.assert_close(narrowed(x), layer(x)[:, ids])
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():  # the packed bf16 product
        torch.testing.assert_close(narrowed(x), layer(x)[:, ids])
