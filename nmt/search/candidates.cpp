// Rule 3 of beam search in one pass (nmt/search/candidates.py; the PyTorch reference is
// nmt.search.beam.top_candidates): for each of bsz sentences, whose `width` consecutive rows of
// log-probs lp (R × V, row stride ld) extend hypotheses with cumulative scores cum (R, or null
// for 0), the k best (row, token) by lp[r][v] + cum[r], best first, equal scores in (row, token)
// order. NaN counts as −inf. Fewer than k finite scores: −inf entries fill the rest, the first
// (row, token) not taken, in order.
//
// Each sentence keeps its k best so far sorted; a score enters only above the k-th, so after the
// first few tokens nearly every element is one compare (16 at a time with AVX-512).
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel_rows.h"

namespace {

struct Best {  // a sentence's k best so far, best first
  int64_t k, n = 0;
  std::vector<float> score;
  std::vector<int64_t> index;  // row · V + token, the row within the sentence
  explicit Best(int64_t k) : k(k), score(k), index(k) {}

  float threshold() const { return n < k ? -INFINITY : score[k - 1]; }

  // s > threshold(): insert behind every equal score (those came first in the scan)
  void insert(float s, int64_t i) {
    int64_t at = n < k ? n : k - 1;
    while (at > 0 && score[at - 1] < s) {
      score[at] = score[at - 1];
      index[at] = index[at - 1];
      --at;
    }
    score[at] = s;
    index[at] = i;
    if (n < k) ++n;
  }
};

void scan_row(const float* x, int64_t V, float c, int64_t base, Best& best) {
  int64_t v = 0;
#if defined(__AVX512F__)
  const __m512 cv = _mm512_set1_ps(c);
  for (; v + 16 <= V; v += 16) {
    const __m512 s = _mm512_add_ps(_mm512_loadu_ps(x + v), cv);
    __mmask16 m = _mm512_cmp_ps_mask(s, _mm512_set1_ps(best.threshold()), _CMP_GT_OQ);
    while (m) {  // rare once the sentence has k candidates
      const int j = __builtin_ctz(m);
      m &= m - 1;
      const float sj = x[v + j] + c;
      if (sj > best.threshold()) best.insert(sj, base + v + j);
    }
  }
#endif
  for (; v < V; ++v) {
    const float s = x[v] + c;
    if (s > best.threshold()) best.insert(s, base + v);  // false for NaN
  }
}

}  // namespace

extern "C" void top_candidates_f32(const float* lp, int64_t V, int64_t ld, const float* cum,
                                   int64_t bsz, int64_t width, int64_t k, float* out_scores,
                                   int64_t* out_tokens, int64_t* out_rows, int nthreads) {
  parallel_rows(bsz, nthreads, [=](int64_t b0, int64_t b1) {
    Best best(k);
    for (int64_t b = b0; b < b1; ++b) {
      best.n = 0;
      for (int64_t w = 0; w < width; ++w) {
        const int64_t r = b * width + w;
        scan_row(lp + r * ld, V, cum ? cum[r] : 0.0f, w * V, best);
      }
      for (int64_t next = 0; best.n < k; ++next) {  // −inf fillers: the first indices not taken
        bool taken = false;
        for (int64_t j = 0; j < best.n; ++j) taken |= best.index[j] == next;
        if (!taken) {
          best.score[best.n] = -INFINITY;
          best.index[best.n++] = next;
        }
      }
      for (int64_t j = 0; j < k; ++j) {
        out_scores[b * k + j] = best.score[j];
        out_tokens[b * k + j] = best.index[j] % V;
        out_rows[b * k + j] = b * width + best.index[j] / V;
      }
    }
  });
}
