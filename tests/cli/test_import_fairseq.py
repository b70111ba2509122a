"""`nmt import-fairseq` end to end: the written checkpoint alone reproduces fairseq's numbers."""

import pytest
import torch
from safetensors.torch import load_file

from nmt.cli.main import main
from nmt.data.dictionary import EOS_ID
from nmt.translation import load_model


@pytest.mark.parametrize("name", ["tiny1", "tiny2"])
def test_imported_checkpoint_reproduces_fixture(fairseq_fixtures, tmp_path, name):
    out = tmp_path / f"{name}.safetensors"
    code = main(["import-fairseq", str(fairseq_fixtures / name / "checkpoint.pt"),
                 "--dict-dir", str(fairseq_fixtures), "--bpe-codes", str(fairseq_fixtures / "bpe.codes"),
                 "--output", str(out)])
    assert code == 0
    loaded = load_model(out)
    fx = load_file(str(fairseq_fixtures / name / "forward.safetensors"))
    with torch.no_grad():
        logits = loaded.model(fx["src_tokens"], fx["src_lengths"], fx["prev_output_tokens"])
        lprobs = torch.log_softmax(logits.float(), -1)
    target = fx["target"]
    keep = target != 1
    got = lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    assert (got - fx["target_lprobs"])[keep].abs().max() < 1e-4

    # the stored pipeline turns raw text into fairseq's ids: test line 0 (tokenized + BPE in the fixture)
    bpe_line = (fairseq_fixtures / "test_2016_flickr.bpe.en").read_text(encoding="utf-8").splitlines()[0]
    ids = loaded.pipeline.source.dictionary.encode(bpe_line.split()) + [EOS_ID]
    row = fx["id"].tolist().index(0)
    src = fx["src_tokens"][row]
    assert src[src != 1].tolist() == ids


def test_raw_text_goes_through_the_fairseq_tokenization(fairseq_fixtures, nmt_data, tmp_path):
    from tests.conftest import read_gz_lines

    out = tmp_path / "t.safetensors"
    assert main(["import-fairseq", str(fairseq_fixtures / "tiny1" / "checkpoint.pt"), "--dict-dir",
                 str(fairseq_fixtures), "--bpe-codes", str(fairseq_fixtures / "bpe.codes"), "--output", str(out)]) == 0
    pipe = load_model(out).pipeline
    raw = read_gz_lines(nmt_data / "multi30k/raw/test_2016_flickr.en.gz")
    bpe = (fairseq_fixtures / "test_2016_flickr.bpe.en").read_text(encoding="utf-8").splitlines()
    assert all(pipe.source.pieces(r) == b.split() for r, b in zip(raw, bpe))


def test_import_errors(fairseq_fixtures, tmp_path, capsys):
    ckpt = str(fairseq_fixtures / "tiny1" / "checkpoint.pt")
    assert main(["import-fairseq", ckpt, "--dict-dir", str(tmp_path), "--output", str(tmp_path / "o")]) == 1
    assert "fairseq dictionary not found" in capsys.readouterr().err
    (tmp_path / "dict.en.txt").write_text("a 1\n")
    (tmp_path / "dict.de.txt").write_text("a 1\n")
    assert main(["import-fairseq", ckpt, "--dict-dir", str(tmp_path), "--output", str(tmp_path / "o")]) == 1
    assert "dict.en.txt has 5 symbols, the model 9808" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["import-fairseq", str(tmp_path / "junk.pt"), "--dict-dir", str(fairseq_fixtures),
                 "--output", str(tmp_path / "o")]) == 1
    assert "not a loadable fairseq checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
