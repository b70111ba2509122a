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
    with pytest.raises(NmtError, match=r"unknown config key 'optim\.lrr'; did you mean 'optim\.lr'"):
        merge(Run(), parse_override("optim.lrr=1"))
    with pytest.raises(NmtError, match=r"'optim\.learning_rate'; did you mean 'optim\.lr'"):
        merge(Run(), parse_override("optim.learning_rate=1"))
    with pytest.raises(NmtError, match="did you mean 'max_tokens'"):
        merge(Run(), {"max_token": 5})


def test_types_are_checked_and_ints_widen():
    assert merge(Run(), parse_override("optim.lr=1")).optim.lr == 1.0
    assert merge(Run(), parse_override("max_update=300")).max_update == 300
    with pytest.raises(NmtError, match="'max_tokens' must be an integer, got 'lots'"):
        merge(Run(), parse_override("max_tokens=lots"))
    with pytest.raises(NmtError, match="'optim.lr' must be a number, got 'x'"):
        merge(Run(), parse_override("optim.lr=x"))
    with pytest.raises(NmtError, match="key=value"):
        parse_override("max_tokens")


def test_bad_yaml_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(NmtError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    with pytest.raises(NmtError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_a_bare_arch_trains_with_its_familys_optimiser(tmp_path):
    """`nmt train DATA --arch lstm_small` without a YAML: Adam 1e-3 and clip 5 as the LSTM
    recipe, not ConvS2S's NAG; ConvS2S keeps NAG; a YAML or a flag still wins."""
    from nmt.config import resolve_train_config

    lstm = resolve_train_config("lstm_small", None)
    assert (lstm.optim.name, lstm.optim.lr, lstm.optim.clip_norm) == ("adam", 1e-3, 5.0)
    assert lstm.schedule.name == "reduce_on_plateau"
    for arch in ("qrnn_small", "tcn_small", "dilated_rnn_small", "char_qrnn_small"):
        assert resolve_train_config(arch, None).optim.name == "adam"
    conv = resolve_train_config("convs2s_small", None)
    assert (conv.optim.name, conv.optim.lr, conv.optim.clip_norm) == ("nag", 0.25, 0.1)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("optim:\n  name: sgd\n")
    assert resolve_train_config("lstm_small", recipe, ["optim.lr=0.5"]).optim.name == "sgd"
    assert resolve_train_config("lstm_small", recipe, ["optim.lr=0.5"]).optim.lr == 0.5
