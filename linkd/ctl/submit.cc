#include "linkd/ctl/submit.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/v1/ingest_service.grpc.pb.h"

namespace linkd::ctl {
namespace {

constexpr size_t kMaxRejectionsKept = 100;

// Where a batch's items came from. Batches never span files.
struct BatchOrigin {
  size_t file = 0;
  uint64_t first_item = 0;  // 1-based
};

// Batches sent but not yet acknowledged, bounded by `limit`.
struct Window {
  uint64_t limit;
  uint64_t in_flight = 0;
  bool broken = false;  // the stream is over; stop sending
  bool HasRoom() const { return broken || in_flight < limit; }
};

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace

SubmitSummary Submit(std::shared_ptr<grpc::Channel> channel,
                     const std::vector<std::string>& files,
                     const SubmitOptions& options,
                     const std::function<void(const SubmitProgress&)>& progress,
                     int progress_interval_ms) {
  SubmitSummary summary;
  std::vector<std::unique_ptr<EncodedFileReader>> readers;
  int64_t bytes_total = 0;
  for (const std::string& f : files) {
    absl::StatusOr<std::unique_ptr<EncodedFileReader>> r =
        EncodedFileReader::Open(f);
    if (!r.ok()) {
      summary.status = r.status();
      return summary;
    }
    bytes_total += (*r)->size();
    readers.push_back(*std::move(r));
  }

  auto stub = v1::IngestService::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Ingest(&context);

  absl::Mutex mu;
  absl::flat_hash_map<uint64_t, BatchOrigin> origins;  // guarded by mu
  Window window{options.max_in_flight};                // guarded by mu
  std::atomic<uint64_t> items_sent{0};
  std::atomic<int64_t> bytes_read{0};
  absl::Status writer_status;

  // The writer reads the files and sends batches, at most max_in_flight
  // ahead of the acknowledgements.
  std::thread writer([&] {
    uint64_t seq = 0;
    int64_t bytes_done = 0;
    for (size_t fi = 0; fi < readers.size(); ++fi) {
      EncodedFileReader& reader = *readers[fi];
      uint64_t item_no = 0;
      bool eof = false;
      while (!eof) {
        v1::IngestBatch batch;
        batch.set_batch_seq(++seq);
        const uint64_t first = item_no + 1;
        while (batch.items_size() < static_cast<int>(options.batch_items)) {
          absl::StatusOr<bool> more = reader.Next(batch.add_items());
          if (!more.ok()) {
            writer_status = more.status();
            context.TryCancel();
            return;
          }
          if (!*more) {
            batch.mutable_items()->RemoveLast();
            eof = true;
            break;
          }
          ++item_no;
        }
        bytes_read = bytes_done + reader.bytes_read();
        if (batch.items_size() == 0) break;
        {
          absl::MutexLock lock(&mu);
          mu.Await(absl::Condition(&window, &Window::HasRoom));
          if (window.broken) return;
          ++window.in_flight;
          origins[batch.batch_seq()] = BatchOrigin{fi, first};
        }
        if (!stream->Write(batch)) return;  // the read side sees why
        items_sent += batch.items_size();
      }
      bytes_done += reader.size();
    }
    stream->WritesDone();
  });

  std::atomic<bool> done{false};
  std::thread reporter;
  if (progress) {
    reporter = std::thread([&] {
      while (!done) {
        absl::SleepFor(absl::Milliseconds(progress_interval_ms));
        SubmitProgress p;
        p.items_sent = items_sent;
        {
          absl::MutexLock lock(&mu);
          p.items_acknowledged = summary.acknowledged;
        }
        p.bytes_read = bytes_read;
        p.bytes_total = bytes_total;
        if (!done) progress(p);
      }
    });
  }

  v1::IngestAck ack;
  while (stream->Read(&ack)) {
    absl::MutexLock lock(&mu);
    const BatchOrigin origin = origins[ack.batch_seq()];
    origins.erase(ack.batch_seq());
    --window.in_flight;
    summary.accepted += ack.accepted();
    summary.unchanged += ack.unchanged();
    summary.updated += ack.updated();
    summary.rejected += ack.rejected();
    summary.link_seq = std::max(summary.link_seq, ack.link_seq());
    summary.acknowledged +=
        ack.accepted() + ack.unchanged() + ack.updated() + ack.rejected();
    for (const v1::ItemRejection& r : ack.rejections()) {
      if (summary.rejections.size() >= kMaxRejectionsKept) break;
      summary.rejections.push_back(
          SubmitRejection{files[origin.file], origin.first_item + r.index(),
                          r.field(), r.message()});
    }
  }
  {
    absl::MutexLock lock(&mu);
    window.broken = true;  // releases a writer waiting for room
  }
  writer.join();
  const grpc::Status finish = stream->Finish();
  done = true;
  if (reporter.joinable()) reporter.join();
  summary.items_read = items_sent;
  if (!writer_status.ok()) {
    summary.status = writer_status;
  } else if (!finish.ok()) {
    summary.status = FromGrpc(finish);
  } else if (summary.acknowledged != items_sent) {
    summary.status = absl::DataLossError(
        absl::StrCat("linkd acknowledged ", summary.acknowledged, " of ",
                     items_sent.load(), " items sent"));
  }
  return summary;
}

}  // namespace linkd::ctl
