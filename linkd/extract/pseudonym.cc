// Release key and per-project pseudonyms (derivation in pseudonym.h).
#include "linkd/extract/pseudonym.h"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linkd/extract/internal/key_file.h"
#include "linkd/util/status_macros.h"

namespace linkd::extract {
namespace {

static_assert(kReleaseKeyBytes == crypto_kdf_KEYBYTES);
static_assert(crypto_kdf_CONTEXTBYTES == 8);

// Why this derivation. crypto_kdf_derive_from_key (which DESIGN.md asks
// for) takes a 64-bit subkey id and an 8-byte context, but project ids are
// strings. Hashing a project id down to a 64-bit subkey id would make two
// projects share pseudonyms whenever their ids collide: by chance with
// probability n^2 / 2^65, and on purpose after about 2^32 hashes if the hash
// were unkeyed (project ids are chosen by people). So the project id enters
// through a 256-bit hash keyed with K_res, domain-separated and
// length-delimited by the NUL after the prefix (a project id holds no NUL):
// distinct projects get independent keys except with probability 2^-256,
// and without K_res nobody can even test a guess. crypto_kdf is then the
// final step, its subkey id naming the purpose of the per-project key (1:
// pseudonyms), so a later per-project key for another purpose (2, 3, ...)
// is independent of this one.
constexpr std::string_view kProjectDomain = "linkd-extract-project-v1";
constexpr char kPseudonymContext[crypto_kdf_CONTEXTBYTES + 1] = "LXPSEUDO";
constexpr uint64_t kPseudonymSubkeyId = 1;
constexpr size_t kPseudonymHashBytes = 16;  // BLAKE2b-128, first 80 bits used
constexpr int kDataChars = 16;              // 80 bits

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const internal::KeyFileSpec& Spec() {
  static const internal::KeyFileSpec* spec = new internal::KeyFileSpec{
      "linkd-release-key", {{"key", kReleaseKeyBytes}}, /*secret=*/true};
  return *spec;
}

constexpr std::string_view kComment =
    "# linkd research release key K_res. Secret: it derives every project's\n"
    "# pseudonyms. Keep it inside linkd's release component and its backups;\n"
    "# never copy it to a researcher, an extract or version control.\n";

// Luhn mod 32 over `digits`, most significant first (as linker/sui.cc).
int LuhnCheck(const int* digits, int n) {
  int sum = 0;
  bool twice = true;  // the rightmost data digit is doubled
  for (int i = n - 1; i >= 0; --i) {
    int v = digits[i];
    if (twice) {
      v *= 2;
      v = v / 32 + v % 32;
    }
    sum += v;
    twice = !twice;
  }
  return (32 - sum % 32) % 32;
}

int Decode(char c) {
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

}  // namespace

ReleaseKey ReleaseKey::Generate() {
  crypto::SecretBytes key(kReleaseKeyBytes);
  crypto_kdf_keygen(key.data());
  return ReleaseKey(std::move(key));
}

absl::StatusOr<ReleaseKey> ReleaseKey::FromBytes(std::string_view bytes) {
  if (bytes.size() != kReleaseKeyBytes) {
    return absl::InvalidArgumentError("release key must be 32 bytes");
  }
  return ReleaseKey(crypto::SecretBytes(bytes));
}

absl::StatusOr<ReleaseKey> ReleaseKey::ReadFile(const std::string& path) {
  LINKD_ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> entries,
                         internal::ReadKeyFile(path, Spec()));
  return ReleaseKey(std::move(entries[0]));
}

absl::Status ReleaseKey::WriteFile(const std::string& path) const {
  const std::string_view value(reinterpret_cast<const char*>(key_.data()),
                               key_.size());
  return internal::WriteKeyFile(path, Spec(), kComment, {value});
}

absl::StatusOr<ReleaseKey> ReleaseKey::LoadOrCreate(const std::string& path) {
  absl::StatusOr<ReleaseKey> key = ReadFile(path);
  if (!absl::IsNotFound(key.status())) return key;
  ReleaseKey fresh = Generate();
  const absl::Status written = fresh.WriteFile(path);
  if (written.ok()) return fresh;
  if (absl::IsAlreadyExists(written)) return ReadFile(path);
  return written;
}

absl::StatusOr<ProjectPseudonymizer> ReleaseKey::ForProject(
    std::string_view project_id) const {
  if (project_id.empty() || project_id.size() > 128) {
    return absl::InvalidArgumentError(
        "project id must have 1 to 128 characters");
  }
  for (char c : project_id) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "project id must be printable ASCII without spaces");
    }
  }
  crypto::SecretBytes project_key(crypto_generichash_BYTES);
  crypto_generichash_state state;
  crypto_generichash_init(&state, key_.data(), key_.size(), project_key.size());
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(kProjectDomain.data()),
      kProjectDomain.size());
  const unsigned char nul = 0;
  crypto_generichash_update(&state, &nul, 1);
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(project_id.data()),
      project_id.size());
  crypto_generichash_final(&state, project_key.data(), project_key.size());
  sodium_memzero(&state, sizeof(state));

  crypto::SecretBytes pseudonym_key(crypto_generichash_KEYBYTES);
  if (crypto_kdf_derive_from_key(pseudonym_key.data(), pseudonym_key.size(),
                                 kPseudonymSubkeyId, kPseudonymContext,
                                 project_key.data()) != 0) {
    return absl::InternalError("crypto_kdf_derive_from_key failed");
  }
  return ProjectPseudonymizer(std::string(project_id),
                              std::move(pseudonym_key));
}

absl::StatusOr<std::string> ProjectPseudonymizer::Pseudonym(
    uint64_t sui_bits) const {
  if (sui_bits == 0) {
    return absl::InvalidArgumentError("pseudonym of the null SUI");
  }
  unsigned char message[8];
  for (int i = 0; i < 8; ++i) {
    message[i] = static_cast<unsigned char>(sui_bits >> (56 - 8 * i));
  }
  unsigned char hash[kPseudonymHashBytes];
  crypto_generichash(hash, sizeof(hash), message, sizeof(message), key_.data(),
                     key_.size());
  // 80 bits as 16 base-32 digits, most significant first.
  std::array<int, kDataChars> digits;
  uint64_t acc = 0;
  int acc_bits = 0;
  size_t next = 0;
  for (int i = 0; i < kDataChars; ++i) {
    if (acc_bits < 5) {
      acc = (acc << 8) | hash[next++];
      acc_bits += 8;
    }
    digits[i] = static_cast<int>((acc >> (acc_bits - 5)) & 31);
    acc_bits -= 5;
  }
  std::string out(kPseudonymChars, '0');
  for (int i = 0; i < kDataChars; ++i) out[i] = kAlphabet[digits[i]];
  out[kDataChars] = kAlphabet[LuhnCheck(digits.data(), kDataChars)];
  return out;
}

absl::Status CheckPseudonym(std::string_view text) {
  if (text.size() != kPseudonymChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("pseudonym must have ", kPseudonymChars, " characters"));
  }
  std::array<int, kPseudonymChars> d;
  for (size_t i = 0; i < text.size(); ++i) {
    d[i] = Decode(text[i]);
    if (d[i] < 0) {
      return absl::InvalidArgumentError(
          "pseudonym: not an upper-case Crockford base-32 character");
    }
  }
  if (LuhnCheck(d.data(), kDataChars) != d[kDataChars]) {
    return absl::InvalidArgumentError("pseudonym: check character mismatch");
  }
  return absl::OkStatus();
}

}  // namespace linkd::extract
