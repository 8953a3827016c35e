// The fast path of graph/edgelist.py: one pass over the bytes of a `u v w` edge list (the reference LINE C++
// input). Plain C ABI (no Python, no torch): graph/native.py loads it with ctypes, which releases the GIL for the
// call, so the file is parsed while the interpreter imports torch.
//
// Semantics are those of graph.edgelist.parse_lines for the files it accepts: lines split on '\n', fields on
// ASCII whitespace (what str.split() splits on: space, \t \n \v \f \r, \x1c-\x1f), 2 or 3 fields per non-empty
// line, names numbered in order of first appearance over u0 v0 u1 v1 ..., the weight parsed as a correctly rounded
// double (std::from_chars, as Python's float) and kept when it is a normal float32. Anything else (NUL byte, bad
// field count, a weight outside the plain decimal grammar or range, too many names) DECLINES the file: Python's
// reader then takes it and produces its exact error message. Non-ASCII bytes are name bytes; the caller checks
// such a file for UTF-8 and Unicode whitespace (flag EL_NON_ASCII).
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string_view>
#include <vector>

namespace {

constexpr int EL_OK = 0, EL_DECLINE = 1, EL_NO_MEMORY = 2;
constexpr int EL_NON_ASCII = 1;  // flags

inline bool is_ws(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31); }

inline uint64_t hash_bytes(const char* p, size_t n) {  // FNV-1a over 8-byte words, then a final mix
  uint64_t h = 0xcbf29ce484222325ULL ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  std::memcpy(&w, p + i, n - i);
  h = (h ^ w) * 0x100000001b3ULL;
  h ^= h >> 32;
  h *= 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

// Open addressing, linear probing: name -> id in order of first appearance.
struct Interner {
  struct Slot {
    uint64_t hash;
    int64_t id;  // -1: empty
  };
  std::vector<Slot> slots;
  std::vector<std::string_view> names;
  uint64_t mask = 0;

  Interner() { rehash(1 << 16); }
  void rehash(size_t cap) {
    std::vector<Slot> old(cap, Slot{0, -1});
    old.swap(slots);
    mask = cap - 1;
    for (const Slot& s : old)
      if (s.id >= 0) place(s);
  }
  void place(const Slot& s) {
    uint64_t i = s.hash & mask;
    while (slots[i].id >= 0) i = (i + 1) & mask;
    slots[i] = s;
  }
  int64_t get(const char* p, size_t n) {
    const uint64_t h = hash_bytes(p, n);
    const std::string_view key(p, n);
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.id < 0) break;
      if (s.hash == h && names[s.id] == key) return s.id;
    }
    const int64_t id = static_cast<int64_t>(names.size());
    names.push_back(key);
    if (2 * names.size() > slots.size()) rehash(2 * slots.size());
    place(Slot{h, id});
    return id;
  }
};

// Python's float() grammar restricted to plain decimals: [+-]? (d+ [. d*] | . d+) ([eE] [+-]? d+)?
inline bool plain_decimal(const char* p, const char* e) {
  if (p < e && (*p == '+' || *p == '-')) ++p;
  const char* d0 = p;
  while (p < e && *p >= '0' && *p <= '9') ++p;
  size_t digits = p - d0;
  if (p < e && *p == '.') {
    ++p;
    const char* f0 = p;
    while (p < e && *p >= '0' && *p <= '9') ++p;
    digits += p - f0;
  }
  if (!digits) return false;
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < e && (*p == '+' || *p == '-')) ++p;
    const char* x0 = p;
    while (p < e && *p >= '0' && *p <= '9') ++p;
    if (p == x0) return false;
  }
  return p == e;
}

struct Result {
  std::vector<int64_t> src, dst;
  std::vector<float> weight;
  Interner names;
  int flags = 0;
  int64_t decline_line = 0;  // 1-based line that made the parser decline (0: none)
};

