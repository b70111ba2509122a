// What the C++ kernels share (nmt/modules/native.py adds this directory to the include path).
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

// Denormals flushed to zero while a kernel runs (FTZ and DAZ, restored after), as `nmt` commands
// flush them process-wide (nmt/cli/main.py): arithmetic on them takes a slow microcode path, e.g.
// a QRNN state decaying through hundreds of forget gates.
struct FlushDenormals {
#if defined(__x86_64__) || defined(__i386__)
  unsigned saved = _mm_getcsr();
  FlushDenormals() { _mm_setcsr(saved | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

// fn(r0, r1) over rows [0, N) split evenly across up to nthreads threads (this one included),
// each with denormals flushed.
//
// Built with -fopenmp (nmt/modules/native.py), the parts run on OpenMP's thread team. The kernel
// library's libgomp.so.1 is PyTorch's own, already loaded, so the team is PyTorch's: its workers
// are still spinning after the PyTorch op that came before, and take the work at once. A thread
// started here instead would compete with them for the cores: a (640, 9808) bf16 log-softmax
// right after a matrix product took 3.5 ms that way against 1.5 ms alone (docs/results.md).
template <typename Fn>
static void parallel_rows(int64_t N, int nthreads, Fn fn) {
  const int64_t n = std::max<int64_t>(1, std::min<int64_t>(nthreads, N));
  auto flushed = [&fn](int64_t r0, int64_t r1) { FlushDenormals mode; fn(r0, r1); };
  if (n == 1) { flushed(0, N); return; }
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
  {
    const int64_t parts = omp_get_num_threads(), i = omp_get_thread_num();  // parts <= n
    flushed(N * i / parts, N * (i + 1) / parts);
  }
#else
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < n; ++i) pool.emplace_back(flushed, N * i / n, N * (i + 1) / n);
  flushed(0, N / n);
  for (auto& th : pool) th.join();
#endif
}
