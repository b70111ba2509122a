// Label-smoothed cross-entropy over rows of logits (N, V) with unit stride over V and row stride
// ld, in bf16 (raw uint16 bits) or float32; one pass per row forward and one backward, with the
// row in cache between its reads. See nmt/training/loss.py for the formula.
//
// forward:  per row, lse = log Σ_v exp(x_v), nll = lse − x_target, smooth = V·lse − Σ_v x_v
//           (written to float32 outputs; the caller masks pads and sums).
// backward: per row, g_v = (exp(x_v − lse) − eps_i − [v = target]·(1 − eps − eps_i)) · scale,
//           scale = grad · (target ≠ pad), written in the logits' dtype (bf16: rounded to nearest
//           even), to a separate buffer or over the logits themselves.
// The row max and exp sums (softmax_rows.h) are AVX-512, 16 lanes at a time, where the CPU has it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "bf16.h"
#include "parallel_rows.h"
#include "softmax_rows.h"
#if defined(__SSE__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

template <typename S>
static void forward_rows(const S* logits, int64_t V, int64_t ld, const int64_t* target,
                         float* lse, float* nll, float* smooth, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const S* x = logits + r * ld;
    const float m = row_max(x, V);
    float sum_exp, sum_x;
    row_sums(x, V, m, &sum_exp, &sum_x);
    const float l = m + std::log(sum_exp);
    lse[r] = l;
    nll[r] = l - load(x, target[r]);
    smooth[r] = static_cast<float>(V) * l - sum_x;
  }
}

template <typename S>
static void backward_rows(const S* logits, int64_t V, int64_t ld, const int64_t* target,
                          int64_t pad, const float* lse, float grad, float eps, float eps_i,
                          S* out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const S* x = logits + r * ld;
    S* g = out + r * V;  // may be x itself (ld == V): each x_v is read before g_v is written
    const int64_t t = target[r];
    const float x_t = load(x, t);
    const float scale = t == pad ? 0.0f : grad;
    const float l = lse[r], off = eps_i * scale;
    int64_t v = 0;
#if defined(__AVX512F__)
    const __m512 lv = _mm512_set1_ps(l), sv = _mm512_set1_ps(scale), ov = _mm512_set1_ps(off);
    for (; v + kLanes <= V; v += kLanes)
      store16(g + v, _mm512_fmsub_ps(exp16(_mm512_sub_ps(load16(x + v), lv)), sv, ov));
#endif
    for (; v < V; ++v) store(g, v, exp_nonpositive(load(x, v) - l) * scale - off);
    store(g, t, (exp_nonpositive(x_t - l) - eps_i - (1.0f - eps - eps_i)) * scale);
  }
}

#define DEFINE(S, NAME)                                                                        \
  extern "C" void lsce_forward_##NAME(const S* logits, int64_t N, int64_t V, int64_t ld,       \
                                      const int64_t* target, float* lse, float* nll,           \
                                      float* smooth, int nthreads) {                           \
    parallel_rows(N, nthreads, [=](int64_t r0, int64_t r1) {                                  \
      forward_rows<S>(logits, V, ld, target, lse, nll, smooth, r0, r1);                        \
    });                                                                                        \
  }                                                                                            \
  extern "C" void lsce_backward_##NAME(const S* logits, int64_t N, int64_t V, int64_t ld,      \
                                       const int64_t* target, int64_t pad, const float* lse,   \
                                       float grad, float eps, float eps_i, S* out,             \
                                       int nthreads) {                                         \
    parallel_rows(N, nthreads, [=](int64_t r0, int64_t r1) {                                  \
      backward_rows<S>(logits, V, ld, target, pad, lse, grad, eps, eps_i, out, r0, r1);        \
    });                                                                                        \
  }

DEFINE(float, f32)
DEFINE(uint16_t, bf16)
