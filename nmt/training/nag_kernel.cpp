// One NAG update (nmt/training/optim.py) of a float32 parameter p with its gradient g and its
// velocity v, in one pass over the three instead of five:
//
//   p ← p·decay (only when decay ≠ 1);  p ← p + a·v;  p ← p + b·g;  v ← v·c;  v ← v + e·g
//
// with every step rounded to float32 as PyTorch's in-place ops round it (``x.add_(y, alpha=a)``
// is one fused multiply-add, fma(a, y, x), in ATen's kernels), so the result is PyTorch's, bit for
// bit (tests/training/test_training_parts.py). The caller bumps the tensors' version counters.
#include <cmath>
#include <cstdint>

#include "parallel_rows.h"

extern "C" void nag_update_f32(float* p, float* v, const float* g, int64_t n, float decay, float a,
                               float b, float c, float e, int nthreads) {
  const bool decays = decay != 1.0f;
  parallel_rows(n, nthreads, [=](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      float x = decays ? p[i] * decay : p[i];
      x = std::fma(a, v[i], x);
      p[i] = std::fma(b, g[i], x);
      v[i] = std::fma(e, g[i], v[i] * c);
    }
  });
}
