"""Every recipe loads: each recipes/*/*.yaml resolves the way `nmt train --config` resolves it,
its preset gives a valid model config, and each recipe script is valid bash.

Nothing here trains or touches data: the whole file runs in a few seconds.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from nmt import registry
from nmt.cli.main import build_parser
from nmt.cli.train import resolve_config
from nmt.config import load_yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
YAMLS = sorted(RECIPES.glob("*/*.yaml"))
RUN_SCRIPTS = sorted(RECIPES.glob("*/*.sh"))
RECIPE_DIRS = sorted(p for p in RECIPES.iterdir() if p.is_dir())


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def resolve(path: Path):
    """The TrainConfig `nmt train DATA --config PATH` would train with."""
    args = build_parser().parse_args(["train", "DUMMY", "--config", str(path)])
    return resolve_config(args)


def test_recipes_are_found():
    names = {rel(p) for p in YAMLS}
    for expected in ("multi30k_en_de", "iwslt14_de_en", "wmt14_en_de", "wmt14_en_fr", "wmt16_en_ro"):
        assert f"recipes/{expected}/convs2s.yaml" in names


@pytest.mark.parametrize("path", YAMLS, ids=rel)
def test_recipe_yaml_resolves(path: Path):
    cfg = resolve(path)
    cfg.validate()
    assert cfg.arch == load_yaml(path)["arch"]
    preset = registry.preset(cfg.arch)
    assert type(cfg.model) is type(preset)
    # the trainer fills the vocabulary sizes in from the data directory
    model_cfg = dataclasses.replace(cfg.model, src_vocab_size=64, tgt_vocab_size=64)
    model_cfg.validate()


# recipe -> (preset, dropout, sentences per update or None for max_tokens batching)
PAPER = {
    "iwslt14_de_en": ("convs2s_iwslt_de_en", 0.2, None),
    "wmt14_en_de": ("convs2s_wmt14_en_de", 0.2, 48),
    "wmt14_en_fr": ("convs2s_wmt14_en_fr", 0.1, 32 * 8),
    "wmt16_en_ro": ("convs2s_wmt16_en_ro", 0.2, 64),
}


@pytest.mark.parametrize("recipe", sorted(PAPER))
def test_paper_recipes_use_the_papers_optimisation(recipe: str):
    cfg = resolve(RECIPES / recipe / "convs2s.yaml")
    arch, dropout, sentences = PAPER[recipe]
    assert cfg.arch == arch
    assert cfg.model.dropout == dropout
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum, cfg.optim.clip_norm) == ("nag", 0.25, 0.99, 0.1)
    assert (cfg.schedule.name, cfg.schedule.lr_shrink, cfg.schedule.min_lr) == ("paper", 0.1, 1e-4)
    assert cfg.label_smoothing == 0.0
    if sentences is not None:
        assert cfg.batch_size * cfg.update_freq == sentences


@pytest.mark.parametrize("recipe", RECIPE_DIRS, ids=lambda p: p.name)
def test_recipe_dir_has_run_sh_and_yaml(recipe: Path):
    assert (recipe / "run.sh").is_file()
    assert list(recipe.glob("*.yaml"))


@pytest.mark.parametrize("recipe", sorted(PAPER))
def test_paper_recipe_has_readme(recipe: str):
    assert (RECIPES / recipe / "README.md").is_file()


@pytest.mark.parametrize("script", RUN_SCRIPTS, ids=rel)
def test_run_sh_is_valid_bash(script: Path):
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_wmt16_en_ro_run_sh_stops_with_a_clear_message(tmp_path: Path):
    # stage 1 checks the user-made data directory before anything is installed or trained
    proc = subprocess.run(
        ["bash", str(RECIPES / "wmt16_en_ro" / "run.sh"), "--data", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 3
    assert "not yet provided" in proc.stderr
    assert "nmt preprocess" in proc.stderr and "--bpe-merges 40000" in proc.stderr
    assert "stage 2" not in proc.stdout


@pytest.mark.parametrize("script", ["multi30k_en_de/compare.sh", "synthetic/study.sh"])
def test_side_by_side_scripts_reject_a_bad_job_count(script: str):
    proc = subprocess.run(["bash", str(RECIPES / script), "--jobs", "0"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "--jobs must be a whole number >= 1, got '0'"
    assert "stage 2" not in proc.stdout
