"""`nmt bench`: speed and memory measurements printed as one JSON object.

``nmt bench data DATA_DIR`` measures batching + collation; ``nmt bench train DATA_DIR --arch A``
training throughput (same config options as ``nmt train``); ``nmt bench translate --checkpoint C
--input FILE`` translation throughput (same options as ``nmt translate``); ``nmt bench forget-mult``
the QRNN recurrence's implementations against each other; ``nmt bench qrnn`` a QRNN layer against an
LSTM layer over sequence lengths x batch sizes, inference and training (the QRNN paper's Figure 4);
``nmt bench serve --checkpoint C --input FILE`` `nmt serve` under concurrent clients, with and
without dynamic batching, next to offline translation of the same sentences.
"""

from __future__ import annotations

import argparse
import json

import torch

from nmt.bench import qrnn as benchmark_qrnn
from nmt.bench import serve as benchmark_serve
from nmt.bench import throughput as benchmark
from nmt.cli import train as train_cli
from nmt.cli import translate as translate_cli
from nmt.data.files import atomic_write, check_output_path
from nmt.data.text import read_lines
from nmt.errors import NmtError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    d = sub.add_parser("data", help="batches/s of the batch iterator and collation over one epoch")
    d.add_argument("data_dir")
    d.add_argument("--split", default="train")
    d.add_argument("--max-tokens", type=int, default=4000)
    d.add_argument("--batch-size", type=int, default=None)
    d.add_argument("--repeats", type=int, default=3, help="epochs to time; the median is reported")


    t = sub.add_parser("train", help="training target tokens/s, GFLOP/s and peak memory")
    t.add_argument("data_dir")
    train_cli.add_config_arguments(t)
    t.add_argument("--warmup", type=int, default=5, help="updates before timing")
    t.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported")
    t.add_argument("--window-updates", type=int, default=10, help="updates per window")
    tr = sub.add_parser("translate", help="translation sentences/s and tokens/s (same options as nmt translate)")
    translate_cli.add_arguments(tr)
    tr.add_argument("--repeats", type=int, default=3, help="timed passes over the input; the median is reported")
    tr.add_argument("--flops", action="store_true",
                    help="also the search's GFLOP/s (matrix products) and its share of this host's "
                         "matrix-product peak; one more, untimed pass")
    fm = sub.add_parser("forget-mult", help="QRNN recurrence: reference loop vs fast paths, forward + backward")
    fm.add_argument("--time", type=int, default=300, help="sequence length T")
    fm.add_argument("--batch", type=int, default=64)
    fm.add_argument("--hidden", type=int, default=320)
    fm.add_argument("--dtype", choices=("fp32", "fp64"), default="fp32")
    fm.add_argument("--repeats", type=int, default=10, help="interleaved rounds; medians are reported")
    fm.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    q = sub.add_parser("qrnn", help="a QRNN layer vs an LSTM layer, inference and training, over T x B")
    q.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    q.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    q.add_argument("--hidden", type=int, default=320)
    q.add_argument("--kernel", type=int, default=2, help="QRNN convolution width")
    q.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    q.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    q.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    q.add_argument("--markdown", action="store_true", help="print the speed-up tables instead of JSON")
    sv = sub.add_parser("serve", help="nmt serve under N concurrent clients vs offline translation")
    sv.add_argument("--checkpoint", required=True)
    sv.add_argument("--input", required=True, help="raw source sentences, one per request")
    sv.add_argument("--url", help="an already running server (default: start one with and "
                                  "one without batching, and time offline translation too)")
    sv.add_argument("--clients", type=int, default=16)
    sv.add_argument("--requests", type=int, default=40, help="requests per client")
    sv.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    sv.add_argument("--threads", type=int, default=None)
    sv.add_argument("--max-batch-tokens", type=int, default=2048)
    sv.add_argument("--max-wait-ms", type=float, default=10.0)
    sv.add_argument("--output", help="write the (first) batched server's translations here, one "
                                     "per line sent, to compare with `nmt translate`")


def _data(args: argparse.Namespace) -> dict:
    return benchmark.bench_data(args.data_dir, args.split, args.max_tokens, args.batch_size,
                                args.repeats)


def _train(args: argparse.Namespace) -> dict:
    cfg = train_cli.resolve_config(args)
    return benchmark.bench_train(cfg, args.data_dir, args.warmup, args.windows, args.window_updates)


def _translate(args: argparse.Namespace) -> dict:
    if args.input == "-":
        raise NmtError("nmt bench translate needs --input FILE")
    if args.flops and args.quantize != "none":
        raise NmtError("--flops counts floating-point matrix products; it cannot count "
                       f"--quantize {args.quantize} layers")
    lines = list(read_lines(args.input))
    result = benchmark.bench_translate(translate_cli.translator_from_args(args), lines,
                                       args.repeats, args.flops)
    return {**result, "quantize": args.quantize}


