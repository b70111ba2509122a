"""Fine-tuning: a new run that starts from another run's checkpoint (``finetune_from``).

The parent's model config and weights are used (its family and sizes, whatever the preset says);
its optimiser state and learning-rate schedule carry over unless ``reset_optimizer`` /
``reset_lr_scheduler``. Training progress starts anew (update 0, epoch 1) in the new save
directory. The data must be processed exactly as the parent's was: the same pipeline description
and the same dictionaries, or the ids would mean other words (:func:`pipeline_mismatch`, the
check a resumed run makes too).
"""

from __future__ import annotations

from pathlib import Path

from nmt import registry
from nmt.checkpoint import Checkpoint, load_checkpoint, pipeline_sha256, read_meta
from nmt.checkpoint.schema import DamagedCheckpoint
from nmt.data.pipeline import Pipeline, asset_names
from nmt.errors import NmtError


def load_parent(path: str | Path, pipeline: Pipeline) -> tuple[Checkpoint, object]:
    """The parent checkpoint and its model config (checked against its weights), after checking
    that ``pipeline`` (the data's) is the one the parent was trained with."""
    parent = load_checkpoint(path)
    for key in ("family", "model_config", "pipeline"):
        if key not in parent.meta:
            raise NmtError(f"{path}: not a model checkpoint (its metadata lacks {key!r})")
    difference = pipeline_mismatch(parent.meta, parent.assets, pipeline)
    if difference:
        raise NmtError(f"cannot fine-tune {path} on this data: {difference}; preprocess the data "
                       "with `nmt preprocess --pipeline-from` the parent's data directory")
    shapes = {k: tuple(v.shape) for k, v in parent.model.items()}
    try:
        cfg = registry.config_for_weights(parent.meta["family"], parent.meta["model_config"],
                                          shapes)
    except NmtError as e:
        raise DamagedCheckpoint(path, str(e)) from None
    return parent, cfg


def pipeline_mismatch(meta: dict, assets: dict[str, bytes], pipeline: Pipeline) -> str | None:
    """What differs between the pipeline a checkpoint was trained with (``meta['pipeline']``,
    ``assets``) and ``pipeline`` (the data's), in words, or None when they are the same.

    A checkpoint with a ``pipeline_sha256`` fingerprint is first checked against its own pipeline
    (a mismatch means damaged metadata), then compared by fingerprint; older checkpoints, and
    any mismatch, are explained by :func:`pipeline_difference`."""
    stored = meta.get("pipeline_sha256")
    if stored is not None:
        if stored != pipeline_sha256(meta["pipeline"], assets):
            return "its pipeline_sha256 does not match its own pipeline (damaged metadata?)"
        if stored == pipeline_sha256(pipeline.spec, pipeline.assets):
            return None
    difference = pipeline_difference(meta["pipeline"], assets, pipeline)
    if difference is None and stored is not None:
        return "the pipeline description differs from the data's pipeline.json"
    return difference


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
