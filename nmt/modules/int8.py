"""Dynamic int8 matrix products for translation on the CPU (PyTorch's fbgemm/oneDNN int8 ops;
oneDNN's where the CPU has AMX, see :func:`amx_engine`).

A float layer ``y = W x + b`` becomes

    y_o = s_x · s_o · Σ_i (q_i − z_x) · Q_oi + b_o

with the weight quantised once, per output row and symmetrically (``Q_oi = round(W_oi / s_o)``,
``s_o = max_i |W_oi| / 127``), and the input quantised on every call over the whole tensor
(``q_i = round(x_i / s_x) + z_x`` in uint8, ``s_x, z_x`` from its min and max). Per-row weight
scales keep a row with small weights as precise as one with large weights; a single scale for the
whole matrix cost Multi30k's imported fairseq model 0.33 BLEU (docs/results.md).

Inputs use the full 8 bits where the CPU has VNNI, whose int8 dot products sum straight into
int32. Without it the kernels add pairs of uint8 × int8 products in int16, which 8-bit inputs
could overflow, so the inputs get 7 bits there (PyTorch's ``reduce_range``).

:func:`quantize_int8` turns every ``nn.Linear`` of a model into an :class:`Int8Linear`, except
those a module lists in ``int8_exempt`` (layers whose weight it reads directly), and gives every
convolution computed as one product over its taps (:func:`nmt.modules.conv_taps.taps_product`)
an int8 product as ``int8_taps``. Embeddings and recurrent cells stay in float.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn


def full_range_inputs() -> bool:
    """True where 8-bit inputs cannot overflow the int8 kernels' sums (CPUs with VNNI)."""
    probe = getattr(torch.cpu, "_is_vnni_supported", None)
    return bool(probe()) if probe is not None else False


def amx_engine() -> str | None:
    """'onednn' where the CPU has AMX tiles and PyTorch has the oneDNN int8 engine, else None.

    oneDNN runs int8 products on AMX; fbgemm (PyTorch's default 'x86' engine) does not. On an
    AMX host a (640 × 256)·(256 × 9,808) int8 product took 1.5 ms packed for oneDNN against 9.2 ms
    for fbgemm (docs/results.md)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if probe is None or not probe() or "onednn" not in torch.backends.quantized.supported_engines:
        return None
    return "onednn"


def prepack(qweight: Tensor, bias: Tensor | None):
    """``qweight`` and ``bias`` packed for ``quantized.linear_dynamic``, by oneDNN on AMX hosts
    (the packed weight carries its engine; PyTorch's global engine setting is left as it was)."""
    engine, saved = amx_engine(), torch.backends.quantized.engine
    try:
        if engine is not None:
            torch.backends.quantized.engine = engine
        return torch.ops.quantized.linear_prepack(qweight, bias)
    finally:
        torch.backends.quantized.engine = saved


def quantize_rows(weight: Tensor) -> Tensor:
    """A float weight (out, in) as a per-row symmetric qint8 tensor (``s_o = max|W_o·| / 127``)."""
    w = weight.detach().float()
    scales = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()  # (out,)
    zero_points = torch.zeros(w.size(0), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's notice that quantized tensors are deprecated
        return torch.quantize_per_channel(w, scales, zero_points, 0, torch.qint8)


class Int8Linear(nn.Module):
    """``W x + b`` with W in int8 per output row and x quantised per call; float32 out.

    Inputs of any float dtype are cast to float32 first (the int8 ops take float32), so the layer
    works under bf16 autocast too. Built from a per-row qint8 weight (:func:`quantize_rows`) and
    a bias, or from float layers with :meth:`from_float` and :meth:`from_linear`."""

    def __init__(self, qweight: Tensor, bias: Tensor | None):
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.qweight = qweight
        self.bias = None if bias is None else bias.detach().float().clone()
        self.reduce_range = not full_range_inputs()
        self._packed = prepack(self.qweight, self.bias)

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None) -> Int8Linear:
        return cls(quantize_rows(weight), bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        return cls.from_float(linear.weight, linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., in) -> (..., out) float32."""
        return torch.ops.quantized.linear_dynamic(x.float(), self._packed,
                                                  reduce_range=self.reduce_range)

    def rows(self, ids: Tensor) -> Int8Linear:
        """The layer restricted to the output rows ``ids``: the same int8 values and scales, so
        its outputs equal this layer's at those rows exactly."""
        q = self.qweight
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in quantize_rows
            narrowed = torch._make_per_channel_quantized_tensor(
                q.int_repr().index_select(0, ids), q.q_per_channel_scales().index_select(0, ids),
                q.q_per_channel_zero_points().index_select(0, ids), 0)
        return Int8Linear(narrowed, None if self.bias is None else self.bias.index_select(0, ids))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"input_bits={7 if self.reduce_range else 8}")


def quantize_int8(model: nn.Module) -> nn.Module:
    """``model`` with int8 matrix products, in place (see the module doc). Weight-normalised
    layers are quantised with their effective weight."""
    for module in list(model.modules()):
        exempt = set(getattr(module, "int8_exempt", ()))
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and name not in exempt:
                setattr(module, name, Int8Linear.from_linear(child))
        if hasattr(module, "linearized_weight"):
            module.int8_taps = Int8Linear.from_float(module.linearized_weight(), module.conv.bias)
    return model
