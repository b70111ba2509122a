"""nmt.modules.native: a C++ source built on first use, cached, or None when it cannot be built."""

import ctypes
import shutil

import pytest

from nmt.modules.native import NativeKernel

needs_compiler = pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler")


ADDER = ('#include "parallel_rows.h"\n'
         'extern "C" int add_rows(int n, int threads) {\n'
         '  std::vector<int> seen(n);\n'
         '  parallel_rows(n, threads, [&](int64_t a, int64_t b) { for (auto i = a; i < b; ++i) seen[i] = 1; });\n'
         '  int total = 0; for (int v : seen) total += v; return total;\n}\n')


def declare_add(lib):
    lib.add_rows.argtypes = [ctypes.c_int, ctypes.c_int]


@needs_compiler
def test_a_kernel_is_built_once_with_the_shared_header_and_called(tmp_path, monkeypatch):
    monkeypatch.setenv("NMT_KERNEL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "adder.cpp"
    source.write_text(ADDER)
    kernel = NativeKernel(source, declare_add, "test kernel")
    lib = kernel.get()
    assert lib is not None and lib.add_rows(1000, 2) == 1000
    assert kernel.get() is lib
    assert len(list((tmp_path / "cache").glob("adder_*.so"))) == 1


@needs_compiler
def test_a_source_that_does_not_compile_gives_none_and_the_reason(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NMT_KERNEL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "broken.cpp"
    source.write_text("this is not C++\n")
    kernel = NativeKernel(source, declare_add, "broken kernel")
    assert kernel.get() is None
    assert kernel.get() is None  # not rebuilt: one warning
    assert "failed" in kernel.error
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "broken kernel unavailable" in caplog.records[0].message


@needs_compiler
def test_every_shipped_kernel_compiles():
    """The package's own sources build where a compiler exists (their tests would otherwise
    skip, or test only the fallback, when a change broke one)."""
    from nmt.modules.dropout import _KERNEL as dropout
    from nmt.modules.forget_mult import _KERNEL as forget_mult
    from nmt.modules.log_softmax import _KERNEL as log_softmax
    from nmt.training.loss import _KERNEL as loss

    for kernel in (dropout, forget_mult, log_softmax, loss):
        assert kernel.get() is not None, kernel.error


@needs_compiler
def test_kernels_share_pytorchs_openmp_runtime(tmp_path, monkeypatch):
    """parallel_rows runs on OpenMP threads; the kernel must bind to the libgomp PyTorch already
    loaded (one runtime, one thread team), not bring a second one whose threads compete."""
    import torch

    torch.ones(1 << 16).sum()  # PyTorch's runtime is loaded and its team has run
    before = openmp_runtimes()  # PyTorch's, and those other libraries bundle (sentencepiece's)
    monkeypatch.setenv("NMT_KERNEL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "teams.cpp"
    source.write_text(ADDER)
    lib = NativeKernel(source, declare_add, "test kernel").get()
    assert lib is not None and lib.add_rows(1000, 2) == 1000
    assert openmp_runtimes() == before  # no second libgomp.so.1 came with the kernel


def openmp_runtimes() -> set[str]:
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return {line.split()[-1] for line in maps if "libgomp" in line}
