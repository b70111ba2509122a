// forget-mult on (B, T, H) with unit stride over H; f, x with element strides (sb, st) over (b, t).
// complement: c_t = f c + (1 - f) x, else c_t = f c + x; mask[b*T+t] == 0 keeps c_t = c_{t-1}.
// Each row is computed in a small buffer that stays in L1 and then streamed out: the outputs are
// written once and read only by the other pass, so streaming (non-temporal) stores that skip the
// read-for-ownership of a normal store save a third of every written stream's memory traffic.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "parallel_rows.h"
#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

// Software prefetch of the row `ahead` steps away: the hardware prefetchers follow the descending
// streams of the backward pass poorly (measured: the backward runs ~2x faster with it).
constexpr int64_t kAhead = 2;
template <typename S>
static inline void prefetch_row(const S* p, int64_t H) {
  constexpr int64_t line = 64 / sizeof(S);
  for (int64_t h = 0; h < H; h += line) __builtin_prefetch(p + h, 0, 3);
}

template <typename S>
static inline void store_row(S* __restrict dst, const S* __restrict src, int64_t H) {
  std::memcpy(dst, src, sizeof(S) * H);
}
#if defined(__AVX512F__)
template <>
inline void store_row<float>(float* __restrict dst, const float* __restrict src, int64_t H) {
  int64_t h = 0;
  for (; h < H && reinterpret_cast<uintptr_t>(dst + h) % 64 != 0; ++h) dst[h] = src[h];
  for (; h + 16 <= H; h += 16) _mm512_stream_ps(dst + h, _mm512_loadu_ps(src + h));
  for (; h < H; ++h) dst[h] = src[h];
}
#endif
static inline void store_fence() {
#if defined(__AVX512F__) || defined(__AVX__)
  _mm_sfence();
#endif
}

template <typename S>
static inline void fwd_row(const S* __restrict f, const S* __restrict x, S* __restrict c,
                           int64_t H, int complement) {
  if (complement) {
    for (int64_t h = 0; h < H; ++h) c[h] = f[h] * c[h] + (S(1) - f[h]) * x[h];
  } else {
    for (int64_t h = 0; h < H; ++h) c[h] = f[h] * c[h] + x[h];
  }
}

template <typename S>
static inline void bwd_row(const S* __restrict grad, const S* __restrict f,
                           const S* __restrict x, const S* __restrict prev, S* __restrict gf,
                           S* __restrict gx, S* __restrict carry, int64_t H, int complement) {
  if (complement) {
    for (int64_t h = 0; h < H; ++h) {
      const S g = grad[h] + carry[h];
      gf[h] = g * (prev[h] - x[h]);
      gx[h] = g * (S(1) - f[h]);
      carry[h] = g * f[h];
    }
  } else {
    for (int64_t h = 0; h < H; ++h) {
      const S g = grad[h] + carry[h];
      gf[h] = g * prev[h];
      gx[h] = g;
      carry[h] = g * f[h];
    }
  }
}

template <typename S>
static void fwd_rows(const S* f, const S* x, const S* c0, const uint8_t* mask, S* c, int64_t b0,
                     int64_t b1, int64_t T, int64_t H, int64_t fsb, int64_t fst, int64_t xsb,
                     int64_t xst, int complement) {
  std::vector<S> state(H);  // c_{t-1}, then c_t
  for (int64_t b = b0; b < b1; ++b) {
    if (c0) std::memcpy(state.data(), c0 + b * H, sizeof(S) * H);
    else std::fill(state.begin(), state.end(), S(0));
    for (int64_t t = 0; t < T; ++t) {
      if (t + kAhead < T) {
        prefetch_row(f + b * fsb + (t + kAhead) * fst, H);
        prefetch_row(x + b * xsb + (t + kAhead) * xst, H);
      }
      if (!mask || mask[b * T + t]) {
        fwd_row(f + b * fsb + t * fst, x + b * xsb + t * xst, state.data(), H, complement);
      }
      store_row(c + (b * T + t) * H, state.data(), H);
    }
  }
  store_fence();
}

template <typename S>
static void bwd_rows(const S* grad, const S* f, const S* x, const S* c, const S* c0,
                     const uint8_t* mask, S* gf, S* gx, S* gc0, int64_t b0, int64_t b1, int64_t T,
                     int64_t H, int64_t fsb, int64_t fst, int64_t xsb, int64_t xst,
                     int complement) {
  // carry: f_{t+1} * g_{t+1}; row_f, row_x: this step's gradients before they are streamed out
  std::vector<S> carry(H), zeros(H, S(0)), row_f(H), row_x(H);
  for (int64_t b = b0; b < b1; ++b) {
    std::fill(carry.begin(), carry.end(), S(0));
    for (int64_t t = T - 1; t >= 0; --t) {
      const int64_t row = (b * T + t) * H;
      if (t - kAhead > 0) {
        const int64_t ahead = row - kAhead * H, ta = t - kAhead;
        prefetch_row(grad + ahead, H);
        prefetch_row(f + b * fsb + ta * fst, H);
        prefetch_row(x + b * xsb + ta * xst, H);
        prefetch_row(c + ahead - H, H);
      }
      if (mask && !mask[b * T + t]) {  // c_t = c_{t-1}: the gradient passes through unchanged
        for (int64_t h = 0; h < H; ++h) carry[h] += grad[row + h];
        store_row(gf + row, zeros.data(), H);
        store_row(gx + row, zeros.data(), H);
        continue;
      }
      const S* prev = t > 0 ? c + row - H : (c0 ? c0 + b * H : zeros.data());
      bwd_row(grad + row, f + b * fsb + t * fst, x + b * xsb + t * xst, prev, row_f.data(),
              row_x.data(), carry.data(), H, complement);
      store_row(gf + row, row_f.data(), H);
      store_row(gx + row, row_x.data(), H);
    }
    if (gc0) std::memcpy(gc0 + b * H, carry.data(), sizeof(S) * H);
  }
  store_fence();
}

#define DEFINE(S, NAME)                                                                        \
  extern "C" void fm_forward_##NAME(const S* f, const S* x, const S* c0, const uint8_t* mask,  \
                                    S* c, int64_t B, int64_t T, int64_t H, int64_t fsb,        \
                                    int64_t fst, int64_t xsb, int64_t xst, int complement,     \
                                    int nthreads) {                                            \
    parallel_rows(B, nthreads, [=](int64_t b0, int64_t b1) {                                  \
      fwd_rows<S>(f, x, c0, mask, c, b0, b1, T, H, fsb, fst, xsb, xst, complement);            \
    });                                                                                        \
  }                                                                                            \
  extern "C" void fm_backward_##NAME(const S* grad, const S* f, const S* x, const S* c,        \
                                     const S* c0, const uint8_t* mask, S* gf, S* gx, S* gc0,   \
                                     int64_t B, int64_t T, int64_t H, int64_t fsb,             \
                                     int64_t fst, int64_t xsb, int64_t xst, int complement,    \
                                     int nthreads) {                                           \
    parallel_rows(B, nthreads, [=](int64_t b0, int64_t b1) {                                  \
      bwd_rows<S>(grad, f, x, c, c0, mask, gf, gx, gc0, b0, b1, T, H, fsb, fst, xsb, xst,      \
                  complement);                                                                 \
    });                                                                                        \
  }

DEFINE(float, f32)
DEFINE(double, f64)
