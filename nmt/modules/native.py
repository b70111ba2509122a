"""C++ CPU kernels: a source file beside its module, compiled with the system compiler on first use
(never at import) for this machine's instruction set, cached, and loaded through ctypes.

A kernel that cannot be built (no compiler, a failed build) is logged once and reported as None;
its caller then runs its PyTorch path. Built libraries live in ``$NMT_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/nmt/kernels`` (``~/.cache/nmt/kernels``), named by a hash of the source, the
compiler, its flags and the CPU's flags, so an edit or another CPU builds anew. Headers the
kernels share (``parallel_rows.h``) live beside this module, on every kernel's include path.
Kernels are built with ``-fopenmp``: their threads are those of the OpenMP runtime PyTorch has
already loaded (``libgomp.so.1``), which ``parallel_rows`` hands its parts to.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CXX_FLAGS = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-pthread", "-fopenmp"]
HEADERS = Path(__file__).parent  # shared headers (parallel_rows.h), on every kernel's include path


def kernel_cache_dir() -> Path:
    """Where built kernels live: ``$NMT_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/nmt/kernels``."""
    if os.environ.get("NMT_KERNEL_CACHE"):
        return Path(os.environ["NMT_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nmt" / "kernels"


def cpu_signature() -> str:
    """Identifies the instruction set a kernel is built for (-march=native)."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + flags


class NativeKernel:
    """The library built from ``source``; ``declare(lib)`` sets its functions' argument types.

    :meth:`get` builds it on the first call (thread-safe) and returns it, or None when it cannot
    be built."""

    def __init__(self, source: Path, declare: Callable[[ctypes.CDLL], None], what: str):
        self.source, self.declare, self.what = source, declare, what
        self._lib: ctypes.CDLL | bool | None = None  # False after a failed build
        self.error = ""
        self._lock = threading.Lock()

    def get(self) -> ctypes.CDLL | None:
        if self._lib is None:
            with self._lock:
                if self._lib is None:
                    try:
                        self._lib = self._load()
                    except Exception as exc:  # noqa: BLE001 - any failure means: use the fallback
                        self._lib, self.error = False, f"{type(exc).__name__}: {exc}"
                        log.warning("%s unavailable (%s); using the PyTorch path", self.what,
                                    self.error)
        return self._lib or None

    def _load(self) -> ctypes.CDLL:
        cxx = os.environ.get("CXX", "g++")
        texts = [p.read_text(encoding="utf-8") for p in [self.source, *sorted(HEADERS.glob("*.h"))]]
        key = hashlib.sha256("\0".join([*texts, cxx, *CXX_FLAGS, cpu_signature()]).encode())
        path = _writable_cache_dir() / f"{self.source.stem}_{key.hexdigest()[:16]}.so"
        if not path.exists():
            _build(cxx, self.source, path)
        lib = ctypes.CDLL(str(path))
        self.declare(lib)
        return lib


def _writable_cache_dir() -> Path:
    directory = kernel_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise OSError
    except OSError:  # e.g. a read-only home: build in the temporary directory instead
        directory = Path(tempfile.gettempdir()) / f"nmt-kernels-{os.getuid()}"
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def _build(cxx: str, source: Path, path: Path) -> None:
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src, out = Path(tmp) / source.name, Path(tmp) / "kernel.so"
        src.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        proc = subprocess.run([cxx, *CXX_FLAGS, f"-I{HEADERS}", str(src), "-o", str(out)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{cxx} failed: {proc.stderr.strip()[-500:]}")
        os.replace(out, path)  # atomic: concurrent builders each rename a complete file


# Tensor dtypes the float32 / bf16 kernels take, and their functions' name suffixes.
KERNEL_DTYPES = {torch.float32: "f32", torch.bfloat16: "bf16"}
PARALLEL_MIN_ELEMENTS = 1 << 16  # smaller problems are not worth splitting across threads


def threads_for(numel: int) -> int:
    """Threads for a kernel call over ``numel`` elements: PyTorch's intra-op count, or one for a
    small problem (handing work to another thread costs microseconds)."""
    return torch.get_num_threads() if numel >= PARALLEL_MIN_ELEMENTS else 1


def ptr(t) -> ctypes.c_void_p | None:
    """A tensor's data pointer for a ctypes call (None for None)."""
    return None if t is None else ctypes.c_void_p(t.data_ptr())
