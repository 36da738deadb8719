// linkd::linker: incremental clustering of encoded records into SUIs
// (DESIGN.md section 4).
//
// For each record, in arrival order: its blocking keys give candidate
// records; each candidate is compared with the record and scored by the
// Fellegi-Sunter model; candidates are grouped by their SUI. A SUI is
// eligible only if nothing forbids the link: no member with a different UPN
// or NHS number (a hard conflict) and no reviewer decision that the two are
// different people. Then:
//   best eligible weight >= upper threshold  -> join that SUI;
//   lower <= best < upper                    -> new SUI + clerical review;
//   otherwise                                -> new SUI.
// A record links to one SUI, never to every SUI above a threshold, so links
// do not chain the way connected components do. Two SUIs are merged by a
// record only when it matches both with a margin above the upper threshold
// and the SUIs carry no conflicting identifiers or "not same" decision; the
// retired SUI resolves to its successor.
//
// Layout in Cf::kLinks (keys from linkd/store/key_codec.h):
//   (1, record key)        -> SUI, revision (8+8 bytes, big-endian): the
//                             record's SUI and the record revision it was
//                             linked (and indexed) from
//   (2, SUI, record key)   -> ""                         members of a SUI
//   (3, SUI)               -> linkd.store.v1.SuiInfo
//   (4, review id)         -> linkd.store.v1.ReviewTask
// Counters in Cf::kStats: active SUIs, open reviews, next review id.
#ifndef LINKD_LINKER_LINKER_H_
#define LINKD_LINKER_LINKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/linker/sui.h"
#include "linkd/matcher/model.h"
#include "linkd/store/store.h"
#include "linkd/store/v1/storage.pb.h"
#include "linkd/v1/record.pb.h"

namespace linkd::linker {

struct LinkerOptions {
  blocking::CandidateLimits candidates;
  // A record merges two SUIs only if it matches each at least this many
  // bits above the upper threshold.
  double merge_margin_bits = 5.0;
  // Competitive linking: a record that matches a SUI this many bits above
  // the upper threshold, but conflicts (different UPN or NHS number) with
  // some of its records, evicts those records into a SUI of their own when
  // it fits the rest by this many bits more than they did (e.g. a twin's
  // record linked to its co-twin before the co-twin's own arrived). The
  // evicted records get a review task; records a reviewer confirmed are
  // never evicted. A negative value turns eviction off.
  double evict_margin_bits = 6.0;
  // Decoded identities of candidates kept in memory between linking calls
  // (about 0.8 KB each; the oldest go first). A call may exceed it while it
  // runs.
  size_t identity_cache_entries = 1 << 16;
  // Linking one record reads its candidates' records and links; a read of
  // at least parallel_read_keys keys is split over read_threads threads
  // (the caller's included), since most keys miss the block cache.
  int read_threads = 2;
  size_t parallel_read_keys = 48;
};

enum class LinkAction : uint8_t {
  kJoined,        // joined an existing SUI
  kNewSui,        // no candidate close enough: a new SUI
  kNewForReview,  // a new SUI and a review task against the best candidate
  kKept,          // an updated record stayed in its SUI
  kMoved,         // an updated record left its SUI for another (or a new one)
};

// (LinkOutcome::evicted lists records moved out of the SUI a record joined.)

struct LinkOutcome {
  LinkAction action = LinkAction::kNewSui;
  Sui sui;
  // Best eligible candidate weight in bits (-infinity without candidates).
  double best_weight = 0;
  // SUIs retired into `sui` by this record.
  std::vector<Sui> merged;
  // Records evicted from `sui` (competitive linking), each now in a new SUI
  // with a review task.
  std::vector<std::string> evicted;
  uint64_t review_id = 0;  // 0 unless kNewForReview
};

// A record to link: its key (store::RecordKey), current identity and
// revision (store::StoredRecord::revision).
struct LinkInput {
  std::string_view record_key;
  const v1::EncodedIdentity* identity;
  uint64_t revision = 1;
};

// The weight linking acts on: the model's match weight, except that a pair
// with two or more household disagreements
// (ComparisonVector::household_disagreements: given name, sex, date of
// birth) is held just below the upper threshold, so it can open a clerical
// review but never link by itself. Thread-safe.
double LinkWeight(const matcher::Model& model,
                  const matcher::ComparisonVector& v);

// Whether a pair of link weight `weight` (LinkWeight) can change a linking
// decision: it has a hard conflict, or weighs at least the model's lower
// threshold. Other pairs can be dropped before their SUIs are read.
inline bool CanChangeDecision(const matcher::Model& model, double weight,
                              bool hard_conflict) {
  return hard_conflict || weight >= model.lower_threshold();
}

// A record for LinkBulk: stored, never linked before, prepared from its
// stored identity by Linker::PrepareBulk (decoded for comparison, its
// blocking keys derived), so that the protos need not stay in memory.
struct BulkRecord {
  std::string record_key;
  uint64_t revision = 1;
  matcher::DecodedIdentity decoded;
  std::vector<blocking::BlockingKey> keys;
};

struct BulkOptions {
  // Threads for decoding, blocking and scoring (clustering is sequential:
  // arrival order decides; it runs alongside the scoring of the next chunk
  // and the commit of the previous batch).
  int threads = 2;
  // Records linked per WriteBatch handed to the commit callback.
  size_t records_per_batch = 20000;
  // Records scored at a time: an initial load holds the candidates of two
  // such chunks (the one being clustered, the next being scored).
  size_t score_chunk_records = 65536;
  // Polled between the phases of a run and before each commit; once it
  // returns true the run stops with CANCELLED (what was committed stays
  // linked). E.g. set when the daemon shuts down.
  std::function<bool()> cancelled;
  // Told the stage a run enters ("finding candidate pairs", "writing the
  // blocking index", "scoring candidate pairs", "scoring and clustering"),
  // for progress output.
  std::function<void(std::string_view stage)> progress;
};

// What a bulk run did, for progress and benchmarks (counts and times only).
struct BulkStats {
  uint64_t records = 0;
  uint64_t candidate_pairs = 0;  // pairs sharing a block, as incremental
  uint64_t kept_pairs = 0;       // pairs that can affect a decision
  int64_t oversize_skips = 0;
  uint64_t committed_candidates = 0;  // candidates from the stored index
  double prepare_seconds = 0;         // decode + blocking keys
  double block_seconds = 0;    // shared blocks and candidate pairs (per chunk,
                               // overlapping clustering)
  double score_seconds = 0;    // comparisons and weights (overlaps clustering)
  double index_seconds = 0;    // blocking index entries (table files)
  double cluster_seconds = 0;  // decisions and writes (commits included)
  double commit_seconds = 0;   // in the commit callback (overlaps clustering)
};

// Commits one batch of a bulk run: records [0, linked) of the run are
// linked once it is committed. The callback may add its own writes (e.g.
// queue removals) and must commit, or return an error to stop the run. It
// is called on a thread of the run's own, one batch at a time and in
// order, while the run decides the next batch.
using BulkCommit =
    absl::FunctionRef<absl::Status(store::WriteBatch batch, size_t linked)>;

// Counts for operators (never token values or scores).
struct LinkStats {
  int64_t active_suis = 0;
  int64_t open_reviews = 0;
};

// Thread-safety: Link and Decide must be called by one writer at a time
// (the ingest pipeline's thread); the read methods are thread-safe and may
// run alongside it. SetModel is thread-safe.
class Linker {
 public:
  // Pointers are not owned and must outlive the linker.
  Linker(store::Store* store, const blocking::BlockingIndex* index,
         LinkerOptions options);
  ~Linker();

