// Row-wise pieces of a softmax over float32 or bf16 rows, for the C++ kernels (on their include
// path: nmt/modules/native.py): a row's max, and Σ exp(x_v − max) with Σ x_v. exp is a polynomial
// (Cody-Waite reduction to r in [−ln2/2, ln2/2], degree-7 Taylor: relative error below 1e-8
// before float rounding), in AVX-512 16 lanes at a time where the CPU has it (the compiler does
// not vectorise these loops by itself without -ffast-math), else scalar.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "bf16.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

constexpr int64_t kLanes = 16;

// exp(x) for x <= 0 (arguments below −87 give 0).
static inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float shifter = 12582912.0f;  // 1.5·2²³: adding and subtracting it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f + r * (1.0f / 40320.0f);
  p = 1.0f / 720.0f + r * p;
  p = 1.0f / 120.0f + r * p;
  p = 1.0f / 24.0f + r * p;
  p = 1.0f / 6.0f + r * p;
  p = 0.5f + r * p;
  p = 1.0f + r * p;
  p = 1.0f + r * p;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

#if defined(__AVX512F__)
// exp_nonpositive on 16 lanes; 2^n applied with scalef.
static inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
  __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 40320.0f), _mm512_set1_ps(1.0f / 5040.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}
#endif

template <typename S>
static float row_max(const S* x, int64_t V) {
  float m = -INFINITY;
  int64_t v = 0;
#if defined(__AVX512F__)
  __m512 acc = _mm512_set1_ps(-INFINITY);
  for (; v + kLanes <= V; v += kLanes) acc = _mm512_max_ps(acc, load16(x + v));
  m = _mm512_reduce_max_ps(acc);
#endif
  for (; v < V; ++v) m = std::max(m, load(x, v));
  return m;
}

// Σ exp(x_v − m) over the row (the sums of row_sums without Σ x_v, in the same order).
template <typename S>
static float row_sum_exp(const S* x, int64_t V, float m) {
  float e = 0.0f;
  int64_t v = 0;
#if defined(__AVX512F__)
  const __m512 mv = _mm512_set1_ps(m);
  __m512 se = _mm512_setzero_ps();
  for (; v + kLanes <= V; v += kLanes) se = _mm512_add_ps(se, exp16(_mm512_sub_ps(load16(x + v), mv)));
  e = _mm512_reduce_add_ps(se);
#endif
  for (; v < V; ++v) e += exp_nonpositive(load(x, v) - m);
  return e;
}

// Σ exp(x_v − m) and Σ x_v over the row.
template <typename S>
static void row_sums(const S* x, int64_t V, float m, float* sum_exp, float* sum_x) {
  float e = 0.0f, s = 0.0f;
  int64_t v = 0;
#if defined(__AVX512F__)
  const __m512 mv = _mm512_set1_ps(m);
  __m512 se = _mm512_setzero_ps(), sx = _mm512_setzero_ps();
  for (; v + kLanes <= V; v += kLanes) {
    const __m512 xv = load16(x + v);
    se = _mm512_add_ps(se, exp16(_mm512_sub_ps(xv, mv)));
    sx = _mm512_add_ps(sx, xv);
  }
  e = _mm512_reduce_add_ps(se);
  s = _mm512_reduce_add_ps(sx);
#endif
  for (; v < V; ++v) e += exp_nonpositive(load(x, v) - m), s += load(x, v);
  *sum_exp = e;
  *sum_x = s;
}
