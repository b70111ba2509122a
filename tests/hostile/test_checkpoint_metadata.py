"""Checkpoints whose metadata or tensors have the wrong shape, generated from a real checkpoint:
`nmt translate` and `nmt average` refuse each with one line that names the file (and the field),
write nothing, and never quote the file's contents."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nmt.cli.main import main

SECRET = "SECRETLINE"  # planted in damaged assets: no message may show it


def model_config(**changes):
    return lambda meta, tensors: meta["model_config"].update(changes)


def top(**changes):
    return lambda meta, tensors: meta.update(changes)


def raw(text):
    return lambda meta, tensors: text


def tensor(name, make):
    """Replace tensor ``name`` by ``make(old)``."""
    return lambda meta, tensors: tensors.update({name: make(tensors[name])})


def as_bytes(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def prepend(data: bytes):
    return lambda old: torch.cat([as_bytes(data), old])


def poison(index, value):
    def make(old):
        new = old.clone()
        new.view(-1)[index] = value
        return new
    return make


def pipeline_side(lang, **changes):
    return lambda meta, tensors: meta["pipeline"]["languages"][lang].update(changes)


def subword(lang, **changes):
    return lambda meta, tensors: meta["pipeline"]["languages"][lang]["subword"].update(changes)


def drop(name):
    return lambda meta, tensors: tensors.pop(name)


def add_tensor(name, value):
    return lambda meta, tensors: tensors.update({name: value})


def list_asset(name):
    return lambda meta, tensors: meta["assets"].append(name)


# id -> (corruption of (meta, tensors), words the message must hold besides the file name)
CASES = {
    # the metadata JSON itself
    "meta-null": (raw("null"), "must be a JSON object, found null"),
    "meta-list": (raw("[1, 2, 3]"), "must be a JSON object, found a list"),
    "meta-string": (raw(json.dumps("nmt-checkpoint")), "must be a JSON object, found a string"),
    "meta-number": (raw("42"), "must be a JSON object"),
    "meta-not-json": (raw("{format: nmt"), "metadata is not valid JSON"),
    # format version
    "format-version-string": (top(format_version="1"), "'format_version' must be an integer"),
    "format-version-bool": (top(format_version=True), "'format_version' must be an integer"),
    "format-version-zero": (top(format_version=0), "'format_version' is 0"),
    "format-version-newer": (top(format_version=99), "upgrade nmt"),
    # family and model config
    "family-list": (top(family=["convs2s"]), "'family' must be a string, found a list"),
    "family-unknown": (top(family="transformer"), "unknown model family 'transformer'"),
    "model-config-list": (top(model_config=[16, 32]), "'model_config' must be an object"),
    "config-int-as-string": (model_config(encoder_embed_dim="256"),
                             "'encoder_embed_dim' must be an integer, found a string"),
    "config-int-as-bool": (model_config(encoder_embed_dim=True),
                           "'encoder_embed_dim' must be an integer, found a boolean"),
    "config-int-as-float": (model_config(encoder_embed_dim=16.0),
                            "'encoder_embed_dim' must be an integer, found a floating-point"),
    "config-vocab-1e12-float": (model_config(src_vocab_size=1e12),
                                "'src_vocab_size' must be an integer"),
    "config-vocab-1e12-int": (model_config(src_vocab_size=10**12),
                              "'src_vocab_size' is 1000000000000, more than"),
    "config-vocab-too-big": (model_config(src_vocab_size=500_000),
                             "'encoder.embed_tokens.weight' is 9808x16, the config makes it 500000x16"),
    "config-dim-mismatch": (model_config(encoder_embed_dim=17), "do not fit"),
    "config-negative-dim": (model_config(encoder_embed_dim=-16), "cannot be built"),
    "config-list-as-string": (model_config(encoder_layers="32x3"),
                              "'encoder_layers' must be a list, found a string"),
    "config-bool-or-list": (model_config(decoder_attention="yes"),
                            "'decoder_attention' must be true or false or a list of booleans"),
    "config-float-as-string": (model_config(dropout="0.1"), "'dropout' must be a number"),
    "config-huge-repeat": (model_config(encoder_layers=[{"channels": 32, "kernel": 3,
                                                         "repeat": 10**9}]), "more than"),
    "config-many-layers": (model_config(encoder_layers=[{"channels": 32, "kernel": 3,
                                                         "repeat": 100_000}]), "far more layers"),
    "config-unknown-key": (model_config(attention_heads=8), "unknown keys ['attention_heads']"),
    # pipeline description
    "pipeline-string": (top(pipeline="subword-nmt"), "'pipeline' must be an object, found a string"),
    "pipeline-no-languages": (lambda m, t: m["pipeline"].pop("languages"),
                              "lacks the field 'pipeline.languages'"),
    "pipeline-side-list": (lambda m, t: m["pipeline"]["languages"].update(en=[]),
                           "'pipeline.languages.en' must be an object"),
    "pipeline-subword-type-int": (subword("de", type=3),
                                  "'pipeline.languages.de.subword.type' must be a string"),
    "pipeline-dictionary-list": (pipeline_side("en", dictionary=["dict.en.txt"]),
                                 "'pipeline.languages.en.dictionary' must be a string or null"),
    "pipeline-names-absent-file": (pipeline_side("de", dictionary="dict.xx.txt"),
                                   "names the file 'dict.xx.txt', which is not among its assets"),
    # assets
    "asset-bpe-codes-bf16": (tensor("asset.bpe.codes", lambda t: t.to(torch.bfloat16)),
                             "asset 'bpe.codes' must be a 1-D uint8 tensor, found BF16"),
    "asset-2d": (tensor("asset.dict.en.txt", lambda t: t[: t.numel() // 2 * 2].view(2, -1)),
                 "asset 'dict.en.txt' must be a 1-D uint8 tensor"),
    "asset-dictionary-not-utf8": (tensor("asset.dict.de.txt", prepend(b"\xff\xfe" + SECRET.encode())),
                                  "asset 'dict.de.txt' (a dictionary) is not UTF-8"),
    "asset-codes-not-utf8": (tensor("asset.bpe.codes", prepend(SECRET.encode() + b"\xc3\x28\n")),
                             "asset 'bpe.codes' (BPE codes) is not UTF-8"),
    "asset-dictionary-bad-line": (tensor("asset.dict.en.txt", prepend(f"{SECRET}\n".encode())),
                                  "(a dictionary), line 1: not a '<token> <count>' line"),
    "asset-codes-malformed": (tensor("asset.bpe.codes", lambda t: as_bytes(
                                  f"#version: 0.2\n{SECRET}\n".encode())),
                              "its pipeline cannot be rebuilt: BPE codes 'bpe.codes' is not valid at line 2"),
    "assets-not-strings": (top(assets=[1, 2, 3]), "'assets' must be a list of strings"),
    "assets-a-string": (top(assets="bpe.codes"), "'assets' must be a list, found a string"),
    "assets-lists-absent": (list_asset("extra.txt"), "asset 'extra.txt' is listed but has no tensor"),
    "asset-not-listed": (add_tensor("asset.extra.txt", as_bytes(b"x")), "not listed"),
    # other tensors
    "weight-nan": (tensor("model.decoder.fc3.bias", poison(3, float("nan"))),
                   "weight 'decoder.fc3.bias' holds 1 NaN or infinite"),
    "weight-inf": (tensor("model.encoder.embed_tokens.weight", poison(0, float("-inf"))),
                   "weight 'encoder.embed_tokens.weight' holds 1 NaN or infinite"),
    "weight-missing": (drop("model.decoder.fc3.bias"), "'decoder.fc3.bias' is missing"),
    "weight-extra": (add_tensor("model.decoder.fc4.bias", torch.zeros(3)), "not part of the"),
    "rng-float": (add_tensor("rng.torch", torch.zeros(5)), "'rng.torch' must be 1-D uint8"),
    "optimizer-groups-string": (top(optimizer={"param_groups": "x", "scalars": {}}),
                                "'optimizer.param_groups' must be a list"),
    "optim-tensor-name": (add_tensor("optim.x.exp_avg", torch.zeros(3)), "is not named"),
}


@pytest.fixture(scope="module")
def original(imported_tiny1):
    with safe_open(str(imported_tiny1), framework="pt") as f:
        return f.metadata()["nmt"], {k: f.get_tensor(k) for k in f.keys()}


def damaged(original, tmp_path, case):
    """A copy of the real checkpoint with one corruption."""
    meta_text, tensors = original
    meta, tensors = json.loads(meta_text), dict(tensors)
    corrupt, _ = CASES[case]
    text = corrupt(meta, tensors)
    path = tmp_path / f"{case}.safetensors"
    save_file(tensors, str(path), metadata={"nmt": text if isinstance(text, str) else json.dumps(meta)})
    return path


def one_line_naming(capsys, code, path, *needles):
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert str(path) in err and all(n in err for n in needles), err
    assert SECRET not in err, err
    return err


@pytest.mark.parametrize("case", list(CASES))
def test_translate_refuses(case, original, tmp_path, capsys):
    bad = damaged(original, tmp_path, case)
    (tmp_path / "in.en").write_text("A dog runs.\n")
    out = tmp_path / "out.de"
    code = main(["translate", "--checkpoint", str(bad), "--input", str(tmp_path / "in.en"),
                 "--output", str(out)])
    one_line_naming(capsys, code, bad, "nmt translate: error:", CASES[case][1])
    assert not out.exists()


@pytest.mark.parametrize("case", list(CASES))
def test_average_refuses(case, original, imported_tiny1, tmp_path, capsys):
    bad = damaged(original, tmp_path, case)
    out = tmp_path / "avg.safetensors"
    code = main(["average", str(imported_tiny1), str(bad), "--output", str(out)])
    one_line_naming(capsys, code, bad, "nmt average: error:")
    assert not out.exists()


def test_the_undamaged_copy_still_translates_and_averages(original, imported_tiny1, tmp_path):
    """The rewrite itself (safe_open + save_file) damages nothing."""
    meta_text, tensors = original
    copy = tmp_path / "copy.safetensors"
    save_file(dict(tensors), str(copy), metadata={"nmt": meta_text})
    (tmp_path / "in.en").write_text("A dog runs.\n")
    assert main(["translate", "--checkpoint", str(copy), "--input", str(tmp_path / "in.en"),
                 "--output", str(tmp_path / "out.de")]) == 0
    assert main(["average", str(imported_tiny1), str(copy), "--output",
                 str(tmp_path / "avg.safetensors")]) == 0
    with safe_open(str(tmp_path / "avg.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["nmt"])
    assert len(meta["pipeline_sha256"]) == 64
