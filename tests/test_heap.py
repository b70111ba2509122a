"""nmt.heap: freed large tensors are reused from the heap, not mapped afresh (page faults counted)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")

# A 64 MB block from malloc, written, freed and taken again, as a large tensor's storage is: the
# page faults of writing it the second time.
CHILD = """
import ctypes, resource
from nmt.heap import keep_freed_memory
print(keep_freed_memory())
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
for attempt in range(2):
    block = libc.malloc(64 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ctypes.memset(block, 1, 64 << 20)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    libc.free(block)
print(faults)
"""
PAGES = (64 << 20) // 4096  # 16,384 pages of 4 KB


def second_write_faults(setting: str) -> tuple[str, int]:
    env = {**os.environ, "NMT_KEEP_FREED_MEMORY": setting}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


def test_freed_memory_is_reused_without_page_faults():
    applied, faults = second_write_faults("1")
    assert applied == "True"
    assert faults < PAGES // 10


def transparent_huge_pages_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


def test_turned_off_a_fresh_mapping_faults_every_page():
    if transparent_huge_pages_always():
        pytest.skip("transparent huge pages always on: a fresh mapping faults per 2 MB page")
    applied, faults = second_write_faults("0")
    assert applied == "False"
    assert faults > PAGES // 2


def test_torch_commands_apply_it_before_they_run():
    code = ("import nmt.heap as h, nmt.cli.main as m; "
            "rc = m.main(['translate', '--checkpoint', 'missing.safetensors', '--input', 'missing.txt']); "
            "print(rc, h._applied)")
    env = {**os.environ, "NMT_KEEP_FREED_MEMORY": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "True"]
