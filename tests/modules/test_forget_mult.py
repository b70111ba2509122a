"""Forget-mult: every implementation equals the reference loop, forward and backward."""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from nmt.modules.forget_mult import cpu_kernel, forget_mult, forget_mult_reference

needs_kernel = pytest.mark.skipif(cpu_kernel() is None, reason="no C++ compiler for the kernel")
IMPLS = ["torch", pytest.param("cpu", marks=needs_kernel)]


def inputs(B=3, T=7, H=5, dtype=torch.float32, seed=0, lengths=None, left=False):
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(B, T, H, generator=g, dtype=dtype)
    z = torch.randn(B, T, H, generator=g, dtype=dtype)
    i = torch.rand(B, T, H, generator=g, dtype=dtype)
    c0 = torch.randn(B, H, generator=g, dtype=dtype)
    mask = None
    if lengths is not None:
        pos = torch.arange(T)
        n = torch.tensor(lengths)[:, None]
        mask = pos >= T - n if left else pos < n
    return f, z, i, c0, mask


def test_the_recurrence_by_hand():
    f = torch.tensor([[[0.5], [0.25], [1.0]]])
    z = torch.tensor([[[2.0], [4.0], [8.0]]])
    c0 = torch.tensor([[1.0]])
    # c1 = .5·1 + .5·2 = 1.5; c2 = .25·1.5 + .75·4 = 3.375; c3 = 1·3.375 + 0·8
    expected = torch.tensor([[[1.5], [3.375], [3.375]]])
    for impl in ("reference", "torch", "auto"):
        torch.testing.assert_close(forget_mult(f, z, c0, impl=impl), expected)
    ifo = forget_mult_reference(f, z, c0, input_gate=torch.ones_like(f))  # c = f c + z
    torch.testing.assert_close(ifo[0, :, 0], torch.tensor([2.5, 4.625, 12.625]))
    # a padded step keeps the state; reversed, the recurrence starts from the last step
    masked = forget_mult_reference(f, z, c0, torch.tensor([[True, False, True]]))
    torch.testing.assert_close(masked[0, :, 0], torch.tensor([1.5, 1.5, 1.5]))
    rev = forget_mult_reference(f, z, reverse=True)  # c3 = 0·8 → 0; c2 = .75·4 = 3; c1 = 1.5+1
    torch.testing.assert_close(rev[0, :, 0], torch.tensor([2.5, 3.0, 0.0]))


def run(impl, f, z, i, c0, mask, ifo, reverse, grads):
    leaves = [t.clone().requires_grad_() for t in (f, z, i, c0)]
    fl, zl, il, cl = leaves
    fn = forget_mult_reference if impl == "reference" else forget_mult
    kwargs = {} if impl == "reference" else {"impl": impl}
    c = fn(fl, zl, cl, mask, input_gate=il if ifo else None, reverse=reverse, **kwargs)
    c.backward(grads)
    return c.detach(), [t.grad for t in leaves]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ifo", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape,lengths,left", [
    ((3, 7, 5), None, False),
    ((3, 7, 5), [7, 4, 1], False),   # right padding
    ((3, 7, 5), [2, 7, 5], True),    # left padding
    ((1, 1, 3), None, False),
    ((2, 33, 70), [33, 20], False),  # H not a multiple of the vector width
])
def test_fast_paths_equal_the_reference(impl, ifo, reverse, shape, lengths, left):
    f, z, i, c0, mask = inputs(*shape, lengths=lengths, left=left)
    grads = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    want, want_grads = run("reference", f, z, i, c0, mask, ifo, reverse, grads)
    got, got_grads = run(impl, f, z, i, c0, mask, ifo, reverse, grads)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for k, (g, w) in enumerate(zip(got_grads, want_grads)):
        if k == 2 and not ifo:  # the input gate is not used
            assert g is None and w is None
        else:
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_pads_do_not_change_real_steps(impl):
    f, z, _, c0, mask = inputs(3, 9, 4, lengths=[9, 5, 2])
    c = forget_mult(f, z, c0, mask, impl=impl)
    for row, n in enumerate((9, 5, 2)):
        alone = forget_mult_reference(f[row : row + 1, :n], z[row : row + 1, :n], c0[row : row + 1])
        torch.testing.assert_close(c[row, :n], alone[0])
        torch.testing.assert_close(c[row, n:], alone[0, -1].expand(9 - n, -1))  # carried on
        back = forget_mult(f[row : row + 1], z[row : row + 1], None, mask[row : row + 1],
                           reverse=True, impl=impl)
        back_alone = forget_mult_reference(f[row : row + 1, :n], z[row : row + 1, :n],
                                           reverse=True)
        torch.testing.assert_close(back[0, :n], back_alone[0])


