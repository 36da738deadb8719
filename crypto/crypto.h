// Library initialisation for linkd::crypto.
#ifndef LINKD_CRYPTO_CRYPTO_H_
#define LINKD_CRYPTO_CRYPTO_H_

#include "absl/status/status.h"

namespace linkd::crypto {

// Initialises libsodium (sodium_init). Call once at start-up, before any
// other function of this library; further calls are harmless. Thread-safe.
// Returns OK if libsodium is (or already was) initialised, INTERNAL if
// sodium_init() failed; the process should then exit.
absl::Status Init();

}  // namespace linkd::crypto

#endif  // LINKD_CRYPTO_CRYPTO_H_