int parse(const char* data, int64_t size, Result& r) {
  const char* p = data;
  const char* end = data + size;
  const double tiny = static_cast<double>(std::numeric_limits<float>::min());
  const double big = static_cast<double>(std::numeric_limits<float>::max());
  int64_t line = 0;
  const char* tok[4];
  const char* tok_end[4];
  r.src.reserve(size / 16 + 16);
  r.dst.reserve(size / 16 + 16);
  r.weight.reserve(size / 16 + 16);
  while (p < end) {
    ++line;
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (!eol) eol = end;
    int fields = 0;
    const char* q = p;
    while (q < eol) {
      while (q < eol && is_ws(static_cast<unsigned char>(*q))) ++q;
      if (q == eol) break;
      const char* t0 = q;
      while (q < eol && !is_ws(static_cast<unsigned char>(*q))) {
        const unsigned char c = static_cast<unsigned char>(*q);
        if (c == 0) {
          r.decline_line = line;
          return EL_DECLINE;
        }
        if (c >= 0x80) r.flags |= EL_NON_ASCII;
        ++q;
      }
      if (fields == 3) {
        r.decline_line = line;
        return EL_DECLINE;
      }
      tok[fields] = t0;
      tok_end[fields++] = q;
    }
    p = eol + 1;
    if (fields == 0) continue;
    if (fields == 1) {
      r.decline_line = line;
      return EL_DECLINE;
    }
    double w = 1.0;
    if (fields == 3) {
      const char* a = tok[2];
      if (!plain_decimal(a, tok_end[2])) {
        r.decline_line = line;
        return EL_DECLINE;
      }
      if (*a == '+') ++a;
      const auto got = std::from_chars(a, tok_end[2], w);
      if (got.ec != std::errc() || got.ptr != tok_end[2] || !(w >= tiny && w <= big)) {  // NaN fails too
        r.decline_line = line;
        return EL_DECLINE;
      }
    }
    r.src.push_back(r.names.get(tok[0], tok_end[0] - tok[0]));
    r.dst.push_back(r.names.get(tok[1], tok_end[1] - tok[1]));
    r.weight.push_back(static_cast<float>(w));
  }
  if (r.src.empty()) {
    r.decline_line = 0;
    return EL_DECLINE;
  }
  if (r.names.names.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) return EL_DECLINE;
  return EL_OK;
}

}  // namespace

extern "C" {

// Parse `size` bytes; returns a handle (free with el_free) and writes the status (EL_*) into *status.
void* el_parse(const char* data, int64_t size, int* status) {
  Result* r = new (std::nothrow) Result();
  if (!r) {
    *status = EL_NO_MEMORY;
    return nullptr;
  }
  try {
    *status = parse(data, size, *r);
  } catch (const std::bad_alloc&) {
    *status = EL_NO_MEMORY;
  } catch (...) {  // nothing may cross the C ABI: let the Python reader take the file
    *status = EL_DECLINE;
  }
  return r;
}

// counts[0] edges, [1] names, [2] bytes of the names joined by '\n', [3] flags, [4] the declining line
void el_counts(void* h, int64_t* counts) {
  const Result* r = static_cast<const Result*>(h);
  size_t bytes = 0;
  for (const auto& n : r->names.names) bytes += n.size() + 1;
  counts[0] = static_cast<int64_t>(r->src.size());
  counts[1] = static_cast<int64_t>(r->names.names.size());
  counts[2] = static_cast<int64_t>(bytes);
  counts[3] = r->flags;
  counts[4] = r->decline_line;
}

// Copy the results into caller-owned buffers sized by el_counts.
void el_copy(void* h, int64_t* src, int64_t* dst, float* weight, char* names) {
  const Result* r = static_cast<const Result*>(h);
  std::memcpy(src, r->src.data(), r->src.size() * sizeof(int64_t));
  std::memcpy(dst, r->dst.data(), r->dst.size() * sizeof(int64_t));
  std::memcpy(weight, r->weight.data(), r->weight.size() * sizeof(float));
  for (const auto& n : r->names.names) {
    std::memcpy(names, n.data(), n.size());
    names += n.size();
    *names++ = '\n';
  }
}

void el_free(void* h) { delete static_cast<Result*>(h); }

}  // extern "C"