  // The model used by later Link calls (starts as matcher::Model()).
  void SetModel(std::shared_ptr<const matcher::Model> model);
  std::shared_ptr<const matcher::Model> model() const;

  // Replaces the model with the one saved in Cf::kModel, if there is one.
  // DATA_LOSS if the saved model does not parse or validate.
  absl::Status LoadSavedModel();
  // Adds `model` to `batch` as the saved model (SetModel it once the batch
  // is committed).
  static void SaveModel(const matcher::Model& model, store::WriteBatch* batch);

  // Links `inputs` in order, adding blocking entries, links, SUI records and
  // review tasks to `batch`; every input sees the ones before it. A record
  // already linked from an older revision is re-linked from its new
  // identity (an update; the old one is read from the record's history); one
  // already linked from this revision is left as it is (kKept). Returns
  // one outcome per input, or a Store error (the batch must then be
  // dropped), or DATA_LOSS for malformed stored state.
  absl::StatusOr<std::vector<LinkOutcome>> Link(
      absl::Span<const LinkInput> inputs, absl::Time now,
      store::WriteBatch* batch);

  // Links `records` with the decisions Link would make for them one at a
  // time in this order (the same clusters, up to ties between equal
  // weights), but with decoding, blocking and scoring done in memory on
  // `options.threads` threads, and writes committed through `commit` every
  // options.records_per_batch records. Candidates are the earlier records
  // of the run and the records already in the index. The records must be
  // distinct, stored and never linked (an update goes through Link).
  // Returns the run's figures, or the first error (Store, DATA_LOSS for a
  // malformed record, or the callback's); records committed before it stay
  // linked. Writer only, like Link.
  absl::StatusOr<BulkStats> LinkBulk(std::vector<BulkRecord> records,
                                     absl::Time now, const BulkOptions& options,
                                     BulkCommit commit);

  // What Relink did.
  struct RelinkStats {
    uint64_t records = 0;
    uint64_t moved = 0;         // records whose SUI changed
    uint64_t new_suis = 0;      // clusters no existing SUI carried on
    uint64_t retired_suis = 0;  // SUIs left without records
    double seconds = 0;
  };

