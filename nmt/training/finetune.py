"""Fine-tuning: a new run that starts from another run's checkpoint (``finetune_from``).

The parent's model config and weights are used (its family and sizes, whatever the preset says);
its optimiser state and learning-rate schedule carry over unless ``reset_optimizer`` /
``reset_lr_scheduler``. Training progress starts anew (update 0, epoch 1) in the new save
directory. The data must be processed exactly as the parent's was: the same pipeline description
and the same dictionaries, or the ids would mean other words.
"""

from __future__ import annotations

from pathlib import Path

from nmt import registry
from nmt.checkpoint import Checkpoint, load_checkpoint, read_meta
from nmt.data.pipeline import Pipeline, asset_names
from nmt.errors import NmtError


def load_parent(path: str | Path, pipeline: Pipeline) -> tuple[Checkpoint, object]:
    """The parent checkpoint and its model config, after checking that ``pipeline`` (the data's)
    is the one the parent was trained with."""
    parent = load_checkpoint(path)
    for key in ("family", "model_config", "pipeline"):
        if key not in parent.meta:
            raise NmtError(f"{path}: not a model checkpoint (its metadata lacks {key!r})")
    difference = pipeline_difference(parent.meta["pipeline"], parent.assets, pipeline)
    if difference:
        raise NmtError(f"cannot fine-tune {path} on this data: {difference}; preprocess the data "
                       "with `nmt preprocess --pipeline-from` the parent's data directory")
    return parent, registry.config_from_dict(parent.meta["family"], parent.meta["model_config"])


def pipeline_difference(spec: dict, assets: dict[str, bytes], pipeline: Pipeline) -> str | None:
    """What differs between a checkpoint's pipeline (``spec``, ``assets``) and ``pipeline``,
    in words, or None when they process text identically."""
    if (spec.get("source_lang"), spec.get("target_lang")) != (pipeline.source_lang,
                                                              pipeline.target_lang):
        return (f"the checkpoint translates {spec.get('source_lang')}->{spec.get('target_lang')}, "
                f"the data {pipeline.source_lang}->{pipeline.target_lang}")
    for lang in (pipeline.source_lang, pipeline.target_lang):
        mine, theirs = spec["languages"].get(lang, {}), pipeline.spec["languages"][lang]
        for step in ("text", "subword"):
            if mine.get(step) != theirs.get(step):
                return f"the {lang} {step} processing differs ({mine.get(step)} vs {theirs.get(step)})"
    for name in asset_names(spec):
        if assets.get(name) != pipeline.assets.get(name):
            return f"the file {name!r} (a dictionary or subword model) differs"
    return None


def parent_arch(path: str | Path) -> str:
    """The preset name the parent checkpoint was trained from (for `--finetune-from` without
    `--arch`)."""
    arch = read_meta(path).get("arch")
    if not arch:
        raise NmtError(f"{path} does not name its architecture; give --arch")
    return arch
