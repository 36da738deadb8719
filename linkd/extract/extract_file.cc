// Encrypted extract files and signed manifests (layout in README.md).
#include "linkd/extract/extract_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/secret_bytes.h"
#include "linkd/extract/internal/csv.h"
#include "linkd/extract/internal/key_file.h"
#include "linkd/util/status_macros.h"

namespace linkd::extract {
namespace {

using internal::ErrnoStatus;

constexpr size_t kPreambleBytes = 16;  // magic, version, chunk size
constexpr size_t kSealedKeyBytes =
    crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES;
constexpr size_t kStreamHeaderBytes =
    crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr size_t kFileHeaderBytes =
    kPreambleBytes + kSealedKeyBytes + kStreamHeaderBytes;
constexpr size_t kChunkOverhead = crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr size_t kHashBytes = 32;
constexpr size_t kMaxManifestBytes = 1 << 20;
constexpr size_t kMaxPendingBytes = 16 << 20;  // longest row a reader takes
constexpr size_t kHashBlockBytes = 1 << 20;

static_assert(kExtractMagic.size() == 8);
static_assert(kSealedKeyBytes == 80 && kStreamHeaderBytes == 24);

void PutBE32(uint32_t v, std::string* out) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t GetBE32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

const unsigned char* U(const char* p) {
  return reinterpret_cast<const unsigned char*>(p);
}
unsigned char* U(char* p) { return reinterpret_cast<unsigned char*>(p); }

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Reads up to `len` bytes, fewer only at end of file.
absl::StatusOr<size_t> ReadFull(int fd, char* buf, size_t len,
                                const std::string& path) {
  size_t got = 0;
  while (got < len) {
    const ssize_t n = read(fd, buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot read", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  std::string data(max_bytes + 1, '\0');
  absl::StatusOr<size_t> got = ReadFull(fd, data.data(), data.size(), path);
  close(fd);
  if (!got.ok()) return got.status();
  if (*got > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is too large to be an extract manifest"));
  }
  data.resize(*got);
  return data;
}

absl::Status WriteNewFile(const std::string& path, std::string_view data) {
  const int fd = open(
      path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "cannot create", path);
  absl::Status status;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(errno, "cannot write", path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot sync", path);
  }
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoStatus(errno, "cannot close", path);
  }
  if (status.ok()) status = internal::SyncParentDir(path);
  if (!status.ok()) unlink(path.c_str());
  return status;
}

std::string SignedMessage(std::string_view manifest_bytes) {
  std::string message(kManifestSignatureDomain);
  message.append(manifest_bytes);
  return message;
}

}  // namespace

std::string ManifestPathFor(const std::string& extract_path) {
  return extract_path + ".manifest";
}

// ---------------------------------------------------------------------------
// Writer

struct ExtractWriter::Stream {
  crypto_secretstream_xchacha20poly1305_state state;
  crypto_generichash_state hash;
  std::string preamble;  // the chunks' additional data
  ~Stream() {
    sodium_memzero(&state, sizeof(state));
    sodium_memzero(&hash, sizeof(hash));
  }
};

ExtractWriter::ExtractWriter(std::string path, std::vector<std::string> columns,
                             int fd, std::unique_ptr<Stream> stream)
    : path_(std::move(path)),
      columns_(std::move(columns)),
      fd_(fd),
      stream_(std::move(stream)) {
  plain_.reserve(2 * kExtractChunkBytes);
  cipher_.resize(kExtractChunkBytes + kChunkOverhead);
}

ExtractWriter::~ExtractWriter() {
  if (fd_ >= 0) close(fd_);
  if (!finished_) unlink(path_.c_str());
}

absl::StatusOr<std::unique_ptr<ExtractWriter>> ExtractWriter::Create(
    const std::string& path, const ResearcherPublicKey& recipient,
    std::vector<std::string> columns) {
  if (columns.empty()) {
    return absl::InvalidArgumentError("extract needs at least one column");
  }
  absl::flat_hash_set<std::string_view> seen;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].empty() || !internal::IsValidUtf8(columns[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "extract column ", i + 1, " must be a non-empty UTF-8 name"));
    }
    if (!seen.insert(columns[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("extract column ", columns[i], " appears twice"));
    }
  }
  if (recipient.bytes().size() != kResearcherPublicKeyBytes) {
    return absl::InvalidArgumentError("researcher public key is not set");
  }
  auto stream = std::make_unique<Stream>();
  crypto::SecretBytes key(crypto_secretstream_xchacha20poly1305_KEYBYTES);
  crypto_secretstream_xchacha20poly1305_keygen(key.data());
  std::string header(kExtractMagic);
  PutBE32(kExtractFormatVersion, &header);
  PutBE32(static_cast<uint32_t>(kExtractChunkBytes), &header);
  stream->preamble = header;
  header.resize(kFileHeaderBytes);
  if (crypto_box_seal(U(header.data() + kPreambleBytes), key.data(), key.size(),
                      U(recipient.bytes().data())) != 0) {
    return absl::InvalidArgumentError(
        "cannot seal the extract key to this researcher public key");
  }
  crypto_secretstream_xchacha20poly1305_init_push(
      &stream->state, U(header.data() + kPreambleBytes + kSealedKeyBytes),
      key.data());
  crypto_generichash_init(&stream->hash, nullptr, 0, kHashBytes);