@pytest.mark.parametrize("impl", IMPLS)
def test_strided_gate_views_and_no_initial_state(impl):
    gates = torch.rand(2, 6, 3 * 8)
    f, z = gates[..., :8], gates[..., 8:16]  # views with a row stride of 24
    torch.testing.assert_close(forget_mult(f, z, impl=impl), forget_mult_reference(f, z))


@pytest.mark.parametrize("impl", ["torch", pytest.param("cpu", marks=needs_kernel)])
@pytest.mark.parametrize("ifo,masked", [(False, False), (False, True), (True, True)])
def test_gradcheck_float64(impl, ifo, masked):
    f, z, i, c0, mask = inputs(2, 5, 3, dtype=torch.float64, lengths=[5, 3] if masked else None)
    f = (0.05 + 0.9 * f).requires_grad_()  # keep away from 0 and 1
    z, i, c0 = (t.requires_grad_() for t in (z, i, c0))

    def fn(f, z, i, c0):
        return forget_mult(f, z, c0, mask, input_gate=i if ifo else None, impl=impl)

    args = (f, z, i, c0) if ifo else (f, z, i.detach(), c0)
    assert torch.autograd.gradcheck(fn, args)


def test_half_precision_recurs_in_float32():
    f, z, _, c0, _ = inputs(2, 50, 8)
    got = forget_mult(f.bfloat16(), z.bfloat16(), c0.bfloat16())
    assert got.dtype == torch.bfloat16
    want = forget_mult_reference(f.bfloat16().float(), z.bfloat16().float(), c0.bfloat16().float())
    torch.testing.assert_close(got.float(), want, atol=1e-2, rtol=1e-2)


def test_empty_sequence_and_bad_arguments():
    f = torch.rand(2, 0, 3)
    for impl in ("reference", "torch", "auto"):
        assert forget_mult(f, f, impl=impl).shape == (2, 0, 3)
    with pytest.raises(ValueError, match="impl"):
        forget_mult(f, f, impl="fast")
    with pytest.raises(ValueError, match="mask"):
        forget_mult(torch.rand(2, 3, 4), torch.rand(2, 3, 4),
                    mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="c0"):
        forget_mult(torch.rand(2, 3, 4), torch.rand(2, 3, 4), torch.zeros(2, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_the_reference():
    f, z, i, c0, mask = inputs(3, 40, 200, lengths=[40, 30, 3])
    grads = torch.randn(3, 40, 200)
    for ifo in (False, True):
        want, want_grads = run("reference", f, z, i, c0, mask, ifo, False, grads)
        cuda = [t.cuda() for t in (f, z, i, c0, mask, grads)]
        got, got_grads = run("cuda", *cuda[:5], ifo, False, cuda[5])
        torch.testing.assert_close(got.cpu(), want, atol=1e-5, rtol=1e-5)
        for g, w in zip(got_grads, want_grads):
            torch.testing.assert_close(g.cpu(), w, atol=1e-5, rtol=1e-5)


TRITON_CHECK = """
import torch
from nmt.modules import _forget_mult_cuda as fc
from nmt.modules.forget_mult import forget_mult_reference
g = torch.Generator().manual_seed(0)
B, T, H = 3, 6, 140  # two blocks of channels, the second partly outside H
for dtype in (torch.float32, torch.float64):
    for ifo in (False, True):
        f, z, i = (torch.rand(B, T, H, generator=g, dtype=dtype).requires_grad_() for _ in "fzi")
        c0 = torch.randn(B, H, generator=g, dtype=dtype).requires_grad_()
        mask = torch.arange(T)[None] < torch.tensor([6, 3, 1])[:, None]
        c = fc._ForgetMultTriton.apply(f, i * z if ifo else z, c0, mask, not ifo)
        ref = forget_mult_reference(f, z, c0, mask, input_gate=i if ifo else None)
        grad = torch.randn(B, T, H, generator=g, dtype=dtype)
        leaves = [f, z, c0] + ([i] if ifo else [])
        got, want = torch.autograd.grad(c, leaves, grad), torch.autograd.grad(ref, leaves, grad)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(c, ref)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton not installed")
def test_triton_kernels_in_the_cpu_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", TRITON_CHECK], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
