// Ed25519 release signing key (libsodium crypto_sign_*).
#include "linkd/extract/signing_key.h"

#include <sodium.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "linkd/extract/internal/key_file.h"
#include "linkd/util/status_macros.h"

namespace linkd::extract {
namespace {

static_assert(kSigningPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kSigningSeedBytes == crypto_sign_SEEDBYTES);
static_assert(kSignatureBytes == crypto_sign_BYTES);

const internal::KeyFileSpec& Spec() {
  static const internal::KeyFileSpec* spec = new internal::KeyFileSpec{
      "linkd-release-signing-key",
      {{"seed", kSigningSeedBytes}, {"public-key", kSigningPublicKeyBytes}},
      /*secret=*/true};
  return *spec;
}

constexpr std::string_view kComment =
    "# linkd release signing key (Ed25519). Secret: it signs the manifests of\n"
    "# research extracts. Researchers pin its public key (public-key below).\n";

std::string_view View(const crypto::SecretBytes& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace

absl::StatusOr<SigningPublicKey> SigningPublicKey::FromBytes(
    std::string_view bytes) {
  if (bytes.size() != kSigningPublicKeyBytes) {
    return absl::InvalidArgumentError("signing public key must be 32 bytes");
  }
  return SigningPublicKey(std::string(bytes));
}

absl::StatusOr<SigningPublicKey> SigningPublicKey::FromHex(
    std::string_view hex) {
  std::string bytes(kSigningPublicKeyBytes, '\0');
  size_t len = 0;
  if (hex.size() != 2 * kSigningPublicKeyBytes ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(bytes.data()),
                     bytes.size(), hex.data(), hex.size(), nullptr, &len,
                     nullptr) != 0 ||
      len != kSigningPublicKeyBytes) {
    return absl::InvalidArgumentError(
        "signing public key must be 64 hex digits");
  }
  return SigningPublicKey(std::move(bytes));
}

absl::Status SigningPublicKey::Verify(std::string_view message,
                                      std::string_view signature) const {
  if (bytes_.size() != kSigningPublicKeyBytes ||
      signature.size() != kSignatureBytes ||
      crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(signature.data()),
          reinterpret_cast<const unsigned char*>(message.data()),
          message.size(),
          reinterpret_cast<const unsigned char*>(bytes_.data())) != 0) {
    return absl::DataLossError("signature does not verify");
  }
  return absl::OkStatus();
}

std::string SigningPublicKey::ToHex() const {
  std::string hex(2 * bytes_.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(),
                 reinterpret_cast<const unsigned char*>(bytes_.data()),
                 bytes_.size());
  hex.pop_back();
  return hex;
}

SigningKey SigningKey::Generate() {
  crypto::SecretBytes seed(kSigningSeedBytes);
  randombytes_buf(seed.data(), seed.size());
  return *FromSeed(View(seed));
}

absl::StatusOr<SigningKey> SigningKey::FromSeed(std::string_view seed) {
  if (seed.size() != kSigningSeedBytes) {
    return absl::InvalidArgumentError("signing key seed must be 32 bytes");
  }
  crypto::SecretBytes secret(crypto_sign_SECRETKEYBYTES);
  std::string pk(crypto_sign_PUBLICKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(pk.data()),
                           secret.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return SigningKey(std::move(secret), SigningPublicKey(std::move(pk)));
}

absl::StatusOr<SigningKey> SigningKey::ReadFile(const std::string& path) {
  LINKD_ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> entries,
                         internal::ReadKeyFile(path, Spec()));
  LINKD_ASSIGN_OR_RETURN(SigningKey key, FromSeed(View(entries[0])));
  if (key.public_key().bytes() != View(entries[1])) {
    return absl::InvalidArgumentError(
        "signing key file " + path +
        ": public-key does not belong to the seed");
  }
  return key;
}

absl::Status SigningKey::WriteFile(const std::string& path) const {
  // libsodium's Ed25519 secret key is seed || public key.
  const std::string_view seed(reinterpret_cast<const char*>(secret_.data()),
                              kSigningSeedBytes);
  return internal::WriteKeyFile(path, Spec(), kComment,
                                {seed, public_key_.bytes()});
}

absl::StatusOr<SigningKey> SigningKey::LoadOrCreate(const std::string& path) {
  absl::StatusOr<SigningKey> key = ReadFile(path);
  if (!absl::IsNotFound(key.status())) return key;
  SigningKey fresh = Generate();
  const absl::Status written = fresh.WriteFile(path);
  if (written.ok()) return fresh;
  if (absl::IsAlreadyExists(written)) return ReadFile(path);
  return written;
}

std::string SigningKey::Sign(std::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), secret_.data());
  return sig;
}

}  // namespace linkd::extract