  const int fd = open(
      path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "cannot create extract file", path);
  std::unique_ptr<ExtractWriter> w(
      new ExtractWriter(path, std::move(columns), fd, std::move(stream)));
  LINKD_RETURN_IF_ERROR(w->WriteAll(header));
  std::vector<std::string_view> names(w->columns_.begin(), w->columns_.end());
  internal::AppendCsvRow(names, &w->plain_);
  return w;
}

absl::Status ExtractWriter::WriteAll(std::string_view bytes) {
  crypto_generichash_update(&stream_->hash, U(bytes.data()), bytes.size());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = ErrnoStatus(errno, "cannot write extract file", path_);
      return error_;
    }
    done += static_cast<size_t>(n);
  }
  bytes_written_ += bytes.size();
  return absl::OkStatus();
}

absl::Status ExtractWriter::FlushChunk(bool final) {
  const size_t len = std::min(plain_.size(), kExtractChunkBytes);
  unsigned long long clen = 0;
  crypto_secretstream_xchacha20poly1305_push(
      &stream_->state, U(cipher_.data()), &clen, U(plain_.data()), len,
      U(stream_->preamble.data()), stream_->preamble.size(),
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
            : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  plain_.erase(0, len);
  return WriteAll(std::string_view(cipher_.data(), clen));
}

absl::Status ExtractWriter::WriteRow(
    absl::Span<const std::string_view> fields) {
  if (finished_) {
    return absl::FailedPreconditionError("extract writer already finished");
  }
  if (!error_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("extract writer failed earlier: ", error_.message()));
  }
  if (fields.size() != columns_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("extract row ", rows_ + 1, " has ", fields.size(),
                     " fields, the header has ", columns_.size()));
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    if (!internal::IsValidUtf8(fields[i])) {
      return absl::InvalidArgumentError(absl::StrCat("extract row ", rows_ + 1,
                                                     " column ", columns_[i],
                                                     " is not valid UTF-8"));
    }
  }
  internal::AppendCsvRow(fields, &plain_);
  // Only full chunks with more data behind them go out, so the final chunk
  // is never empty unless the whole extract is.
  while (plain_.size() > kExtractChunkBytes) {
    LINKD_RETURN_IF_ERROR(FlushChunk(/*final=*/false));
  }
  ++rows_;
  return absl::OkStatus();
}

