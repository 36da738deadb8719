// Internal to linkd::crypto (not installed): keyed BLAKE2b (RFC 7693) for
// short messages, computed in batches. The output is exactly libsodium's
// crypto_generichash(out, out_len, message, len, key, key_len), which
// crypto/ENCODING.md calls MAC_n; only the cost differs:
//  - the key block is compressed once per key (InitBlake2bKey), so a hash of
//    a message of at most one block costs one compression, where libsodium,
//    which keeps the last full block buffered until the final call, needs
//    two even when its keyed state is copied;
//  - on x86-64 CPUs with AVX2 or AVX-512 several messages are compressed
//    side by side, one per 64-bit SIMD lane.
// The encoder's tokens and Bloom-filter bigrams are all such short messages.
#ifndef LINKD_CRYPTO_INTERNAL_BLAKE2B_H_
#define LINKD_CRYPTO_INTERNAL_BLAKE2B_H_

#include <cstddef>
#include <cstdint>

namespace linkd::crypto::internal {

inline constexpr size_t kBlake2bBlockBytes = 128;
inline constexpr size_t kBlake2bMaxKeyBytes = 64;
inline constexpr size_t kBlake2bMaxOutBytes = 64;

// Keyed BLAKE2b after its key block: the chaining value every message under
// this key starts from, and the digest length it was set up for. Plain data,
// so that an owner can wipe it with sodium_memzero. Secret: it computes MACs
// as well as the key does.
struct Blake2bKey {
  uint64_t h[8];
  uint32_t out_len;
};

// Sets `*out` up for BLAKE2b keyed with `key` (1 to 64 bytes) and an
// `out_len`-byte digest (1 to 64): the parameter block, then the compressed
// key block. Other lengths are a programming error (the result is then
// unspecified). Thread-safe.
void InitBlake2bKey(const uint8_t* key, size_t key_len, size_t out_len,
                    Blake2bKey* out);

// One keyed hash: out = MAC(key, head || tail). The message, head and tail
// together, must be 1 to 128 bytes (kBlake2bBlockBytes): longer or empty
// messages are a programming error. Either part may be empty (its pointer
// may then be null). `out` receives key->out_len bytes and must not overlap
// the message.
struct Blake2bJob {
  const Blake2bKey* key;
  const uint8_t* head;
  size_t head_len;
  const uint8_t* tail;
  size_t tail_len;
  uint8_t* out;
};

enum class Blake2bImpl {
  kPortable = 0,  // plain C++, one message at a time
  kAvx2,          // 4 lanes of 256-bit vectors (x86-64 only)
  kAvx512,        // 8 lanes of 512-bit vectors (x86-64 only)
};

// True if this build and this CPU can run `impl`. Thread-safe.
bool Blake2bImplAvailable(Blake2bImpl impl);

// The fastest available implementation. Thread-safe.
Blake2bImpl BestBlake2bImpl();

// Computes every job with BestBlake2bImpl(). Jobs are independent and may
// share keys. Thread-safe (all scratch space is on the stack, and wiped).
void Blake2bBatch(const Blake2bJob* jobs, size_t n);

// The same with `impl`, which must be available (for tests and benchmarks).
void Blake2bBatchWith(Blake2bImpl impl, const Blake2bJob* jobs, size_t n);

}  // namespace linkd::crypto::internal

#endif  // LINKD_CRYPTO_INTERNAL_BLAKE2B_H_
