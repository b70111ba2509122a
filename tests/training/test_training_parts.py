"""Loss, NAG, schedules."""

import math

import pytest
import torch
import torch.nn.functional as F

from nmt.training import optim
from nmt.training.loss import label_smoothed_nll_reference as label_smoothed_nll
from nmt.training.optim import NAG, OptimConfig, build_optimizer, nag_update
from nmt.training.schedule import LRSchedule, ScheduleConfig


def test_label_smoothing_matches_the_formula_and_ignores_pads():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    target = torch.tensor([[4, 5, 1], [6, 1, 1]])  # 1 = pad
    loss, nll = label_smoothed_nll(logits, target, 0.1)
    lp = F.log_softmax(logits, -1)
    keep = [(0, 0), (0, 1), (1, 0)]
    want_nll = -sum(lp[b, t, target[b, t]] for b, t in keep)
    eps_i = 0.1 / 6
    want = sum(-(1 - 0.1 - eps_i) * lp[b, t, target[b, t]] - eps_i * lp[b, t].sum() for b, t in keep)
    assert torch.allclose(nll, want_nll) and torch.allclose(loss, want)
    loss0, nll0 = label_smoothed_nll(logits, target, 0.0)
    assert torch.allclose(loss0, want_nll)


def test_nag_is_sutskever_lookahead_form():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = NAG([p], lr=0.1, momentum=0.9)
    grads = [torch.tensor([0.5, 1.0]), torch.tensor([-1.0, 0.25])]
    theta, v = torch.tensor([1.0, -2.0]), torch.zeros(2)  # phi = theta + mu v
    for g in grads:
        p.grad = g.clone()
        opt.step()
        v = 0.9 * v - 0.1 * g
        theta = theta + v
        assert torch.allclose(p.detach(), theta + 0.9 * v, atol=1e-6)


def test_nag_rescales_velocity_when_lr_changes():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = NAG([p], lr=0.2, momentum=0.5)
    p.grad = torch.ones(1)
    opt.step()
    buf = opt.state[p]["momentum_buffer"].clone()
    opt.param_groups[0]["lr"] = 0.1
    p.grad = torch.zeros(1)
    opt.step()
    assert torch.allclose(opt.state[p]["momentum_buffer"], buf * 0.5 * 0.5)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-4])
def test_the_nag_kernel_gives_the_pytorch_ops_bit_for_bit(weight_decay):
    assert optim._KERNEL.get() is not None, optim._KERNEL.error
    torch.manual_seed(0)
    for n in (37, 70_001):  # one thread, then split across threads
        p, buf = torch.randn(n), torch.randn(n) * 1e-2
        kernel = (p.clone(), buf.clone())
        ops = (p.clone(), buf.clone())
        for lr_correct in (1.0, 0.9, 1.0):
            grad = torch.randn(n) * 1e-3
            nag_update(kernel[0], grad, kernel[1], 0.25, 0.99, weight_decay, lr_correct)
            q, v = ops
            if weight_decay:
                q.mul_(1 - 0.25 * weight_decay)
            q.add_(v, alpha=0.99 * 0.99 * lr_correct)
            q.add_(grad, alpha=-(1 + 0.99) * 0.25)
            v.mul_(0.99 * lr_correct).add_(grad, alpha=-0.25)
        assert torch.equal(kernel[0], ops[0]) and torch.equal(kernel[1], ops[1])


def test_a_nag_step_through_the_kernel_is_seen_by_caches_keyed_on_the_weight_version():
    from nmt.modules.conv_taps import cached_tap_major

    conv = torch.nn.Conv1d(3, 4, 2)  # a plain (not weight-normed) weight, its tap-major copy cached
    owner = torch.nn.Module()
    before = cached_tap_major(owner, conv).clone()
    opt = NAG(conv.parameters(), lr=0.1, momentum=0.5)
    assert optim._uses_kernel(conv.weight, conv.weight, conv.weight)
    conv.weight.grad, conv.bias.grad = torch.ones_like(conv.weight), torch.ones_like(conv.bias)
    opt.step()
    after = cached_tap_major(owner, conv)
    assert not torch.equal(after, before)
    torch.testing.assert_close(after, conv.weight.detach().permute(0, 2, 1).reshape(4, -1))