absl::StatusOr<ExtractFileInfo> ExtractWriter::Finish() {
  if (finished_) {
    return absl::FailedPreconditionError("extract writer already finished");
  }
  if (!error_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("extract writer failed earlier: ", error_.message()));
  }
  LINKD_RETURN_IF_ERROR(FlushChunk(/*final=*/true));
  if (fsync(fd_) != 0) {
    error_ = ErrnoStatus(errno, "cannot sync extract file", path_);
    return error_;
  }
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) {
    error_ = ErrnoStatus(errno, "cannot close extract file", path_);
    return error_;
  }
  error_ = internal::SyncParentDir(path_);
  LINKD_RETURN_IF_ERROR(error_);
  ExtractFileInfo info;
  info.path = path_;
  info.columns = columns_;
  info.row_count = rows_;
  info.file_size = bytes_written_;
  info.blake2b_256.resize(kHashBytes);
  crypto_generichash_final(&stream_->hash, U(info.blake2b_256.data()),
                           kHashBytes);
  finished_ = true;
  return info;
}

// ---------------------------------------------------------------------------
// Manifest

absl::StatusOr<v1::SignedManifest> SignManifest(v1::Manifest manifest,
                                                const ExtractFileInfo& file,
                                                const SigningKey& key) {
  const std::pair<const char*, const std::string*> required[] = {
      {"project_id", &manifest.project_id()},
      {"request_id", &manifest.request_id()},
      {"approval_id", &manifest.approval_id()},
      {"approver", &manifest.approver()},
      {"policy_version", &manifest.policy_version()},
      {"policy_hash", &manifest.policy_hash()}};
  for (const auto& [name, value] : required) {
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest: ", name, " is required"));
    }
  }
  if (manifest.suppression_threshold() < 1) {
    return absl::InvalidArgumentError(
        "manifest: suppression_threshold is required");
  }
  if (manifest.created_micros() <= 0) {
    return absl::InvalidArgumentError("manifest: created_micros is required");
  }
  if (manifest.fields_size() == 0) {
    for (const std::string& c : file.columns) manifest.add_fields(c);
  } else if (!std::equal(manifest.fields().begin(), manifest.fields().end(),
                         file.columns.begin(), file.columns.end())) {
    return absl::InvalidArgumentError(
        "manifest: fields differ from the extract file's columns");
  }
  for (const v1::FieldCoarsening& c : manifest.coarsenings()) {
    if (std::find(file.columns.begin(), file.columns.end(), c.field()) ==
        file.columns.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest: coarsening of ", c.field(), ", which is not a column"));
    }
  }
  if (file.blake2b_256.size() != kHashBytes) {
    return absl::InvalidArgumentError("manifest: the file has no hash");
  }
  manifest.set_format_version(kExtractFormatVersion);
  manifest.set_row_count(file.row_count);
  manifest.set_file_name(BaseName(file.path));
  manifest.set_file_size(file.file_size);
  manifest.set_file_blake2b_256(file.blake2b_256);
  manifest.set_signing_public_key(key.public_key().bytes());
  v1::SignedManifest signed_manifest;
  if (!manifest.SerializeToString(signed_manifest.mutable_manifest())) {
    return absl::InternalError("manifest: cannot serialize");
  }
  signed_manifest.set_signature(
      key.Sign(SignedMessage(signed_manifest.manifest())));
  return signed_manifest;
}

absl::Status WriteManifestFile(const v1::SignedManifest& manifest,
                               const std::string& path) {
  std::string data;
  if (!manifest.SerializeToString(&data)) {
    return absl::InternalError("manifest: cannot serialize");
  }
  return WriteNewFile(path, data);
}

