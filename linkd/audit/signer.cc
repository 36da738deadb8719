#include "linkd/audit/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "crypto/crypto.h"
#include "linkd/util/status_macros.h"

namespace linkd::audit {
namespace {

constexpr uint8_t kAlgEd25519 = 0x01;
constexpr absl::string_view kSignerPrefix = "PRIVATE+KEY+";
// UTF-8 of U+2014 EM DASH followed by a space: starts a signature line.
constexpr absl::string_view kSigLinePrefix = "\xe2\x80\x94 ";
constexpr size_t kSeedBytes = crypto_sign_SEEDBYTES;
constexpr size_t kMaxKeyFileBytes = 1024;
constexpr size_t kMaxNoteBytes = 1 << 20;
constexpr int kMaxSignatures = 100;

static_assert(crypto_sign_PUBLICKEYBYTES == 32, "Ed25519 public key size");
static_assert(crypto_sign_BYTES == 64, "Ed25519 signature size");

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// Clears a buffer that held secret material (its whole capacity).
void Wipe(std::string* s) {
  s->resize(s->capacity());
  sodium_memzero(s->data(), s->size());
  s->clear();
}

bool ValidKeyName(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == '+') return false;
  }
  return true;
}

absl::Status CheckKeyName(std::string_view name) {
  if (!ValidKeyName(name)) {
    return absl::InvalidArgumentError(
        "key name must be non-empty printable ASCII without spaces or '+'");
  }
  return absl::OkStatus();
}

// Standard base64 with padding (RFC 4648 section 4).
std::string Base64Encode(std::string_view bytes) {
  std::string out(
      sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL),
      '\0');
  sodium_bin2base64(out.data(), out.size(),
                    reinterpret_cast<const uint8_t*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // the terminating NUL
  return out;
}

// Strict standard base64: only the canonical encoding of its result is
// accepted, so that one value has one textual form. Decodes into `out`,
// which must have room for the result; sets *len.
bool Base64DecodeInto(std::string_view b64, uint8_t* out, size_t cap,
                      size_t* len) {
  const char* end = nullptr;
  if (sodium_base642bin(out, cap, b64.data(), b64.size(), nullptr, len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  if (end != b64.data() + b64.size()) return false;
  // Reject non-canonical trailing bits by re-encoding.
  std::string again(
      sodium_base64_encoded_len(*len, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(again.data(), again.size(), out, *len,
                    sodium_base64_VARIANT_ORIGINAL);
  again.pop_back();
  const bool canonical = again == b64;
  Wipe(&again);
  return canonical;
}

bool Base64Decode(std::string_view b64, std::string* out) {
  out->assign(b64.size(), '\0');
  size_t len = 0;
  if (!Base64DecodeInto(b64, reinterpret_cast<uint8_t*>(out->data()),
                        out->size(), &len)) {
    return false;
  }
  out->resize(len);
  return true;
}

uint32_t KeyId(std::string_view name, std::string_view public_key) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const uint8_t*>(name.data()),
                            name.size());
  const uint8_t sep[2] = {'\n', kAlgEd25519};
  crypto_hash_sha256_update(&st, sep, 2);
  crypto_hash_sha256_update(&st,
                            reinterpret_cast<const uint8_t*>(public_key.data()),
                            public_key.size());
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) |
         (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

// Splits "<name>+<8 hex>+<base64>" (the base64 may itself contain '+').
bool SplitKey(std::string_view key, std::string_view* name, uint32_t* id,
              std::string_view* b64) {
  const size_t p1 = key.find('+');
  if (p1 == std::string_view::npos) return false;
  const size_t p2 = key.find('+', p1 + 1);
  if (p2 == std::string_view::npos || p2 - p1 - 1 != 8) return false;
  *name = key.substr(0, p1);
  const std::string_view hex = key.substr(p1 + 1, 8);
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  if (!absl::SimpleHexAtoi(Av(hex), id)) return false;
  *b64 = key.substr(p2 + 1);
  return ValidKeyName(*name);
}

// Valid UTF-8 without control characters other than newline (C2SP).
bool ValidNoteBytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\n') return false;
      ++i;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF.
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::Status CheckNoteText(std::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("note text must end in a newline");
  }
  if (text.size() > kMaxNoteBytes || !ValidNoteBytes(text)) {
    return absl::InvalidArgumentError(
        "note text must be UTF-8 without control characters");
  }
  for (absl::string_view line : absl::StrSplit(Av(text), '\n')) {
    if (absl::StartsWith(line, kSigLinePrefix)) {
      return absl::InvalidArgumentError(
          "note text must not contain a signature line");
    }
  }
  return absl::OkStatus();
}

absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path) {
  const std::string msg =
      absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  if (err == EEXIST) return absl::AlreadyExistsError(msg);
  return absl::InternalError(msg);
}

// Reads a whole small file, refusing what a key file must not be.
absl::Status ReadKeyFile(const std::string& path, std::string* text) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open audit key file", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, "cannot stat audit key file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("audit key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return absl::PermissionDeniedError(
        absl::StrCat("audit key file ", path,
                     " is accessible by group or others; run chmod 600 on it"));
  }
  text->assign(kMaxKeyFileBytes + 1, '\0');
  size_t len = 0;
  while (len < text->size()) {
    const ssize_t n = read(fd, text->data() + len, text->size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      Wipe(text);
      return ErrnoStatus(err, "cannot read audit key file", path);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  if (len > kMaxKeyFileBytes) {
    Wipe(text);
    return absl::InvalidArgumentError(
        absl::StrCat("audit key file ", path, " is too large"));
  }
  text->resize(len);
  return absl::OkStatus();
}

void SyncParentDir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the file itself is synced
  (void)fsync(fd);
  close(fd);
}

}  // namespace

