// The gated linear unit's backward pass, written over its input: for rows x = [A B] (N, 2C) with
// row stride ld and the output's gradient G (N, C) contiguous,
//   ∂A = G ⊗ σ(B),   ∂B = G ⊗ A ⊗ σ(B) ⊗ (1 − σ(B)),
// stored back into A and B (float32, or bf16 as raw uint16 bits rounded to nearest even), one
// pass reading A, B and G. With e = exp(−|b|) (softmax_rows.h's exp, relative error below 1e-8):
// σ(b) = 1 / (1 + e) for b >= 0 and e / (1 + e) below, and σ(b)(1 − σ(b)) = e / (1 + e)², which
// does not cancel where σ(b) is near 1. nmt/modules/glu.py has the reference.
#include <cmath>
#include <cstdint>

#include "bf16.h"
#include "parallel_rows.h"
#include "softmax_rows.h"


template <typename S>
static void glu_backward_rows(S* x, int64_t C, int64_t ld, const S* grad, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    S* a = x + r * ld;
    S* b = a + C;
    const S* g = grad + r * C;
    int64_t c = 0;
#if defined(__AVX512F__)
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; c + kLanes <= C; c += kLanes) {
      const __m512 av = load16(a + c), bv = load16(b + c), gv = load16(g + c);
      const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(bv)));  // exp(−|b|)
      const __mmask16 nonnegative = _mm512_cmp_ps_mask(bv, _mm512_setzero_ps(), _CMP_GE_OQ);
      const __m512 inv = _mm512_div_ps(one, _mm512_add_ps(one, e));  // 1 / (1 + e)
      const __m512 s = _mm512_mask_blend_ps(nonnegative, _mm512_mul_ps(e, inv), inv);
      const __m512 ds = _mm512_mul_ps(_mm512_mul_ps(e, inv), inv);  // σ(b)(1 − σ(b))
      store16(a + c, _mm512_mul_ps(gv, s));
      store16(b + c, _mm512_mul_ps(_mm512_mul_ps(gv, av), ds));
    }
#endif
    for (; c < C; ++c) {
      const float bv = load(b, c), e = exp_nonpositive(-std::fabs(bv)), inv = 1.0f / (1.0f + e);
      const float s = bv >= 0.0f ? inv : e * inv, gv = load(g, c), av = load(a, c);
      store(a, c, gv * s);
      store(b, c, gv * av * (e * inv * inv));
    }
  }
}

#define DEFINE(S, NAME)                                                                        \
  extern "C" void glu_backward_##NAME(S* x, int64_t N, int64_t C, int64_t ld, const S* grad,  \
                                      int nthreads) {                                          \
    parallel_rows(N, nthreads, [=](int64_t r0, int64_t r1) {                                  \
      glu_backward_rows<S>(x, C, ld, grad, r0, r1);                                            \
    });                                                                                        \
  }

DEFINE(float, f32)
DEFINE(uint16_t, bf16)
