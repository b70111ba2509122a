"""What a checkpoint file may hold: the one schema of its metadata, checked before any use.

:func:`validate_meta` checks the metadata JSON and the names, dtypes and shapes of the tensors
(read from the safetensors header, before any tensor is loaded); :func:`validate_assets` checks
that the text assets (dictionaries, subword-nmt codes) are UTF-8 dictionaries and codes;
:func:`check_finite` refuses NaN/inf weights. A problem is a :class:`DamagedCheckpoint` naming the
file and the field; messages never quote the file's contents (asset bytes, dictionary lines).

What each command needs beyond this shape is checked where it is used: the model config's field
types in :func:`nmt.registry.config_from_dict`, the weights against the config in
:func:`nmt.registry.weights_misfit`, the resume state in :mod:`nmt.training.resume`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nmt import __version__
from nmt.errors import NmtError

FORMAT = "nmt-checkpoint"
FORMAT_VERSION = 1

# tensor name -> (safetensors dtype such as "F32" or "U8", shape)
TensorInfo = tuple[str, tuple[int, ...]]


class DamagedCheckpoint(NmtError):
    """A checkpoint whose metadata or tensors do not have the shape nmt writes."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


# Top-level metadata fields: name -> kind ("?" allows null). Other fields are left alone.
TOP_LEVEL = {
    "format": "string", "format_version": "integer", "nmt_version": "string", "arch": "string?",
    "family": "string", "model_config": "object", "train_config": "object", "pipeline": "object",
    "progress": "object", "schedule": "object", "optimizer": "object", "assets": "list",
    "imported_from": "string", "averaged_from": "list", "pipeline_sha256": "string",
}
_KINDS = {"object": dict, "list": list, "string": str, "integer": int, "boolean": bool}
_ARTICLE = {"object": "an object", "list": "a list", "string": "a string",
            "integer": "an integer", "boolean": "true or false"}


def kind_of(value: object) -> str:
    """A JSON value's kind in words ("a string", "null", ...), never the value itself."""
    if value is None:
        return "null"
    for tp, words in ((bool, "a boolean"), (int, "an integer"), (float, "a floating-point number"),
                      (str, "a string"), (list, "a list"), (dict, "an object")):
        if isinstance(value, tp):
            return words
    return type(value).__name__


def short(name: object) -> str:
    """A name from the file, quoted and cut to a readable length."""
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def _is(value: object, kind: str) -> bool:
    if kind.endswith("?"):
        return value is None or _is(value, kind[:-1])
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _KINDS[kind])


def field(path: Path, obj: dict, key: str, kind: str, where: str = "",
          required: bool = False) -> object:
    """``obj[key]`` checked to be of ``kind``; None when absent and not ``required``."""
    if key not in obj:
        if required:
            raise DamagedCheckpoint(path, f"checkpoint metadata lacks the field {where + key!r}")
        return None
    value = obj[key]
    if not _is(value, kind):
        want = _ARTICLE[kind.rstrip("?")] + (" or null" if kind.endswith("?") else "")
        raise DamagedCheckpoint(path, f"checkpoint metadata field {where + key!r} must be {want}, "
                                      f"found {kind_of(value)}")
    return value


def validate_meta(path: str | Path, meta: object, tensors: dict[str, TensorInfo]) -> dict:
    """``meta`` (the parsed ``nmt`` metadata) and ``tensors`` checked against the checkpoint
    format; returns ``meta``. Raises :class:`DamagedCheckpoint` (or a plain NmtError for a foreign
    or too-new file) at the first problem."""
    path = Path(path)
    if not isinstance(meta, dict):
        raise DamagedCheckpoint(path, "checkpoint metadata must be a JSON object, found "
                                      f"{kind_of(meta)}")
    if meta.get("format") != FORMAT:
        raise NmtError(f"{path} is not an nmt checkpoint")
    version = field(path, meta, "format_version", "integer", required=True)
    if version > FORMAT_VERSION:
        raise NmtError(f"{path} was written by nmt {str(meta.get('nmt_version'))[:20]} in checkpoint "
                       f"format {version}; this nmt {__version__} reads up to format "
                       f"{FORMAT_VERSION}: upgrade nmt")
    if version < 1:
        raise DamagedCheckpoint(path, f"checkpoint metadata field 'format_version' is {version}, "
                                      "not a format nmt ever wrote")
    for key, kind in TOP_LEVEL.items():
        field(path, meta, key, kind)
    if "pipeline" in meta:
        _check_pipeline(path, meta["pipeline"])
    _check_assets(path, meta, tensors)
    if "optimizer" in meta:
        _check_optimizer(path, meta["optimizer"])
    _check_state_tensors(path, tensors)
    return meta


def _check_pipeline(path: Path, spec: dict) -> None:
    """The pipeline description's structure (what :class:`nmt.data.pipeline.Pipeline` reads)."""
    field(path, spec, "format", "string", "pipeline.", required=True)
    field(path, spec, "version", "integer", "pipeline.")
    langs = [field(path, spec, key, "string", "pipeline.", required=True)
             for key in ("source_lang", "target_lang")]
    languages = field(path, spec, "languages", "object", "pipeline.", required=True)
    for lang in langs:
        field(path, languages, lang, "object", "pipeline.languages.", required=True)
    for lang, side in languages.items():
        where = f"pipeline.languages.{lang}."
        if not isinstance(side, dict):
            raise DamagedCheckpoint(path, f"checkpoint metadata field {where[:-1]!r} must be an "
                                          f"object, found {kind_of(side)}")
        field(path, side, "text", "object", where, required=True)
        field(path, side, "dictionary", "string?", where)
        subword = field(path, side, "subword", "object", where, required=True)
        field(path, subword, "type", "string", where + "subword.", required=True)
        for key in ("codes", "model"):
            field(path, subword, key, "string", where + "subword.")