absl::StatusOr<VerifiedManifest> ReadManifestFile(
    const std::string& path,
    const std::optional<SigningPublicKey>& expected_signer) {
  LINKD_ASSIGN_OR_RETURN(std::string data,
                         ReadSmallFile(path, kMaxManifestBytes));
  v1::SignedManifest signed_manifest;
  if (!signed_manifest.ParseFromString(data)) {
    return absl::DataLossError(absl::StrCat(
        "manifest ", path,
        " does not parse: corrupt, or not a linkd extract manifest"));
  }
  const std::string message = SignedMessage(signed_manifest.manifest());
  VerifiedManifest out;
  const bool parsed = out.manifest.ParseFromString(signed_manifest.manifest());
  absl::StatusOr<SigningPublicKey> embedded =
      parsed ? SigningPublicKey::FromBytes(out.manifest.signing_public_key())
             : absl::DataLossError("no key");
  if (expected_signer.has_value()) {
    if (!expected_signer->Verify(message, signed_manifest.signature()).ok()) {
      if (embedded.ok() && *embedded != *expected_signer &&
          embedded->Verify(message, signed_manifest.signature()).ok()) {
        return absl::PermissionDeniedError(absl::StrCat(
            "manifest ", path, " is signed by release key ", embedded->ToHex(),
            ", not by the pinned key ", expected_signer->ToHex()));
      }
      return absl::DataLossError(
          absl::StrCat("manifest ", path,
                       ": signature does not verify under the pinned release "
                       "key (manifest or signature altered)"));
    }
    out.signer = *expected_signer;
    out.signer_pinned = true;
  } else {
    if (!embedded.ok()) {
      return absl::DataLossError(
          absl::StrCat("manifest ", path,
                       " is corrupt: it has no valid signing public key"));
    }
    if (!embedded->Verify(message, signed_manifest.signature()).ok()) {
      return absl::DataLossError(absl::StrCat(
          "manifest ", path,
          ": signature does not verify (manifest or signature altered)"));
    }
    out.signer = *embedded;
    out.signer_pinned = false;
  }
  if (!parsed) {
    return absl::DataLossError(
        absl::StrCat("manifest ", path, " is signed but does not parse"));
  }
  if (out.manifest.signing_public_key() != out.signer.bytes()) {
    return absl::DataLossError(
        absl::StrCat("manifest ", path,
                     " names another signing key than the one that signed it"));
  }
  if (out.manifest.format_version() != kExtractFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest ", path, " describes extract format version ",
                     out.manifest.format_version(),
                     "; this build reads version ", kExtractFormatVersion));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Reader

struct ExtractReader::Stream {
  crypto_secretstream_xchacha20poly1305_state state;
  crypto_generichash_state hash;  // of the bytes as decrypted
  std::string path;
  size_t chunk_bytes = 0;
  ~Stream() {
    sodium_memzero(&state, sizeof(state));
    sodium_memzero(&hash, sizeof(hash));
  }
};

ExtractReader::ExtractReader(VerifiedManifest verified)
    : verified_(std::move(verified)), stream_(std::make_unique<Stream>()) {}

ExtractReader::~ExtractReader() {
  if (fd_ >= 0) close(fd_);
}

absl::Status ExtractReader::Fail(absl::Status s) {
  error_ = s;
  return s;
}

