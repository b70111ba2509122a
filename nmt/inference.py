"""Loading a self-describing checkpoint for translation: the model and its `Pipeline`, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nmt import registry
from nmt.checkpoint import load_checkpoint
from nmt.data.pipeline import Pipeline
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.modules.weight_norm import fold_weight_norm


@dataclass
class LoadedModel:
    model: Seq2SeqModel
    pipeline: Pipeline
    meta: dict


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model of checkpoint ``path`` in eval mode, weight norm folded into the weights."""
    ckpt = load_checkpoint(path, with_optimizer=False)
    meta = ckpt.meta
    for key in ("family", "model_config", "pipeline"):
        if key not in meta:
            raise NmtError(f"{path}: checkpoint metadata lacks {key!r} (not a model checkpoint?)")
    cfg = registry.config_from_dict(meta["family"], meta["model_config"])
    model = registry.build_model(cfg)
    try:
        model.load_state_dict(ckpt.model)
    except RuntimeError as e:
        raise NmtError(f"{path}: weights do not fit the model config ({str(e).splitlines()[0]})") from None
    pipeline = Pipeline(meta["pipeline"], ckpt.assets)
    for side, size in ((pipeline.source, cfg.src_vocab_size), (pipeline.target, cfg.tgt_vocab_size)):
        if side.dictionary is None or len(side.dictionary) != size:
            raise NmtError(f"{path}: the {side.lang} dictionary does not match the model's vocabulary")
    model.eval()
    fold_weight_norm(model)
    return LoadedModel(model.to(device), pipeline, meta)


def device_of(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NmtError("--device cuda was asked for, but CUDA is not available here")
    return torch.device(name)
