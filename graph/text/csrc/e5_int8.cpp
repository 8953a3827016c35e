// The int8 path of the text encoder (graph/text/int8.py): the passes around torch._int_mm, fused, one row at a time,
// registered as torch ops img2song_e5::*. Each is single-threaded (the encoder runs whole batches side by side, one
// intra-op thread each) and deterministic: the same input gives the same bits on any machine this library builds on.
//
// Symmetric per-row (per-token) int8: s = max|y| / 127, q = nearbyint(y / s) (ties to even), s = 1 for a zero row;
// y = x * inv_alpha (the per-channel smoothing folded into the next GEMM's weights). An int32 accumulator row
// becomes acc * sx[row] * sw[col] + b[col].
//   quant_rows(x f32|bf16 [M,K], inv_alpha f32 [K])                           -> (q int8 [M,K], s f32 [M])
//   gelu_requant(acc i32 [M,N], sx, sw, b, inv_alpha [N])                     -> quant_rows(gelu(acc dequantised))
//   add_ln(acc i32 [M,N], sx, sw, b, x f32 [M,N], g, beta, eps, inv_alpha, want_q)
//       -> (x' = layer_norm(x + acc dequantised) f32, q int8 and s of x' (empty unless want_q))
// gelu is the exact erf form (torch's default): erf by the rational approximation Eigen and XLA use for float
// (|error| < 2e-7 on [-4, 4], +-1 outside), so the loops vectorise without a vector libm.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

namespace {

inline float erf_approx(float a) {
  const float x = a > 4.f ? 4.f : (a < -4.f ? -4.f : a);
  const float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  p = x * p;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return p / q;
}

inline float bf16_to_float(uint16_t v) {
  uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// y (already smoothed) -> q, returns s. Rounding by the 1.5 * 2^23 trick: ties to even, as nearbyint, but
// vectorisable (|y * inv| <= 127).
inline float quant_row(const float* y, int64_t n, int8_t* q) {
  float amax = 0.f;
#pragma omp simd reduction(max : amax)
  for (int64_t k = 0; k < n; ++k) {
    const float a = y[k] < 0.f ? -y[k] : y[k];
    amax = a > amax ? a : amax;
  }
  const float s = amax > 0.f ? amax / 127.f : 1.f;
  const float inv = 1.f / s;
  constexpr float kRound = 12582912.f;
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    q[k] = static_cast<int8_t>(static_cast<int32_t>((y[k] * inv + kRound) - kRound));
  }
  return s;
}

void check_acc(const at::Tensor& acc, const at::Tensor& sx, const at::Tensor& sw, const at::Tensor& b) {
  TORCH_CHECK(acc.dim() == 2 && acc.scalar_type() == at::kInt && acc.is_contiguous(), "acc: contiguous int32 [M, N]");
  TORCH_CHECK(sx.scalar_type() == at::kFloat && sx.is_contiguous() && sx.numel() == acc.size(0), "sx: float32 [M]");
  TORCH_CHECK(sw.scalar_type() == at::kFloat && sw.is_contiguous() && sw.numel() == acc.size(1), "sw: float32 [N]");
  TORCH_CHECK(b.scalar_type() == at::kFloat && b.is_contiguous() && b.numel() == acc.size(1), "b: float32 [N]");
}

std::tuple<at::Tensor, at::Tensor> quant_rows(const at::Tensor& x_, const at::Tensor& inv_alpha) {
  TORCH_CHECK(x_.dim() == 2, "quant_rows: x must be [M, K]");
  const at::Tensor x = x_.contiguous();
  const int64_t m = x.size(0), k = x.size(1);
  TORCH_CHECK(inv_alpha.scalar_type() == at::kFloat && inv_alpha.numel() == k, "quant_rows: inv_alpha float32 [K]");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16, "quant_rows: x float32 or bfloat16");
  at::Tensor q = at::empty({m, k}, x.options().dtype(at::kChar));
  at::Tensor s = at::empty({m}, x.options().dtype(at::kFloat));
  const float* ia = inv_alpha.data_ptr<float>();
  int8_t* qp = q.data_ptr<int8_t>();
  float* sp = s.data_ptr<float>();
  std::vector<float> y(k);
  const bool bf = x.scalar_type() == at::kBFloat16;
  for (int64_t r = 0; r < m; ++r) {
    if (bf) {
      const uint16_t* xr = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>()) + r * k;
      for (int64_t c = 0; c < k; ++c) y[c] = bf16_to_float(xr[c]) * ia[c];
    } else {
      const float* xr = x.data_ptr<float>() + r * k;
      for (int64_t c = 0; c < k; ++c) y[c] = xr[c] * ia[c];
    }
    sp[r] = quant_row(y.data(), k, qp + r * k);
  }
  return {q, s};
}

