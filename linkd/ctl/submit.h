// `linkctl submit`: uploads encoded files over one Ingest stream.
#ifndef LINKD_CTL_SUBMIT_H_
#define LINKD_CTL_SUBMIT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/channel.h"

namespace linkd::ctl {

struct SubmitOptions {
  // Items per batch; a batch is committed and acknowledged atomically.
  uint32_t batch_items = 1000;
  // Batches sent ahead of their acknowledgement (linkd reads up to 16 ahead).
  uint32_t max_in_flight = 16;
};

// One refused item, located in its file.
struct SubmitRejection {
  std::string file;
  uint64_t item = 0;  // 1-based position in the file
  std::string field;
  std::string message;
};

struct SubmitProgress {
  uint64_t items_sent = 0;
  uint64_t items_acknowledged = 0;
  int64_t bytes_read = 0;
  int64_t bytes_total = 0;
};

// Counts over everything acknowledged. `acknowledged` equals the sum of the
// four outcomes; acknowledged items are durable in linkd. Because batches are
// acknowledged in order, the acknowledged items are exactly the first
// `acknowledged` items of the files taken in order.
struct SubmitSummary {
  uint64_t items_read = 0;
  uint64_t acknowledged = 0;
  uint64_t accepted = 0;
  uint64_t unchanged = 0;
  uint64_t updated = 0;
  uint64_t rejected = 0;
  // The link-queue sequence number the acknowledged records are linked by
  // (LinkageService.GetLinkingStatus); 0 if nothing was queued.
  uint64_t link_seq = 0;
  std::vector<SubmitRejection> rejections;  // the first 100
  // OK, or why the upload stopped early (unreadable file, lost connection).
  absl::Status status;
};

// Uploads `files` in order. `progress` (may be empty) is called from the
// calling thread about every `progress_interval` ms. Never throws; the
// outcome, including a partial one, is in the summary.
SubmitSummary Submit(std::shared_ptr<grpc::Channel> channel,
                     const std::vector<std::string>& files,
                     const SubmitOptions& options,
                     const std::function<void(const SubmitProgress&)>& progress,
                     int progress_interval_ms = 500);

}  // namespace linkd::ctl

#endif  // LINKD_CTL_SUBMIT_H_
