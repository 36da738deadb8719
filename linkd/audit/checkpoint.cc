#include "linkd/audit/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "linkd/util/status_macros.h"

namespace linkd::audit {
namespace {

constexpr absl::string_view kTimestampPrefix = "timestamp ";
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E6SZ";
constexpr size_t kMaxCheckpointFileBytes = 64 * 1024;

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed checkpoint: ", what));
}

absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path) {
  const std::string msg =
      absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

std::string FormatCheckpointText(const Checkpoint& checkpoint) {
  std::string text =
      absl::StrCat(checkpoint.origin, "\n", checkpoint.size, "\n",
                   absl::Base64Escape(Av(HashBytes(checkpoint.root))), "\n");
  if (checkpoint.time != absl::InfinitePast()) {
    absl::StrAppend(
        &text, kTimestampPrefix,
        absl::FormatTime(kTimeFormat, checkpoint.time, absl::UTCTimeZone()),
        "\n");
  }
  return text;
}

absl::StatusOr<Checkpoint> ParseCheckpointText(std::string_view text_in) {
  absl::string_view text = Av(text_in);
  if (text.empty() || text.back() != '\n') {
    return Malformed("text must end in a newline");
  }
  text.remove_suffix(1);
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) return Malformed("fewer than three lines");
  Checkpoint c;
  if (lines[0].empty()) return Malformed("empty origin");
  c.origin = std::string(lines[0]);
  const absl::string_view size = lines[1];
  if (size.empty() || size.size() > 20 || (size.size() > 1 && size[0] == '0') ||
      !std::all_of(size.begin(), size.end(),
                   [](char ch) { return ch >= '0' && ch <= '9'; }) ||
      !absl::SimpleAtoi(size, &c.size)) {
    return Malformed("tree size is not a canonical decimal number");
  }
  std::string root;
  if (!absl::Base64Unescape(lines[2], &root) || root.size() != kHashBytes ||
      absl::Base64Escape(root) != lines[2]) {
    return Malformed("root hash is not the base64 of 32 bytes");
  }
  LINKD_ASSIGN_OR_RETURN(c.root, HashFromBytes(std::string_view(root)));
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return Malformed("empty extension line");
    if (absl::StartsWith(lines[i], kTimestampPrefix)) {
      std::string err;
      if (!absl::ParseTime(kTimeFormat,
                           lines[i].substr(kTimestampPrefix.size()),
                           absl::UTCTimeZone(), &c.time, &err)) {
        return Malformed("bad timestamp line");
      }
    }
  }
  return c;
}

absl::StatusOr<std::string> SignCheckpoint(const Checkpoint& checkpoint,
                                           const AuditSigner& signer) {
  if (checkpoint.origin != signer.name()) {
    return absl::InvalidArgumentError(
        "checkpoint origin must be the signing key's name");
  }
  return signer.SignNote(FormatCheckpointText(checkpoint));
}

absl::StatusOr<Checkpoint> OpenCheckpoint(
    std::string_view note, absl::Span<const NoteVerifier> trusted) {
  // The origin is the first line; only keys named after it may sign.
  const absl::string_view origin = Av(note.substr(0, note.find('\n')));
  absl::Status last = absl::UnauthenticatedError(
      absl::StrCat("no trusted key for checkpoint origin '", origin, "'"));
  for (const NoteVerifier& v : trusted) {
    if (v.name() != origin) continue;
    absl::StatusOr<std::string> text = v.Open(note);
    if (!text.ok()) {
      if (absl::IsInvalidArgument(text.status())) return text.status();
      last = text.status();
      continue;
    }
    return ParseCheckpointText(*text);
  }
  return last;
}

absl::Status WriteCheckpointFile(const std::string& path,
                                 std::string_view note) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  const int fd = open(
      tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot create checkpoint file", tmp);
  absl::Status status;
  size_t done = 0;
  while (done < note.size()) {
    const ssize_t n = write(fd, note.data() + done, note.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(errno, "cannot write checkpoint file", tmp);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot sync checkpoint file", tmp);
  }
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoStatus(errno, "cannot close checkpoint file", tmp);
  }
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "cannot rename checkpoint file to", path);
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);  // best effort: makes the rename durable
    close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadCheckpointFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open checkpoint file", path);
  std::string out(kMaxCheckpointFileBytes + 1, '\0');
  size_t len = 0;
  while (len < out.size()) {
    const ssize_t n = read(fd, out.data() + len, out.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "cannot read checkpoint file", path);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  if (len > kMaxCheckpointFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint file ", path, " is too large"));
  }
  out.resize(len);
  return out;
}

}  // namespace linkd::audit
