// Fused LINE training on the CPU (Tang et al. 2015, reference C++ semantics), registered as torch ops img2song::*.
//
// line_train: samples edges (alias table) and negatives (alias table over degree^0.75) INSIDE the kernel with a
//   per-thread splitmix64 stream seeded from (seed, thread), and applies the LINE update per edge:
//     err = 0; for t in [v, negatives]: f = u.c_t; g = (label - sigmoid(clamp(f, +-6))) * lr;
//                                       err += g c_t; c_t += g u;      then u += err
//   with c = the vertex table for order 1 and the context table for order 2. Threads share the tables without
//   locks (Hogwild, as the C++). Rows of the next edge are prefetched while the current one is updated.
// line_apply: the same update, one thread, for given (src, dst, neg, lr) arrays: the deterministic mode the
//   parity tests compare with engine.line.reference.sequential_step.
// line_train also takes float16 tables (impl 'cpu-fp16'): float arithmetic, float16 storage, half the row traffic
//   (and half the cache lines per edge, which is what bounds this loop on large graphs: see edge_fast).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace {

// The constants come from Python (engine/line/config.py, engine/line/packing.py) as -D flags: see cpu.kernel_defines.
#if !defined(IMG2SONG_SIGMOID_BOUND) || !defined(IMG2SONG_LR_FLOOR) || !defined(IMG2SONG_EDGE_COLUMNS)
#error "build through engine.line.cpu.load_kernel, which defines IMG2SONG_SIGMOID_BOUND, _LR_FLOOR, _EDGE_COLUMNS"
#endif
constexpr float kBound = static_cast<float>(IMG2SONG_SIGMOID_BOUND);
constexpr double kLrFloor = IMG2SONG_LR_FLOOR;
// int32 per packed edge column: prob bits, src, dst, alias src, alias dst, padding (engine/line/packing.py)
constexpr int kEdgeStride = IMG2SONG_EDGE_COLUMNS;

inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t column(uint64_t r, uint64_t n) { return ((r >> 32) * n) >> 32; }  // n < 2^32
inline float coin(uint64_t r) { return static_cast<float>(r & 0xFFFFFFu) * (1.0f / 16777216.0f); }

