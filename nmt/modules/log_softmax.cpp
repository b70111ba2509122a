// log-softmax of bf16 rows (raw uint16 bits) into float32: out_v = x_v − (m + log Σ_u exp(x_u − m)),
// m the row's max; rows of V elements with unit stride and row stride ld, the output contiguous.
// PyTorch's path for bf16 logits casts them to a float32 copy and then runs its log_softmax over
// that: three passes over a float32 row. This reads the bf16 row twice (max, then exp sum) and
// writes the output once. See nmt/models/base.py (log_probs).
#include <cmath>
#include <cstdint>

#include "bf16.h"
#include "parallel_rows.h"
#include "softmax_rows.h"

extern "C" void log_softmax_bf16(const uint16_t* logits, int64_t N, int64_t V, int64_t ld,
                                 float* out, int nthreads) {
  parallel_rows(N, nthreads, [=](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint16_t* x = logits + r * ld;
      float* y = out + r * V;
      const float m = row_max(x, V);
      const float lse = m + std::log(row_sum_exp(x, V, m));
      int64_t v = 0;
#if defined(__AVX512F__)
      const __m512 lv = _mm512_set1_ps(lse);
      for (; v + kLanes <= V; v += kLanes) _mm512_storeu_ps(y + v, _mm512_sub_ps(load16(x + v), lv));
#endif
      for (; v < V; ++v) y[v] = load(x, v) - lse;
    }
  });
}