std::tuple<at::Tensor, at::Tensor> gelu_requant(const at::Tensor& acc, const at::Tensor& sx, const at::Tensor& sw,
                                                const at::Tensor& b, const at::Tensor& inv_alpha) {
  check_acc(acc, sx, sw, b);
  const int64_t m = acc.size(0), n = acc.size(1);
  TORCH_CHECK(inv_alpha.scalar_type() == at::kFloat && inv_alpha.numel() == n, "gelu_requant: inv_alpha float32 [N]");
  at::Tensor q = at::empty({m, n}, acc.options().dtype(at::kChar));
  at::Tensor s = at::empty({m}, acc.options().dtype(at::kFloat));
  const int32_t* ap = acc.data_ptr<int32_t>();
  const float *sxp = sx.data_ptr<float>(), *swp = sw.data_ptr<float>(), *bp = b.data_ptr<float>();
  const float* ia = inv_alpha.data_ptr<float>();
  std::vector<float> y(n);
  for (int64_t r = 0; r < m; ++r) {
    const int32_t* ar = ap + r * n;
    const float sr = sxp[r];
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      const float v = static_cast<float>(ar[c]) * sr * swp[c] + bp[c];
      y[c] = 0.5f * v * (1.f + erf_approx(v * 0.70710678118654752f)) * ia[c];
    }
    s.data_ptr<float>()[r] = quant_row(y.data(), n, q.data_ptr<int8_t>() + r * n);
  }
  return {q, s};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> add_ln(
    const at::Tensor& acc, const at::Tensor& sx, const at::Tensor& sw, const at::Tensor& b, const at::Tensor& x,
    const at::Tensor& g, const at::Tensor& beta, double eps, const at::Tensor& inv_alpha, bool want_q) {
  check_acc(acc, sx, sw, b);
  const int64_t m = acc.size(0), n = acc.size(1);
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.is_contiguous() && x.numel() == m * n, "add_ln: x float32 [M, N]");
  TORCH_CHECK(g.numel() == n && beta.numel() == n && g.scalar_type() == at::kFloat && beta.scalar_type() == at::kFloat,
              "add_ln: g, beta float32 [N]");
  TORCH_CHECK(!want_q || (inv_alpha.scalar_type() == at::kFloat && inv_alpha.numel() == n), "add_ln: inv_alpha [N]");
  at::Tensor out = at::empty({m, n}, x.options());
  at::Tensor q = want_q ? at::empty({m, n}, x.options().dtype(at::kChar)) : at::empty({0}, x.options().dtype(at::kChar));
  at::Tensor s = want_q ? at::empty({m}, x.options()) : at::empty({0}, x.options());
  const int32_t* ap = acc.data_ptr<int32_t>();
  const float *sxp = sx.data_ptr<float>(), *swp = sw.data_ptr<float>(), *bp = b.data_ptr<float>();
  const float *xp = x.data_ptr<float>(), *gp = g.data_ptr<float>(), *bep = beta.data_ptr<float>();
  float* op = out.data_ptr<float>();
  std::vector<float> y(n);
  for (int64_t r = 0; r < m; ++r) {
    const int32_t* ar = ap + r * n;
    const float* xr = xp + r * n;
    const float sr = sxp[r];
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < n; ++c) {
      y[c] = xr[c] + (static_cast<float>(ar[c]) * sr * swp[c] + bp[c]);
      sum += y[c];
    }
    const float mu = sum / static_cast<float>(n);
    float var = 0.f;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < n; ++c) var += (y[c] - mu) * (y[c] - mu);
    const float rstd = 1.f / std::sqrt(var / static_cast<float>(n) + static_cast<float>(eps));
    float* orow = op + r * n;
    for (int64_t c = 0; c < n; ++c) orow[c] = (y[c] - mu) * rstd * gp[c] + bep[c];
    if (want_q) {
      const float* ia = inv_alpha.data_ptr<float>();
      for (int64_t c = 0; c < n; ++c) y[c] = orow[c] * ia[c];
      s.data_ptr<float>()[r] = quant_row(y.data(), n, q.data_ptr<int8_t>() + r * n);
    }
  }
  return {out, q, s};
}

}  // namespace

TORCH_LIBRARY(img2song_e5, m) {
  m.def("quant_rows(Tensor x, Tensor inv_alpha) -> (Tensor, Tensor)");
  m.def("gelu_requant(Tensor acc, Tensor sx, Tensor sw, Tensor b, Tensor inv_alpha) -> (Tensor, Tensor)");
  m.def("add_ln(Tensor acc, Tensor sx, Tensor sw, Tensor b, Tensor x, Tensor g, Tensor beta, float eps, "
        "Tensor inv_alpha, bool want_q) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(img2song_e5, CPU, m) {
  m.impl("quant_rows", &quant_rows);
  m.impl("gelu_requant", &gelu_requant);
  m.impl("add_ln", &add_ln);
}