inline float as_float(int32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float line_sigmoid(float x) {
  x = std::min(kBound, std::max(-kBound, x));
  return 1.0f / (1.0f + std::exp(-x));
}

template <typename S>
inline void prefetch_row(const S* p, int64_t dim) {
  for (int64_t c = 0; c < dim; c += 64 / static_cast<int64_t>(sizeof(S))) __builtin_prefetch(p + c, 1, 3);
}

// One target of one edge. ub: private copy of u's row; crow: the target's row in the context table (or vertex).
template <int D>
inline void update_target(float* __restrict__ ub, float* __restrict__ crow, float* __restrict__ err, int64_t dim_rt,
                          float label, float lr) {
  const int64_t dim = D > 0 ? D : dim_rt;
  float x = 0.f;
#pragma omp simd reduction(+ : x)
  for (int64_t c = 0; c < dim; ++c) x += ub[c] * crow[c];
  const float g = (label - line_sigmoid(x)) * lr;
#pragma omp simd
  for (int64_t c = 0; c < dim; ++c) {
    const float cv = crow[c];
    err[c] += g * cv;
    crow[c] = cv + g * ub[c];
  }
}

// The whole edge; `urow` is u's row in the vertex table, `ctx` the table the targets live in.
// Order 1 with target == source: the C++ updates u itself here (vec_v aliases vec_u), so the row in the table
// follows the buffer at once.
inline void update_self(float* __restrict__ ub, float* __restrict__ urow, float* __restrict__ err, int64_t dim,
                        float label, float lr) {
  float x = 0.f;
  for (int64_t c = 0; c < dim; ++c) x += ub[c] * ub[c];
  const float g = (label - line_sigmoid(x)) * lr;
  for (int64_t c = 0; c < dim; ++c) {
    err[c] += g * ub[c];
    ub[c] += g * ub[c];
    urow[c] = ub[c];
  }
}

template <int D>
inline void update_edge(float* urow, float* ctx, const int64_t* targets, int k1, int64_t dim_rt, float lr,
                        float* __restrict__ ub, float* __restrict__ err) {
  const int64_t dim = D > 0 ? D : dim_rt;
  std::memcpy(ub, urow, dim * sizeof(float));
  std::memset(err, 0, dim * sizeof(float));
  for (int j = 0; j < k1; ++j) {
    float* crow = ctx + targets[j] * dim;
    const float label = j == 0 ? 1.f : 0.f;
    if (crow == urow) {  // order 1, target == source: the C++ updates u itself here (vec_v aliases vec_u)
      update_self(ub, urow, err, dim, label, lr);
    } else {
      update_target<D>(ub, crow, err, dim, label, lr);
    }
  }
#pragma omp simd
  for (int64_t c = 0; c < dim; ++c) urow[c] += err[c];
}

// Fast path for the common case (all K+1 target rows distinct and none is u's row, so no update of the edge can
// feed another of its dot products): the K+1 dot products in one pass over d, then one pass that updates every
// target row and u. Same arithmetic as update_edge up to float summation order.
typedef float v8 __attribute__((vector_size(32)));
inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

// Row element types of the fast path: float32 tables, and float16 tables where F16C converts 8 halves <-> 8 floats
// per instruction (the same arithmetic on the rows' float values, each value rounded to nearest once when stored).
using half_t = _Float16;
inline v8 loadv(const float* p) { return load8(p); }
inline void storev(float* p, v8 v) { store8(p, v); }
#if defined(__F16C__)
inline v8 loadv(const half_t* p) {
  const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  v8 v;
  std::memcpy(&v, &x, sizeof v);
  return v;
}
inline void storev(half_t* p, v8 v) {
  __m256 x;
  std::memcpy(&x, &v, sizeof x);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

template <int D, int K1, typename T>
inline void edge_fast(T* __restrict__ urow, T* const* rows, float lr) {
  constexpr bool kHalf = !std::is_same_v<T, float>;
  alignas(32) float ub[kHalf ? D : 8];  // float16 rows: u's float values, converted once, used by both passes
  v8 acc[K1];
  for (int j = 0; j < K1; ++j) acc[j] = v8{};
  for (int c = 0; c < D; c += 8) {
    const v8 u = loadv(urow + c);
    if constexpr (kHalf) store8(ub + c, u);
    for (int j = 0; j < K1; ++j) acc[j] += u * loadv(rows[j] + c);
  }
  float g[K1];
  for (int j = 0; j < K1; ++j) {
    float x = 0.f;
    for (int l = 0; l < 8; ++l) x += acc[j][l];
    g[j] = ((j == 0 ? 1.f : 0.f) - line_sigmoid(x)) * lr;
  }
  for (int c = 0; c < D; c += 8) {
    v8 u;
    if constexpr (kHalf) u = load8(ub + c); else u = loadv(urow + c);
    v8 e = v8{};
    for (int j = 0; j < K1; ++j) {
      const v8 r = loadv(rows[j] + c);
      e += g[j] * r;
      storev(rows[j] + c, r + g[j] * u);
    }
    storev(urow + c, u + e);
  }
}

// Calls f(std::integral_constant<int, K1>) for the runtime k1 in [2, kMaxFastK1] (the fast paths' instantiations);
// false for any other k1, which takes the general path.
constexpr int kMaxFastK1 = 11;
template <int K1 = 2, typename F>
inline bool with_k1(int k1, F&& f) {
  if constexpr (K1 > kMaxFastK1) {
    return false;
  } else {
    if (k1 == K1) return f(std::integral_constant<int, K1>{});
    return with_k1<K1 + 1>(k1, f);
  }
}

// The fast path when all K+1 rows are distinct and none is u's row (float32 rows, or float16 rows with F16C: no
// scratch copies, so an edge touches half the cache lines of the float32 tables); false sends the edge elsewhere.
template <int D, int K1, typename T>
inline bool try_fast(T* urow, T* ctx, const int64_t* targets, float lr) {
  T* rows[K1];
  for (int j = 0; j < K1; ++j) {
    rows[j] = ctx + targets[j] * D;
    if (rows[j] == urow) return false;
    for (int l = 0; l < j; ++l)
      if (rows[l] == rows[j]) return false;
  }
  edge_fast<D, K1>(urow, rows, lr);
  return true;
}

// One edge: the fast path where it applies, else the general sequential update.
template <int D>
inline void process_edge(float* urow, float* ctx, const int64_t* targets, int k1, int64_t dim, float lr,
                         float* __restrict__ ub, float* __restrict__ err) {
  if constexpr (D > 0 && D % 8 == 0) {
    if (with_k1(k1, [&](auto k) { return try_fast<D, decltype(k)::value>(urow, ctx, targets, lr); })) return;
  }
  update_edge<D>(urow, ctx, targets, k1, dim, lr, ub, err);
}

// 16-bit tables (float16 storage, float arithmetic): the edge's distinct rows are loaded into float scratch rows
// (a row that occurs twice maps to one scratch row, so the sequential semantics hold), updated by the float code
// above (the fast path when all rows are distinct), and stored back rounded to nearest. Half the row traffic.

// update_edge on row pointers: rows[j] may alias urow or each other (handled as update_edge does).
inline void update_edge_ptrs(float* urow, float* const* rows, int k1, int64_t dim, float lr, float* __restrict__ ub,
                             float* __restrict__ err) {
  std::memcpy(ub, urow, dim * sizeof(float));
  std::memset(err, 0, dim * sizeof(float));
  for (int j = 0; j < k1; ++j) {
    float* crow = rows[j];
    const float label = j == 0 ? 1.f : 0.f;
    if (crow == urow) {
      update_self(ub, urow, err, dim, label, lr);
    } else {
      update_target<0>(ub, crow, err, dim, label, lr);
    }
  }
  for (int64_t c = 0; c < dim; ++c) urow[c] += err[c];
}

template <int D>
inline bool fast_rows(float* urow, float* const* rows, int k1, float lr) {
  if constexpr (D > 0 && D % 8 == 0) {
    return with_k1(k1, [&](auto k) {
      edge_fast<D, decltype(k)::value>(urow, rows, lr);
      return true;
    });
  }
  return false;
}

struct HalfScratch {
  std::vector<float> rows, ub, err;
  std::vector<half_t*> src;
  std::vector<float*> ptr;
  HalfScratch(int k1, int64_t dim) : rows((k1 + 1) * dim), ub(dim), err(dim), src(k1 + 1), ptr(k1) {}
};

template <int D>
inline void process_edge_half(half_t* urow, half_t* ctx, const int64_t* targets, int k1, int64_t dim_rt, float lr,
                              HalfScratch& w) {
  const int64_t dim = D > 0 ? D : dim_rt;
  int used = 0;
  auto slot = [&](half_t* p) -> float* {
    for (int l = 0; l < used; ++l)
      if (w.src[l] == p) return w.rows.data() + l * dim;
    float* f = w.rows.data() + used * dim;
    w.src[used++] = p;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) f[c] = static_cast<float>(p[c]);
    return f;
  };
  float* u = slot(urow);
  for (int j = 0; j < k1; ++j) w.ptr[j] = slot(ctx + targets[j] * dim);
  if (used != k1 + 1 || !fast_rows<D>(u, w.ptr.data(), k1, lr))
    update_edge_ptrs(u, w.ptr.data(), k1, dim, lr, w.ub.data(), w.err.data());
  for (int l = 0; l < used; ++l) {
    const float* f = w.rows.data() + l * dim;
    half_t* p = w.src[l];
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) p[c] = static_cast<half_t>(f[c]);
  }
}


