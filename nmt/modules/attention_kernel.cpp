// One decoder step's multi-step attention in float32 (Gehring et al. 2017, §3.3), per sentence b
// and each of its w query rows i, over its S source positions:
//   d_i  = (p_i + g_i) · h        (g absent: p_i · h)
//   a_ij = softmax_j(d_i · z_j)   (positions with pad_b,j set excluded: probability 0)
//   c_i  = scale_b · Σ_j a_ij ze_j
// with the projected queries p (B, w, D) and keys z (B, S, D) float32 or bf16 (raw uint16 bits),
// g (B, w, D), values ze (B, S, D) and scale (B) float32, pad (B, S) bytes; writes attn (B, w, S)
// and c (B, w, D). d_i is computed as PyTorch computes (p + g)·h, in float32, rounding alike.
// The softmax is exp(x − max) / Σ exp(x − max) with softmax_rows.h's exp. Sentences are split
// over threads. nmt/modules/attention_step.py has the PyTorch reference.
#include <cstdint>
#include <vector>

#include "bf16.h"
#include "parallel_rows.h"
#include "softmax_rows.h"

template <typename K>
static float dot(const float* a, const K* b, int64_t D) {
  int64_t k = 0;
  float s = 0.0f;
#if defined(__AVX512F__)
  __m512 acc = _mm512_setzero_ps();
  for (; k + kLanes <= D; k += kLanes) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), load16(b + k), acc);
  s = _mm512_reduce_add_ps(acc);
#endif
  for (; k < D; ++k) s += a[k] * load(b, k);
  return s;
}

static void add_scaled(float* c, const float* v, float a, int64_t D) {  // c += a · v
  int64_t k = 0;
#if defined(__AVX512F__)
  const __m512 av = _mm512_set1_ps(a);
  for (; k + kLanes <= D; k += kLanes)
    _mm512_storeu_ps(c + k, _mm512_fmadd_ps(av, _mm512_loadu_ps(v + k), _mm512_loadu_ps(c + k)));
#endif
  for (; k < D; ++k) c[k] += a * v[k];
}

template <typename P, typename K>
static void attend_sentences(const P* p, const float* g, float h, const K* z, const float* ze,
                             const uint8_t* pad, const float* scale, float* attn, float* ctx,
                             int64_t w, int64_t S, int64_t D, int64_t b0, int64_t b1) {
  std::vector<float> query(D);
  float* di = query.data();
  for (int64_t b = b0; b < b1; ++b) {
    const K* zb = z + b * S * D;
    const float* vb = ze + b * S * D;
    const uint8_t* pb = pad + b * S;
    for (int64_t i = 0; i < w; ++i) {
      const P* pi = p + (b * w + i) * D;
      const float* gi = g == nullptr ? nullptr : g + (b * w + i) * D;
      for (int64_t k = 0; k < D; ++k) di[k] = (gi == nullptr ? load(pi, k) : load(pi, k) + gi[k]) * h;
      float* ai = attn + (b * w + i) * S;
      float* ci = ctx + (b * w + i) * D;
      float m = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        ai[j] = pb[j] ? -INFINITY : dot(di, zb + j * D, D);
        m = ai[j] > m ? ai[j] : m;
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < S; ++j) {
        ai[j] = pb[j] ? 0.0f : exp_nonpositive(ai[j] - m);
        sum += ai[j];
      }
      const float inv = 1.0f / sum;
      for (int64_t k = 0; k < D; ++k) ci[k] = 0.0f;
      for (int64_t j = 0; j < S; ++j) {
        ai[j] *= inv;
        if (!pb[j]) add_scaled(ci, vb + j * D, ai[j], D);
      }
      for (int64_t k = 0; k < D; ++k) ci[k] *= scale[b];
    }
  }
}

#define DEFINE(P, K, NAME)                                                                     \
  extern "C" void attend_##NAME(const P* p, const float* g, float h, const K* z, const float* ze, \
                                const uint8_t* pad, const float* scale, float* attn, float* ctx, \
                                int64_t B, int64_t w, int64_t S, int64_t D, int nthreads) {     \
    parallel_rows(B, nthreads, [=](int64_t b0, int64_t b1) {                                   \
      attend_sentences<P, K>(p, g, h, z, ze, pad, scale, attn, ctx, w, S, D, b0, b1);           \
    });                                                                                         \
  }

// attend_<queries>_<keys>
DEFINE(float, float, f32_f32)
DEFINE(float, uint16_t, f32_bf16)
DEFINE(uint16_t, float, bf16_f32)
DEFINE(uint16_t, uint16_t, bf16_bf16)
