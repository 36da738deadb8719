// Reading encoded files: streams of length-delimited linkd.v1.IngestItem, as
// written by linkd-encode.
#ifndef LINKD_CTL_ENCODED_FILE_H_
#define LINKD_CTL_ENCODED_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "linkd/v1/record.pb.h"

namespace linkd::ctl {

// Reads one encoded file item by item, in constant memory. Not thread-safe.
class EncodedFileReader {
 public:
  // NOT_FOUND if `path` cannot be opened.
  static absl::StatusOr<std::unique_ptr<EncodedFileReader>> Open(
      const std::string& path);
  ~EncodedFileReader();

  // Replaces `*item` with the next item. Returns false at a clean end of file,
  // DATA_LOSS naming the item number if the file is truncated or corrupt.
  absl::StatusOr<bool> Next(v1::IngestItem* item);

  // Bytes consumed so far and the file's size, for progress.
  int64_t bytes_read() const;
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  EncodedFileReader(std::string path, int64_t size, std::unique_ptr<Impl> impl);
  std::string path_;
  int64_t size_;
  uint64_t items_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace linkd::ctl

#endif  // LINKD_CTL_ENCODED_FILE_H_
