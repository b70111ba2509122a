"""search_mode: inference mode in float32; under autocast, each weight cast once per search."""

import torch
from torch import nn
from torch.profiler import profile

from nmt.search import SearchConfig
from nmt.search.common import search_mode

CPU = torch.device("cpu")


def weight_casts(cfg: SearchConfig, steps: int) -> tuple[int, torch.dtype]:
    """How often a Linear's (32, 16) weight is cast over ``steps`` calls in one search_mode."""
    layer, x = nn.Linear(16, 32), torch.randn(4, 16)
    with profile(record_shapes=True) as prof, search_mode(CPU, cfg):
        outputs = [layer(x) for _ in range(steps)]
    casts = sum(1 for e in prof.events()
                if e.name == "aten::_to_copy" and e.input_shapes and e.input_shapes[0] == [32, 16])
    return casts, outputs[-1].dtype


def test_under_autocast_each_weight_is_cast_once_not_every_step():
    casts, dtype = weight_casts(SearchConfig(autocast_dtype="bfloat16"), steps=6)
    assert dtype == torch.bfloat16
    assert casts == 1


def test_float32_runs_in_inference_mode_without_casts():
    with search_mode(CPU, SearchConfig()):
        assert torch.is_inference_mode_enabled()
    casts, dtype = weight_casts(SearchConfig(), steps=3)
    assert (casts, dtype) == (0, torch.float32)


def test_under_autocast_no_gradient_is_recorded():
    layer = nn.Linear(4, 4)
    with search_mode(CPU, SearchConfig(autocast_dtype="bfloat16")):
        assert not torch.is_grad_enabled()
        assert not layer(torch.randn(2, 4)).requires_grad
