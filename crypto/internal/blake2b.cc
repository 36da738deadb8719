// BLAKE2b compression (RFC 7693 section 3.2), once in plain C++ and, on
// x86-64 with GCC or Clang, in 4 or 8 SIMD lanes: the same code over vector
// types (GCC vector extensions), compiled for AVX2 or AVX-512F by function
// target attributes and chosen at run time from the CPU's features. Only
// the lanes differ; every lane runs the reference rounds, so each
// implementation gives libsodium's output bit for bit (blake2b_test checks
// all of them against crypto_generichash).
#include "crypto/internal/blake2b.h"

#include <sodium.h>

#include <cstring>

namespace linkd::crypto::internal {
namespace {

constexpr uint64_t kIv[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL,
                             0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
                             0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                             0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

// The mixing function G and the twelve rounds, written once for scalar and
// vector operands alike. Rounds 10 and 11 reuse the schedule of rounds 0
// and 1 (RFC 7693 section 2.7); the indices are literals so that message
// words stay in registers.
#define LINKD_B2_ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
#define LINKD_B2_G(a, b, c, d, x, y) \
  do {                               \
    a = a + b + (x);                 \
    d = LINKD_B2_ROTR(d ^ a, 32);    \
    c = c + d;                       \
    b = LINKD_B2_ROTR(b ^ c, 24);    \
    a = a + b + (y);                 \
    d = LINKD_B2_ROTR(d ^ a, 16);    \
    c = c + d;                       \
    b = LINKD_B2_ROTR(b ^ c, 63);    \
  } while (0)
#define LINKD_B2_ROUND(v, m, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, \
                       s12, s13, s14, s15)                                     \
  do {                                                                         \
    LINKD_B2_G(v[0], v[4], v[8], v[12], m[s0], m[s1]);                         \
    LINKD_B2_G(v[1], v[5], v[9], v[13], m[s2], m[s3]);                         \
    LINKD_B2_G(v[2], v[6], v[10], v[14], m[s4], m[s5]);                        \
    LINKD_B2_G(v[3], v[7], v[11], v[15], m[s6], m[s7]);                        \
    LINKD_B2_G(v[0], v[5], v[10], v[15], m[s8], m[s9]);                        \
    LINKD_B2_G(v[1], v[6], v[11], v[12], m[s10], m[s11]);                      \
    LINKD_B2_G(v[2], v[7], v[8], v[13], m[s12], m[s13]);                       \
    LINKD_B2_G(v[3], v[4], v[9], v[14], m[s14], m[s15]);                       \
  } while (0)
#define LINKD_B2_ROUNDS(v, m)                                               \
  do {                                                                      \
    LINKD_B2_ROUND(v, m, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,  \
                   15);                                                     \
    LINKD_B2_ROUND(v, m, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, \
                   3);                                                      \
    LINKD_B2_ROUND(v, m, 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, \
                   4);                                                      \
    LINKD_B2_ROUND(v, m, 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, \
                   8);                                                      \
    LINKD_B2_ROUND(v, m, 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3,  \
                   13);                                                     \
    LINKD_B2_ROUND(v, m, 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, \
                   9);                                                      \
    LINKD_B2_ROUND(v, m, 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8,  \
                   11);                                                     \
    LINKD_B2_ROUND(v, m, 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2,  \
                   10);                                                     \
    LINKD_B2_ROUND(v, m, 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, \
                   5);                                                      \
    LINKD_B2_ROUND(v, m, 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, \
                   0);                                                      \
    LINKD_B2_ROUND(v, m, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,  \
                   15);                                                     \
    LINKD_B2_ROUND(v, m, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, \
                   3);                                                      \
  } while (0)

// Little-endian words, whatever the host's byte order (RFC 7693 2.4). The
// byte loops are not reliably merged into one load by compilers, and they
// would cost as much as the compression.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
inline uint64_t Load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return w;
}
inline void Store64(uint64_t w, uint8_t* p) { std::memcpy(p, &w, sizeof(w)); }
#else
inline uint64_t Load64(const uint8_t* p) {
  uint64_t w = 0;
  for (int i = 7; i >= 0; --i) w = (w << 8) | p[i];
  return w;
}
inline void Store64(uint64_t w, uint8_t* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(w >> (8 * i));
}
#endif

// Writes the job's message into `block`, zero-padded to a full block, and
// returns its length.
inline size_t FillBlock(const Blake2bJob& job, uint8_t* block) {
  std::memset(block, 0, kBlake2bBlockBytes);
  if (job.head_len > 0) std::memcpy(block, job.head, job.head_len);
  if (job.tail_len > 0) {
    std::memcpy(block + job.head_len, job.tail, job.tail_len);
  }
  return job.head_len + job.tail_len;
}

// h = F(h, m, t, last) with a byte counter t below 2^64.
void CompressPortable(uint64_t h[8], const uint64_t m[16], uint64_t t,
                      bool last) {
  uint64_t v[16];
  for (int i = 0; i < 8; ++i) {
    v[i] = h[i];
    v[i + 8] = kIv[i];
  }
  v[12] ^= t;
  if (last) v[14] = ~v[14];
  LINKD_B2_ROUNDS(v, m);
  for (int i = 0; i < 8; ++i) h[i] ^= v[i] ^ v[i + 8];
}

void BatchPortable(const Blake2bJob* jobs, size_t n) {
  uint8_t block[kBlake2bBlockBytes];
  uint8_t digest[kBlake2bMaxOutBytes];
  uint64_t m[16];
  uint64_t h[8];
  for (size_t j = 0; j < n; ++j) {
    const Blake2bJob& job = jobs[j];
    const size_t len = FillBlock(job, block);
    for (int i = 0; i < 16; ++i) m[i] = Load64(block + 8 * i);
    std::memcpy(h, job.key->h, sizeof(h));
    CompressPortable(h, m, kBlake2bBlockBytes + len, /*last=*/true);
    for (int i = 0; i < 8; ++i) Store64(h[i], digest + 8 * i);
    std::memcpy(job.out, digest, job.key->out_len);
  }
  sodium_memzero(block, sizeof(block));
  sodium_memzero(digest, sizeof(digest));
  sodium_memzero(m, sizeof(m));
  sodium_memzero(h, sizeof(h));
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LINKD_B2_X86_LANES 1

// The final compression of kLanes jobs at a time, V being a vector of
// kLanes 64-bit words. Always inlined into a function compiled for the
// matching instruction set, so that the vector code is generated for it.
template <typename V, size_t kLanes>
inline __attribute__((always_inline)) void BatchLanes(const Blake2bJob* jobs,
                                                      size_t n) {
  // Lane-major staging: words[i] holds message word i of every lane.
  alignas(64) uint64_t words[16][kLanes];
  alignas(64) uint64_t start[8][kLanes];
  alignas(64) uint64_t counter[kLanes];
  alignas(64) uint64_t result[8][kLanes];
  uint8_t block[kBlake2bBlockBytes];
  uint8_t digest[kBlake2bMaxOutBytes];
  for (size_t base = 0; base < n; base += kLanes) {
    const size_t used = n - base < kLanes ? n - base : kLanes;
    for (size_t l = 0; l < kLanes; ++l) {
      // Spare lanes of a last, partial group repeat the group's first job;
      // their results are dropped.
      const Blake2bJob& job = jobs[base + (l < used ? l : 0)];
      counter[l] = kBlake2bBlockBytes + FillBlock(job, block);
      for (int i = 0; i < 16; ++i) words[i][l] = Load64(block + 8 * i);
      for (int i = 0; i < 8; ++i) start[i][l] = job.key->h[i];
    }
    V m[16], v[16], h[8], t;
    for (int i = 0; i < 16; ++i) std::memcpy(&m[i], words[i], sizeof(V));
    for (int i = 0; i < 8; ++i) {
      std::memcpy(&h[i], start[i], sizeof(V));
      v[i] = h[i];
      v[i + 8] = V{} + kIv[i];
    }
    std::memcpy(&t, counter, sizeof(V));
    v[12] ^= t;
    v[14] = ~v[14];
    LINKD_B2_ROUNDS(v, m);
    for (int i = 0; i < 8; ++i) {
      const V r = h[i] ^ v[i] ^ v[i + 8];
      std::memcpy(result[i], &r, sizeof(V));
    }
    for (size_t l = 0; l < used; ++l) {
      const Blake2bJob& job = jobs[base + l];
      for (int i = 0; i < 8; ++i) Store64(result[i][l], digest + 8 * i);
      std::memcpy(job.out, digest, job.key->out_len);
    }
  }
  sodium_memzero(words, sizeof(words));
  sodium_memzero(result, sizeof(result));
  sodium_memzero(block, sizeof(block));
  sodium_memzero(digest, sizeof(digest));
}

__attribute__((target("avx2"))) void BatchAvx2(const Blake2bJob* jobs,
                                               size_t n) {
  typedef uint64_t V4 __attribute__((vector_size(32)));
  BatchLanes<V4, 4>(jobs, n);
}

__attribute__((target("avx512f"))) void BatchAvx512(const Blake2bJob* jobs,
                                                    size_t n) {
  typedef uint64_t V8 __attribute__((vector_size(64)));
  BatchLanes<V8, 8>(jobs, n);
}

// __builtin_cpu_supports also checks that the OS saves the vector
// registers (XCR0), so a "yes" means the instructions are usable.
bool CpuHas(Blake2bImpl impl) {
  __builtin_cpu_init();
  switch (impl) {
    case Blake2bImpl::kPortable:
      return true;
    case Blake2bImpl::kAvx2:
      return __builtin_cpu_supports("avx2");
    case Blake2bImpl::kAvx512:
      return __builtin_cpu_supports("avx512f");
  }
  return false;
}
#else
bool CpuHas(Blake2bImpl impl) { return impl == Blake2bImpl::kPortable; }
#endif

}  // namespace

void InitBlake2bKey(const uint8_t* key, size_t key_len, size_t out_len,
                    Blake2bKey* out) {
  // Parameter block word 0: digest length, key length, fanout 1, depth 1;
  // no salt or personalisation (RFC 7693 2.5).
  for (int i = 0; i < 8; ++i) out->h[i] = kIv[i];
  out->h[0] ^= 0x01010000ULL ^ (static_cast<uint64_t>(key_len) << 8) ^
               static_cast<uint64_t>(out_len);
  out->out_len = static_cast<uint32_t>(out_len);
  // The key, zero-padded, is the first block; a message follows, so it is
  // never the last one.
  uint8_t block[kBlake2bBlockBytes] = {};
  std::memcpy(block, key, key_len);
  uint64_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = Load64(block + 8 * i);
  CompressPortable(out->h, m, kBlake2bBlockBytes, /*last=*/false);
  sodium_memzero(block, sizeof(block));
  sodium_memzero(m, sizeof(m));
}

bool Blake2bImplAvailable(Blake2bImpl impl) { return CpuHas(impl); }

Blake2bImpl BestBlake2bImpl() {
  static const Blake2bImpl kBest = [] {
    if (CpuHas(Blake2bImpl::kAvx512)) return Blake2bImpl::kAvx512;
    if (CpuHas(Blake2bImpl::kAvx2)) return Blake2bImpl::kAvx2;
    return Blake2bImpl::kPortable;
  }();
  return kBest;
}

void Blake2bBatchWith(Blake2bImpl impl, const Blake2bJob* jobs, size_t n) {
  switch (impl) {
#ifdef LINKD_B2_X86_LANES
    case Blake2bImpl::kAvx512:
      BatchAvx512(jobs, n);
      return;
    case Blake2bImpl::kAvx2:
      BatchAvx2(jobs, n);
      return;
#endif
    default:
      BatchPortable(jobs, n);
      return;
  }
}

void Blake2bBatch(const Blake2bJob* jobs, size_t n) {
  Blake2bBatchWith(BestBlake2bImpl(), jobs, n);
}

}  // namespace linkd::crypto::internal