absl::StatusOr<std::unique_ptr<ExtractReader>> ExtractReader::Open(
    const std::string& extract_path, const std::string& manifest_path,
    const ResearcherSecretKey& key,
    const std::optional<SigningPublicKey>& expected_signer) {
  LINKD_ASSIGN_OR_RETURN(VerifiedManifest verified,
                         ReadManifestFile(manifest_path, expected_signer));
  std::unique_ptr<ExtractReader> r(new ExtractReader(std::move(verified)));
  const v1::Manifest& m = r->verified_.manifest;
  Stream& s = *r->stream_;
  s.path = extract_path;
  r->fd_ = open(extract_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) {
    return ErrnoStatus(errno, "cannot open extract file", extract_path);
  }
  struct stat st;
  if (fstat(r->fd_, &st) != 0) {
    return ErrnoStatus(errno, "cannot stat extract file", extract_path);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("extract file ", extract_path, " is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) != m.file_size()) {
    return absl::DataLossError(absl::StrCat(
        "extract file ", extract_path, " is ", st.st_size,
        " bytes but its manifest says ", m.file_size(),
        " (truncated, extended, or not the file the manifest describes)"));
  }

  // Pass 1: the whole file must hash to the manifest's value before a byte
  // of it is decrypted.
  {
    crypto_generichash_state h;
    crypto_generichash_init(&h, nullptr, 0, kHashBytes);
    std::string block(kHashBlockBytes, '\0');
    for (;;) {
      LINKD_ASSIGN_OR_RETURN(
          size_t n, ReadFull(r->fd_, block.data(), block.size(), extract_path));
      if (n == 0) break;
      crypto_generichash_update(&h, U(block.data()), n);
    }
    std::string digest(kHashBytes, '\0');
    crypto_generichash_final(&h, U(digest.data()), kHashBytes);
    if (digest != m.file_blake2b_256()) {
      return absl::DataLossError(absl::StrCat(
          "extract file ", extract_path,
          " does not match the BLAKE2b-256 hash in its manifest (altered, or "
          "not the file the manifest describes)"));
    }
  }
  if (lseek(r->fd_, 0, SEEK_SET) != 0) {
    return ErrnoStatus(errno, "cannot seek in extract file", extract_path);
  }

  std::string header(kFileHeaderBytes, '\0');
  LINKD_ASSIGN_OR_RETURN(
      size_t got, ReadFull(r->fd_, header.data(), header.size(), extract_path));
  if (got < kPreambleBytes ||
      std::string_view(header.data(), kExtractMagic.size()) != kExtractMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(extract_path, " is not a linkd extract file (bad magic)"));
  }
  const uint32_t version = GetBE32(header.data() + 8);
  if (version != kExtractFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extract file ", extract_path, " has format version ", version,
        "; this build reads version ", kExtractFormatVersion));
  }
  s.chunk_bytes = GetBE32(header.data() + 12);
  if (s.chunk_bytes < 1024 || s.chunk_bytes > (16u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extract file ", extract_path, " declares an invalid chunk size"));
  }
  if (got < kFileHeaderBytes) {
    return absl::DataLossError(absl::StrCat("extract file ", extract_path,
                                            " is truncated in its header"));
  }
  r->header_ = header.substr(0, kPreambleBytes);
  crypto::SecretBytes stream_key(
      crypto_secretstream_xchacha20poly1305_KEYBYTES);
  if (key.secret().size() != kResearcherSecretKeyBytes ||
      crypto_box_seal_open(stream_key.data(), U(header.data() + kPreambleBytes),
                           kSealedKeyBytes, U(key.public_key().bytes().data()),
                           key.secret().data()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("extract file ", extract_path,
                     " is not sealed to this researcher key (public key ",
                     key.public_key().ToHex(), ")"));
  }
  if (crypto_secretstream_xchacha20poly1305_init_pull(
          &s.state, U(header.data() + kPreambleBytes + kSealedKeyBytes),
          stream_key.data()) != 0) {
    return absl::DataLossError(absl::StrCat("extract file ", extract_path,
                                            " has an invalid stream header"));
  }
  crypto_generichash_init(&s.hash, nullptr, 0, kHashBytes);
  crypto_generichash_update(&s.hash, U(header.data()), header.size());
  r->cipher_.resize(s.chunk_bytes + kChunkOverhead);

  LINKD_ASSIGN_OR_RETURN(bool have_header, r->ParseRow(&r->columns_));
  if (!have_header || !std::equal(r->columns_.begin(), r->columns_.end(),
                                  m.fields().begin(), m.fields().end())) {
    return absl::DataLossError(absl::StrCat(
        "extract file ", extract_path,
        ": the CSV header row differs from the manifest's fields"));
  }
  return r;
}