def pipeline_files(spec: dict) -> dict[str, str]:
    """Every file a (validated) pipeline description names -> its kind: 'dictionary',
    'codes' (subword-nmt, text) or 'model' (sentencepiece, binary)."""
    names: dict[str, str] = {}
    for side in spec["languages"].values():
        for key in ("codes", "model"):
            if side["subword"].get(key) is not None:
                names.setdefault(side["subword"][key], key)
        if side.get("dictionary") is not None:
            names.setdefault(side["dictionary"], "dictionary")
    return names


def _describe(info: TensorInfo) -> str:
    return f"{info[0]} of shape {list(info[1])}"


def _check_assets(path: Path, meta: dict, tensors: dict[str, TensorInfo]) -> None:
    """'assets' lists exactly the ``asset.*`` tensors, each 1-D uint8, and every file the
    pipeline names is among them."""
    names = meta.get("assets", [])
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise DamagedCheckpoint(path, "checkpoint metadata field 'assets' must be a list of "
                                          f"strings, but item {i} is {kind_of(name)}")
    stored = {t[len("asset."):]: info for t, info in tensors.items() if t.startswith("asset.")}
    for name in names:
        if name not in stored:
            raise DamagedCheckpoint(path, f"asset {short(name)} is listed but has no tensor")
    for name, info in stored.items():
        if name not in names:
            raise DamagedCheckpoint(path, f"tensor {short('asset.' + name)} is not listed in "
                                          "the metadata's 'assets'")
        if info[0] != "U8" or len(info[1]) != 1:
            raise DamagedCheckpoint(path, f"asset {short(name)} must be a 1-D uint8 tensor, "
                                          f"found {_describe(info)}")
    for name in pipeline_files(meta["pipeline"]) if "pipeline" in meta else {}:
        if name not in stored:
            raise DamagedCheckpoint(path, f"its pipeline names the file {short(name)}, which is "
                                          "not among its assets")


def _check_optimizer(path: Path, opt: dict) -> None:
    """The optimiser's metadata: param groups with parameter indices, scalars per index."""
    groups = field(path, opt, "param_groups", "list", "optimizer.", required=True)
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups.{i}"
        if not isinstance(group, dict):
            raise DamagedCheckpoint(path, f"checkpoint metadata field {where!r} must be an object, "
                                          f"found {kind_of(group)}")
        params = field(path, group, "params", "list", where + ".", required=True)
        if not all(_is(p, "integer") and p >= 0 for p in params):
            raise DamagedCheckpoint(path, f"checkpoint metadata field {where + '.params'!r} must "
                                          "be a list of parameter indices")
    scalars = field(path, opt, "scalars", "object", "optimizer.", required=True)
    for idx, entries in scalars.items():
        if not idx.isdigit() or not isinstance(entries, dict):
            raise DamagedCheckpoint(path, "checkpoint metadata field 'optimizer.scalars' must map "
                                          "parameter indices to objects")


def _check_state_tensors(path: Path, tensors: dict[str, TensorInfo]) -> None:
    """Optimiser tensors are named ``optim.<index>.<key>``; the RNG state is 1-D uint8."""
    for name in tensors:
        kind, _, rest = name.partition(".")
        idx, _, key = rest.partition(".")
        if kind == "optim" and not (idx.isdigit() and key):
            raise DamagedCheckpoint(path, f"tensor {short(name)} is not named "
                                          "optim.<parameter index>.<state key>")
    rng = tensors.get("rng.torch")
    if rng is not None and (rng[0] != "U8" or len(rng[1]) != 1):
        raise DamagedCheckpoint(path, f"tensor 'rng.torch' must be 1-D uint8, found "
                                      f"{_describe(rng)}")


def validate_assets(path: str | Path, meta: dict, assets: dict[str, bytes]) -> None:
    """The text files of the pipeline are UTF-8, and its dictionaries have the
    ``<token> <count>`` line format (checked here so that no message quotes their lines)."""
    if "pipeline" not in meta:
        return
    for name, kind in pipeline_files(meta["pipeline"]).items():
        if kind == "model":
            continue
        try:
            text = assets[name].decode("utf-8")
        except UnicodeDecodeError as e:
            what = "a dictionary" if kind == "dictionary" else "BPE codes"
            raise DamagedCheckpoint(path, f"asset {short(name)} ({what}) is not UTF-8 text "
                                          f"(bad byte at offset {e.start})") from None
        if kind == "dictionary":
            _check_dictionary(path, name, text)


def _check_dictionary(path: Path, name: str, text: str) -> None:
    for lineno, line in enumerate(text.splitlines(), 1):
        _, sep, count = line.rpartition(" ")
        if not sep or not count.lstrip("-").isdigit():
            raise DamagedCheckpoint(path, f"asset {short(name)} (a dictionary), line {lineno}: "
                                          "not a '<token> <count>' line")


def check_finite(path: str | Path, weights: dict[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or infinity, naming the first such tensor."""
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise DamagedCheckpoint(path, f"weight {short(name)} holds {bad} NaN or infinite "
                                          f"value(s) of {tensor.numel()}: unusable weights")
