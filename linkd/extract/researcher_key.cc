// Researcher crypto_box key pairs and their files.
#include "linkd/extract/researcher_key.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "linkd/extract/internal/key_file.h"
#include "linkd/util/status_macros.h"

namespace linkd::extract {
namespace {

static_assert(kResearcherPublicKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(kResearcherSecretKeyBytes == crypto_box_SECRETKEYBYTES);

const internal::KeyFileSpec& PublicSpec() {
  static const internal::KeyFileSpec* spec =
      new internal::KeyFileSpec{"linkd-researcher-public-key",
                                {{"public-key", kResearcherPublicKeyBytes}},
                                /*secret=*/false};
  return *spec;
}

const internal::KeyFileSpec& SecretSpec() {
  static const internal::KeyFileSpec* spec =
      new internal::KeyFileSpec{"linkd-researcher-secret-key",
                                {{"secret-key", kResearcherSecretKeyBytes},
                                 {"public-key", kResearcherPublicKeyBytes}},
                                /*secret=*/true};
  return *spec;
}

constexpr std::string_view kPublicComment =
    "# linkd researcher public key (X25519, crypto_box). Not secret: give it\n"
    "# to the IG team with your extract request.\n";
constexpr std::string_view kSecretComment =
    "# linkd researcher secret key (X25519, crypto_box). Secret: it opens "
    "your\n"
    "# research extracts. Keep it in your project's secure environment only.\n";

std::string_view View(const crypto::SecretBytes& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

}  // namespace

absl::StatusOr<ResearcherPublicKey> ResearcherPublicKey::FromBytes(
    std::string_view bytes) {
  if (bytes.size() != kResearcherPublicKeyBytes) {
    return absl::InvalidArgumentError("researcher public key must be 32 bytes");
  }
  return ResearcherPublicKey(std::string(bytes));
}

absl::StatusOr<ResearcherPublicKey> ResearcherPublicKey::ReadFile(
    const std::string& path) {
  LINKD_ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> entries,
                         internal::ReadKeyFile(path, PublicSpec()));
  return FromBytes(View(entries[0]));
}

absl::Status ResearcherPublicKey::WriteFile(const std::string& path) const {
  return internal::WriteKeyFile(path, PublicSpec(), kPublicComment, {bytes_});
}

std::string ResearcherPublicKey::ToHex() const {
  std::string hex(2 * bytes_.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(),
                 reinterpret_cast<const unsigned char*>(bytes_.data()),
                 bytes_.size());
  hex.pop_back();
  return hex;
}

ResearcherSecretKey ResearcherSecretKey::Generate() {
  crypto::SecretBytes secret(kResearcherSecretKeyBytes);
  std::string pk(kResearcherPublicKeyBytes, '\0');
  crypto_box_keypair(reinterpret_cast<unsigned char*>(pk.data()),
                     secret.data());
  return ResearcherSecretKey(std::move(secret),
                             ResearcherPublicKey(std::move(pk)));
}

absl::StatusOr<ResearcherSecretKey> ResearcherSecretKey::ReadFile(
    const std::string& path) {
  LINKD_ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> entries,
                         internal::ReadKeyFile(path, SecretSpec()));
  std::string derived(kResearcherPublicKeyBytes, '\0');
  if (crypto_scalarmult_base(reinterpret_cast<unsigned char*>(derived.data()),
                             entries[0].data()) != 0 ||
      derived != View(entries[1])) {
    return absl::InvalidArgumentError(
        "researcher secret key file " + path +
        ": public-key does not belong to the secret key");
  }
  return ResearcherSecretKey(std::move(entries[0]),
                             ResearcherPublicKey(std::move(derived)));
}

absl::Status ResearcherSecretKey::WriteFile(const std::string& path) const {
  return internal::WriteKeyFile(path, SecretSpec(), kSecretComment,
                                {View(secret_), public_key_.bytes()});
}

absl::StatusOr<ResearcherPublicKey> GenerateResearcherKeyPair(
    const std::string& public_key_path, const std::string& secret_key_path) {
  if (public_key_path == secret_key_path) {
    return absl::InvalidArgumentError(
        "public and secret key files must differ");
  }
  for (const std::string* p : {&public_key_path, &secret_key_path}) {
    if (Exists(*p)) {
      return absl::AlreadyExistsError("key file " + *p + " already exists");
    }
  }
  const ResearcherSecretKey key = ResearcherSecretKey::Generate();
  // Secret first: a public key without its secret would be a trap (extracts
  // sealed to it could never be opened).
  LINKD_RETURN_IF_ERROR(key.WriteFile(secret_key_path));
  const absl::Status s = key.public_key().WriteFile(public_key_path);
  if (!s.ok()) {
    unlink(secret_key_path.c_str());
    return s;
  }
  return key.public_key();
}

}  // namespace linkd::extract
