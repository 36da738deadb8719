#include "linkd/ctl/encoded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"

namespace linkd::ctl {

struct EncodedFileReader::Impl {
  explicit Impl(int fd) : fd(fd), stream(fd) {}
  ~Impl() { close(fd); }
  int fd;
  google::protobuf::io::FileInputStream stream;
};

absl::StatusOr<std::unique_ptr<EncodedFileReader>> EncodedFileReader::Open(
    const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot be opened"));
  }
  struct stat st {};
  const int64_t size = fstat(fd, &st) == 0 ? st.st_size : 0;
  return std::unique_ptr<EncodedFileReader>(
      new EncodedFileReader(path, size, std::make_unique<Impl>(fd)));
}

EncodedFileReader::EncodedFileReader(std::string path, int64_t size,
                                     std::unique_ptr<Impl> impl)
    : path_(std::move(path)), size_(size), impl_(std::move(impl)) {}

EncodedFileReader::~EncodedFileReader() = default;

int64_t EncodedFileReader::bytes_read() const {
  return impl_->stream.ByteCount();
}

absl::StatusOr<bool> EncodedFileReader::Next(v1::IngestItem* item) {
  bool clean_eof = false;
  // The delimited parser merges into the message; start from empty so that
  // fields of an earlier item never leak into this one.
  item->Clear();
  if (google::protobuf::util::ParseDelimitedFromZeroCopyStream(
          item, &impl_->stream, &clean_eof)) {
    ++items_;
    return true;
  }
  if (clean_eof) return false;
  return absl::DataLossError(
      absl::StrCat(path_, ": item ", items_ + 1,
                   " is truncated or not a linkd.v1.IngestItem (is this a "
                   "binary file from linkd-encode?)"));
}

}  // namespace linkd::ctl