AuditSigner::AuditSigner(std::string name, crypto::SecretBytes secret_key,
                         std::string public_key)
    : name_(std::move(name)),
      secret_key_(std::move(secret_key)),
      public_key_(std::move(public_key)) {
  key_id_ = KeyId(name_, public_key_);
}

absl::StatusOr<AuditSigner> AuditSigner::FromSeed(std::string_view name,
                                                  std::string_view seed) {
  LINKD_RETURN_IF_ERROR(CheckKeyName(name));
  if (seed.size() != kSeedBytes) {
    return absl::InvalidArgumentError("Ed25519 seed must be 32 bytes");
  }
  LINKD_RETURN_IF_ERROR(crypto::Init());
  crypto::SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  std::string pk(crypto_sign_PUBLICKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<uint8_t*>(pk.data()), sk.data(),
                           reinterpret_cast<const uint8_t*>(seed.data()));
  return AuditSigner(std::string(name), std::move(sk), std::move(pk));
}

absl::StatusOr<AuditSigner> AuditSigner::Generate(std::string_view name) {
  LINKD_RETURN_IF_ERROR(CheckKeyName(name));
  LINKD_RETURN_IF_ERROR(crypto::Init());
  crypto::SecretBytes seed(kSeedBytes);
  randombytes_buf(seed.data(), seed.size());
  return FromSeed(name,
                  std::string_view(reinterpret_cast<const char*>(seed.data()),
                                   seed.size()));
}

absl::StatusOr<AuditSigner> AuditSigner::FromSignerKey(std::string_view key) {
  const absl::Status malformed =
      absl::InvalidArgumentError("malformed audit signer key");
  if (!absl::StartsWith(Av(key), kSignerPrefix)) return malformed;
  std::string_view name, b64;
  uint32_t id = 0;
  if (!SplitKey(key.substr(kSignerPrefix.size()), &name, &id, &b64)) {
    return malformed;
  }
  crypto::SecretBytes raw(b64.size());
  size_t len = 0;
  if (!Base64DecodeInto(b64, raw.data(), raw.size(), &len) ||
      len != 1 + kSeedBytes || raw.data()[0] != kAlgEd25519) {
    return malformed;
  }
  absl::StatusOr<AuditSigner> signer = FromSeed(
      name, std::string_view(reinterpret_cast<const char*>(raw.data()) + 1,
                             kSeedBytes));
  if (!signer.ok()) return signer.status();
  if (signer->key_id() != id) {
    return absl::InvalidArgumentError(
        "audit signer key: key ID does not match the key");
  }
  return signer;
}

