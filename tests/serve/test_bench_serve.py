"""`nmt bench serve` end to end on fairseq's tiny model: it starts a continuously batched, a
whole-batch and an unbatched server, times offline translation in batches of 128 and in the server's batches, and computes
every ratio from its own figures (the figures themselves come from real runs)."""

from __future__ import annotations

import json

from nmt.cli.main import main


def test_bench_serve_reports_servers_offline_and_cpu(imported_tiny1, tmp_path, capsys):
    source = tmp_path / "source.en"
    source.write_text("A dog runs.\nTwo men sit on a bench.\n\nA woman reads.\n", encoding="utf-8")
    served = tmp_path / "served.de"
    assert main(["bench", "serve", "--checkpoint", str(imported_tiny1), "--input", str(source),
                 "--clients", "3", "--requests", "2", "--threads", "1",
                 "--output", str(served)]) == 0
    result = json.loads(capsys.readouterr().out)
    source.write_text("A dog runs.\nTwo men sit on a bench.\nA woman reads.\n", encoding="utf-8")
    assert main(["translate", "--checkpoint", str(imported_tiny1), "--input", str(source),
                 "--output", str(tmp_path / "offline.de")]) == 0
    assert served.read_text() == (tmp_path / "offline.de").read_text()  # the continuous server's
    offline = result["offline"]
    assert offline["sentences"] == 3 and offline["server_batches"]["sentences_per_batch"] == 3
    for name, batching in (("batched", "continuous"), ("batched_whole", "whole"),
                           ("unbatched", "whole")):
        run = result[name]
        assert run["batching"] == batching
        assert run["requests"] == 6 and run["sentences_per_s"] > 0
        assert run["cpu_seconds"]["server"] > 0 and run["cpu_seconds"]["load_generator"] > 0
    assert result["unbatched"]["mean_batch_sentences"] == 1
    rate = {k: result[k]["sentences_per_s"] for k in ("batched", "batched_whole", "unbatched")}
    ceiling = offline["server_batches"]["sentences_per_s"]
    assert result["batched_vs_offline"] == round(rate["batched"] / offline["sentences_per_s"], 3)
    assert result["batched_vs_unbatched"] == round(rate["batched"] / rate["unbatched"], 3)
    assert result["continuous_vs_whole"] == round(rate["batched"] / rate["batched_whole"], 3)
    assert result["server_batches_vs_offline"] == round(ceiling / offline["sentences_per_s"], 3)
    assert result["batched_vs_server_batches"] == round(rate["batched"] / ceiling, 3)
