#include "linkd/linker/link_worker.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linkd/store/key_codec.h"
#include "linkd/store/record_store.h"
#include "linkd/util/log.h"
#include "linkd/util/memory.h"
#include "linkd/util/parallel.h"
#include "linkd/util/status_macros.h"
#include "linkd/util/thread_name.h"

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

// `options` with its long runs cancelled once `*stop` is set.
LinkWorkerOptions StoppedBy(LinkWorkerOptions options,
                            const std::atomic<bool>* stop) {
  auto stopped = [stop] { return stop->load(std::memory_order_relaxed); };
  options.bulk.cancelled = stopped;
  options.trainer.cancelled = stopped;
  return options;
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
      options_(StoppedBy(std::move(options), &stop_requested_)),
      queued_seq_(queued),
      linked_seq_(linked),
      paused_(options_.paused) {
  thread_ = std::thread([this] {
    util::NameThisThread("linkd-link");
    Loop();
  });
}

LinkWorker::~LinkWorker() {
  stop_requested_.store(true, std::memory_order_relaxed);
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

LinkProgress LinkWorker::ProgressLocked() const {
  return LinkProgress{queued_seq_, linked_seq_,  paused_,
                      activity_,   estimations_, last_estimation_error_};
}

LinkProgress LinkWorker::progress() const {
  absl::MutexLock lock(&mu_);
  return ProgressLocked();
}

void LinkWorker::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

absl::Status LinkWorker::RequestEstimate(bool relink) {
  absl::MutexLock lock(&mu_);
  if (estimate_requested_) {
    return absl::FailedPreconditionError(
        "model: an estimation is already pending");
  }
  if (relink && options_.scratch_dir.empty()) {
    return absl::FailedPreconditionError(
        "relink: no scratch directory configured");
  }
  estimate_requested_ = true;
  relink_requested_ = relink;
  return absl::OkStatus();
}

absl::Status LinkWorker::Relink() {
  SetActivity("re-linking every record under the new model");
  absl::StatusOr<Linker::RelinkStats> stats =
      linker_->Relink(options_.scratch_dir, clock_->Now(), options_.bulk,
                      [this](store::WriteBatch batch, size_t) {
                        return store_->Commit(std::move(batch));
                      });
  SetActivity("");
  if (stats.ok()) {
    util::Log(util::LogLevel::kInfo,
              absl::StrFormat("re-linked %d records in %.1fs: %d moved, %d "
                              "new SUIs, %d SUIs retired",
                              stats->records, stats->seconds, stats->moved,
                              stats->new_suis, stats->retired_suis));
  }
  return stats.status();
}

void LinkWorker::SetActivity(std::string activity) {
  absl::MutexLock lock(&mu_);
  activity_ = std::move(activity);
}

absl::Status LinkWorker::Estimate(const EstimateFn& estimate) {
  const std::shared_ptr<const matcher::Model> current = linker_->model();
  TrainerOptions trainer = options_.trainer;
  trainer.max_block_size = linker_->options().candidates.max_block_size;
  const TrainerProgress progress = [this](std::string_view stage) {
    SetActivity(absl::StrCat("estimating the model: ", std::string(stage)));
  };
  absl::StatusOr<matcher::Model> model =
      estimate ? estimate(*current, trainer, progress)
               : EstimateModel(store_, *linker_->index().keys(), *current,
                               trainer, progress);
  // The sample and its pairs are gone: give their pages back to the system
  // (a bulk load usually follows, and needs them).
  malloc_trim(0);
  absl::Status s = model.status();
  if (s.ok()) {
    store::WriteBatch batch = store_->NewBatch();
    Linker::SaveModel(*model, &batch);
    s = store_->Commit(std::move(batch));
    if (s.ok()) {
      linker_->SetModel(
          std::make_shared<const matcher::Model>(*std::move(model)));
    }
  }
  SetActivity("");
  return s;
}

std::optional<uint64_t> LinkWorker::AutoEstimateDue() {
  if (!options_.auto_estimate || linker_->model()->version() != 0) {
    return std::nullopt;
  }
  absl::StatusOr<v1::GetStatsResponse> stats =
      store::RecordStore(store_).Stats();
  if (!stats.ok()) return std::nullopt;
  const uint64_t stored = stats->total_records();
  if (stored < options_.auto_estimate_min_records ||
      stored < 2 * auto_estimate_tried_at_) {
    return std::nullopt;
  }
  return stored;
}

void LinkWorker::AutoEstimate(uint64_t stored, const EstimateFn& estimate) {
  auto_estimate_tried_at_ = stored;
  absl::Status s = Estimate(estimate);
  {
    absl::MutexLock lock(&mu_);
    ++estimations_;
    last_estimation_error_ = s.ok() ? "" : std::string(s.message());
  }
  util::Log(
      s.ok() ? util::LogLevel::kInfo : util::LogLevel::kWarning,
      s.ok() ? absl::StrCat("model estimated from ", stored, " stored records")
             : absl::StrCat("model estimation failed: ", s.message()));
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
  return ProgressLocked();
}

bool LinkWorker::RunTasks() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      if (tasks_.empty()) return stopping_;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
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
            return w->stopping_ || w->estimate_requested_ ||
                   !w->tasks_.empty() ||
                   (!w->paused_ && w->queued_seq_ > w->linked_seq_);
          },
          this));
    }
    if (RunTasks()) return;
    bool estimate;
    {
      absl::MutexLock lock(&mu_);
      estimate = estimate_requested_;
    }
    if (estimate) {
      absl::Status s = Estimate();
      if (!s.ok()) {
        util::Log(util::LogLevel::kWarning,
                  absl::StrCat("model estimation failed: ", s.message()));
      }
      bool relink;
      {
        absl::MutexLock lock(&mu_);
        relink = relink_requested_;
      }
      if (s.ok() && relink) {
        s = Relink();
        if (!s.ok()) {
          util::Log(util::LogLevel::kWarning,
                    absl::StrCat("re-linking failed: ", s.message()));
        }
      }
      absl::MutexLock lock(&mu_);
      estimate_requested_ = false;
      relink_requested_ = false;
      ++estimations_;  // estimation and re-linking both done
      last_estimation_error_ = s.ok() ? "" : std::string(s.message());
      continue;
    }
    absl::StatusOr<size_t> linked = LinkSome();
    if (linked.ok()) {
      backoff = absl::Milliseconds(100);
      continue;
    }
    if (absl::IsCancelled(linked.status())) continue;  // shutting down
    // Storage trouble: keep the queue, say why, and try again later.
    util::Log(util::LogLevel::kError,
              absl::StrCat("linking paused: ", linked.status().ToString()));
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](LinkWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
              return w->stopping_ || !w->tasks_.empty();
            },
            this),
        backoff);
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::StatusOr<size_t> LinkWorker::LinkSome() {
  uint64_t queued_before;
  {
    absl::MutexLock lock(&mu_);
    queued_before = queued_seq_;  // committed before this scan
  }
  uint64_t linked_before;
  {
    absl::MutexLock lock(&mu_);
    linked_before = linked_seq_;
  }
  const bool bulk = options_.bulk_min_records > 0 &&
                    queued_before - linked_before >= options_.bulk_min_records;
  // An initial load (a backlog that can hold every stored record, in one
  // run) estimates from the records the bulk run reads anyway; otherwise
  // the estimation reads its sample from the store first.
  std::optional<uint64_t> estimate_for;
  if (bulk) {
    estimate_for = AutoEstimateDue();
    if (estimate_for.has_value() &&
        (queued_before - linked_before < *estimate_for ||
         *estimate_for > options_.bulk_max_records)) {
      AutoEstimate(*estimate_for);
      estimate_for.reset();
    }
  }
  const size_t limit =
      bulk ? options_.bulk_max_records : options_.batch_records;
  std::vector<uint64_t> seqs;
  std::vector<std::string> keys;
  // Entries up to linked_before are linked and deleted: starting after them
  // skips their tombstones (incremental linking leaves one per entry until
  // compaction; a bulk run one per batch).
  LINKD_RETURN_IF_ERROR(
      store_->ScanRange(Cf::kLinks, QueueKey(linked_before + 1),
                        store::PrefixSuccessor(QueuePrefix()),
                        [&](std::string_view key,
                            std::string_view value) -> absl::StatusOr<bool> {
                          LINKD_ASSIGN_OR_RETURN(uint64_t seq, QueueSeq(key));
                          seqs.push_back(seq);
                          keys.emplace_back(value);
                          return seqs.size() < limit;
                        }));
  {
    absl::MutexLock lock(&mu_);
    if (seqs.empty()) {  // everything committed before the scan is linked
      if (queued_before > linked_seq_) linked_seq_ = queued_before;
      return 0;
    }
  }
  if (bulk) {
    LINKD_ASSIGN_OR_RETURN(
        size_t done, LinkBulkPrefix(seqs, keys, linked_before, estimate_for));
    if (done > 0) return done;
    seqs.resize(std::min(seqs.size(), options_.batch_records));
    keys.resize(seqs.size());
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

absl::StatusOr<size_t> LinkWorker::LinkBulkPrefix(
    const std::vector<uint64_t>& seqs, const std::vector<std::string>& keys,
    uint64_t linked_before, std::optional<uint64_t> estimate_for) {
  // The longest prefix of new, distinct records: an update or a repeat
  // needs the incremental path, which sees its earlier revision.
  // A linked record belongs to an active SUI: with none (an initial load),
  // no record is linked and there is nothing to look up.
  LINKD_ASSIGN_OR_RETURN(LinkStats link_stats, linker_->Stats());
  std::vector<std::optional<std::string>> linked(keys.size());
  if (link_stats.active_suis > 0) {
    std::vector<std::string> link_keys;
    link_keys.reserve(keys.size());
    for (const std::string& k : keys) {
      link_keys.push_back(Linker::RecordLinkKey(k));
    }
    LINKD_ASSIGN_OR_RETURN(linked, store_->MultiGet(Cf::kLinks, link_keys));
  }
  absl::flat_hash_set<std::string_view> seen;
  size_t prefix = 0;
  while (prefix < keys.size() && !linked[prefix].has_value() &&
         seen.insert(keys[prefix]).second) {
    ++prefix;
  }
  if (prefix < options_.bulk_min_records) {
    if (estimate_for.has_value()) AutoEstimate(*estimate_for);
    return 0;
  }

  // The block cache lends its memory to the run.
  const size_t cache_capacity = store_->block_cache_capacity();
  store_->SetBlockCacheCapacity(std::min(
      cache_capacity, options_.bulk_block_cache_mib * size_t{1024 * 1024}));
  absl::Cleanup restore_cache = [this, cache_capacity] {
    store_->SetBlockCacheCapacity(cache_capacity);
  };
  malloc_trim(0);
  // Read and prepare the records a chunk at a time, on every thread, so
  // that only their decoded form stays in memory.
  SetActivity(absl::StrCat("bulk linking ", prefix, " records: preparing"));
  const auto prepare_start = absl::Now();
  std::vector<BulkRecord> records;
  std::vector<size_t> entry_of;  // queue entry of each record
  records.reserve(prefix);
  // Scoring compares each record with candidates scattered over all of
  // them.
  util::AdviseHugePages(records.data(), prefix * sizeof(BulkRecord));
  entry_of.reserve(prefix);
  constexpr size_t kChunk = 32768;
  for (size_t begin = 0; begin < prefix; begin += kChunk) {
    if (stop_requested_.load(std::memory_order_relaxed)) {
      return absl::CancelledError("bulk linking: stopped");
    }
    const size_t end = std::min(prefix, begin + kChunk);
    std::vector<std::optional<BulkRecord>> prepared(end - begin);
    std::vector<absl::Status> errors(
        static_cast<size_t>(std::max(1, options_.bulk.threads)));
    // Where this chunk's records go (at most): each thread faults in its
    // part, so that the pages are cleared in parallel rather than by the
    // moves below.
    BulkRecord* const dest = records.data() + records.size();
    // Each thread reads its own slice: the reads take as long as the
    // decoding.
    util::ParallelFor(
        end - begin, options_.bulk.threads,
        [&](size_t b, size_t e, size_t slice) {
          absl::StatusOr<std::vector<std::optional<std::string>>> values =
              store_->MultiGet(
                  Cf::kRecords,
                  absl::MakeConstSpan(keys.data() + begin + b, e - b),
                  /*snapshot=*/nullptr, /*fill_cache=*/false);
          if (!values.ok()) {
            errors[slice] = values.status();
            return;
          }
          store::StoredRecord stored;
          for (size_t i = b; i < e; ++i) {
            const std::optional<std::string>& value = (*values)[i - b];
            if (!value.has_value()) continue;  // erased since queued
            if (!stored.ParseFromString(*value)) {
              errors[slice] =
                  absl::DataLossError("records: malformed stored record");
              return;
            }
            absl::StatusOr<BulkRecord> r = linker_->PrepareBulk(
                keys[begin + i], stored.identity(), stored.revision());
            if (!r.ok()) {
              errors[slice] = r.status();
              return;
            }
            prepared[i] = *std::move(r);
          }
          util::PopulateForWrite(dest + b, (e - b) * sizeof(BulkRecord));
        });
    for (const absl::Status& e : errors) LINKD_RETURN_IF_ERROR(e);
    for (size_t i = 0; i < prepared.size(); ++i) {
      if (!prepared[i].has_value()) continue;
      records.push_back(*std::move(prepared[i]));
      entry_of.push_back(begin + i);
    }
  }
  const double prepare_seconds =
      absl::ToDoubleSeconds(absl::Now() - prepare_start);
  if (estimate_for.has_value()) {
    // The records just read are the stored records (none erased or added
    // since): they are the estimation's sample as the store would give it.
    absl::StatusOr<v1::GetStatsResponse> now_stored =
        store::RecordStore(store_).Stats();
    LINKD_RETURN_IF_ERROR(now_stored.status());
    if (now_stored->total_records() == records.size()) {
      std::vector<SampleRecord> sample;
      sample.reserve(records.size());
      for (const BulkRecord& r : records) {
        sample.push_back({r.record_key, &r.decoded, &r.keys});
      }
      AutoEstimate(*estimate_for, [&sample](const matcher::Model& current,
                                            const TrainerOptions& trainer,
                                            const TrainerProgress& progress) {
        return EstimateModelFromRecords(sample, current, trainer, progress);
      });
    } else {
      AutoEstimate(*estimate_for);
    }
  }
  SetActivity(absl::StrCat("bulk linking ", records.size(), " records"));
  const size_t total = records.size();
  size_t deleted = 0;  // queue entries removed so far
  uint64_t counted = linked_before;
  auto commit = [&](store::WriteBatch batch, size_t done) -> absl::Status {
    const size_t through = done == total ? prefix : entry_of[done - 1] + 1;
    if (deleted < through) {
      // One range tombstone, not one per entry: the scan read a run of the
      // queue in order, and entries are committed in sequence order, so no
      // other entry lies between these.
      batch.DeleteRange(Cf::kLinks, QueueKey(seqs[deleted]),
                        QueueKey(seqs[through - 1] + 1));
      deleted = through;
    }
    const uint64_t last = seqs[through - 1];
    if (last > counted) {
      batch.AddToCounter(Cf::kStats, LinkedSeqKey(),
                         static_cast<int64_t>(last - counted));
      counted = last;
    }
    store::CommitOptions options;
    options.sync = false;  // derived state, as in LinkSome
    LINKD_RETURN_IF_ERROR(store_->Commit(std::move(batch), options));
    absl::MutexLock lock(&mu_);
    if (last > linked_seq_) linked_seq_ = last;
    return absl::OkStatus();
  };
  const bool none = records.empty();
  BulkOptions bulk = options_.bulk;
  bulk.progress = [this, total](std::string_view stage) {
    SetActivity(
        absl::StrCat("bulk linking ", total, " records: ", std::string(stage)));
  };
  absl::StatusOr<BulkStats> stats =
      none ? absl::StatusOr<BulkStats>(BulkStats())
           : linker_->LinkBulk(std::move(records), clock_->Now(), bulk, commit);
  SetActivity("");
  malloc_trim(0);  // the run's memory goes back to the system
  LINKD_RETURN_IF_ERROR(stats.status());
  if (none) {
    LINKD_RETURN_IF_ERROR(commit(store_->NewBatch(), 0));
  }
  stats->prepare_seconds = prepare_seconds;
  util::Log(
      util::LogLevel::kInfo,
      absl::StrFormat(
          "bulk linked %d records: prepare %.1fs, blocking %.1fs "
          "(%d candidate pairs), scoring %.1fs (%d pairs kept), "
          "index %.1fs, clustering %.1fs (commits %.1fs)",
          stats->records, stats->prepare_seconds, stats->block_seconds,
          stats->candidate_pairs, stats->score_seconds, stats->kept_pairs,
          stats->index_seconds, stats->cluster_seconds, stats->commit_seconds));
  return prefix;
}

}  // namespace linkd::linker
