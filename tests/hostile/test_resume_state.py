"""Broken resume state, generated from a real two-update run: `nmt train` resuming from
SAVE_DIR/checkpoint_last refuses each with one line naming the file ("cannot resume: ..."), and
the save directory is left byte for byte as it was. Resuming or fine-tuning on data whose
dictionary has the same size but other entries is refused too (the pipeline fingerprint)."""

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nmt.checkpoint import files, load_checkpoint, pipeline_sha256
from nmt.cli.main import main
from nmt.data.pipeline import Pipeline
from tests.training.test_fault_tolerance import TINY
from tests.training.test_trainer import data_dir  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def train(data, save, updates, *extra):
    return main(["train", str(data), "--save-dir", str(save), *TINY, "--max-update", str(updates),
                 "--log-format", "json", *extra])


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):  # noqa: F811
    """A save directory after two updates of a tiny ConvS2S (NAG, so momentum buffers)."""
    save = tmp_path_factory.mktemp("trained") / "run"
    assert train(data_dir, save, 2) == 0
    return save


def progress(**changes):
    return lambda meta, tensors: meta["progress"].update(changes)


def schedule(**changes):
    return lambda meta, tensors: meta["schedule"].update(changes)


def top(**changes):
    return lambda meta, tensors: meta.update(changes)


def pop(key):
    def corrupt(meta, tensors):
        del meta[key]
    return corrupt


def group(**changes):
    return lambda meta, tensors: meta["optimizer"]["param_groups"][0].update(changes)


def fewer_params(meta, tensors):
    meta["optimizer"]["param_groups"][0]["params"].pop()


def first_state_tensor(tensors):
    return next(k for k, v in tensors.items() if k.startswith("optim.") and v.dim() >= 1)


def wrong_state_shape(meta, tensors):
    name = first_state_tensor(tensors)
    tensors[name] = torch.zeros(tensors[name].numel() + 1)


def state_of_absent_param(meta, tensors):
    name = first_state_tensor(tensors)
    tensors["optim.9999." + name.split(".", 2)[2]] = tensors[name].clone()


def short_rng(meta, tensors):
    tensors["rng.torch"] = tensors["rng.torch"][:100].clone()


def nan_weight(meta, tensors):
    name = next(k for k in tensors if k.startswith("model."))
    tensors[name] = tensors[name].clone().fill_(float("nan"))


def bigger_weight(meta, tensors):
    name = "model.decoder.fc3.bias"
    tensors[name] = torch.zeros(tensors[name].numel() + 1)


# id -> (corruption of (meta, tensors) of checkpoint_last, words the message must hold)
CASES = {
    "progress-missing": (pop("progress"), "lacks the training progress"),
    "schedule-missing": (pop("schedule"), "lacks the learning-rate schedule"),
    "progress-string": (top(progress="update 2"), "'progress' must be an object, found a string"),
    "progress-null": (top(progress=None), "'progress' must be an object, found null"),
    "progress-unknown-key": (progress(updates=2), "unknown field 'updates'"),
    "progress-epoch-string": (progress(epoch="1"), "'progress.epoch' must be an integer"),
    "progress-update-float": (progress(update=2.5), "'progress.update' must be an integer"),
    "progress-update-bool": (progress(update=True), "'progress.update' must be an integer"),
    "progress-best-loss-string": (progress(best_loss="low"), "'progress.best_loss' must be a number"),
    "progress-negative": (progress(batch_in_epoch=-3), "'progress.batch_in_epoch' must be a finite"),
    "progress-epoch-zero": (progress(epoch=0), "'progress.epoch' must be a finite number of at least 1"),
    "progress-lacks-update": (lambda m, t: m["progress"].pop("update"), "'progress' lacks update"),
    "schedule-string": (top(schedule="fixed"), "'schedule' must be an object"),
    "schedule-unknown-key": (schedule(warmup=4), "unknown field 'warmup'"),
    "schedule-lr-string": (schedule(lr="0.25"), "'schedule.lr' must be a number"),
    "schedule-lacks-lr": (lambda m, t: m["schedule"].pop("lr"), "'schedule' lacks lr"),
    "schedule-negative-lr": (schedule(lr=-1.0), "negative or non-finite"),
    "optimizer-no-groups": (lambda m, t: m["optimizer"].update(param_groups=[]),
                            "its optimizer state has no parameter groups"),
    "optimizer-two-groups": (lambda m, t: m["optimizer"]["param_groups"].append({"params": []}),
                             "has 2 parameter groups, the optimizer 1"),
    "optimizer-fewer-params": (fewer_params, "its optimizer state covers"),
    "optimizer-groups-string": (lambda m, t: m["optimizer"].update(param_groups="all"),
                                "'optimizer.param_groups' must be a list"),
    "optimizer-lr-string": (group(lr="fast"), "hyper-parameter 'lr'"),
    "optimizer-state-shape": (wrong_state_shape, "its optimizer state 'momentum_buffer' of parameter"),
    "optimizer-state-absent-param": (state_of_absent_param, "parameter 9999, which does not exist"),
    "rng-wrong-length": (short_rng, "its RNG state has 100 bytes, torch's has"),
    "rng-wrong-dtype": (lambda m, t: t.update({"rng.torch": t["rng.torch"].float()}),
                        "'rng.torch' must be 1-D uint8"),
    "weights-nan": (nan_weight, "holds NaN or infinite values"),
    "weights-shape": (bigger_weight, "its weight 'decoder.fc3.bias' has shape"),
    "model-config-changed": (lambda m, t: m["model_config"].update(dropout=0.5),
                             "it was trained with another model config"),
    "pipeline-missing": (pop("pipeline"), "lacks the data pipeline"),
    "pipeline-sha256-damaged": (top(pipeline_sha256="0" * 64), "does not match its own pipeline"),
    "meta-list": (lambda m, t: "[]", "checkpoint metadata must be a JSON object, found a list"),
    "meta-not-json": (lambda m, t: "{progress: 2", "checkpoint metadata is not valid JSON"),
}


