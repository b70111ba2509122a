"""Optimisers: NAG (the ConvS2S paper's), SGD, Adam and AdamW, built from an :class:`OptimConfig`."""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch.autograd.graph import increment_version

from nmt.errors import NmtError
from nmt.modules.native import NativeKernel, ptr, threads_for

OPTIMIZERS = ("nag", "sgd", "adam", "adamw")


@dataclass
class OptimConfig:
    name: str = "nag"  # one of OPTIMIZERS
    lr: float = 0.25
    momentum: float = 0.99  # nag, sgd
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])  # adam, adamw
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float = 0.1  # 0 disables gradient clipping


class NAG(torch.optim.Optimizer):
    """Nesterov's accelerated gradient in the form of Sutskever et al. (2013), as the ConvS2S
    paper used it (fairseq's ``nag``). With v the velocity, μ the momentum and η the rate:

        v_{t+1} = μ v_t − η ∇f(θ_t + μ v_t)

    kept in the "look-ahead" parameterisation (parameters stored at θ + μv), where one update is
    θ ← θ + μ² v − (1 + μ) η g;  v ← μ v − η g. When η changes, v is rescaled by η_new / η_old so the
    velocity stays a displacement in the new units.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.99, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "lr_old": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            lr_correct = lr / group["lr_old"] if group["lr_old"] else 1.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                nag_update(p, p.grad, state["momentum_buffer"], lr, mu, wd, lr_correct)
            group["lr_old"] = lr
        return loss


def nag_update(p: Tensor, grad: Tensor, buf: Tensor, lr: float, mu: float, wd: float,
               lr_correct: float) -> None:
    """One parameter's NAG update, in place: θ ← θ·(1 − η·wd) + μ²·c·v − (1 + μ)·η·g and
    v ← μ·c·v − η·g, with c the rate correction. Contiguous float32 CPU tensors go through
    one C++ pass (``nag_kernel.cpp``) with the same roundings as the PyTorch ops below."""
    if _uses_kernel(p, grad, buf):
        _KERNEL.get().nag_update_f32(ptr(p), ptr(buf), ptr(grad), p.numel(), 1 - lr * wd,
                                     mu * mu * lr_correct, -(1 + mu) * lr, mu * lr_correct, -lr,
                                     threads_for(p.numel()))
        increment_version((p, buf))  # as in-place ops do: caches keyed on it see the new values
        return
    if wd:
        p.mul_(1 - lr * wd)
    p.add_(buf, alpha=mu * mu * lr_correct)
    p.add_(grad, alpha=-(1 + mu) * lr)
    buf.mul_(mu * lr_correct).add_(grad, alpha=-lr)


def _declare(lib) -> None:
    f32, p = ctypes.c_float, ctypes.c_void_p
    lib.nag_update_f32.argtypes = [p, p, p, ctypes.c_int64, f32, f32, f32, f32, f32, ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("nag_kernel.cpp"), _declare, "NAG CPU kernel")


def _uses_kernel(*tensors: Tensor) -> bool:
    return (all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous()
                for t in tensors)
            and len({t.shape for t in tensors}) == 1 and _KERNEL.get() is not None)


def build_optimizer(cfg: OptimConfig, params: list[Tensor]) -> torch.optim.Optimizer:
    if cfg.name == "nag":
        return NAG(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    raise NmtError(f"unknown optimizer {cfg.name!r}; use one of {', '.join(OPTIMIZERS)}")
