"""Import fairseq ``fconv`` (ConvS2S) checkpoints without executing code from them.

fairseq stores the architecture as an ``argparse.Namespace`` whose layer stacks are Python
expressions (``"[(512, 3)] * 9 + [(1024, 3)] * 4 + [(2048, 1)] * 2"``) that fairseq ``eval``s.
We read them with :func:`parse_fairseq_spec`, which accepts only literals, ``+`` of lists and
``*`` of a list by an int. Weight names and layouts differ from ours in three ways:

- weight norm: fairseq's ``weight_g``/``weight_v`` are our ``parametrizations.weight.original0/1``;
- convolutions: fairseq's weight is (kernel, in, out) with the norm over dims (0, 1), ours is
  Conv1d's (out, in, kernel) with the norm over dims (1, 2): ``v.permute(2, 1, 0)``, ``g`` reshaped;
- convs, residual projections and attentions are grouped per layer in our model.
"""

from __future__ import annotations

import argparse
import ast
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt.errors import NmtError
from nmt.models.convs2s import ConvS2SConfig, compress_layers, expand_layers

_MAX_SPEC_ITEMS = 10_000

# fairseq's `fconv` base_architecture, for arguments a checkpoint does not record
FCONV_DEFAULTS = {
    "dropout": 0.1,
    "encoder_embed_dim": 512,
    "encoder_layers": "[(512, 3)] * 20",
    "decoder_embed_dim": 512,
    "decoder_layers": "[(512, 3)] * 20",
    "decoder_out_embed_dim": 256,
    "decoder_attention": "True",
    "share_input_output_embed": False,
}


def parse_fairseq_spec(text: str) -> Any:
    """Safely evaluate a fairseq layer or attention spec such as ``"[(32, 3)] * 2 + [(64, 5)]"``.

    Leaves go through :func:`ast.literal_eval`; the only operators are ``list + list`` and
    ``list * int`` (either order). Anything else (names, calls, attributes) is rejected.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise NmtError(f"cannot parse fairseq spec {text!r}: {err.msg}") from None
    return _eval_spec(tree.body, text)


def _eval_spec(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _eval_spec(node.left, text), _eval_spec(node.right, text)
        if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
            result = left + right
        elif isinstance(node.op, ast.Mult) and isinstance(left, list) and _is_int(right):
            result = left * right
        elif isinstance(node.op, ast.Mult) and _is_int(left) and isinstance(right, list):
            result = right * left
        else:
            raise NmtError(f"unsupported operation in fairseq spec {text!r}")
        if len(result) > _MAX_SPEC_ITEMS:
            raise NmtError(f"fairseq spec {text!r} expands to more than {_MAX_SPEC_ITEMS} items")
        return result
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise NmtError(f"fairseq spec {text!r} is not a literal layer list") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _spec(value: Any) -> Any:
    return parse_fairseq_spec(value) if isinstance(value, str) else value


def config_from_fairseq_arch(arch: dict | argparse.Namespace, state_dict: dict[str, Tensor],
                             pad_id: int = 1) -> ConvS2SConfig:
    """A :class:`ConvS2SConfig` from fairseq's model arguments; vocabulary sizes and position table
    sizes come from the weights themselves."""
    args = {**FCONV_DEFAULTS, **(vars(arch) if isinstance(arch, argparse.Namespace) else arch)}
    attention = _spec(args["decoder_attention"])
    if not isinstance(attention, bool):
        attention = [bool(a) for a in attention]
    return ConvS2SConfig(
        src_vocab_size=state_dict["encoder.embed_tokens.weight"].shape[0],
        tgt_vocab_size=state_dict["decoder.embed_tokens.weight"].shape[0],
        encoder_embed_dim=int(args["encoder_embed_dim"]),
        encoder_layers=compress_layers(expand_layers(_spec(args["encoder_layers"]))),
        decoder_embed_dim=int(args["decoder_embed_dim"]),
        decoder_layers=compress_layers(expand_layers(_spec(args["decoder_layers"]))),
        decoder_out_embed_dim=int(args["decoder_out_embed_dim"]),
        decoder_attention=attention,
        dropout=float(args["dropout"]),
        tie_output=bool(args["share_input_output_embed"]),
        max_source_positions=state_dict["encoder.embed_positions.weight"].shape[0],
        max_target_positions=state_dict["decoder.embed_positions.weight"].shape[0],
        pad_id=pad_id,
    )


_REQUIRED = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
             "encoder.embed_positions.weight", "decoder.embed_positions.weight")

_RENAMES = [  # fairseq module path -> ours (weight-norm suffixes are handled separately)
    (re.compile(r"^(encoder|decoder)\.convolutions\.(\d+)\."), r"\1.layers.\2.conv.conv."),
    (re.compile(r"^(encoder|decoder)\.projections\.(\d+)\."), r"\1.layers.\2.projection."),
    (re.compile(r"^decoder\.attention\.(\d+)\."), r"decoder.layers.\1.attention."),
]
_CONV = re.compile(r"^(encoder|decoder)\.convolutions\.\d+\.")
_SUFFIXES = {"weight_g": "parametrizations.weight.original0",
             "weight_v": "parametrizations.weight.original1"}


def _rename(key: str) -> str:
    for pattern, repl in _RENAMES:
        key = pattern.sub(repl, key)
    module, _, name = key.rpartition(".")
    return f"{module}.{_SUFFIXES.get(name, name)}"


def _conv_weight_norm(g: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """fairseq conv (g, v), v (K, in, out), to ours: v (out, in, K), g (out, 1, 1).

    Current checkpoints normalise over (K, in) per output channel, g (1, 1, out), which maps
    one-to-one. Old ones (``decoder.version`` < 2) normalised over (in, out) per kernel tap,
    g (K, 1, 1); those are folded into the plain weight and re-split with ``g = ‖W‖``.
    """
    k, _, out = v.shape
    if g.shape == (1, 1, out):
        return g.reshape(out, 1, 1), v.permute(2, 1, 0).contiguous()
    if g.shape == (k, 1, 1):
        w = v * (g / torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True))
        w = w.permute(2, 1, 0).contiguous()  # (out, in, K)
        return torch.linalg.vector_norm(w, dim=(1, 2), keepdim=True), w
    raise NmtError(f"unexpected conv weight-norm shapes g {tuple(g.shape)}, v {tuple(v.shape)}")


def convert_fairseq_state(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename and re-lay-out fairseq ``fconv`` weights for :class:`~nmt.models.convs2s.ConvS2S`."""
    ours: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key == "decoder.version" or key.endswith("._linearized_weight"):
            continue  # bookkeeping and a decoding cache, not weights
        if _CONV.match(key) and key.endswith(".weight_g"):
            prefix = key[: -len("weight_g")]
            g, v = _conv_weight_norm(value, state_dict[prefix + "weight_v"])
            ours[_rename(key)], ours[_rename(prefix + "weight_v")] = g, v
        elif not (_CONV.match(key) and key.endswith(".weight_v")):
            ours[_rename(key)] = value
    return ours


