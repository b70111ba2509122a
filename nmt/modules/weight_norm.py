"""Weight normalisation (Salimans & Kingma 2016) and the dropout-aware initialisation of ConvS2S.

Weight norm reparameterises a weight as ``W = g · v / ‖v‖`` with the norm taken per output unit
(dim 0 of the weight: one row of a Linear, one output channel of a Conv1d over kernel × input).
We use torch's own parametrisation, so a weight-normalised layer stores

    ``<layer>.parametrizations.weight.original0``  g, shape (out, 1) or (out, 1, 1)
    ``<layer>.parametrizations.weight.original1``  v, the layer's weight shape

and :func:`fold_weight_norm` replaces ``g, v`` by the plain weight for inference.

Dropout-aware initialisation (Gehring et al. 2017, §3.5; fairseq ``fconv``): with ``p`` the
probability of *retaining* a unit (1 − dropout) and ``n`` the fan-in of one output unit,

    layers followed by a GLU (every convolution):  W ~ N(0, sqrt(4·p / n))
    all other layers:                               W ~ N(0, sqrt(p / n))

where the factor ``p`` only applies to layers whose *input* passes through dropout (fc1 after the
embedding dropout, every convolution, the output layer fc3); the others use ``p = 1``. Biases are 0.
Weight norm is applied after the initialisation with ``g = ‖v‖``, so the effective weight is exactly
the sampled one.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from nmt.modules.linear import Linear


def dropout_aware_init_(layer: nn.Module, fan_in: int, dropout: float = 0.0, glu: bool = False):
    """``layer.weight`` ~ N(0, sqrt(gain·(1 − dropout)/fan_in)), gain 4 before a GLU; bias 0."""
    gain = 4.0 if glu else 1.0
    nn.init.normal_(layer.weight, mean=0.0, std=math.sqrt(gain * (1.0 - dropout) / fan_in))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def wn_linear(in_features: int, out_features: int, dropout: float = 0.0) -> nn.Linear:
    """A weight-normalised Linear, initialised for inputs that pass through ``dropout``."""
    layer = dropout_aware_init_(Linear(in_features, out_features), in_features, dropout)
    return weight_norm(layer, dim=0)


def wn_conv1d(in_channels: int, out_channels: int, kernel_size: int, dropout: float = 0.0,
              glu: bool = True) -> nn.Conv1d:
    """A weight-normalised Conv1d (no padding of its own), fan-in ``kernel_size · in_channels``."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size)
    dropout_aware_init_(conv, kernel_size * in_channels, dropout, glu=glu)
    return weight_norm(conv, dim=0)


def is_weight_normed(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight")


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """Replace every weight-normalised ``(g, v)`` by the plain weight ``g·v/‖v‖`` (in place)."""
    for module in model.modules():
        if is_weight_normed(module):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model
