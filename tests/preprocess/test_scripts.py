"""The corpus preparation scripts in preprocess/: offline behaviour, extraction from the local
mirror, the preparation of (synthetic) training data, and the `nmt preprocess` call.

Nothing here touches the network: every run has NMT_OFFLINE=1, which makes preprocess/lib.sh
refuse to download. Tests that read the real corpora use the `nmt_data` fixture (the mirror in
$NMT_DATA or ../shared/data) and skip when it is absent; the rest build small synthetic inputs.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREPROCESS = ROOT / "preprocess"
SCRIPTS = ["multi30k.sh", "iwslt14_de_en.sh", "iwslt_de_en_char.sh", "wmt14_en_de.sh",
           "wmt14_en_fr.sh"]
MISSING = 3  # lib.sh's exit code for missing input files


# ----------------------------------------------------------------------------- helpers
def run(script, *args, cwd, mirror=None, env=None, timeout=120):
    """bash preprocess/SCRIPT ARGS in cwd, offline, with the mirror only when given."""
    e = {k: v for k, v in os.environ.items() if k not in ("NMT_DATA", "NMT_BIN")}
    e["NMT_OFFLINE"] = "1"
    e["NMT_PYTHON"] = sys.executable
    e["NMT_BIN"] = str(cwd / "no-nmt-here")  # any nmt call must be explicit in a test
    if mirror is not None:
        e["NMT_DATA"] = str(mirror)
    e.update(env or {})
    return subprocess.run(["bash", str(PREPROCESS / script), *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def lines(path):
    return Path(path).read_text(encoding="utf-8").splitlines()


def nlines(path):
    return len(lines(path))


def write(path, text_lines):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in text_lines), encoding="utf-8")
    return path


def make_tar(path, members, gz=True):
    """members: {name: str or bytes}"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if gz else "w") as tar:
        for name, data in members.items():
            data = data.encode("utf-8") if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def xml_doc(n, prefix, sgm=False):
    """A WIT3 XML (or WMT SGM) file with n segments 'PREFIX i'."""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<mteval>\n' if not sgm else ""
    body = "".join(f'<seg id="{i}"> {prefix} {i} &amp; co </seg>\n' for i in range(1, n + 1))
    tail = "</mteval>\n" if not sgm else ""
    return (f'{head}<srcset setid="x" srclang="any">\n<doc docid="1" genre="lectures">\n'
            f"<url>http://example.org/talk</url>\n<talkid>1</talkid>\n{body}</doc>\n</srcset>\n"
            f"{tail}")


def stub_nmt(tmp_path):
    """An `nmt` stand-in that records its arguments and makes --destdir."""
    log = tmp_path / "nmt-calls.txt"
    stub = tmp_path / "fake-nmt"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'while (($#)); do [[ $1 == --destdir ]] && mkdir -p "$2"; shift; done\n')
    stub.chmod(0o755)
    return stub, log