  // Re-links every linked record under the current model (after a
  // re-estimation): the records are linked afresh in bulk, in the order they
  // were first seen, in a scratch database under `scratch_dir` (a copy of
  // the records; deleted afterwards), and the live index then follows the
  // new clusters with as few changes as possible. Each new cluster keeps the
  // SUI that holds most of its records (each SUI goes to one cluster at
  // most); a cluster no SUI carries on gets a new SUI; a SUI left without
  // records retires, resolving to the SUIs its records went to. Reviewer
  // decisions stand: records of two SUIs decided "not same" are never put
  // together, and records a reviewer confirmed stay where they are. Writes
  // go through `commit` in batches (as LinkBulk). Writer only. Returns the
  // figures, or the first error.
  absl::StatusOr<RelinkStats> Relink(const std::string& scratch_dir,
                                     absl::Time now, const BulkOptions& options,
                                     BulkCommit commit);

  // A BulkRecord of a stored record. INVALID_ARGUMENT (from Decode) for a
  // malformed identity. Thread-safe.
  absl::StatusOr<BulkRecord> PrepareBulk(std::string_view record_key,
                                         const v1::EncodedIdentity& identity,
                                         uint64_t revision) const;

  // The current SUI of a record, or nullopt if the record is not linked.
  absl::StatusOr<std::optional<Sui>> Resolve(
      std::string_view record_key,
      const store::Snapshot* snapshot = nullptr) const;

  // The SUI's record (NOT_FOUND if never issued). A retired SUI lists its
  // successors.
  absl::StatusOr<store::v1::SuiInfo> GetSui(
      Sui sui, const store::Snapshot* snapshot = nullptr) const;

  // The SUI `sui` resolves to now: itself while active, else its
  // successor, transitively. NOT_FOUND if never issued; FAILED_PRECONDITION
  // if a retired SUI has several successors (its records were split).
  absl::StatusOr<Sui> Current(Sui sui) const;

  // The record keys (store::RecordKey) currently linked to `sui`, in key
  // order.
  absl::StatusOr<std::vector<std::string>> Members(
      Sui sui, const store::Snapshot* snapshot = nullptr) const;

  // `sui` and every SUI retired into it, transitively (merges, moved
  // records): what was recorded against any of them concerns `sui`'s child.
  // NOT_FOUND if never issued.
  absl::StatusOr<std::vector<Sui>> Lineage(Sui sui) const;

  // The SUI of the child an encoded identity describes, without storing
  // anything: the candidates linking would compare, scored the same way;
  // the best SUI they belong to if it reaches the link threshold with no
  // hard conflict. NOT_FOUND when no SUI comes close; FAILED_PRECONDITION
  // when the best is only in the review zone (not certain enough to act
  // on). Thread-safe (reads only).
  absl::StatusOr<Sui> Lookup(const v1::EncodedIdentity& identity) const;

  // Visits linked records in record-key order, starting after
  // `start_after` (from the first if empty). Return false to stop.
  absl::Status ForEachLink(
      absl::FunctionRef<bool(std::string_view record_key, Sui sui)> fn,
      const store::Snapshot* snapshot = nullptr,
      std::string_view start_after = {}) const;

  // Review tasks, by id; only open ones when `open_only`.
  absl::StatusOr<std::vector<store::v1::ReviewTask>> ListReviews(
      bool open_only, const store::Snapshot* snapshot = nullptr) const;
  absl::StatusOr<store::v1::ReviewTask> GetReview(uint64_t id) const;

  // Records a reviewer's decision on an open task into `batch`: "same"
  // merges the two SUIs (FAILED_PRECONDITION if they carry conflicting
  // identifiers or a "not same" decision), "not same" keeps them apart for
  // good. NOT_FOUND for an unknown task, FAILED_PRECONDITION if already
  // decided.
  absl::StatusOr<store::v1::ReviewTask> Decide(uint64_t id, bool same,
                                               std::string_view decided_by,
                                               std::string_view reason,
                                               absl::Time now,
                                               store::WriteBatch* batch);

  absl::StatusOr<LinkStats> Stats() const;

  // The blocking index the linker reads and writes.
  const blocking::BlockingIndex& index() const { return *index_; }
  const LinkerOptions& options() const { return options_; }

  // Key of a record's link entry, for tools and tests.
  static std::string RecordLinkKey(std::string_view record_key);

 private:
  class Run;  // the state of one Link or Decide call
  friend class Run;

  store::Store* const store_;
  const blocking::BlockingIndex* const index_;
  const LinkerOptions options_;

  mutable absl::Mutex model_mu_;
  std::shared_ptr<const matcher::Model> model_ ABSL_GUARDED_BY(model_mu_);

  struct Cache;
  std::unique_ptr<Cache> cache_;  // writer only
};

}  // namespace linkd::linker

#endif  // LINKD_LINKER_LINKER_H_
