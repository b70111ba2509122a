from dataclasses import dataclass, field

import pytest

from nmt.config import load_yaml, merge, parse_override
from nmt.errors import NmtError


@dataclass
class Optim:
    name: str = "nag"
    lr: float = 0.25
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])


@dataclass
class Run:
    optim: Optim = field(default_factory=Optim)
    max_tokens: int = 4000
    max_update: int | None = None


def test_precedence_preset_yaml_set(tmp_path):
    (tmp_path / "r.yaml").write_text("optim: {lr: 0.5, name: adam}\nmax_tokens: 2000\n")
    cfg = merge(Run(), load_yaml(tmp_path / "r.yaml"))
    cfg = merge(cfg, parse_override("optim.lr=0.1"))
    assert cfg.optim == Optim(name="adam", lr=0.1) and cfg.max_tokens == 2000


def test_unknown_key_names_closest():
    with pytest.raises(NmtError, match=r"unknown config key optim\.'lrr'; did you mean 'lr'"):
        merge(Run(), parse_override("optim.lrr=1"))
    with pytest.raises(NmtError, match="did you mean 'max_tokens'"):
        merge(Run(), {"max_token": 5})


def test_types_are_checked_and_ints_widen():
    assert merge(Run(), parse_override("optim.lr=1")).optim.lr == 1.0
    assert merge(Run(), parse_override("max_update=300")).max_update == 300
    with pytest.raises(NmtError, match="must be int"):
        merge(Run(), parse_override("max_tokens=lots"))
    with pytest.raises(NmtError, match="key=value"):
        parse_override("max_tokens")


def test_bad_yaml_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(NmtError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    with pytest.raises(NmtError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