// A float16 edge: the fused fast path where it applies (F16C, all rows distinct), else the scratch-row path.
template <int D>
inline void process_edge_half_any(half_t* urow, half_t* ctx, const int64_t* targets, int k1, int64_t dim, float lr,
                                  HalfScratch& w) {
#if defined(__F16C__)
  if constexpr (D > 0 && D % 8 == 0) {
    if (with_k1(k1, [&](auto k) { return try_fast<D, decltype(k)::value>(urow, ctx, targets, lr); })) return;
  }
#endif
  process_edge_half<D>(urow, ctx, targets, k1, dim, lr, w);
}

struct Sampler {
  const int32_t* edges;  // [E, kEdgeStride]
  uint64_t num_edges;
  const int32_t* neg;  // [N, 2]: prob bits, alias
  uint64_t num_vertices;

  inline const int32_t* edge_column(uint64_t r) const { return edges + column(r, num_edges) * kEdgeStride; }
  inline void resolve(const int32_t* col, uint64_t r, int64_t& u, int64_t& v) const {
    const bool keep = coin(r) < as_float(col[0]);
    u = keep ? col[1] : col[3];
    v = keep ? col[2] : col[4];
  }
  inline int64_t negative(uint64_t r) const {
    const uint64_t k = column(r, num_vertices);
    const int32_t* e = neg + 2 * k;
    return coin(r) < as_float(e[0]) ? static_cast<int64_t>(k) : static_cast<int64_t>(e[1]);
  }
};

