// Dropout with a counter-based mask: y_i = x_i · (kept_i ? scale : 0), in float32 or bf16 (raw
// uint16 bits, rounded to nearest even), for x of n elements in one contiguous block.
//
// The mask is a function of (seed, i) only, so the backward pass rebuilds it from the seed instead
// of storing it, and any split over threads gives the same mask. Word w (elements 4w .. 4w+3) is
// splitmix64's output for the counter seed + (w + 1)·γ (Steele, Lea & Flood 2014); element 4w + j
// takes the word's 16-bit lane j (bits 16j .. 16j+15) as a signed integer u and is kept when
// u < thr, thr = round((1 − p)·2¹⁶) − 2¹⁵. nmt/modules/dropout.py computes the same mask with
// PyTorch integer ops (its reference, tested equal element for element).
#include <algorithm>
#include <cstdint>

#include "bf16.h"
#include "parallel_rows.h"

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

static inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__)
// The same mask, 8 words (32 elements) at a time: the 8 words' bits read as 32 int16 lanes are
// the lanes of elements 4w .. 4w+31 in order. Returns the first word it did not do.
template <typename S>
static int64_t dropout_words_avx512(const S* x, S* y, uint64_t seed, int32_t thr, float scale,
                                    int64_t w0, int64_t w1) {
  __m512i counter = _mm512_add_epi64(
      _mm512_set1_epi64(static_cast<int64_t>(seed + static_cast<uint64_t>(w0 + 1) * kGamma)),
      _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
                         _mm512_set1_epi64(static_cast<int64_t>(kGamma))));
  const __m512i step = _mm512_set1_epi64(static_cast<int64_t>(8 * kGamma));
  const __m512i m1 = _mm512_set1_epi64(static_cast<int64_t>(0xbf58476d1ce4e5b9ULL));
  const __m512i m2 = _mm512_set1_epi64(static_cast<int64_t>(0x94d049bb133111ebULL));
  const __m512i limit = _mm512_set1_epi16(static_cast<int16_t>(std::min(thr, 32767)));
  const __mmask32 always = thr > 32767 ? ~__mmask32{0} : 0;  // p < 2⁻¹⁷: every lane is kept
  const __m512 zero = _mm512_setzero_ps(), sv = _mm512_set1_ps(scale);
  int64_t w = w0;
  for (; w + 8 <= w1; w += 8, counter = _mm512_add_epi64(counter, step)) {
    __m512i z = _mm512_mullo_epi64(_mm512_xor_si512(counter, _mm512_srli_epi64(counter, 30)), m1);
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), m2);
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    const __mmask32 keep = _mm512_cmplt_epi16_mask(z, limit) | always;
    const int64_t i = 4 * w;
    store16(y + i, _mm512_mul_ps(load16(x + i), _mm512_mask_blend_ps(keep & 0xffff, zero, sv)));
    store16(y + i + 16, _mm512_mul_ps(load16(x + i + 16), _mm512_mask_blend_ps(keep >> 16, zero, sv)));
  }
  return w;
}
#endif

template <typename S>
static void dropout_words(const S* x, S* y, int64_t n, uint64_t seed, int32_t thr, float scale,
                          int64_t w0, int64_t w1) {
  const int64_t full = std::min(w1, n / 4);  // words with all four elements inside x
  int64_t w = w0;
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__)
  w = dropout_words_avx512(x, y, seed, thr, scale, w0, std::max(w0, full));
#endif
  for (; w < full; ++w) {
    const uint64_t z = splitmix64(seed + static_cast<uint64_t>(w + 1) * kGamma);
    for (int j = 0; j < 4; ++j) {
      const int16_t u = static_cast<int16_t>(z >> (16 * j));
      store(y, 4 * w + j, load(x, 4 * w + j) * (u < thr ? scale : 0.0f));
    }
  }
  for (int64_t w = std::max(w0, full); w < w1; ++w) {  // the last, partial word
    const uint64_t z = splitmix64(seed + static_cast<uint64_t>(w + 1) * kGamma);
    for (int64_t i = 4 * w; i < n; ++i) {
      const int16_t u = static_cast<int16_t>(z >> (16 * (i - 4 * w)));
      store(y, i, load(x, i) * (u < thr ? scale : 0.0f));
    }
  }
}

#define DEFINE(S, NAME)                                                                        \
  extern "C" void dropout_##NAME(const S* x, S* y, int64_t n, uint64_t seed, int32_t thr,     \
                                 float scale, int nthreads) {                                  \
    parallel_rows((n + 3) / 4, nthreads, [=](int64_t w0, int64_t w1) {                         \
      dropout_words<S>(x, y, n, seed, thr, scale, w0, w1);                                     \
    });                                                                                        \
  }

DEFINE(float, f32)
DEFINE(uint16_t, bf16)