def test_nag_takes_the_pytorch_path_for_tensors_the_kernel_does_not_take():
    p = torch.randn(4, 6).t()  # not contiguous
    assert not optim._uses_kernel(p, torch.zeros(6, 4), torch.zeros(6, 4))
    assert not optim._uses_kernel(torch.zeros(3, dtype=torch.float64), torch.zeros(3,
                                  dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    grad, buf = torch.ones(6, 4), torch.zeros(6, 4)
    before = p.clone()
    nag_update(p, grad, buf, 0.1, 0.5, 0.0, 1.0)
    assert torch.allclose(p, before - 1.5 * 0.1) and torch.allclose(buf, torch.full((6, 4), -0.1))


@pytest.mark.parametrize("name", ["nag", "sgd", "adam", "adamw"])
def test_every_optimizer_reduces_a_quadratic(name):
    p = torch.nn.Parameter(torch.tensor([3.0]))
    opt = build_optimizer(OptimConfig(name=name, lr=0.05, momentum=0.5), [p])
    for _ in range(50):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    assert abs(p.item()) < 3.0 * 0.5


def _schedule(**kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    return LRSchedule(ScheduleConfig(**kw), opt, base_lr=0.25), opt


def test_paper_schedule_anneals_after_the_first_plateau_every_epoch():
    s, opt = _schedule(name="paper", min_lr=1e-4)
    assert s.step_epoch(5.0) == 0.25 and s.step_epoch(4.0) == 0.25
    assert math.isclose(s.step_epoch(4.5), 0.025)  # no improvement: shrink
    assert math.isclose(s.step_epoch(3.0), 0.0025)  # then every epoch, improved or not
    assert not s.finished()
    s.step_epoch(2.0)
    s.step_epoch(1.0)
    assert s.finished() and math.isclose(opt.param_groups[0]["lr"], 2.5e-5)


def test_reduce_on_plateau_waits_patience():
    s, _ = _schedule(name="reduce_on_plateau", patience=1)
    s.step_epoch(5.0)
    assert s.step_epoch(6.0) == 0.25
    assert math.isclose(s.step_epoch(6.0), 0.025)


def test_inverse_sqrt_warmup_then_decay_and_state_round_trip():
    s, _ = _schedule(name="inverse_sqrt", warmup_updates=100, warmup_init_lr=0.0)
    assert math.isclose(s.step_update(50), 0.125)
    assert math.isclose(s.step_update(400), 0.125)
    s2, opt2 = _schedule(name="inverse_sqrt", warmup_updates=100)
    s2.load_state_dict(s.state_dict())
    assert math.isclose(opt2.param_groups[0]["lr"], 0.125)


@pytest.mark.parametrize("dtype,eps", [(torch.float64, 0.1), (torch.float64, 0.0), (torch.bfloat16, 0.1)])
def test_fast_smoothed_loss_equals_reference_values_and_gradients(dtype, eps, monkeypatch):
    from nmt.training import loss as loss_mod

    monkeypatch.setattr(loss_mod, "CHUNK_ROWS", 4)  # several chunks, the last one partial
    torch.manual_seed(1)
    logits = torch.randn(3, 5, 11, dtype=dtype) * 3
    target = torch.randint(2, 11, (3, 5))
    target[0, 3:] = 1
    target[2, 1:] = 1
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    la, na = loss_mod.label_smoothed_nll(a, target, eps)
    lb, nb = loss_mod.label_smoothed_nll_reference(b, target, eps)
    (la * 0.7).backward()
    (lb * 0.7).backward()
    tol = 1e-9 if dtype == torch.float64 else 1e-2
    assert torch.allclose(la.double(), lb.double(), atol=tol, rtol=tol)
    assert torch.allclose(na.double(), nb.double(), atol=tol, rtol=tol)
    assert a.grad.dtype == dtype
    assert torch.allclose(a.grad.double(), b.grad.double(), atol=tol, rtol=tol)
    assert (a.grad[0, 3:] == 0).all()  # pads get no gradient


def test_fast_smoothed_loss_gradcheck():
    from nmt.training.loss import label_smoothed_nll

    torch.manual_seed(2)
    logits = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[2, 4, 1], [5, 1, 1]])
    assert torch.autograd.gradcheck(lambda x: label_smoothed_nll(x, target, 0.2)[0], (logits,))


def _loss_impl(monkeypatch, impl: str):
    from nmt.training import loss as loss_mod

    if impl == "kernel" and loss_mod.cpu_kernel() is None:
        pytest.skip("no C++ compiler for the loss kernel")
    if impl == "chunked":
        monkeypatch.setattr(loss_mod, "_uses_kernel", lambda logits: False)
    monkeypatch.setattr(loss_mod, "CHUNK_ROWS", 4)
    return loss_mod


@pytest.mark.parametrize("impl", ["kernel", "chunked"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_both_loss_paths_equal_the_formula_over_lane_blocks_and_a_tail(impl, dtype, monkeypatch):
    """V = 37: two blocks of 16 lanes and a tail of 5; logits a view with a row stride above V."""
    loss_mod = _loss_impl(monkeypatch, impl)
    torch.manual_seed(3)
    wide = (torch.randn(6, 40, dtype=torch.float64) * 4).to(dtype)
    target = torch.tensor([5, 36, 0, 1, 16, 1])  # two pads (id 1), the first and last ids
    logits = wide[:, :37].requires_grad_()
    assert logits.stride(0) == 40
    exact = wide[:, :37].double().requires_grad_()
    loss, nll = loss_mod.label_smoothed_nll(logits, target, 0.1)
    ref, ref_nll = loss_mod.label_smoothed_nll_reference(exact, target, 0.1)
    (loss * 0.3).backward()
    (ref * 0.3).backward()
    assert torch.allclose(loss.double(), ref, rtol=1e-5)
    assert torch.allclose(nll.double(), ref_nll, rtol=1e-5)
    assert logits.grad.dtype == dtype
    scale = float(exact.grad.abs().max())
    tol = 1e-6 if dtype == torch.float32 else 8e-3
    assert torch.allclose(logits.grad.double(), exact.grad, atol=tol * scale, rtol=0)
    assert (logits.grad[3] == 0).all() and (logits.grad[5] == 0).all()  # pads get no gradient


@pytest.mark.parametrize("impl", ["kernel", "chunked"])
def test_a_target_id_outside_the_vocabulary_is_an_error(impl, monkeypatch):
    loss_mod = _loss_impl(monkeypatch, impl)
    logits = torch.randn(2, 3, 20)
    with pytest.raises(IndexError, match=r"target ids must be in \[0, 20\)"):
        loss_mod.label_smoothed_nll(logits, torch.tensor([[2, 3, 20], [1, 1, 1]]), 0.1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_kernel_writes_the_same_gradient_over_the_logits(dtype, monkeypatch):
    """overwrite_logits: the gradient written in place equals the one written to a new tensor,
    over lane blocks and a tail (V = 37) with pads and the first and last ids as targets."""
    loss_mod = _loss_impl(monkeypatch, "kernel")
    torch.manual_seed(4)
    logits = (torch.randn(6, 37, dtype=torch.float64) * 4).to(dtype)
    target = torch.tensor([5, 36, 0, 1, 16, 1])
    grads = []
    for overwrite in (False, True):
        x = logits.clone().requires_grad_()
        y = x * 1  # a non-leaf, as the model's output is (a leaf cannot be written in place)
        loss, _ = loss_mod.label_smoothed_nll(y, target, 0.1, overwrite_logits=overwrite)
        (loss * 0.3).backward()
        grads.append(x.grad)
        assert overwrite == (y._version > 0)
    assert torch.equal(grads[0], grads[1])


def test_logits_overwritten_by_their_gradient_are_not_read_again(monkeypatch):
    loss_mod = _loss_impl(monkeypatch, "kernel")
    x = torch.randn(4, 3, 20, requires_grad=True)
    y = x * 2
    loss, _ = loss_mod.label_smoothed_nll(y, torch.randint(2, 20, (4, 3)), 0.1, overwrite_logits=True)
    other = (y * y).sum()  # saves y for its backward
    loss.backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        other.backward()
