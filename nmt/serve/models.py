"""The checkpoints a server translates with: one :class:`ServedModel` per language pair, each
with its own batcher (queue and worker thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nmt.api import Model
from nmt.errors import NmtError
from nmt.serve.batcher import Batcher

# ISO 639-1 codes of the languages of the WMT, IWSLT and Multi30k tasks, and some more.
LANGUAGE_NAMES = {
    "ar": "Arabic", "cs": "Czech", "de": "German", "en": "English", "es": "Spanish",
    "et": "Estonian", "fi": "Finnish", "fr": "French", "gu": "Gujarati", "hi": "Hindi",
    "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian",
    "lv": "Latvian", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}


@dataclass
class ServedModel:
    checkpoint: Path
    model: Model
    batcher: Batcher

    @property
    def pair(self) -> tuple[str, str]:
        return self.model.source_lang, self.model.target_lang

    def describe(self) -> dict:
        """What ``GET /v1/models`` says about this checkpoint."""
        meta, progress = self.model.meta, self.model.meta.get("progress") or {}
        best = progress.get("best_loss")
        return {
            "name": self.batcher.name,
            "checkpoint": str(self.checkpoint),
            "source": self.model.source_lang,
            "target": self.model.target_lang,
            "family": self.model.family,
            "arch": meta.get("arch"),
            "parameters": self.model.num_parameters,
            "precision": self.model.precision,
            "training": {
                "epoch": progress.get("epoch"),
                "updates": progress.get("update"),
                "best_valid": abs(best) if isinstance(best, (int, float)) else None,
                "hours": round(progress.get("train_seconds", 0) / 3600, 3),
            },
        }


def serve_models(models: list[tuple[Path, Model]], **batching) -> dict[tuple[str, str], ServedModel]:
    """Each loaded checkpoint with a batcher, by language pair; two checkpoints for one pair are
    an error (which would answer?)."""
    served: dict[tuple[str, str], ServedModel] = {}
    for path, model in models:
        pair = (model.source_lang, model.target_lang)
        if pair in served:
            raise NmtError(f"{served[pair].checkpoint} and {path} both translate {pair[0]}->{pair[1]}; "
                           "serve one checkpoint per language pair")
        name = f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem
        served[pair] = ServedModel(path, model, Batcher(model, name=name, **batching))
    return served


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)
