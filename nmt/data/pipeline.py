"""`Pipeline`: raw sentence <-> token ids, exactly as the training data was made.

A pipeline is a JSON description (``pipeline.json``) plus the files it names (BPE codes or a
sentencepiece model, and the dictionaries), held as bytes. `nmt preprocess` writes one into every
data directory; checkpoints carry the same description and bytes, so `nmt translate` rebuilds the
identical processing from a checkpoint alone.

Per language the steps are: Unicode + Moses punctuation normalisation, Moses tokenization,
optional lowercasing (:mod:`nmt.data.tokenizer`), subword segmentation (:mod:`nmt.data.subword`),
dictionary lookup (:mod:`nmt.data.dictionary`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nmt.data.dictionary import Dictionary, source_sequence
from nmt.data.subword import Segmenter, build_segmenter
from nmt.data.tokenizer import TextSteps, WordProcessor
from nmt.errors import NmtError

PIPELINE_FILE = "pipeline.json"
PIPELINE_FORMAT = "nmt-pipeline"
PIPELINE_VERSION = 1
FORMATS = ("raw", "tokens", "pieces")  # raw text; Moses tokens; subword pieces (BPE applied)


@dataclass
class Source:
    """A source sentence as the model reads it: ``ids`` end with ``</s>``, ``pieces`` do not;
    ``cut``: the line was longer and lost its end."""

    ids: list[int]
    pieces: list[str]
    cut: bool = False


class LanguagePipeline:
    """The processing of one language: text steps, segmenter, dictionary."""

    def __init__(self, text: TextSteps, segmenter: Segmenter, dictionary: Dictionary | None):
        self.lang = text.lang
        self.words = WordProcessor(text)
        self.segmenter = segmenter
        self.dictionary = dictionary

    def pieces(self, line: str) -> list[str]:
        """Raw line -> subword pieces (the tokens the dictionary maps)."""
        return self.segmenter.segment(self.words.tokenize(line))

    def encode(self, line: str) -> list[int]:
        """Raw line -> ids (no eos appended; the batcher adds it)."""
        return self.dictionary.encode(self.pieces(line))

    def decode_pieces(self, pieces: list[str]) -> str:
        """Subword pieces -> detokenized text."""
        return self.words.detokenize(self.segmenter.desegment(pieces))

    def split(self, line: str, fmt: str = "raw") -> list[str]:
        """A line in format ``fmt`` (see FORMATS) -> subword pieces."""
        if fmt == "raw":
            return self.pieces(line)
        if fmt == "tokens":
            return self.segmenter.segment(line.split())
        return line.split()

    def join(self, pieces: list[str], fmt: str = "raw") -> str:
        """Subword pieces -> a line in format ``fmt``: detokenized text, Moses tokens or pieces."""
        if fmt == "pieces":
            return " ".join(pieces)
        if fmt == "tokens":
            return " ".join(self.segmenter.desegment(pieces))
        return self.decode_pieces(pieces)

    def decode(self, ids) -> str:
        """Ids -> detokenized text; pad/bos/eos are dropped, ``<unk>`` is kept as such."""
        return self.decode_pieces(self.dictionary.decode(int(i) for i in ids))


class Pipeline:
    """Both languages' processing, serialisable as ``(spec, assets)``."""

    def __init__(self, spec: dict, assets: dict[str, bytes]):
        check_spec(spec)
        self.spec = spec
        self.assets = dict(assets)
        self.source_lang: str = spec["source_lang"]
        self.target_lang: str = spec["target_lang"]
        self.sides = {lang: self._build_side(lang) for lang in (self.source_lang, self.target_lang)}

    def _build_side(self, lang: str) -> LanguagePipeline:
        side = self.spec["languages"][lang]
        text = TextSteps.from_dict(side["text"])
        segmenter = build_segmenter(side["subword"], self.assets)
        dict_name = side.get("dictionary")
        dictionary = None
        if dict_name is not None:
            if dict_name not in self.assets:
                raise NmtError(f"pipeline asset {dict_name!r} is missing")
            dictionary = Dictionary.from_bytes(self.assets[dict_name], dict_name)
        return LanguagePipeline(text, segmenter, dictionary)

    @property
    def source(self) -> LanguagePipeline:
        return self.sides[self.source_lang]

    @property
    def target(self) -> LanguagePipeline:
        return self.sides[self.target_lang]

    def encode(self, line: str) -> list[int]:
        """A raw source sentence -> source ids (no eos: what the binarized data stores)."""
        return self.source.encode(line)

    def source_ids(self, line: str, fmt: str = "raw", max_len: int | None = None) -> Source | None:
        """A source line in format ``fmt`` -> the ids the model reads (eos appended) and their
        pieces; None for a line without pieces. ``max_len`` bounds the ids, eos included (longer
        input is cut)."""
        pieces = self.source.split(line, fmt) if line.strip() else []
        if not pieces:
            return None
        cut = max_len is not None and len(pieces) + 1 > max_len
        if cut:
            pieces = pieces[: max_len - 1]
        return Source(source_sequence(self.source.dictionary.encode(pieces)), pieces, cut)

    def decode(self, ids) -> str:
        """Target ids -> a detokenized target sentence."""
        return self.target.decode(ids)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        for name, data in self.assets.items():
            (directory / name).write_bytes(data)
        (directory / PIPELINE_FILE).write_text(json.dumps(self.spec, indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> Pipeline:
        directory = Path(directory)
        spec_path = directory / PIPELINE_FILE
        if not directory.is_dir():
            raise NmtError(f"data directory not found: {directory}")
        if not spec_path.is_file():
            raise NmtError(f"{directory} has no {PIPELINE_FILE}: not a data directory made by nmt preprocess")
        try:
            spec = json.loads(spec_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise NmtError(f"{spec_path} is not valid JSON: {e}") from None
        try:
            check_spec(spec)
        except NmtError as e:
            raise NmtError(f"{spec_path}: {e}") from None
        assets = {}
        for name in asset_names(spec):
            path = directory / name
            if not path.is_file():
                raise NmtError(f"{path} is missing (named in {spec_path})")
            assets[name] = path.read_bytes()
        return cls(spec, assets)


def check_spec(spec) -> None:
    """A pipeline description's shape, checked before any of it is used: the format, both
    languages with their text and subword steps, and asset names that are plain file names (a
    name like ``../x`` or ``/etc/x`` would read or write outside the data directory)."""
    if not isinstance(spec, dict):
        raise NmtError(f"a pipeline description must be a JSON object, not {type(spec).__name__}")
    if spec.get("format") != PIPELINE_FORMAT:
        raise NmtError("not an nmt pipeline description (missing 'format': 'nmt-pipeline')")
    version = spec.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise NmtError("the pipeline description's 'version' must be an integer")
    if version > PIPELINE_VERSION:
        raise NmtError(f"pipeline description version {version} is newer than this toolkit "
                       f"understands ({PIPELINE_VERSION}); upgrade nmt")
    langs = [spec.get("source_lang"), spec.get("target_lang")]
    if not all(isinstance(lang, str) and lang for lang in langs):
        raise NmtError("the pipeline description needs 'source_lang' and 'target_lang' strings")
    languages = spec.get("languages")
    if not isinstance(languages, dict) or not all(isinstance(languages.get(x), dict) for x in langs):
        raise NmtError(f"the pipeline description's 'languages' must describe both {langs[0]} "
                       f"and {langs[1]}")
    for lang in langs:
        if not isinstance(languages[lang].get("subword"), dict):
            raise NmtError(f"the pipeline description's {lang} 'subword' must be a JSON object")
    for name in asset_names(spec):
        check_asset_name(name)


def check_asset_name(name) -> None:
    """An asset (dictionary, BPE codes, sentencepiece model) is a plain file name."""
    if not isinstance(name, str):
        raise NmtError(f"a pipeline asset name must be a string, not {type(name).__name__}")
    if (not name or name != Path(name).name or name.startswith(".") or "\\" in name
            or "\0" in name):
        raise NmtError(f"pipeline asset name {name!r} is not a plain file name inside the directory")


def asset_names(spec: dict) -> list[str]:
    """Every file a pipeline description names, each once."""
    names: list[str] = []
    for lang in dict.fromkeys((spec["source_lang"], spec["target_lang"])):
        side = spec["languages"][lang]
        sub = side["subword"]
        for name in (sub.get("codes"), sub.get("model"), side.get("dictionary")):
            if name is not None and name not in names:
                names.append(name)
    return names


def make_spec(source_lang: str, target_lang: str, languages: dict[str, dict]) -> dict:
    """A pipeline description; ``languages[lang]`` holds ``text``, ``subword`` and ``dictionary``."""
    return {
        "format": PIPELINE_FORMAT,
        "version": PIPELINE_VERSION,
        "source_lang": source_lang,
        "target_lang": target_lang,
        "languages": languages,
    }