def _set_threads(args: argparse.Namespace) -> None:
    _check_positive(args, ("threads", "time", "batch", "hidden", "kernel", "repeats", "lengths",
                           "batches"))
    if args.threads is not None:
        torch.set_num_threads(args.threads)


def _forget_mult(args: argparse.Namespace) -> dict:
    _set_threads(args)
    dtype = torch.float64 if args.dtype == "fp64" else torch.float32
    return benchmark_qrnn.bench_forget_mult(args.time, args.batch, args.hidden, args.repeats, dtype)


def _qrnn(args: argparse.Namespace) -> dict | None:
    """The JSON result, or None after printing the speed-up tables (``--markdown``)."""
    _set_threads(args)
    result = benchmark_qrnn.bench_qrnn_layer(args.lengths, args.batches, args.hidden, args.kernel,
                                             args.repeats, args.precision)
    if not args.markdown:
        return result
    for mode in ("inference", "training"):
        print(f"QRNN layer speed-up over the LSTM layer, {mode}, {args.precision}, "
              f"hidden {args.hidden}, {torch.get_num_threads()} thread(s)\n")
        print(benchmark_qrnn.figure4_table(result, mode) + "\n")
    return None


def _serve(args: argparse.Namespace) -> dict:
    _check_positive(args, ("clients", "requests", "threads"))
    lines = [line for line in read_lines(args.input) if line.strip()]
    if not lines:
        raise NmtError(f"{args.input} has no sentences")
    lines = lines[: args.clients * args.requests]
    options = ["--precision", args.precision, "--max-wait-ms", str(args.max_wait_ms),
               *(["--threads", str(args.threads)] if args.threads else [])]

    if args.output:
        check_output_path(args.output)  # before minutes of benchmarking, not after
    answers: list[str] | None = [""] * len(lines) if args.output else None

    def against(url: str, keep: bool = False) -> dict:
        pair = benchmark_serve.first_pair(url)
        return benchmark_serve.load_test(url, *pair, lines, args.clients, args.requests,
                                         answers if keep else None)

    def written(result: dict) -> dict:
        if args.output:
            with atomic_write(args.output) as f:
                f.write("".join(f"{a}\n" for a in answers))
        return result

    if args.url:
        return written({"url": args.url, **against(args.url, keep=True)})
    result = {"offline": benchmark_serve.offline(args.checkpoint, lines, args.precision, args.threads,
                                                 args.clients, args.requests)}
    servers = (("batched", args.max_batch_tokens, "continuous"),
               ("batched_whole", args.max_batch_tokens, "whole"), ("unbatched", 0, "whole"))
    for name, tokens, batching in servers:
        with benchmark_serve.ServerProcess(args.checkpoint, [*options, "--batching", batching,
                                                             "--max-batch-tokens",
                                                             str(tokens)]) as server:
            result[name] = {"max_batch_tokens": tokens, "batching": batching,
                            **against(server.url, keep=name == "batched")}
    rate = {k: result[k]["sentences_per_s"] for k in ("offline", "batched", "batched_whole",
                                                       "unbatched")}
    result["batched_vs_offline"] = round(rate["batched"] / rate["offline"], 3)
    # the same while all clients were sending (not while the last ones finish alone)
    active = result["batched"]["while_all_clients_active"]["sentences_per_s"]
    result["batched_all_active_vs_offline"] = round(active / rate["offline"], 3)
    result["batched_vs_unbatched"] = round(rate["batched"] / rate["unbatched"], 3)
    result["continuous_vs_whole"] = round(rate["batched"] / rate["batched_whole"], 3)
    # the server's ceiling: its full batches translated offline, against batches of 128
    ceiling = result["offline"]["server_batches"]["sentences_per_s"]
    result["server_batches_vs_offline"] = round(ceiling / rate["offline"], 3)
    result["batched_vs_server_batches"] = round(rate["batched"] / ceiling, 3)
    return written(result)


# WHAT -> the measurement; each returns the JSON result (None: it printed its own output)
MEASUREMENTS = {"data": _data, "train": _train, "translate": _translate,
                "forget-mult": _forget_mult, "qrnn": _qrnn, "serve": _serve}


def run(args: argparse.Namespace) -> int:
    result = MEASUREMENTS[args.what](args)
    if result is not None:
        print(json.dumps(result))
    return 0


def _check_positive(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Sizes and counts must be >= 1 (absent options and None are skipped)."""
    for name in names:
        value = getattr(args, name, None)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and v < 1:
                raise NmtError(f"--{name} must be >= 1, got {v}")