template <typename S, int D>
void train_thread(S* V, S* C, int64_t dim, const Sampler& s, int k, double lr0, int64_t t0, int64_t n,
                  int64_t total, int64_t thread_id, int64_t threads, uint64_t seed) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ULL * static_cast<uint64_t>(thread_id + 1));
  splitmix64(state);
  const int k1 = k + 1, width = k1 + 1;  // a sample: [u, v, negatives...]
  std::vector<float> ub(dim), err(dim);
  HalfScratch scratch(std::is_same_v<S, half_t> ? k1 : 0, std::is_same_v<S, half_t> ? dim : 0);
  // Software pipeline over a ring of samples: the edge-alias column of sample i + 2*kAhead is prefetched; sample
  // i + kAhead is resolved (endpoints, negatives) and its rows prefetched; sample i is trained.
  constexpr int kAhead = 2, kRing = 4 * kAhead;
  std::vector<int64_t> ring(static_cast<size_t>(kRing) * width);
  uint64_t rnd[kRing];
  const int32_t* col[kRing];
  auto draw_column = [&](int64_t i) {
    const int slot = static_cast<int>(i % kRing);
    rnd[slot] = splitmix64(state);
    col[slot] = s.edge_column(rnd[slot]);
    __builtin_prefetch(col[slot], 0, 1);
  };
  auto resolve = [&](int64_t i) {
    const int slot = static_cast<int>(i % kRing);
    int64_t* smp = ring.data() + slot * width;
    s.resolve(col[slot], rnd[slot], smp[0], smp[1]);
    for (int j = 0; j < k; ++j) smp[2 + j] = s.negative(splitmix64(state));
    prefetch_row(V + smp[0] * dim, dim);
    for (int j = 1; j <= k1; ++j) prefetch_row(C + smp[j] * dim, dim);
  };
  for (int64_t i = 0; i < std::min<int64_t>(n, 2 * kAhead); ++i) draw_column(i);
  for (int64_t i = 0; i < std::min<int64_t>(n, kAhead); ++i) resolve(i);
  for (int64_t i = 0; i < n; ++i) {
    if (i + 2 * kAhead < n) draw_column(i + 2 * kAhead);
    if (i + kAhead < n) resolve(i + kAhead);
    const int64_t* smp = ring.data() + static_cast<int>(i % kRing) * width;
    const double t = static_cast<double>(t0 + i * threads + thread_id);  // ≈ global sample index
    const float lr = static_cast<float>(lr0 * std::max(1.0 - t / static_cast<double>(total), kLrFloor));
    if constexpr (std::is_same_v<S, half_t>)
      process_edge_half_any<D>(V + smp[0] * dim, C, smp + 1, k1, dim, lr, scratch);
    else
      process_edge<D>(V + smp[0] * dim, C, smp + 1, k1, dim, lr, ub.data(), err.data());
  }
}

template <typename S, int D>
void train_dispatch(S* V, S* C, int64_t dim, const Sampler& s, int64_t k, double lr0, int64_t t0,
                    int64_t n, int64_t total, uint64_t seed, int64_t threads) {
  if (threads <= 1) {
    train_thread<S, D>(V, C, dim, s, k, lr0, t0, n, total, 0, 1, seed);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t j = 0; j < threads; ++j) {
    const int64_t nj = n / threads + (j < n % threads ? 1 : 0);
    pool.emplace_back(train_thread<S, D>, V, C, dim, std::cref(s), static_cast<int>(k), lr0, t0, nj, total, j,
                      threads, seed);
  }
  for (auto& th : pool) th.join();
}

template <typename F>
void with_dim(int64_t dim, F&& f) {
  switch (dim) {
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
    case 256: f(std::integral_constant<int, 256>{}); break;
    default: f(std::integral_constant<int, 0>{});
  }
}

void check_table(const at::Tensor& t, const char* name, bool half_ok = false) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.scalar_type() == at::kFloat || (half_ok && t.scalar_type() == at::kHalf), name,
              half_ok ? " must be float32 or float16" : " must be float32");
  TORCH_CHECK(t.dim() == 2 && t.is_contiguous(), name, " must be a contiguous [N, d] tensor");
}