absl::StatusOr<AuditSigner> AuditSigner::Load(const std::string& path) {
  std::string text;
  LINKD_RETURN_IF_ERROR(ReadKeyFile(path, &text));
  std::string_view line(text);
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  absl::StatusOr<AuditSigner> signer = FromSignerKey(line);
  Wipe(&text);
  if (!signer.ok()) {
    return absl::Status(
        signer.status().code(),
        absl::StrCat("audit key file ", path, ": ", signer.status().message()));
  }
  return signer;
}

absl::StatusOr<AuditSigner> AuditSigner::LoadOrCreate(const std::string& path,
                                                      std::string_view name) {
  absl::StatusOr<AuditSigner> loaded = Load(path);
  if (loaded.ok()) {
    if (loaded->name() != name) {
      return absl::FailedPreconditionError(
          absl::StrCat("audit key file ", path, " holds the key of '",
                       loaded->name(), "', not '", Av(name), "'"));
    }
    return loaded;
  }
  if (!absl::IsNotFound(loaded.status())) return loaded.status();
  LINKD_ASSIGN_OR_RETURN(AuditSigner signer, Generate(name));
  absl::Status written = signer.WriteFile(path);
  if (absl::IsAlreadyExists(written)) return Load(path);  // lost a race
  LINKD_RETURN_IF_ERROR(written);
  return signer;
}

absl::Status AuditSigner::WriteFile(const std::string& path) const {
  crypto::SecretBytes raw(1 + kSeedBytes);
  raw.data()[0] = kAlgEd25519;
  crypto_sign_ed25519_sk_to_seed(raw.data() + 1, secret_key_.data());
  std::string text;
  text.reserve(256);
  text.append(kSignerPrefix.data(), kSignerPrefix.size());
  text.append(name_);
  text.append(absl::StrFormat("+%08x+", key_id_));
  const size_t at = text.size();
  const size_t b64_len =
      sodium_base64_encoded_len(raw.size(), sodium_base64_VARIANT_ORIGINAL);
  text.resize(at + b64_len);
  sodium_bin2base64(text.data() + at, b64_len, raw.data(), raw.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  text.back() = '\n';  // replaces the terminating NUL

  const int fd = open(
      path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    Wipe(&text);
    return ErrnoStatus(errno, "cannot create audit key file", path);
  }
  absl::Status status;
  if (fchmod(fd, 0600) != 0) {
    status = ErrnoStatus(errno, "cannot set mode of audit key file", path);
  }
  size_t done = 0;
  while (status.ok() && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(errno, "cannot write audit key file", path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot sync audit key file", path);
  }
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoStatus(errno, "cannot close audit key file", path);
  }
  Wipe(&text);
  if (!status.ok()) {
    unlink(path.c_str());
    return status;
  }
  SyncParentDir(path);
  return absl::OkStatus();
}

std::string AuditSigner::VerifierKey() const {
  std::string raw(1, static_cast<char>(kAlgEd25519));
  raw.append(public_key_);
  return absl::StrCat(name_, absl::StrFormat("+%08x+", key_id_),
                      Base64Encode(raw));
}

absl::StatusOr<std::string> AuditSigner::SignNote(std::string_view text) const {
  LINKD_RETURN_IF_ERROR(CheckNoteText(text));
  uint8_t blob[4 + crypto_sign_BYTES];
  blob[0] = static_cast<uint8_t>(key_id_ >> 24);
  blob[1] = static_cast<uint8_t>(key_id_ >> 16);
  blob[2] = static_cast<uint8_t>(key_id_ >> 8);
  blob[3] = static_cast<uint8_t>(key_id_);
  crypto_sign_detached(blob + 4, nullptr,
                       reinterpret_cast<const uint8_t*>(text.data()),
                       text.size(), secret_key_.data());
  return absl::StrCat(Av(text), "\n", kSigLinePrefix, name_, " ",
                      Base64Encode(std::string_view(
                          reinterpret_cast<const char*>(blob), sizeof(blob))),
                      "\n");
}

NoteVerifier::NoteVerifier(std::string name, std::string public_key)
    : name_(std::move(name)), public_key_(std::move(public_key)) {
  key_id_ = KeyId(name_, public_key_);
}

absl::StatusOr<NoteVerifier> NoteVerifier::FromPublicKey(
    std::string_view name, std::string_view public_key) {
  LINKD_RETURN_IF_ERROR(CheckKeyName(name));
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError("Ed25519 public key must be 32 bytes");
  }
  return NoteVerifier(std::string(name), std::string(public_key));
}

