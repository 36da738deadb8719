// crypto::Init(): sodium_init() returns 0 on first success, 1 when already
// initialised and -1 on failure.
#include "crypto/crypto.h"

#include <sodium.h>

namespace linkd::crypto {

absl::Status Init() {
  if (sodium_init() < 0) return absl::InternalError("sodium_init failed");
  return absl::OkStatus();
}

}  // namespace linkd::crypto
