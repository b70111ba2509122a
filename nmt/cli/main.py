"""The `nmt` console script: one subcommand per module in :mod:`nmt.cli`.

Each subcommand module has ``add_arguments(parser)`` and ``run(args) -> int``. A user-caused
error (:class:`~nmt.errors.NmtError`) prints one ``nmt <command>: error: ...`` line and exits 1;
Ctrl-C exits 130 without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nmt import __version__
from nmt.data.files import DISK_FULL
from nmt.errors import NmtError, UsageError
from nmt.heap import keep_freed_memory

# name -> (module, one-line help); later issues add train, translate, score, average, bench, ...
COMMANDS = {
    "preprocess": ("nmt.cli.preprocess", "raw parallel text -> binarized data directory with its pipeline"),
    "train": ("nmt.cli.train", "train a model from a preset and a recipe"),
    "import-fairseq": ("nmt.cli.import_fairseq", "convert a fairseq fconv checkpoint into an nmt checkpoint"),
    "translate": ("nmt.cli.translate", "translate raw text with a checkpoint (beam search)"),
    "shortlist": ("nmt.cli.shortlist", "build a lexical shortlist (translate --shortlist) from training data"),
    "score": ("nmt.cli.score", "BLEU / chrF / TER with sacreBLEU (and the paper's tokenized BLEU)"),
    "average": ("nmt.cli.average", "average the weights of several checkpoints"),
    "bench": ("nmt.cli.bench", "measure speed and memory; prints JSON"),
    "serve": ("nmt.cli.serve", "translate over HTTP: LibreTranslate's API, a native API, a web page"),
    "plot": ("nmt.cli.plot", "pictures: training curves, attention, family comparisons (needs .[plot])"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmt", description="Convolutional and quasi-recurrent neural machine translation."
    )
    parser.add_argument("--version", action="version", version=f"nmt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module, _parser=p)
        importlib.import_module(module).add_arguments(p)
    return parser


# Commands that compute with torch on the CPU (see flush_denormals and nmt/heap.py).
TORCH_COMMANDS = ("train", "translate", "bench", "average", "import-fairseq", "serve", "plot",
                  "shortlist")


def flush_denormals() -> None:
    """Denormal floats (below ~1.2e-38 in fp32) flushed to zero, on this thread and on the
    intra-op threads it starts later. Arithmetic on them takes a slow microcode path on x86:
    a QRNN on 511-token sources, whose states and gradients decay through hundreds of forget
    gates, trained 20x slower after ten updates (docs/results.md, copy-memory). Values that small
    change no loss, gradient step or translation."""
    import torch

    torch.set_flush_denormal(True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if extra:  # the command's own usage, not the top level's (argparse exits 2)
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in TORCH_COMMANDS:
        flush_denormals()
        keep_freed_memory()  # large tensors reuse freed heap memory (nmt/heap.py)
    try:
        return importlib.import_module(args._module).run(args)
    except NmtError as e:
        print(f"nmt {args.command}: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        print(f"nmt {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        where = f" holding {e.filename}" if e.filename else ""
        print(f"nmt {args.command}: error: no space left on the device{where}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    sys.exit(main())
