"""Shared test fixtures: where the real corpora and the fairseq reference fixtures live.

Corpora are read in place from ``$NMT_DATA`` (default ``../shared/data`` relative to the project
root); tests that need them skip with the reason when they are absent. Nothing touches the network.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models: faster, and steadier on a shared machine.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data_root() -> Path:
    value = os.environ.get("NMT_DATA", str(SHARED / "data"))
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


@pytest.fixture(scope="session")
def nmt_data() -> Path:
    root = data_root()
    if not (root / "multi30k" / "raw").is_dir():
        pytest.skip(f"corpus mirror not found at {root} (set NMT_DATA)")
    return root


@pytest.fixture(scope="session")
def fairseq_fixtures() -> Path:
    path = SHARED / "fixtures" / "fairseq_fconv_tiny"
    if not path.is_dir():
        pytest.skip(f"fairseq reference fixtures not found at {path}")
    return path


@pytest.fixture(scope="session")
def imported_tiny1(fairseq_fixtures, tmp_path_factory) -> Path:
    """fairseq's tiny1 fixture model as an nmt checkpoint (`nmt import-fairseq`, once a session)."""
    from nmt.cli.main import main

    out = tmp_path_factory.mktemp("imported") / "tiny1.safetensors"
    assert main(["import-fairseq", str(fairseq_fixtures / "tiny1" / "checkpoint.pt"), "--dict-dir",
                 str(fairseq_fixtures), "--bpe-codes", str(fairseq_fixtures / "bpe.codes"),
                 "--output", str(out)]) == 0
    return out


def read_gz_lines(path: Path, n: int | None = None) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[:n] if n is not None else lines


@pytest.fixture(scope="session")
def multi30k_text(nmt_data, tmp_path_factory) -> Path:
    """Raw Multi30k en-de as plain files: train (first 3,000 pairs), valid, test; returns the dir."""
    out = tmp_path_factory.mktemp("multi30k_raw")
    raw = nmt_data / "multi30k" / "raw"
    for split, name, n in (("train", "train", 3000), ("valid", "val", None), ("test", "test_2016_flickr", None)):
        for lang in ("en", "de"):
            lines = read_gz_lines(raw / f"{name}.{lang}.gz", n)
            (out / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
