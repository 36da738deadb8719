#include "policies/engine/policy_hash.h"

#include <sodium.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace linkd::policy {
namespace {

void UpdateWithLength(crypto_hash_sha256_state* state, uint64_t n) {
  unsigned char be[8];
  for (int i = 7; i >= 0; --i) {
    be[i] = static_cast<unsigned char>(n & 0xff);
    n >>= 8;
  }
  crypto_hash_sha256_update(state, be, sizeof(be));
}

void UpdateWithString(crypto_hash_sha256_state* state, absl::string_view s) {
  UpdateWithLength(state, s.size());
  crypto_hash_sha256_update(
      state, reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace

absl::StatusOr<std::string> ComputePolicyHash(
    std::vector<PolicySourceFile> files) {
  if (sodium_init() < 0) return absl::InternalError("sodium_init failed");
  std::sort(files.begin(), files.end(),
            [](const PolicySourceFile& a, const PolicySourceFile& b) {
              return a.name < b.name;
            });
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].name == files[i - 1].name) {
      return absl::InvalidArgumentError(
          absl::StrCat("two policy files are named ", files[i].name));
    }
  }
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  for (const PolicySourceFile& f : files) {
    UpdateWithString(&state, f.name);
    UpdateWithString(&state, f.contents);
  }
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256_final(&state,
                           reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string HexEncode(absl::string_view bytes) {
  return absl::BytesToHexString(bytes);
}

}  // namespace linkd::policy