def convs2s_from_fairseq_state(state_dict: dict[str, Tensor],
                               arch: dict | argparse.Namespace) -> tuple[ConvS2SConfig, dict]:
    """fairseq ``fconv`` weights and model arguments -> (our config, our state dict).

    Load the result with ``ConvS2SModel(config).load_state_dict(ours)`` (strict), which checks that every
    weight found its place.
    """
    missing = [k for k in _REQUIRED if k not in state_dict]
    if missing:
        raise NmtError(f"not a fairseq fconv state dict: missing {', '.join(missing)}")
    return config_from_fairseq_arch(arch, state_dict), convert_fairseq_state(state_dict)


def load_fairseq_checkpoint(path: str | Path) -> tuple[ConvS2SConfig, dict]:
    """Read a fairseq ``fconv`` ``checkpoint.pt`` (no code is run: ``weights_only=True``, with only
    ``argparse.Namespace`` allowed) and convert it with :func:`convs2s_from_fairseq_state`."""
    return read_fairseq_checkpoint(path)[:2]


def read_fairseq_checkpoint(path: str | Path) -> tuple[ConvS2SConfig, dict, dict]:
    """As :func:`load_fairseq_checkpoint`, plus what the checkpoint says about its task:
    ``{"source_lang", "target_lang", "num_updates"}`` (values None where it does not say)."""
    path = Path(path)
    if not path.is_file():
        raise NmtError(f"fairseq checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise NmtError(f"{path}: not a loadable fairseq checkpoint ({first_line})") from None
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise NmtError(f"{path}: not a fairseq checkpoint (no 'model' state dict)")
    cfg = checkpoint.get("cfg")
    arch = cfg["model"] if cfg and cfg.get("model") is not None else checkpoint.get("args")
    if arch is None:
        raise NmtError(f"{path}: no model arguments (cfg['model'] or args) in the checkpoint")
    name = getattr(arch, "arch", None) if isinstance(arch, argparse.Namespace) else arch.get("arch")
    name = str(name or "fconv")
    if not name.startswith("fconv") or "self_att" in name or "_lm" in name:
        raise NmtError(f"{path}: architecture {name!r} is not a fairseq fconv model")
    task = (cfg or {}).get("task") or {}
    if isinstance(task, argparse.Namespace):
        task = vars(task)
    history = checkpoint.get("optimizer_history") or [{}]
    info = {
        "source_lang": task.get("source_lang") or getattr(arch, "source_lang", None),
        "target_lang": task.get("target_lang") or getattr(arch, "target_lang", None),
        "num_updates": history[-1].get("num_updates") if isinstance(history[-1], dict) else None,
    }
    return (*convs2s_from_fairseq_state(checkpoint["model"], arch), info)