absl::Status ExtractReader::ReadChunk() {
  Stream& s = *stream_;
  LINKD_ASSIGN_OR_RETURN(size_t n,
                         ReadFull(fd_, cipher_.data(), cipher_.size(), s.path));
  if (n < kChunkOverhead) {
    return absl::DataLossError(
        absl::StrCat("extract file ", s.path,
                     " is truncated: the encrypted stream ends "
                     "without its final chunk (after ",
                     chunks_, " chunks)"));
  }
  crypto_generichash_update(&s.hash, U(cipher_.data()), n);
  // Drop what was parsed, then decrypt behind what is pending.
  pending_.erase(0, pending_pos_);
  pending_pos_ = 0;
  const size_t at = pending_.size();
  pending_.resize(at + n - kChunkOverhead);
  unsigned long long mlen = 0;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(
          &s.state, U(pending_.data() + at), &mlen, &tag, U(cipher_.data()), n,
          U(header_.data()), header_.size()) != 0) {
    return absl::DataLossError(
        absl::StrCat("extract file ", s.path, ": chunk ", chunks_ + 1,
                     " fails authentication (altered or corrupt)"));
  }
  pending_.resize(at + mlen);
  ++chunks_;
  if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
    final_seen_ = true;
    char extra;
    LINKD_ASSIGN_OR_RETURN(size_t more, ReadFull(fd_, &extra, 1, s.path));
    if (more != 0) {
      return absl::DataLossError(absl::StrCat(
          "extract file ", s.path, " has data after its final chunk"));
    }
  } else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    return absl::DataLossError(absl::StrCat("extract file ", s.path, ": chunk ",
                                            chunks_, " has an unknown tag"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ExtractReader::ParseRow(std::vector<std::string>* row) {
  for (;;) {
    switch (internal::ParseCsvRow(pending_, &pending_pos_, row)) {
      case internal::CsvParse::kRow:
        return true;
      case internal::CsvParse::kMalformed:
        return absl::DataLossError(absl::StrCat("extract file ", stream_->path,
                                                ": row ", rows_ + 1,
                                                " is not valid CSV"));
      case internal::CsvParse::kNeedMore:
        break;
    }
    if (final_seen_) {
      if (pending_pos_ == pending_.size()) return false;
      return absl::DataLossError(absl::StrCat(
          "extract file ", stream_->path, ": the last row is unterminated"));
    }
    if (pending_.size() - pending_pos_ > kMaxPendingBytes) {
      return absl::DataLossError(absl::StrCat(
          "extract file ", stream_->path, ": row ", rows_ + 1, " is too long"));
    }
    LINKD_RETURN_IF_ERROR(ReadChunk());
  }
}

absl::StatusOr<bool> ExtractReader::Next(std::vector<std::string>* row) {
  if (!error_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("extract reader failed earlier: ", error_.message()));
  }
  if (done_) return false;
  absl::StatusOr<bool> more = ParseRow(row);
  if (!more.ok()) return Fail(more.status());
  const v1::Manifest& m = verified_.manifest;
  const std::string& path = stream_->path;
  if (*more) {
    if (row->size() != columns_.size()) {
      return Fail(absl::DataLossError(absl::StrCat(
          "extract file ", path, ": row ", rows_ + 1, " has ", row->size(),
          " fields, the header has ", columns_.size())));
    }
    ++rows_;
    return true;
  }
  if (rows_ != m.row_count()) {
    return Fail(absl::DataLossError(
        absl::StrCat("extract file ", path, " has ", rows_,
                     " rows but its manifest says ", m.row_count())));
  }
  std::string digest(kHashBytes, '\0');
  crypto_generichash_final(&stream_->hash, U(digest.data()), kHashBytes);
  if (digest != m.file_blake2b_256()) {
    return Fail(absl::DataLossError(absl::StrCat(
        "extract file ", path, " changed while it was being read")));
  }
  done_ = true;
  close(fd_);
  fd_ = -1;
  return false;
}

absl::StatusOr<OpenedExtract> OpenExtract(
    const std::string& extract_path, const std::string& manifest_path,
    const ResearcherSecretKey& key,
    const std::optional<SigningPublicKey>& expected_signer) {
  LINKD_ASSIGN_OR_RETURN(
      std::unique_ptr<ExtractReader> reader,
      ExtractReader::Open(extract_path, manifest_path, key, expected_signer));
  OpenedExtract out;
  std::vector<std::string> row;
  for (;;) {
    LINKD_ASSIGN_OR_RETURN(bool more, reader->Next(&row));
    if (!more) break;
    out.rows.push_back(row);
  }
  out.manifest = reader->manifest();
  out.signer = reader->signer();
  out.signer_pinned = reader->signer_pinned();
  out.columns = reader->columns();
  return out;
}

}  // namespace linkd::extract
