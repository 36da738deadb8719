#include "linkd/linker/link_worker.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "linkd/store/key_codec.h"
#include "linkd/store/record_store.h"
#include "linkd/util/log.h"
#include "linkd/util/status_macros.h"

namespace linkd::linker {
namespace {

using store::Cf;
using store::KeyBuilder;

constexpr uint8_t kTagQueue = 5;
constexpr uint8_t kCounterTag = 0x4C;  // shared with linker.cc's counters

std::string QueueKey(uint64_t seq) {
  return KeyBuilder().AddU8(kTagQueue).AddU64(seq).key();
}
std::string QueuePrefix() { return KeyBuilder().AddU8(kTagQueue).key(); }
std::string LinkedSeqKey() {
  return KeyBuilder().AddU8(kCounterTag).AddString("linked_seq").key();
}

absl::StatusOr<uint64_t> QueueSeq(std::string_view key) {
  LINKD_ASSIGN_OR_RETURN(store::KeyReader r, store::KeyReader::Create(key));
  LINKD_RETURN_IF_ERROR(r.ReadU8().status());
  return r.ReadU64();
}

}  // namespace

void LinkWorker::Enqueue(uint64_t seq, std::string_view record_key,
                         store::WriteBatch* batch) {
  batch->Put(Cf::kLinks, QueueKey(seq), record_key);
}

absl::StatusOr<std::unique_ptr<LinkWorker>> LinkWorker::Start(
    store::Store* store, Linker* linker, const util::Clock* clock,
    LinkWorkerOptions options) {
  LINKD_ASSIGN_OR_RETURN(int64_t linked,
                         store->GetCounter(Cf::kStats, LinkedSeqKey()));
  // The newest queue entry, if any, is the last sequence number used;
  // otherwise everything used was linked.
  uint64_t queued = static_cast<uint64_t>(linked);
  store::ScanOptions reverse;
  reverse.reverse = true;
  LINKD_RETURN_IF_ERROR(store->ScanPrefix(
      Cf::kLinks, QueuePrefix(),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(queued, QueueSeq(key));
        return false;
      },
      reverse));
  return std::unique_ptr<LinkWorker>(new LinkWorker(
      store, linker, clock, options, queued, static_cast<uint64_t>(linked)));
}

LinkWorker::LinkWorker(store::Store* store, Linker* linker,
                       const util::Clock* clock, LinkWorkerOptions options,
                       uint64_t queued, uint64_t linked)
    : store_(store),
      linker_(linker),
      clock_(clock),
      options_(options),
      queued_seq_(queued),
      linked_seq_(linked),
      paused_(options.paused) {
  thread_ = std::thread([this] { Loop(); });
}

LinkWorker::~LinkWorker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

uint64_t LinkWorker::last_queued_seq() const {
  absl::MutexLock lock(&mu_);
  return queued_seq_;
}

void LinkWorker::Queued(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (seq > queued_seq_) queued_seq_ = seq;
}

LinkProgress LinkWorker::progress() const {
  absl::MutexLock lock(&mu_);
  return LinkProgress{queued_seq_, linked_seq_, paused_};
}

void LinkWorker::SetPaused(bool paused) {
  absl::MutexLock lock(&mu_);
  paused_ = paused;
}

LinkProgress LinkWorker::WaitLinked(uint64_t seq,
                                    absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  struct Arg {
    const LinkWorker* w;
    uint64_t seq;
  } arg{this, seq};
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                             return a->w->linked_seq_ >= a->seq ||
                                    a->w->stopping_;
                           },
                           &arg),
                       timeout);
  return LinkProgress{queued_seq_, linked_seq_, paused_};
}

void LinkWorker::Loop() {
  // Linking is background work: storing what providers send comes first.
  // On Linux a thread's nice value is its own (best effort; ignored if the
  // call fails).
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  absl::Duration backoff = absl::Milliseconds(100);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](LinkWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stopping_ ||
                   (!w->paused_ && w->queued_seq_ > w->linked_seq_);
          },
          this));
      if (stopping_) return;
    }
    absl::StatusOr<size_t> linked = LinkSome();
    if (linked.ok()) {
      backoff = absl::Milliseconds(100);
      continue;
    }
    // Storage trouble: keep the queue, say why, and try again later.
    util::Log(util::LogLevel::kError,
              absl::StrCat("linking paused: ", linked.status().ToString()));
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    if (stopping_) return;
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::StatusOr<size_t> LinkWorker::LinkSome() {
  uint64_t queued_before;
  {
    absl::MutexLock lock(&mu_);
    queued_before = queued_seq_;  // committed before this scan
  }
  std::vector<uint64_t> seqs;
  std::vector<std::string> keys;
  LINKD_RETURN_IF_ERROR(
      store_->ScanPrefix(Cf::kLinks, QueuePrefix(),
                         [&](std::string_view key,
                             std::string_view value) -> absl::StatusOr<bool> {
                           LINKD_ASSIGN_OR_RETURN(uint64_t seq, QueueSeq(key));
                           seqs.push_back(seq);
                           keys.emplace_back(value);
                           return seqs.size() < options_.batch_records;
                         }));
  uint64_t linked_before;
  {
    absl::MutexLock lock(&mu_);
    linked_before = linked_seq_;
    if (seqs.empty()) {  // everything committed before the scan is linked
      if (queued_before > linked_seq_) linked_seq_ = queued_before;
      return 0;
    }
  }
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                         store_->MultiGet(Cf::kRecords, keys));
  std::vector<store::StoredRecord> records(keys.size());
  std::vector<LinkInput> inputs;
  inputs.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!values[i].has_value()) continue;  // erased since it was queued
    if (!records[i].ParseFromString(*values[i])) {
      return absl::DataLossError("records: malformed stored record");
    }
    inputs.push_back({keys[i], &records[i].identity(), records[i].revision()});
  }
  store::WriteBatch batch = store_->NewBatch();
  LINKD_RETURN_IF_ERROR(linker_->Link(inputs, clock_->Now(), &batch).status());
  for (uint64_t seq : seqs) batch.Delete(Cf::kLinks, QueueKey(seq));
  const uint64_t last = seqs.back();
  if (last > linked_before) {
    batch.AddToCounter(Cf::kStats, LinkedSeqKey(),
                       static_cast<int64_t>(last - linked_before));
  }
  // Links are derived state: a crash before the WAL reaches disk loses the
  // queue removal with them, and the records are linked again.
  store::CommitOptions commit;
  commit.sync = false;
  LINKD_RETURN_IF_ERROR(store_->Commit(std::move(batch), commit));
  {
    absl::MutexLock lock(&mu_);
    if (last > linked_seq_) linked_seq_ = last;
  }
  return seqs.size();
}

}  // namespace linkd::linker
