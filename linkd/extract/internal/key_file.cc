// Key files of linkd/extract (format in key_file.h). Text holding key
// material is wiped with sodium_memzero before it is freed.
#include "linkd/extract/internal/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linkd/extract/internal/strings.h"

namespace linkd::extract::internal {
namespace {

constexpr size_t kMaxKeyFileBytes = 8192;

void Wipe(std::string* s) {
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

// Owns the text of a key file and wipes it on every return path.
class WipedString {
 public:
  explicit WipedString(size_t size) : s_(size, '\0') {}
  ~WipedString() { Wipe(&s_); }
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  std::string& get() { return s_; }

 private:
  std::string s_;
};

absl::StatusOr<std::vector<crypto::SecretBytes>> Parse(
    std::string_view text, const std::string& path, const KeyFileSpec& spec) {
  std::vector<crypto::SecretBytes> out;
  out.reserve(spec.entries.size());
  for (const KeyFileEntry& e : spec.entries) out.emplace_back(e.bytes);
  std::vector<bool> seen(spec.entries.size(), false);
  bool have_format = false;
  int line_no = 0;
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, " line ", line_no, ": ", AsAbsl(why)));
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
    if (!have_format) {
      if (name != spec.format) {
        return bad(absl::StrCat("not a ", AsAbsl(spec.format), " file"));
      }
      if (value != "v1") return bad("unsupported key file format");
      have_format = true;
      continue;
    }
    size_t i = 0;
    while (i < spec.entries.size() && spec.entries[i].name != name) ++i;
    if (i == spec.entries.size()) return bad("unknown entry");
    if (seen[i]) return bad("duplicate entry");
    const size_t want = spec.entries[i].bytes;
    size_t bin_len = 0;
    if (value.size() != 2 * want ||
        value.find_first_not_of("0123456789abcdef") != std::string_view::npos ||
        sodium_hex2bin(out[i].data(), out[i].size(), value.data(), value.size(),
                       nullptr, &bin_len, nullptr) != 0 ||
        bin_len != want) {
      return bad(absl::StrCat(AsAbsl(spec.entries[i].name), " must be ",
                              2 * want, " lower-case hex digits"));
    }
    seen[i] = true;
  }
  if (!have_format) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key file ", path, ": missing '", AsAbsl(spec.format), ": v1' line"));
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key file ", path, ": missing entry ", AsAbsl(spec.entries[i].name)));
    }
  }
  return out;
}

}  // namespace

absl::Status ErrnoStatus(int err, std::string_view what,
                         const std::string& path) {
  const std::string msg =
      absl::StrCat(AsAbsl(what), " ", path, ": ", strerror(err));
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

absl::Status SyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open directory", dir);
  absl::Status status;
  if (fsync(fd) != 0) status = ErrnoStatus(errno, "cannot sync directory", dir);
  close(fd);
  return status;
}

absl::StatusOr<std::vector<crypto::SecretBytes>> ReadKeyFile(
    const std::string& path, const KeyFileSpec& spec) {
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
  if (spec.secret && (st.st_mode & 077) != 0) {
    close(fd);
    return absl::PermissionDeniedError(
        absl::StrCat("key file ", path,
                     " is accessible by group or others; run chmod 600 on it"));
  }
  WipedString text(kMaxKeyFileBytes + 1);
  size_t len = 0;
  while (len < text.get().size()) {
    const ssize_t n =
        read(fd, text.get().data() + len, text.get().size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "cannot read key file", path);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  if (len > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, " is too large"));
  }
  return Parse(std::string_view(text.get().data(), len), path, spec);
}

absl::Status WriteKeyFile(const std::string& path, const KeyFileSpec& spec,
                          std::string_view comment,
                          absl::Span<const std::string_view> values) {
  if (values.size() != spec.entries.size()) {
    return absl::InvalidArgumentError("key file: wrong number of values");
  }
  std::string text(comment);
  absl::StrAppend(&text, AsAbsl(spec.format), ": v1\n");
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].size() != spec.entries[i].bytes) {
      Wipe(&text);
      return absl::InvalidArgumentError(
          absl::StrCat("key file: ", AsAbsl(spec.entries[i].name),
                       " has the wrong "
                       "length"));
    }
    absl::StrAppend(&text, AsAbsl(spec.entries[i].name), ": ");
    const size_t hex_at = text.size();
    text.resize(hex_at + 2 * values[i].size() + 1);
    sodium_bin2hex(text.data() + hex_at, 2 * values[i].size() + 1,
                   reinterpret_cast<const unsigned char*>(values[i].data()),
                   values[i].size());
    text.back() = '\n';
  }
  const mode_t mode = spec.secret ? 0600 : 0644;
  // Written under a temporary name in the same directory and linked into
  // place, so that a concurrent reader (LoadOrCreate in another process)
  // never sees a half-written key, and an existing `path` (a symbolic link
  // included) is never replaced: link() fails with EEXIST.
  unsigned char nonce[8];
  randombytes_buf(nonce, sizeof(nonce));
  char nonce_hex[2 * sizeof(nonce) + 1];
  sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, sizeof(nonce));
  const std::string tmp = absl::StrCat(path, ".tmp-", nonce_hex);
  const int fd = open(
      tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    Wipe(&text);
    return ErrnoStatus(errno, "cannot create key file", tmp);
  }
  absl::Status status;
  // fchmod: the umask must not widen or narrow what the contract promises.
  if (fchmod(fd, mode) != 0) {
    status = ErrnoStatus(errno, "cannot set mode of key file", tmp);
  }
  size_t done = 0;
  while (status.ok() && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(errno, "cannot write key file", tmp);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot sync key file", tmp);
  }
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoStatus(errno, "cannot close key file", tmp);
  }
  Wipe(&text);
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  if (link(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "cannot create key file", path);
    unlink(tmp.c_str());
    return status;  // `path` may be someone else's: leave it alone
  }
  unlink(tmp.c_str());
  status = SyncParentDir(path);
  if (!status.ok()) unlink(path.c_str());  // ours: linked just above
  return status;
}

}  // namespace linkd::extract::internal
