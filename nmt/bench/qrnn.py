"""Measurements behind `nmt bench qrnn`: the forget-mult implementations against each other, and
one QRNN layer against one LSTM layer of the same size (the QRNN paper's Figure 4).

Timings are on random inputs, the variants interleaved round by round so that machine noise hits
them alike; medians are reported, and ratios of medians.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from nmt.modules.forget_mult import cpu_kernel, forget_mult, forget_mult_reference
from nmt.modules.qrnn import QRNNLayer

Step = Callable[[], None]


def interleaved_ms(steps: dict[str, Step], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median milliseconds of each step over ``repeats`` rounds, one call of each per round."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            times[name].append(1e3 * (time.perf_counter() - t))
    return {name: round(statistics.median(ts), 3) for name, ts in times.items()}


def _fwd_bwd(fn: Callable[..., torch.Tensor], inputs: list[torch.Tensor], grad: torch.Tensor) -> Step:
    def step() -> None:
        for x in inputs:
            x.grad = None
        fn(*inputs).backward(grad)
    return step


def bench_forget_mult(T: int = 300, B: int = 64, H: int = 320, repeats: int = 10,
                      dtype: torch.dtype = torch.float32) -> dict:
    """Forward + backward of c_t = f_t c_{t−1} + (1 − f_t) z_t over (B, T, H), per implementation,
    with the speed-up over the reference loop. ``stream_gbps`` is what a plain memory-bound PyTorch
    op (``torch.add`` into a preallocated output) reaches here, the ceiling for a recurrence that
    must stream its tensors; ``cpu_kernel_gbps`` counts the 3 + 6 (B, T, H) tensors the kernel's
    forward and backward passes read or write."""
    f = torch.rand(B, T, H, dtype=dtype).requires_grad_()
    z = torch.randn(B, T, H, dtype=dtype).requires_grad_()
    grad = torch.randn(B, T, H, dtype=dtype)
    impls = {"reference": forget_mult_reference,
             "torch": lambda a, b: forget_mult(a, b, impl="torch")}
    if cpu_kernel() is not None:
        impls["cpu"] = lambda a, b: forget_mult(a, b, impl="cpu")
    ms = interleaved_ms({n: _fwd_bwd(fn, [f, z], grad) for n, fn in impls.items()}, repeats)
    a, b, out = (torch.randn(B, T, H, dtype=dtype) for _ in range(3))
    stream = interleaved_ms({"add": lambda: torch.add(a, b, out=out)}, repeats)["add"]
    tensor_gb = f.numel() * f.element_size() / 1e9
    result = {"benchmark": "forget_mult", "shape_btH": [B, T, H], "dtype": str(dtype).split(".")[-1],
              "threads": torch.get_num_threads(), "ms": ms,
              "speedup_vs_reference": {n: round(ms["reference"] / v, 2) for n, v in ms.items()},
              "stream_gbps": round(3 * tensor_gb / (stream / 1e3), 1)}
    if "cpu" in ms:
        result["cpu_kernel_gbps"] = round(9 * tensor_gb / (ms["cpu"] / 1e3), 1)
    return result


def _autocast(precision: str):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def bench_qrnn_layer(lengths: list[int], batches: list[int], hidden: int = 320, kernel: int = 2,
                     repeats: int = 5, precision: str = "fp32") -> dict:
    """One QRNN layer (fo-pooling, width ``kernel``) against one ``nn.LSTM`` layer, both
    ``hidden`` -> ``hidden``, over inputs (B, T, hidden) for every (T, B): ``inference`` (the
    forward pass without autograd, as the paper's Figure 4: "inference speed advantage of a
    320-unit QRNN layer alone over an equal-sized cuDNN LSTM layer"; there on a GPU, here against
    PyTorch's CPU LSTM) and ``training`` (forward + backward)."""
    torch.manual_seed(0)
    layers = {"qrnn": QRNNLayer(hidden, hidden, kernel, pooling="fo"),
              "lstm": nn.LSTM(hidden, hidden, batch_first=True)}
    rows = []
    for T in lengths:
        for B in batches:
            x = torch.randn(B, T, hidden).requires_grad_()
            grad = torch.randn(B, T, hidden)
            steps: dict[str, Step] = {}
            for name, layer in layers.items():
                def run(inp, layer=layer):
                    with _autocast(precision):
                        return layer(inp)[0].float()

                def infer(run=run, x=x):
                    with torch.no_grad():
                        run(x)

                steps[f"{name} inference"] = infer
                steps[f"{name} training"] = _fwd_bwd(run, [x], grad)
            ms = interleaved_ms(steps, repeats)
            row: dict = {"T": T, "B": B}
            for mode in ("inference", "training"):
                q, m = ms[f"qrnn {mode}"], ms[f"lstm {mode}"]
                row[mode] = {"qrnn_ms": q, "lstm_ms": m, "speedup": round(m / q, 2)}
            rows.append(row)
    return {"benchmark": "qrnn_layer", "hidden": hidden, "kernel": kernel, "precision": precision,
            "threads": torch.get_num_threads(), "rows": rows}


def figure4_table(result: dict, mode: str = "inference") -> str:
    """The ``mode`` speed-ups of :func:`bench_qrnn_layer` as a Markdown table, T down, B across."""
    batches = sorted({r["B"] for r in result["rows"]})
    lengths = sorted({r["T"] for r in result["rows"]})
    cell = {(r["T"], r["B"]): r[mode]["speedup"] for r in result["rows"]}
    lines = ["| T \\ B | " + " | ".join(str(b) for b in batches) + " |",
             "|---|" + "---|" * len(batches)]
    for T in lengths:
        lines.append(f"| {T} | " + " | ".join(f"{cell[T, b]:.2f}x" for b in batches) + " |")
    return "\n".join(lines)
