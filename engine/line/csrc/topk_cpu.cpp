// Running top-k of the blocked exact kNN (engine/knn.py), registered as torch op img2song::knn_merge.
//
// knn_merge(part [m, nb] f32, best_v [m, kc] f32, best_i [m, kc] i64, offset): merges one block of squared
// distances (less |q|^2) into each row's kc smallest so far, kept as a max-heap (best_v[r][0] is the row's
// threshold). A row is scanned 16 values at a time against its threshold and only a value below it touches the
// heap, so after the first block a row costs one vectorised compare per value, where torch.topk sorts a
// partition of every block (measured: ~0.7x the matrix product's time; this: a few percent of it).
// Ties: a value equal to the threshold is not taken; the caller settles rows whose ties may reach the k-th place.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>

namespace {

inline void replace_top(float* v, int64_t* ix, int64_t n, float x, int64_t xi) {
  int64_t i = 0;
  while (true) {
    const int64_t l = 2 * i + 1;
    if (l >= n) break;
    const int64_t r = l + 1;
    const int64_t c = (r < n && v[r] > v[l]) ? r : l;
    if (v[c] <= x) break;
    v[i] = v[c];
    ix[i] = ix[c];
    i = c;
  }
  v[i] = x;
  ix[i] = xi;
}

void knn_merge(const at::Tensor& part, at::Tensor best_v, at::Tensor best_i, int64_t offset) {
  TORCH_CHECK(part.device().is_cpu() && part.scalar_type() == at::kFloat && part.dim() == 2 && part.is_contiguous(),
              "part must be a contiguous float32 [m, nb] CPU tensor");
  TORCH_CHECK(best_v.scalar_type() == at::kFloat && best_v.dim() == 2 && best_v.is_contiguous() &&
                  best_v.size(0) == part.size(0) && best_v.size(1) > 0,
              "best_v must be a contiguous float32 [m, kc] tensor");
  TORCH_CHECK(best_i.scalar_type() == at::kLong && best_i.sizes() == best_v.sizes() && best_i.is_contiguous(),
              "best_i must be a contiguous int64 tensor shaped as best_v");
  const int64_t m = part.size(0), nb = part.size(1), kc = best_v.size(1);
  const float* P = part.data_ptr<float>();
  float* V = best_v.data_ptr<float>();
  int64_t* I = best_i.data_ptr<int64_t>();
  at::parallel_for(0, m, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* p = P + r * nb;
      float* v = V + r * kc;
      int64_t* ix = I + r * kc;
      float thr = v[0];
      int64_t c = 0;
      for (; c + 16 <= nb; c += 16) {
        int any = 0;
#pragma omp simd reduction(| : any)
        for (int l = 0; l < 16; ++l) any |= p[c + l] < thr;
        if (!any) continue;
        for (int l = 0; l < 16; ++l) {
          if (p[c + l] < thr) {
            replace_top(v, ix, kc, p[c + l], offset + c + l);
            thr = v[0];
          }
        }
      }
      for (; c < nb; ++c) {
        if (p[c] < thr) {
          replace_top(v, ix, kc, p[c], offset + c);
          thr = v[0];
        }
      }
    }
  });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(img2song, m) {
  m.def("knn_merge(Tensor part, Tensor(a!) best_v, Tensor(b!) best_i, int offset) -> ()");
}

TORCH_LIBRARY_IMPL(img2song, CPU, m) { m.impl("knn_merge", &knn_merge); }
