"""Self-describing checkpoints: one safetensors file, loadable without unpickling anything.

Tensors: ``model.<name>`` (the weights), ``optim.<param index>.<key>`` (optimiser state),
``asset.<name>`` (the pipeline's files as uint8: BPE codes / sentencepiece model, dictionaries),
``rng.torch``. Everything else is JSON in the safetensors metadata under ``"nmt"``: the format
version, the toolkit version, the architecture and model config, the resolved training config,
the pipeline description and its fingerprint (``pipeline_sha256``), the training progress,
optimiser hyper-parameters and schedule state. Every read checks the metadata and the tensors'
dtypes and shapes against :mod:`nmt.checkpoint.schema` before using any of it.

Writes are atomic: a temporary file in the same directory, fsync, rename, fsync of the directory.
A kill at any moment leaves either the previous file or the new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from nmt import __version__
from nmt.checkpoint.schema import (
    FORMAT,
    FORMAT_VERSION,
    DamagedCheckpoint,
    TensorInfo,
    validate_assets,
    validate_meta,
)
from nmt.data.files import (
    check_output_path,
    new_file_mode,
    no_space_left,
    remove_stale_temporaries,
    temporary_path,
)
from nmt.errors import NmtError

__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "load_checkpoint", "pipeline_sha256",
           "read_meta", "save_checkpoint"]


@dataclass
class Checkpoint:
    """The contents of a checkpoint file (``optimizer`` is None when it was saved without)."""

    meta: dict
    model: dict[str, torch.Tensor]
    assets: dict[str, bytes] = field(default_factory=dict)
    optimizer: dict | None = None
    rng: torch.Tensor | None = None


def _unshare(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied weights): copy the later aliases."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, t in state.items():
        t = t.detach()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        out[name] = t.clone().contiguous() if key in seen else t.contiguous()
        seen.add(key)
    return out


def _split_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` atomically to ``path`` (a symlink's target is replaced, the link stays)."""
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    check_output_path(path, "checkpoint output", special_ok=False)
    meta = dict(ckpt.meta, format=FORMAT, format_version=FORMAT_VERSION, nmt_version=__version__)
    tensors = {f"model.{k}": v for k, v in _unshare(ckpt.model).items()}
    for name, data in ckpt.assets.items():
        tensors[f"asset.{name}"] = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)
    if ckpt.optimizer is not None:
        opt_tensors, meta["optimizer"] = _split_optimizer(ckpt.optimizer)
        tensors.update(opt_tensors)
    if ckpt.rng is not None:
        tensors["rng.torch"] = ckpt.rng
    meta["assets"] = list(ckpt.assets)
    with no_space_left(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name)
        tmp = temporary_path(path)
        try:
            save_file(tensors, str(tmp), metadata={"nmt": json.dumps(meta)})
            os.chmod(tmp, new_file_mode(path))  # safetensors creates it 0600
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | Path, with_optimizer: bool = True) -> Checkpoint:
    """Read a checkpoint; a missing, corrupt, foreign, too-new or damaged file is a one-line
    NmtError (:class:`~nmt.checkpoint.schema.DamagedCheckpoint` for a damaged one)."""
    path = Path(path)
    _check_is_a_checkpoint_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = _checked_meta(path, f)
            ckpt = Checkpoint(meta=meta, model={})
            opt_tensors = {}
            for name in f.keys():
                kind, _, rest = name.partition(".")
                if kind == "model":
                    ckpt.model[rest] = f.get_tensor(name)
                elif kind == "asset":
                    ckpt.assets[rest] = f.get_tensor(name).numpy().tobytes()
                elif kind == "optim" and with_optimizer:
                    opt_tensors[rest] = f.get_tensor(name)
                elif kind == "rng":
                    ckpt.rng = f.get_tensor(name)
    except _UNREADABLE as e:
        raise _unreadable(path, e) from None
    validate_assets(path, meta, ckpt.assets)
    if with_optimizer and "optimizer" in meta:
        ckpt.optimizer = _join_optimizer(meta["optimizer"], opt_tensors)
    return ckpt


def read_meta(path: str | Path) -> dict:
    """A checkpoint's metadata (configs, pipeline description, progress) without its tensors."""
    path = Path(path)
    _check_is_a_checkpoint_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return _checked_meta(path, f)
    except _UNREADABLE as e:
        raise _unreadable(path, e) from None


def _checked_meta(path: Path, f) -> dict:
    """The metadata of open file ``f``, validated with the dtypes and shapes of its tensors."""
    meta = _parse_meta(path, (f.metadata() or {}).get("nmt"))
    tensors: dict[str, TensorInfo] = {}
    for name in f.keys():
        tensor = f.get_slice(name)
        tensors[name] = (tensor.get_dtype(), tuple(tensor.get_shape()))
    return validate_meta(path, meta, tensors)


def pipeline_sha256(spec: dict, assets: dict[str, bytes]) -> str:
    """The fingerprint of a pipeline: sha256 over its description as canonical JSON (sorted keys,
    no spaces, UTF-8), then per asset, sorted by name: the name, a NUL byte, the length as 8
    bytes big-endian and the bytes. Equal fingerprints: the same text processing and ids."""
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False).encode("utf-8"))
    for name in sorted(assets):
        h.update(name.encode("utf-8") + b"\0" + len(assets[name]).to_bytes(8, "big"))
        h.update(assets[name])
    return h.hexdigest()


_UNREADABLE = (SafetensorError, OSError, ValueError, RuntimeError)


def _unreadable(path: Path, e: Exception) -> NmtError:
    return NmtError(f"{path} is not a readable nmt checkpoint (corrupt or truncated?): "
                    f"{str(e).splitlines()[0]}")


# The first bytes of files people give as a checkpoint by mistake.
_ZIP, _PICKLE = b"PK\x03\x04", b"\x80"


def _check_is_a_checkpoint_file(path: Path) -> None:
    """A one-line NmtError for a missing path, a directory, a fairseq/PyTorch file or a YAML."""
    if path.is_dir():
        hint = next((p for p in (path / "checkpoint_best.safetensors",
                                 path / "checkpoint_last.safetensors") if p.is_file()), None)
        raise NmtError(f"{path} is a directory, not a checkpoint file"
                       + (f"; did you mean {hint}?" if hint else ""))
    if not path.is_file():
        raise NmtError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        return
    if head.startswith(_ZIP) or head.startswith(_PICKLE):
        raise NmtError(f"{path} is a PyTorch/fairseq file (torch.save), not an nmt checkpoint; "
                       f"convert a fairseq fconv model with `nmt import-fairseq {path} ...`")
    if path.suffix in (".yaml", ".yml", ".json") or head.lstrip()[:1] in (b"#", b"{", b"-"):
        raise NmtError(f"{path} looks like a text file (a recipe or a config?), not a checkpoint; "
                       "checkpoints are SAVE_DIR/checkpoint_*.safetensors")


def _parse_meta(path: Path, raw: str | None) -> object:
    if raw is None:
        raise NmtError(f"{path} is a safetensors file but not an nmt checkpoint (no 'nmt' metadata)")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise DamagedCheckpoint(path, "checkpoint metadata is not valid JSON (corrupt file?)") from None


def _join_optimizer(meta: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        idx, _, key = name.partition(".")
        state.setdefault(int(idx), {})[key] = value
    for idx, entries in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}