def snapshot(directory):
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def corrupt_last(save, corrupt):
    last = save / files.LAST
    with safe_open(str(last), framework="pt") as f:
        meta, tensors = json.loads(f.metadata()["nmt"]), {k: f.get_tensor(k) for k in f.keys()}
    text = corrupt(meta, tensors)
    save_file(tensors, str(last), metadata={"nmt": text if isinstance(text, str) else json.dumps(meta)})


def refused(capsys, code, save, *needles):
    """One line naming checkpoint_last, and nothing written to the save directory."""
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"nmt train: error: {save / files.LAST}: cannot resume: "), err
    assert "--save-dir" in err and all(n in err for n in needles), err
    return err


@pytest.mark.parametrize("case", list(CASES))
def test_broken_resume_state_is_refused(case, trained, data_dir, tmp_path, capsys):  # noqa: F811
    save = tmp_path / "run"
    shutil.copytree(trained, save)
    corrupt_last(save, CASES[case][0])
    before = snapshot(save)
    capsys.readouterr()
    refused(capsys, train(data_dir, save, 4), save, CASES[case][1])
    assert snapshot(save) == before


def test_the_undamaged_copy_resumes(trained, data_dir, tmp_path, capsys):  # noqa: F811
    save = tmp_path / "run"
    shutil.copytree(trained, save)
    corrupt_last(save, lambda meta, tensors: None)  # the same rewrite, no corruption
    assert train(data_dir, save, 3) == 0, capsys.readouterr().err
    assert load_checkpoint(save / files.LAST).meta["progress"]["update"] == 3


# -- the data's pipeline (C) -------------------------------------------------------------------

@pytest.fixture(scope="module")
def reshuffled_data(data_dir, tmp_path_factory):  # noqa: F811
    """The same data directory, but the target dictionary's first two entries swapped: the same
    size, other words behind the ids."""
    other = tmp_path_factory.mktemp("reshuffled") / "bin"
    shutil.copytree(data_dir, other)
    lines = (other / "dict.de.txt").read_text(encoding="utf-8").splitlines()
    (a, ca), (b, cb) = (line.rsplit(" ", 1) for line in lines[:2])
    lines[:2] = [f"{b} {ca}", f"{a} {cb}"]
    (other / "dict.de.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(Pipeline.load(other).target.dictionary) == len(Pipeline.load(data_dir).target.dictionary)
    return other


def test_checkpoints_carry_the_pipeline_fingerprint(trained, data_dir):  # noqa: F811
    pipeline = Pipeline.load(data_dir)
    meta = load_checkpoint(trained / files.LAST).meta
    assert meta["pipeline_sha256"] == pipeline_sha256(pipeline.spec, pipeline.assets)


@pytest.mark.parametrize("fingerprint", ["with-fingerprint", "old-checkpoint-without"])
def test_resume_on_a_reshuffled_dictionary_is_refused(fingerprint, trained, reshuffled_data,
                                                      tmp_path, capsys):
    save = tmp_path / "run"
    shutil.copytree(trained, save)
    if fingerprint == "old-checkpoint-without":
        corrupt_last(save, pop("pipeline_sha256"))
    before = snapshot(save)
    capsys.readouterr()
    err = refused(capsys, train(reshuffled_data, save, 4), save,
                  "trained on data processed otherwise", "the file 'dict.de.txt'", "differs")
    assert "give the data directory it was trained on" in err
    assert snapshot(save) == before


def test_finetuning_on_a_reshuffled_dictionary_is_refused(trained, reshuffled_data, tmp_path,
                                                          capsys):
    capsys.readouterr()
    code = train(reshuffled_data, tmp_path / "child", 4, "--finetune-from",
                 str(trained / files.LAST))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "cannot fine-tune" in err and "the file 'dict.de.txt'" in err, err
    assert not (tmp_path / "child" / files.LAST).exists()


@pytest.mark.parametrize("case", ["optimizer-state-shape", "schedule-lr-string", "weights-shape"])
def test_finetuning_from_a_broken_parent_is_refused(case, trained, data_dir, tmp_path, capsys):  # noqa: F811
    parent = tmp_path / "parent"
    shutil.copytree(trained, parent)
    corrupt_last(parent, CASES[case][0])
    capsys.readouterr()
    code = train(data_dir, tmp_path / "child", 4, "--finetune-from", str(parent / files.LAST))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(parent / files.LAST) in err, err
    assert not (tmp_path / "child" / files.LAST).exists()