# ----------------------------------------------------------------------------- command line
@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script, tmp_path):
    r = run(script, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for word in ("--mirror", "--workdir", "--destdir", "--force", "--stage", "NMT_OFFLINE"):
        assert word in r.stdout
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--stage", "bogus"], "--stage must be one of"),
    (["--pair", "en-cs"], "--pair must be en-de or en-fr"),
    (["--mirror", "/nonexistent/mirror"], "is not a directory"),
    (["--workdir"], "--workdir needs a value"),
])
def test_bad_arguments_exit_2(args, message, tmp_path):
    r = run("multi30k.sh", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_script_options(tmp_path):
    r = run("iwslt14_de_en.sh", "--valid-split", "odd", cwd=tmp_path)
    assert r.returncode == 2 and "--valid-split must be fairseq or raw" in r.stderr
    r = run("iwslt_de_en_char.sh", "--test-set", "TED.tst2099", cwd=tmp_path)
    assert r.returncode == 2 and "unknown set 'TED.tst2099'" in r.stderr
    r = run("iwslt14_de_en.sh", "--train-dir", tmp_path / "nowhere", cwd=tmp_path)
    assert r.returncode == 2 and "train.tags.de-en.de" in r.stderr


# ----------------------------------------------------------------------------- offline, no mirror
NEEDED = {
    "multi30k.sh": ["train.en.gz", "train.de.gz", "val.en.gz", "val.de.gz",
                    "test_2016_flickr.en.gz", "test_2016_flickr.de.gz",
                    "raw.githubusercontent.com/multi30k/dataset/", "<mirror>/multi30k/raw/"],
    "iwslt14_de_en.sh": ["de-en.tgz", "wit3.fbk.eu/archive/2014-01/texts/de/en/de-en.tgz",
                         "train.tags.de-en.de", "train.tags.de-en.en", "--train-dir",
                         "<mirror>/iwslt14_de_en/orig/"],
    "iwslt_de_en_char.sh": ["de-en.tgz", "wit3.fbk.eu/archive/2016-01/texts/de/en/de-en.tgz",
                            "train.tags.de-en.de", "TED.tst2013", "TED.tst2014",
                            "<mirror>/iwslt16_de_en/orig/"],
    "wmt14_en_de.sh": ["training-parallel-europarl-v7.tgz", "training-parallel-commoncrawl.tgz",
                       "training-parallel-nc-v9.tgz", "dev.tgz", "test-full.tgz",
                       "statmt.org/wmt14/training-parallel-nc-v9.tgz", "<mirror>/wmt14/orig/"],
    "wmt14_en_fr.sh": ["training-parallel-europarl-v7.tgz", "training-parallel-commoncrawl.tgz",
                       "training-parallel-un.tgz", "training-parallel-nc-v9.tgz",
                       "training-giga-fren.tar", "dev.tgz", "test-full.tgz"],
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_offline_without_mirror_names_the_needed_files(script, tmp_path):
    r = run(script, cwd=tmp_path)
    assert r.returncode == MISSING, r.stderr
    err = r.stderr
    assert "input file(s) missing" in err
    assert "No mirror is set (--mirror DIR or NMT_DATA)" in err
    assert "downloads are disabled (NMT_OFFLINE=1)" in err
    assert "--mirror <mirror> (or NMT_DATA=<mirror>)" in err
    for needed in NEEDED[script]:
        assert needed in err, needed
    assert "Traceback" not in err and "Done so far" not in err
    assert not any(tmp_path.iterdir()), "nothing may be written when nothing could be fetched"


def test_multi30k_en_fr_offline_names_french_files(tmp_path):
    r = run("multi30k.sh", "--pair", "en-fr", cwd=tmp_path)
    assert r.returncode == MISSING
    assert "train.fr.gz" in r.stderr and "train.de.gz" not in r.stderr


# ----------------------------------------------------------------------------- with the mirror
@pytest.mark.parametrize("pair", ["en-de", "en-fr"])
def test_multi30k_prepare_from_mirror(pair, nmt_data, tmp_path):
    src, tgt = pair.split("-")
    r = run("multi30k.sh", "--pair", pair, "--only-prepare", cwd=tmp_path, mirror=nmt_data)
    assert r.returncode == 0, r.stderr
    work = tmp_path / "work" / f"multi30k_{src}_{tgt}"
    for split, stem, n in [("train", "train", 29000), ("valid", "val", 1014),
                           ("test", "test_2016_flickr", 1000)]:
        for lang in (src, tgt):
            got = (work / f"{split}.{lang}").read_bytes()
            assert got == gzip.decompress((nmt_data / f"multi30k/raw/{stem}.{lang}.gz").read_bytes())
            assert got.count(b"\n") == n
    assert not (tmp_path / "data-bin").exists()
    assert not list(work.glob(".tmp*"))
    again = run("multi30k.sh", "--pair", pair, "--only-prepare", cwd=tmp_path, mirror=nmt_data)
    assert again.returncode == 0 and "prepare: already done" in again.stderr


def test_multi30k_stage_fetch_writes_nothing(nmt_data, tmp_path):
    r = run("multi30k.sh", "--stage", "fetch", cwd=tmp_path, mirror=nmt_data)
    assert r.returncode == 0, r.stderr
    assert not any(tmp_path.iterdir())


def test_multi30k_checksum_mismatch_is_an_error(tmp_path):
    orig = tmp_path / "work" / "multi30k_en_de" / "orig"
    for stem in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            orig.mkdir(parents=True, exist_ok=True)
            (orig / f"{stem}.{lang}.gz").write_bytes(gzip.compress(b"tampered\n"))
    r = run("multi30k.sh", cwd=tmp_path)
    assert r.returncode == 1
    assert "SHA-256" in r.stderr and "expected" in r.stderr
    assert not (orig.parent / "train.en").exists()


def test_iwslt14_mirror_extracts_test_then_names_training_files(nmt_data, tmp_path):
    r = run("iwslt14_de_en.sh", cwd=tmp_path, mirror=nmt_data)
    assert r.returncode == MISSING, r.stderr
    work = tmp_path / "work" / "iwslt14_de_en"
    for lang in ("de", "en"):
        assert nlines(work / f"test.{lang}") == 6750
        # byte-identical to the mirror's own segment extraction, in fairseq's order
        assert (work / f"test.{lang}").read_bytes() == \
            (nmt_data / f"iwslt14_de_en/raw_txt/test.{lang}").read_bytes()
    err = r.stderr
    assert f"They are not in the mirror {nmt_data.resolve()}" in err
    for needed in ("de-en.tgz", "train.tags.de-en.de", "train.tags.de-en.en", "--train-dir",
                   "Done so far", "6750 pairs"):
        assert needed in err, needed
    assert not (work / "train.de").exists() and not (work / "valid.de").exists()
    assert not (tmp_path / "data-bin").exists()


def test_iwslt_char_mirror_extracts_dev_test_then_names_training_files(nmt_data, tmp_path):
    r = run("iwslt_de_en_char.sh", cwd=tmp_path, mirror=nmt_data)
    assert r.returncode == MISSING, r.stderr
    work = tmp_path / "work" / "iwslt16_de_en_char"
    raw = nmt_data / "iwslt16_de_en" / "raw_txt"
    for split, name, n in [("valid", "TED.tst2013", 993), ("test", "TED.tst2014", 1305)]:
        for lang in ("de", "en"):
            assert nlines(work / f"{split}.{lang}") == n
            assert (work / f"{split}.{lang}").read_bytes() == \
                (raw / f"IWSLT16.{name}.de-en.{lang}").read_bytes()
    assert "train.tags.de-en.de" in r.stderr and "2016-01" in r.stderr
    assert not (work / "train.de").exists()


@pytest.mark.parametrize("pair", ["en-de", "en-fr"])
def test_wmt14_mirror_extracts_newstest2014_then_names_training_files(pair, nmt_data, tmp_path):
    src, tgt = pair.split("-")
    r = run(f"wmt14_{src}_{tgt}.sh", cwd=tmp_path, mirror=nmt_data)
    assert r.returncode == MISSING, r.stderr
    work = tmp_path / "work" / f"wmt14_{src}_{tgt}"
    for lang in (src, tgt):
        assert nlines(work / f"test.{lang}") == 3003
        # identical to sacreBLEU's own extraction of wmt14/full
        assert (work / f"test.{lang}").read_bytes() == \
            (nmt_data / f"wmt14/newstest2014-full/txt/newstest2014-full.{pair}.{lang}").read_bytes()
    err = r.stderr
    for needed in NEEDED[f"wmt14_{src}_{tgt}.sh"]:
        if needed != "test-full.tgz":
            assert needed in err, needed
    assert "test-full.tgz" not in err  # the mirror has newstest2014
    assert "newstest2013" in err and "--valid-every" in err
    assert not (work / "train.en").exists() and not (work / "valid.en").exists()


# ----------------------------------------------------------------------------- synthetic training data
def iwslt14_train_tags(tmp_path):
    """train.tags in the 2014-01 format, with pairs fairseq's cleaning drops."""
    de, en = [], []
    for talk in range(3):
        for side, lang in ((de, "de"), (en, "en")):
            side += [f"<url>http://www.ted.com/talks/{lang}/{talk}.html</url>",
                     f"<keywords>talks, {lang}</keywords>", f"<talkid>{talk}</talkid>",
                     f"<title>Titel {talk} {lang}</title>",
                     f"<description>Beschreibung {talk} {lang}</description>"]
        for i in range(100):
            de.append(f" Das ist Satz {talk}-{i} , sagt sie . ")
            en.append(f"This is sentence {talk}-{i} , she says .")
        de += ["", "Ja", "ein " * 200, "Wort"]      # empty; ratio 1:5; > 175 tokens; ratio 1:6
        en += ["", "Yes , yes , I see", "a " * 200, "one two three four five six"]
    tags = tmp_path / "tags"
    write(tags / "train.tags.de-en.de", de)
    write(tags / "train.tags.de-en.en", en)
    return tags


@pytest.mark.parametrize("mode, n_kept", [("fairseq", 3 * (1 + 1 + 100)), ("raw", 3 * (2 + 100 + 3))])
def test_iwslt14_train_valid_split(mode, n_kept, tmp_path):
    # dev/test XML with the real segment counts, in a de-en.tgz, so no mirror is needed
    sizes = {"TED.dev2010": 887, "TEDX.dev2012": 1165, "TED.tst2010": 1565,
             "TED.tst2011": 1433, "TED.tst2012": 1700}
    tags = iwslt14_train_tags(tmp_path)
    members = {f"de-en/train.tags.de-en.{lang}": (tags / f"train.tags.de-en.{lang}").read_text()
               for lang in ("de", "en")}
    for name, n in sizes.items():
        for lang in ("de", "en"):
            members[f"de-en/IWSLT14.{name}.de-en.{lang}.xml"] = xml_doc(n, f"{name} {lang}")
    make_tar(tmp_path / "work/iwslt14_de_en/orig/de-en.tgz", members)

    r = run("iwslt14_de_en.sh", "--only-prepare", "--valid-split", mode, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    work = tmp_path / "work" / "iwslt14_de_en"
    test_de = lines(work / "test.de")
    assert len(test_de) == 6750
    assert test_de[0] == "TED.dev2010 de 1 & co" and test_de[887] == "TEDX.dev2012 de 1 & co"
    train, valid = lines(work / "train.de"), lines(work / "valid.de")
    assert len(valid) == n_kept // 23 and len(train) == n_kept - n_kept // 23
    assert not any("<" in line for line in train + valid)
    kept = train + valid
    assert "Titel 0 de" in kept and "Beschreibung 2 de" in kept  # fairseq keeps title/description
    if mode == "fairseq":
        assert "Wort" not in kept and "Ja" not in kept and "" not in kept
    else:
        assert "Wort" in kept and "" not in kept
    # every 23rd of the kept pairs, counted from 1, in order; sides stay aligned
    stripped = [line.replace("<title>", "").replace("</title>", "")
                .replace("<description>", "").replace("</description>", "").strip()
                for line in lines(tmp_path / "tags/train.tags.de-en.de")]
    sequence = [line for line in stripped if line in set(kept)]
    assert valid == sequence[22::23]
    en_train = lines(work / "train.en")
    assert all(d.split()[3] == e.split()[3] for d, e in zip(train, en_train) if "Satz" in d)
    # the tarball's members are kept extracted; a second run does nothing
    again = run("iwslt14_de_en.sh", "--only-prepare", "--valid-split", mode, cwd=tmp_path)
    assert "already done" in again.stderr and again.returncode == 0


def test_iwslt14_train_dir_with_mirror(nmt_data, tmp_path):
    tags = iwslt14_train_tags(tmp_path)
    r = run("iwslt14_de_en.sh", "--train-dir", tags, "--only-prepare", cwd=tmp_path,
            mirror=nmt_data)
    assert r.returncode == 0, r.stderr
    work = tmp_path / "work" / "iwslt14_de_en"
    assert nlines(work / "test.en") == 6750
    assert nlines(work / "train.en") + nlines(work / "valid.en") == 3 * 102
    assert not (work / "orig").exists()


def test_iwslt_char_train_filters(nmt_data, tmp_path):
    de, en = [], []
    for side, lang in ((de, "de"), (en, "en")):
        side += ["<url>http://www.ted.com/talks/x.html</url>", "<keywords>talks</keywords>",
                 "<speaker>Jemand</speaker>", "<talkid>1</talkid>", f"<title>T {lang}</title>",
                 f"<description>D {lang}</description>", '<reviewer href="x">R</reviewer>',
                 '<translator href="y">Y</translator>']
    de += ["  Hallo Welt.  ", "", "x" * 301, "y" * 300, "Gut."]
    en += ["Hello world.", "Empty on the other side", "short", "z" * 300, ""]
    write(tmp_path / "tags/train.tags.de-en.de", de)
    write(tmp_path / "tags/train.tags.de-en.en", en)
    r = run("iwslt_de_en_char.sh", "--train-dir", tmp_path / "tags", "--only-prepare",
            cwd=tmp_path, mirror=nmt_data)
    assert r.returncode == 0, r.stderr
    work = tmp_path / "work" / "iwslt16_de_en_char"
    assert lines(work / "train.de") == ["Hallo Welt.", "y" * 300]
    assert lines(work / "train.en") == ["Hello world.", "z" * 300]
    assert nlines(work / "valid.de") == 993 and nlines(work / "test.de") == 1305


def wmt_fake_orig(orig, src, tgt, corpora, dev="sgm"):
    """Fake statmt.org tarballs: corpora = [(tarball, member prefix, n pairs)]."""
    for tarball, prefix, n in corpora:
        gz = prefix.endswith(".gz")
        prefix = prefix.removesuffix(".gz")
        members = {}
        for lang in (src, tgt):
            text = "".join(f"{prefix} {lang} {i}\u200b\n" if i % 7 else "\n" for i in range(n))
            name = f"{prefix}.{lang}"
            members[name + ".gz" if gz else name] = gzip.compress(text.encode()) if gz else text
        make_tar(orig / tarball, members, gz=tarball.endswith(".tgz"))
    dev_members = {}
    for lang in (src, tgt):
        kind = "src" if lang == src else "ref"
        if dev == "sgm":
            dev_members[f"dev/newstest2013-{kind}.{lang}.sgm"] = xml_doc(3000, f"nt13 {lang}", sgm=True)
        else:
            dev_members[f"dev/newstest2013.{lang}"] = "".join(f"nt13 {lang} {i}\n" for i in range(3000))
    make_tar(orig / "dev.tgz", dev_members)
    pair = "deen" if tgt == "de" else "fren"
    make_tar(orig / "test-full.tgz", {
        f"test-full/newstest2014-{pair}-{'src' if lang == src else 'ref'}.{lang}.sgm":
            xml_doc(3003, f"nt14 {lang}", sgm=True) for lang in (src, tgt)})


def test_wmt14_en_de_prepare_from_tarballs(tmp_path):
    corpora = [("training-parallel-europarl-v7.tgz", "training/europarl-v7.de-en", 50),
               ("training-parallel-commoncrawl.tgz", "commoncrawl.de-en", 30),
               ("training-parallel-nc-v9.tgz", "training/news-commentary-v9.de-en", 20)]
    work = tmp_path / "work" / "wmt14_en_de"
    wmt_fake_orig(work / "orig", "en", "de", corpora, dev="sgm")
    r = run("wmt14_en_de.sh", "--only-prepare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    train = lines(work / "train.en")
    # every 7th line (i % 7 == 0) is empty: dropped; non-printing U+200B became a space, stripped
    assert len(train) == sum(n - len(range(0, n, 7)) for _, _, n in corpora)
    assert train[0] == "training/europarl-v7.de-en en 1"
    assert train[-1] == "training/news-commentary-v9.de-en en 19"
    assert lines(work / "valid.de")[0] == "nt13 de 1 & co" and nlines(work / "valid.en") == 3000
    assert lines(work / "test.de")[-1] == "nt14 de 3003 & co" and nlines(work / "test.en") == 3003

    # --valid-every takes validation pairs out of the training data instead
    r = run("wmt14_en_de.sh", "--only-prepare", "--valid-every", "10", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    total = len(train)
    assert nlines(work / "valid.en") == total // 10
    assert nlines(work / "train.en") == total - total // 10
    # ... and going back re-extracts newstest2013
    r = run("wmt14_en_de.sh", "--only-prepare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert nlines(work / "valid.en") == 3000 and nlines(work / "train.en") == total


def test_wmt14_en_fr_prepare_giga_and_plain_dev(tmp_path):
    corpora = [("training-parallel-europarl-v7.tgz", "training/europarl-v7.fr-en", 8),
               ("training-parallel-commoncrawl.tgz", "commoncrawl.fr-en", 8),
               ("training-parallel-un.tgz", "un/undoc.2000.fr-en", 8),
               ("training-parallel-nc-v9.tgz", "training/news-commentary-v9.fr-en", 8),
               ("training-giga-fren.tar", "giga-fren.release2.fixed.gz", 8)]
    work = tmp_path / "work" / "wmt14_en_fr"
    wmt_fake_orig(work / "orig", "en", "fr", corpora, dev="txt")
    r = run("wmt14_en_fr.sh", "--only-prepare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    train = lines(work / "train.fr")
    assert len(train) == 5 * 6  # lines 0 and 7 of each corpus are empty
    assert train[-1] == "giga-fren.release2.fixed fr 6"
    assert lines(work / "valid.fr")[:2] == ["nt13 fr 0", "nt13 fr 1"]
    assert nlines(work / "test.fr") == 3003


def test_corrupt_input_is_a_clear_error(tmp_path):
    corpora = [("training-parallel-europarl-v7.tgz", "training/europarl-v7.de-en", 5),
               ("training-parallel-commoncrawl.tgz", "commoncrawl.de-en", 5),
               ("training-parallel-nc-v9.tgz", "training/news-commentary-v9.de-en", 5)]
    work = tmp_path / "work" / "wmt14_en_de"
    wmt_fake_orig(work / "orig", "en", "de", corpora)
    # newstest2014 with a segment missing on one side
    make_tar(work / "orig/test-full.tgz", {
        "test-full/newstest2014-deen-src.en.sgm": xml_doc(3003, "a", sgm=True),
        "test-full/newstest2014-deen-ref.de.sgm": xml_doc(3002, "b", sgm=True)})
    r = run("wmt14_en_de.sh", "--only-prepare", cwd=tmp_path)
    assert r.returncode == 1
    assert "test.de has 3002 lines, expected 3003" in r.stderr
    assert not (work / "test.en").exists() and not list(work.glob(".tmp*"))


# ----------------------------------------------------------------------------- the nmt preprocess call
def test_preprocess_stage_arguments_idempotence_and_force(nmt_data, tmp_path):
    stub, calls = stub_nmt(tmp_path)
    env = {"NMT_BIN": str(stub)}
    r = run("multi30k.sh", "--workers", "1", "--threshold=2", cwd=tmp_path, mirror=nmt_data, env=env)
    assert r.returncode == 0, r.stderr
    work, dest = tmp_path / "work/multi30k_en_de", tmp_path / "data-bin/multi30k_en_de"
    args = lines(calls)[0].split()
    assert args[:5] == ["preprocess", "--source-lang", "en", "--target-lang", "de"]
    joined = " ".join(args)
    for part in (f"--trainpref {work}/train", f"--validpref {work}/valid",
                 f"--testpref {work}/test", f"--destdir {dest}", "--bpe subword-nmt",
                 "--bpe-merges 10000", "--joint-bpe", "--joined-dictionary"):
        assert part in joined, part
    assert args[-3:] == ["--workers", "1", "--threshold=2"]  # passed through, last
    assert dest.is_dir()

    again = run("multi30k.sh", "--workers", "1", "--threshold=2", cwd=tmp_path,
                mirror=nmt_data, env=env)
    assert again.returncode == 0 and "preprocess: already done" in again.stderr
    assert nlines(calls) == 1
    forced = run("multi30k.sh", "--workers", "1", "--threshold=2", "--force", cwd=tmp_path,
                 mirror=nmt_data, env=env)
    assert forced.returncode == 0, forced.stderr
    assert lines(calls)[1].split()[-1] == "--force"
    # other arguments: the data directory this work directory made is rebuilt
    changed = run("multi30k.sh", "--threshold=3", cwd=tmp_path, mirror=nmt_data, env=env)
    assert changed.returncode == 0, changed.stderr
    assert "rebuilding" in changed.stderr
    assert lines(calls)[2].split()[-2:] == ["--threshold=3", "--force"]
    # a --destdir this script did not make is left to nmt preprocess (it refuses to overwrite)
    other = tmp_path / "someone-elses"
    other.mkdir()
    r = run("multi30k.sh", "--destdir", other, cwd=tmp_path, mirror=nmt_data, env=env)
    assert "--force" not in lines(calls)[3].split()


def test_a_moved_checkout_finds_its_preprocessing_done(nmt_data, tmp_path):
    """Stamps hold paths relative to the checkout: moving it does not ask for --force."""
    stub, calls = stub_nmt(tmp_path)
    env = {"NMT_BIN": str(stub)}
    first = tmp_path / "checkout"
    first.mkdir()
    assert run("multi30k.sh", "--workers", "1", cwd=first, mirror=nmt_data, env=env).returncode == 0
    stamps = (first / "work/multi30k_en_de/.stamps").glob("*")
    assert not any(str(first) in p.read_text() for p in stamps)
    moved = tmp_path / "moved"
    first.rename(moved)
    again = run("multi30k.sh", "--workers", "1", cwd=moved, mirror=nmt_data, env=env)
    assert again.returncode == 0, again.stderr
    assert "preprocess: already done" in again.stderr and nlines(calls) == 1


@pytest.mark.parametrize("script, flags", [
    ("iwslt14_de_en.sh", "--no-punct-norm --lowercase --max-len 175 --max-len-ratio 1.5 "
                         "--bpe subword-nmt --bpe-merges 10000 --joint-bpe --joined-dictionary"),
    ("iwslt_de_en_char.sh", "--tokenizer none --no-punct-norm --max-len 300 --max-len-ratio 300 "
                            "--bpe char --joined-dictionary"),
])
def test_iwslt_preprocess_flags(script, flags, nmt_data, tmp_path):
    stub, calls = stub_nmt(tmp_path)
    tags = iwslt14_train_tags(tmp_path)
    r = run(script, "--train-dir", tags, cwd=tmp_path, mirror=nmt_data, env={"NMT_BIN": str(stub)})
    assert r.returncode == 0, r.stderr
    call = lines(calls)[0]
    assert call.startswith("preprocess --source-lang de --target-lang en")
    assert flags in call


def test_wmt_preprocess_flags(tmp_path):
    stub, calls = stub_nmt(tmp_path)
    corpora = [("training-parallel-europarl-v7.tgz", "training/europarl-v7.de-en", 5),
               ("training-parallel-commoncrawl.tgz", "commoncrawl.de-en", 5),
               ("training-parallel-nc-v9.tgz", "training/news-commentary-v9.de-en", 5)]
    wmt_fake_orig(tmp_path / "work/wmt14_en_de/orig", "en", "de", corpora)
    r = run("wmt14_en_de.sh", cwd=tmp_path, env={"NMT_BIN": str(stub)})
    assert r.returncode == 0, r.stderr
    assert ("--punct-norm --aggressive-dash-splits --bpe subword-nmt --bpe-merges 40000 "
            "--joint-bpe --joined-dictionary --max-len 250 --max-len-ratio 1.5") in lines(calls)[0]


def real_nmt():
    exe = shutil.which("nmt") or str(ROOT / ".venv" / "bin" / "nmt")
    try:
        ok = subprocess.run([exe, "preprocess", "--help"], capture_output=True,
                            timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        pytest.skip("`nmt preprocess` is not available")
    return exe


def test_char_script_runs_the_real_nmt_preprocess(nmt_data, tmp_path):
    """The flags the scripts pass are accepted by the real `nmt preprocess` (tiny data)."""
    exe = real_nmt()
    tags = iwslt14_train_tags(tmp_path)
    r = run("iwslt_de_en_char.sh", "--train-dir", tags, cwd=tmp_path, mirror=nmt_data,
            env={"NMT_BIN": exe})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data-bin/iwslt16_de_en_char/pipeline.json").is_file()


def test_wmt_script_runs_the_real_nmt_preprocess(tmp_path):
    exe = real_nmt()
    corpora = [("training-parallel-europarl-v7.tgz", "training/europarl-v7.de-en", 40),
               ("training-parallel-commoncrawl.tgz", "commoncrawl.de-en", 40),
               ("training-parallel-nc-v9.tgz", "training/news-commentary-v9.de-en", 40)]
    wmt_fake_orig(tmp_path / "work/wmt14_en_de/orig", "en", "de", corpora)
    r = run("wmt14_en_de.sh", "--bpe-merges", "50", cwd=tmp_path, env={"NMT_BIN": exe})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data-bin/wmt14_en_de/pipeline.json").is_file()