void line_train(at::Tensor vertex, at::Tensor context, const at::Tensor& edge_table, const at::Tensor& neg_table,
                int64_t order, int64_t negative, double lr0, int64_t t0, int64_t n, int64_t total, int64_t seed,
                int64_t threads) {
  check_table(vertex, "vertex", true);
  TORCH_CHECK(order == 1 || order == 2, "order must be 1 or 2");
  if (order == 2) {
    check_table(context, "context", true);
    TORCH_CHECK(context.sizes() == vertex.sizes(), "context and vertex shapes differ");
    TORCH_CHECK(context.scalar_type() == vertex.scalar_type(), "context and vertex dtypes differ");
  }
  TORCH_CHECK(edge_table.scalar_type() == at::kInt && edge_table.dim() == 2 && edge_table.size(1) == kEdgeStride &&
                  edge_table.is_contiguous(), "edge_table must be a contiguous int32 [E, 8] tensor");
  TORCH_CHECK(neg_table.scalar_type() == at::kInt && neg_table.dim() == 2 && neg_table.size(1) == 2 &&
                  neg_table.is_contiguous() && neg_table.size(0) == vertex.size(0),
              "neg_table must be a contiguous int32 [N, 2] tensor");
  TORCH_CHECK(edge_table.size(0) > 0 && edge_table.size(0) < (int64_t(1) << 32), "edge count out of range");
  TORCH_CHECK(negative >= 0 && total > 0 && n >= 0 && threads >= 1, "bad negative/total/n/threads");
  if (n == 0) return;
  const int64_t dim = vertex.size(1);
  Sampler s{edge_table.data_ptr<int32_t>(), static_cast<uint64_t>(edge_table.size(0)), neg_table.data_ptr<int32_t>(),
            static_cast<uint64_t>(neg_table.size(0))};
  const uint64_t sd = static_cast<uint64_t>(seed);
  if (vertex.scalar_type() == at::kHalf) {
    half_t* V = reinterpret_cast<half_t*>(vertex.data_ptr<at::Half>());
    half_t* C = order == 1 ? V : reinterpret_cast<half_t*>(context.data_ptr<at::Half>());
    with_dim(dim, [&](auto d) {
      train_dispatch<half_t, decltype(d)::value>(V, C, dim, s, negative, lr0, t0, n, total, sd, threads);
    });
    return;
  }
  float* V = vertex.data_ptr<float>();
  float* C = order == 1 ? V : context.data_ptr<float>();
  with_dim(dim, [&](auto d) {
    train_dispatch<float, decltype(d)::value>(V, C, dim, s, negative, lr0, t0, n, total, sd, threads);
  });
}

void line_apply(at::Tensor vertex, at::Tensor context, const at::Tensor& src, const at::Tensor& dst,
                const at::Tensor& neg, const at::Tensor& lr, int64_t order) {
  check_table(vertex, "vertex");
  TORCH_CHECK(order == 1 || order == 2, "order must be 1 or 2");
  if (order == 2) check_table(context, "context");
  const int64_t b = src.numel();
  TORCH_CHECK(dst.numel() == b && lr.numel() == b && neg.dim() == 2 && neg.size(0) == b, "batch shapes differ");
  auto s = src.to(at::kLong).contiguous(), d = dst.to(at::kLong).contiguous(), ng = neg.to(at::kLong).contiguous();
  auto l = lr.to(at::kFloat).contiguous();
  const int64_t n_v = vertex.size(0);
  TORCH_CHECK(b == 0 || (s.min().item<int64_t>() >= 0 && s.max().item<int64_t>() < n_v && d.min().item<int64_t>() >= 0 &&
                         d.max().item<int64_t>() < n_v), "vertex index out of range");
  TORCH_CHECK(ng.numel() == 0 || (ng.min().item<int64_t>() >= 0 && ng.max().item<int64_t>() < n_v),
              "negative index out of range");
  float* V = vertex.data_ptr<float>();
  float* C = order == 1 ? V : context.data_ptr<float>();
  const int64_t dim = vertex.size(1), k1 = ng.size(1) + 1;
  std::vector<float> ub(dim), err(dim);
  std::vector<int64_t> targets(k1);
  const int64_t *sp = s.data_ptr<int64_t>(), *dp = d.data_ptr<int64_t>(), *np = ng.data_ptr<int64_t>();
  const float* lp = l.data_ptr<float>();
  with_dim(dim, [&](auto dd) {
    for (int64_t i = 0; i < b; ++i) {
      targets[0] = dp[i];
      for (int64_t j = 1; j < k1; ++j) targets[j] = np[i * (k1 - 1) + j - 1];
      process_edge<decltype(dd)::value>(V + sp[i] * dim, C, targets.data(), static_cast<int>(k1), dim, lp[i],
                                        ub.data(), err.data());
    }
  });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(img2song, m) {
  m.def("line_train(Tensor(a!) vertex, Tensor(b!) context, Tensor edge_table, Tensor neg_table, int order, "
        "int negative, float lr0, int t0, int n, int total, int seed, int threads) -> ()");
  m.def("line_apply(Tensor(a!) vertex, Tensor(b!) context, Tensor src, Tensor dst, Tensor neg, Tensor lr, "
        "int order) -> ()");
}

TORCH_LIBRARY_IMPL(img2song, CPU, m) {
  m.impl("line_train", &line_train);
  m.impl("line_apply", &line_apply);
}
