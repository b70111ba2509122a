"""`nmt import-fairseq`: a fairseq ``fconv`` checkpoint -> our self-describing checkpoint.

The pipeline stored with it tokenizes the way fairseq's own examples (and the reference fixtures)
did: sacremoses with its default XML escaping, no normalisation, subword-nmt codes (when given),
fairseq's dictionaries.
"""

from __future__ import annotations

from pathlib import Path

from nmt import registry
from nmt.checkpoint import Checkpoint, pipeline_sha256, save_checkpoint
from nmt.data.dictionary import Dictionary
from nmt.data.pipeline import Pipeline, make_spec
from nmt.data.text import require_file
from nmt.data.tokenizer import TextSteps
from nmt.errors import NmtError
from nmt.models.fairseq_import import read_fairseq_checkpoint


def fairseq_pipeline(dict_dir: Path, src: str, tgt: str, bpe_codes: Path | None,
                     moses_escape: bool = True) -> Pipeline:
    assets: dict[str, bytes] = {}
    subword: dict = {"type": "none"}
    if bpe_codes is not None:
        assets["bpe.codes"] = require_file(bpe_codes, "BPE codes file").read_bytes()
        subword = {"type": "subword-nmt", "codes": "bpe.codes", "separator": "@@"}
    languages = {}
    for lang in (src, tgt):
        name = f"dict.{lang}.txt"
        path = require_file(Path(dict_dir) / name, "fairseq dictionary")
        Dictionary.from_text(path.read_text(encoding="utf-8"), str(path))  # validate
        assets[name] = path.read_bytes()
        text = TextSteps(lang=lang, unicode_norm="none", punct_norm=False, moses_escape=moses_escape)
        languages[lang] = {"text": text.to_dict(), "subword": subword, "dictionary": name}
    return Pipeline(make_spec(src, tgt, languages), assets)


def import_fairseq(checkpoint: str | Path, dict_dir: str | Path, output: str | Path,
                   bpe_codes: str | Path | None = None, source_lang: str | None = None,
                   target_lang: str | None = None, moses_escape: bool = True) -> dict:
    """Convert, check that the weights load into our model, write ``output``; returns the meta."""
    cfg, state, info = read_fairseq_checkpoint(checkpoint)
    src, tgt = source_lang or info["source_lang"], target_lang or info["target_lang"]
    if not src or not tgt:
        raise NmtError(f"{checkpoint} does not name its languages: give --source-lang and --target-lang")
    pipeline = fairseq_pipeline(Path(dict_dir), src, tgt, Path(bpe_codes) if bpe_codes else None, moses_escape)
    for side, size in ((pipeline.source, cfg.src_vocab_size), (pipeline.target, cfg.tgt_vocab_size)):
        if len(side.dictionary) != size:
            raise NmtError(f"dict.{side.lang}.txt has {len(side.dictionary)} symbols, the model {size}")
    model = registry.build_model(cfg)
    model.load_state_dict(state)  # strict: every fairseq weight found its place
    meta = {
        "arch": "fairseq:fconv",
        "family": registry.family_of(cfg),
        "model_config": registry.config_to_dict(cfg),
        "pipeline": pipeline.spec,
        "pipeline_sha256": pipeline_sha256(pipeline.spec, pipeline.assets),
        "progress": {"update": info["num_updates"] or 0},
        "imported_from": str(checkpoint),
    }
    save_checkpoint(output, Checkpoint(meta=meta, model=model.state_dict(), assets=pipeline.assets))
    return meta
