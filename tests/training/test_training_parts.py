"""Loss, NAG, schedules."""

import math

import pytest
import torch
import torch.nn.functional as F

from nmt.training.loss import label_smoothed_nll_reference as label_smoothed_nll
from nmt.training.optim import NAG, OptimConfig, build_optimizer
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
