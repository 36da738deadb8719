// Linkage key generation and the key file of crypto/ENCODING.md section
// "Key file". Messages name the path and line number, never key material.
#include "crypto/linkage_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace linkd::crypto {
namespace {

constexpr size_t kMaxKeyFileBytes = 4096;
constexpr std::string_view kHeader =
    "# linkd linkage key. Secret: keep it with the data provider and the key\n"
    "# custodian only; never send it to linkd or put it in version control.\n";

absl::Status ErrnoStatus(int err, std::string_view what,
                         const std::string& path) {
  const std::string msg =
      absl::StrCat(absl::string_view(what.data(), what.size()), " ", path, ": ",
                   std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Wipes a std::string holding key material.
void Wipe(std::string* s) {
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

absl::StatusOr<LinkageKey> Parse(std::string_view text,
                                 const std::string& path) {
  bool have_format = false, have_version = false, have_key = false;
  uint32_t version = 0;
  SecretBytes key(kLinkageKeyBytes);
  int line_no = 0;
  const auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, " line ", line_no, ": ", why));
  };
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos) return bad("expected 'name: value'");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = line.substr(colon + 2);
    if (name == "linkd-linkage-key") {
      if (have_format) return bad("duplicate entry");
      if (value != "v1") return bad("unsupported key file format");
      have_format = true;
    } else if (name == "key-version") {
      if (have_version) return bad("duplicate entry");
      uint64_t v = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || v > UINT32_MAX) break;
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (value.empty() || value.size() > 10 || v < 1 || v > UINT32_MAX ||
          value.find_first_not_of("0123456789") != std::string_view::npos) {
        return bad("key-version must be a whole number from 1 to 4294967295");
      }
      version = static_cast<uint32_t>(v);
      have_version = true;
    } else if (name == "key") {
      if (have_key) return bad("duplicate entry");
      if (value.size() != 2 * kLinkageKeyBytes ||
          value.find_first_not_of("0123456789abcdef") !=
              std::string_view::npos) {
        return bad("key must be 64 lower-case hex digits");
      }
      size_t bin_len = 0;
      if (sodium_hex2bin(key.data(), key.size(), value.data(), value.size(),
                         nullptr, &bin_len, nullptr) != 0 ||
          bin_len != kLinkageKeyBytes) {
        return bad("key must be 64 lower-case hex digits");
      }
      have_key = true;
    } else {
      return bad("unknown entry");
    }
  }
  if (!have_format) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, ": missing 'linkd-linkage-key: v1'"));
  }
  if (!have_version || !have_key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key file ", path, ": missing ", have_key ? "key-version" : "key"));
  }
  return LinkageKey::FromBytes(
      std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
      version);
}

}  // namespace

LinkageKey LinkageKey::Generate(uint32_t version) {
  SecretBytes bytes(kLinkageKeyBytes);
  randombytes_buf(bytes.data(), bytes.size());
  return LinkageKey(std::move(bytes), version == 0 ? 1 : version);
}

absl::StatusOr<LinkageKey> LinkageKey::FromBytes(std::string_view bytes,
                                                 uint32_t version) {
  if (bytes.size() != kLinkageKeyBytes) {
    return absl::InvalidArgumentError("linkage key must be 32 bytes");
  }
  if (version < 1) {
    return absl::InvalidArgumentError("key version must be >= 1");
  }
  return LinkageKey(SecretBytes(bytes), version);
}

absl::StatusOr<LinkageKey> LinkageKey::ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open key file", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, "cannot stat key file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return absl::PermissionDeniedError(
        absl::StrCat("key file ", path,
                     " is accessible by group or others; run chmod 600 on it"));
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  size_t len = 0;
  while (len < text.size()) {
    const ssize_t n = read(fd, text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      Wipe(&text);
      return ErrnoStatus(err, "cannot read key file", path);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  if (len > kMaxKeyFileBytes) {
    Wipe(&text);
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, " is too large"));
  }
  absl::StatusOr<LinkageKey> key =
      Parse(std::string_view(text.data(), len), path);
  Wipe(&text);
  return key;
}

absl::Status LinkageKey::WriteFile(const std::string& path) const {
  std::string text(kHeader);
  text.append("linkd-linkage-key: v1\n");
  text.append(absl::StrCat("key-version: ", version_, "\n"));
  text.append("key: ");
  const size_t hex_at = text.size();
  text.resize(hex_at + 2 * kLinkageKeyBytes + 1);
  sodium_bin2hex(text.data() + hex_at, 2 * kLinkageKeyBytes + 1, bytes_.data(),
                 bytes_.size());
  text.back() = '\n';

  const int fd = open(
      path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    Wipe(&text);
    return ErrnoStatus(errno, "cannot create key file", path);
  }
  absl::Status status;
  if (fchmod(fd, 0600) != 0) {
    status = ErrnoStatus(errno, "cannot set mode of key file", path);
  }
  size_t done = 0;
  while (status.ok() && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(errno, "cannot write key file", path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot sync key file", path);
  }
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoStatus(errno, "cannot close key file", path);
  }
  Wipe(&text);
  if (!status.ok()) unlink(path.c_str());
  return status;
}

}  // namespace linkd::crypto