absl::StatusOr<NoteVerifier> NoteVerifier::FromVerifierKey(
    std::string_view key) {
  const absl::Status malformed =
      absl::InvalidArgumentError("malformed note verifier key");
  std::string_view name, b64;
  uint32_t id = 0;
  if (!SplitKey(key, &name, &id, &b64)) return malformed;
  std::string raw;
  if (!Base64Decode(b64, &raw) ||
      raw.size() != 1 + crypto_sign_PUBLICKEYBYTES) {
    return malformed;
  }
  if (static_cast<uint8_t>(raw[0]) != kAlgEd25519) {
    return absl::InvalidArgumentError(
        "note verifier key is not an Ed25519 key");
  }
  NoteVerifier v(std::string(name), raw.substr(1));
  if (v.key_id() != id) {
    return absl::InvalidArgumentError(
        "note verifier key: key ID does not match the key");
  }
  return v;
}

absl::StatusOr<std::string> NoteVerifier::Open(std::string_view note) const {
  const absl::Status malformed =
      absl::InvalidArgumentError("malformed signed note");
  if (note.size() > kMaxNoteBytes || note.empty() || note.back() != '\n' ||
      !ValidNoteBytes(note)) {
    return malformed;
  }
  // The text ends at the last blank line.
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return malformed;
  const std::string_view text = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty()) return malformed;
  int count = 0;
  bool found = false;
  bool verified = false;
  while (!sigs.empty()) {
    if (++count > kMaxSignatures) return malformed;
    const size_t eol = sigs.find('\n');  // present: the note ends in '\n'
    std::string_view line = sigs.substr(0, eol);
    sigs.remove_prefix(eol + 1);
    if (!absl::StartsWith(Av(line), kSigLinePrefix)) return malformed;
    line.remove_prefix(kSigLinePrefix.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) return malformed;
    const std::string_view name = line.substr(0, space);
    std::string blob;
    if (!ValidKeyName(name) || !Base64Decode(line.substr(space + 1), &blob) ||
        blob.size() < 5) {
      return malformed;
    }
    const uint32_t id = (uint32_t{static_cast<uint8_t>(blob[0])} << 24) |
                        (uint32_t{static_cast<uint8_t>(blob[1])} << 16) |
                        (uint32_t{static_cast<uint8_t>(blob[2])} << 8) |
                        uint32_t{static_cast<uint8_t>(blob[3])};
    if (name != name_ || id != key_id_) continue;  // someone else's
    found = true;
    if (blob.size() == 4 + crypto_sign_BYTES &&
        crypto_sign_verify_detached(
            reinterpret_cast<const uint8_t*>(blob.data()) + 4,
            reinterpret_cast<const uint8_t*>(text.data()), text.size(),
            reinterpret_cast<const uint8_t*>(public_key_.data())) == 0) {
      verified = true;
    } else {
      // One bad signature by a trusted key rejects the note.
      return absl::UnauthenticatedError(
          absl::StrCat("signature by key '", name_, "' does not verify"));
    }
  }
  if (!found) {
    return absl::UnauthenticatedError(
        absl::StrCat("note has no signature by key '", name_, "'"));
  }
  if (!verified) {
    return absl::UnauthenticatedError("note signature does not verify");
  }
  return std::string(text);
}

}  // namespace linkd::audit
