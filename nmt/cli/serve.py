"""`nmt serve --checkpoint CKPT [--checkpoint CKPT2 ...] [--host 127.0.0.1] [--port 5000]`:
translations over HTTP (LibreTranslate's API, the native /v1 API and a web page; docs/serve.md).

Starlette + uvicorn: a small, well-kept ASGI stack. Starlette lets every error keep
LibreTranslate's shape (``{"error": ...}``) without a validation layer to override, and uvicorn
stops gracefully: on SIGTERM it stops accepting, finishes the requests in flight, and `nmt serve`
exits 0.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path

from nmt.errors import NmtError, UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", action="append", required=True,
                   help="a checkpoint to serve (repeat for more language pairs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=5000)
    m = p.add_argument_group("model")
    m.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    m.add_argument("--quantize", choices=("none", "int8"), default="none")
    m.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    b = p.add_argument_group("dynamic batching")
    b.add_argument("--max-batch-tokens", type=int, default=2048,
                   help="source words per batch across requests (0: batching off)")
    b.add_argument("--max-wait-ms", type=float, default=10.0,
                   help="how long the oldest request waits for others to join its batch")
    b.add_argument("--max-queue", type=int, default=256, help="requests waiting; more get 429")
    b.add_argument("--batching", choices=("continuous", "whole"), default="continuous",
                   help="continuous: requests join the running search at its next step and leave "
                        "when done (ConvS2S, LSTM, Dilated-RNN beam search; otherwise whole); "
                        "whole: every batch is translated whole")
    lim = p.add_argument_group("limits")
    lim.add_argument("--max-chars", type=int, default=20_000, help="characters per request")
    lim.add_argument("--max-line-chars", type=int, default=2_000, help="characters per line")
    lim.add_argument("--timeout", type=float, default=60.0, help="seconds per request (then 503)")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def _check(args: argparse.Namespace) -> None:
    for name in ("port", "max_queue", "max_chars", "max_line_chars"):
        if getattr(args, name) < (0 if name == "port" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if args.max_batch_tokens < 0 or args.max_wait_ms < 0 or args.timeout <= 0:
        raise UsageError("--max-batch-tokens and --max-wait-ms must be >= 0, --timeout > 0")


def build_app(args: argparse.Namespace):
    """Load every checkpoint (through nmt.load) and put them behind the application."""
    import nmt
    from nmt.serve.app import create_app
    from nmt.serve.metrics import Metrics
    from nmt.serve.models import serve_models
    from nmt.serve.requests import Limits
    from nmt.serve.torch_thread import run as on_torch_thread

    metrics = Metrics()
    loaded = [(Path(c), on_torch_thread(nmt.load, c, precision=args.precision,
                                        quantize=args.quantize, threads=args.threads))
              for c in args.checkpoint]
    served = serve_models(loaded, max_batch_tokens=args.max_batch_tokens,
                          max_wait_ms=args.max_wait_ms, max_queue=args.max_queue, metrics=metrics,
                          continuous=args.batching == "continuous")
    limits = Limits(max_chars=args.max_chars, max_line_chars=args.max_line_chars,
                    timeout=args.timeout)
    return create_app(served, limits, metrics), served


def run(args: argparse.Namespace) -> int:
    _check(args)
    try:
        import uvicorn
    except ImportError:
        raise NmtError("nmt serve needs its extra: pip install 'nmt[serve]'") from None
    sock = _listen(args.host, args.port)  # before loading: a taken port fails in a second
    app, served = build_app(args)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:  # a requested, graceful stop: exit 0 instead of re-raising
                self._captured_signals = [s for s in self._captured_signals if s != sig]

    pairs = ", ".join(f"{s}->{t} ({m.batcher.name})" for (s, t), m in served.items())
    print(f"nmt serve: {pairs} on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=args.timeout)
    Server(config).run(sockets=[sock])
    print("nmt serve: stopped", file=sys.stderr)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise NmtError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
