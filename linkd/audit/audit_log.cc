#include "linkd/audit/audit_log.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "crypto/crypto.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "linkd/audit/log_format.h"
#include "linkd/util/status_macros.h"

namespace linkd::audit {
namespace {

using store::Cf;
namespace fmt = internal;

constexpr size_t kMaxSuiBytes = 64;
constexpr size_t kFetchChunk = 256;

// The Stores that have an AuditLog open: a second one would fork the log.
absl::Mutex registry_mu(absl::kConstInit);
absl::flat_hash_set<const store::Store*>& Registry()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static auto* const open = new absl::flat_hash_set<const store::Store*>();
  return *open;
}

std::string SerializeDeterministic(const v1::AuditEntry& entry) {
  std::string out;
  out.reserve(entry.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    entry.SerializeWithCachedSizes(&cos);
  }
  return out;
}

absl::Status ValidateEntry(const v1::AuditEntry& e, size_t index,
                           size_t max_bytes) {
  auto bad = [index](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit entry ", index, ": ", what));
  };
  if (e.organisation().empty()) return bad("organisation is required");
  if (e.method().empty()) return bad("method is required");
  if (e.decision() == v1::DECISION_UNSPECIFIED) {
    return bad("decision is required");
  }
  for (const std::string& sui : e.suis()) {
    if (sui.empty() || sui.size() > kMaxSuiBytes) {
      return bad("a SUI is empty or too long");
    }
  }
  if (e.ByteSizeLong() > max_bytes) return bad("entry is too large");
  return absl::OkStatus();
}

absl::StatusOr<LoggedEntry> DecodeLeaf(uint64_t seq, std::string_view leaf) {
  absl::StatusOr<fmt::LeafView> view = fmt::ParseLeaf(leaf);
  if (!view.ok()) {
    return absl::DataLossError(
        absl::StrCat("audit entry ", seq, ": ", view.status().message()));
  }
  if (view->seq != seq) {
    return absl::DataLossError(absl::StrCat("audit entry stored under seq ",
                                            seq, " carries seq ", view->seq));
  }
  LoggedEntry out;
  out.seq = seq;
  out.leaf_hash = HashLeaf(leaf);
  if (!out.entry.ParseFromArray(view->entry.data(),
                                static_cast<int>(view->entry.size()))) {
    return absl::DataLossError(
        absl::StrCat("audit entry ", seq, " does not parse"));
  }
  return out;
}

store::ScanOptions ReverseScan() {
  store::ScanOptions o;
  o.reverse = true;
  return o;
}

store::ScanOptions AtSnapshot(const store::Snapshot* snapshot,
                              bool fill_cache) {
  store::ScanOptions o;
  o.snapshot = snapshot;
  o.fill_cache = fill_cache;
  return o;
}

}  // namespace

AuditLog::AuditLog(store::Store* store, const AuditSigner* signer,
                   const AuditLogOptions& options, std::string origin)
    : store_(store),
      signer_(signer),
      options_(options),
      origin_(std::move(origin)) {}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&registry_mu);
  Registry().erase(store_);
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    store::Store* store, const AuditSigner* signer,
    const AuditLogOptions& options) {
  if (store == nullptr) return absl::InvalidArgumentError("store is null");
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("clock is null");
  }
  if (options.checkpoint_interval > 0 && signer == nullptr) {
    return absl::InvalidArgumentError(
        "checkpoint_interval needs a signer to sign checkpoints");
  }
  LINKD_RETURN_IF_ERROR(crypto::Init());

  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> meta_bytes,
                         store->Get(Cf::kAudit, fmt::MetaKey()));
  std::string origin = signer != nullptr ? signer->name() : options.origin;
  bool meta_written = false;
  if (meta_bytes.has_value()) {
    v1::LogMeta meta;
    if (!meta.ParseFromString(*meta_bytes)) {
      return absl::DataLossError("audit log metadata does not parse");
    }
    if (signer != nullptr && meta.origin() != signer->name()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "audit log has origin '", meta.origin(),
          "' but the signing key is named '", signer->name(), "'"));
    }
    if (signer != nullptr && !meta.public_key().empty() &&
        meta.public_key() != signer->public_key()) {
      return absl::FailedPreconditionError(
          "audit log was created with another signing key");
    }
    origin = meta.origin();
    meta_written = true;
  }

  {
    absl::MutexLock lock(&registry_mu);
    if (!Registry().insert(store).second) {
      return absl::FailedPreconditionError(
          "another AuditLog is open on this store");
    }
  }
  // From here the destructor unregisters the store.
  std::unique_ptr<AuditLog> log(
      new AuditLog(store, signer, options, std::move(origin)));
  State state;
  LINKD_RETURN_IF_ERROR(log->LoadState(&state));
  state.meta_written = state.meta_written || meta_written;
  absl::MutexLock lock(&log->state_mu_);
  log->state_ = std::move(state);
  return log;
}

absl::Status AuditLog::LoadState(State* state) const {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> head_bytes,
                         store_->Get(Cf::kAudit, fmt::HeadKey()));
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> meta_bytes,
                         store_->Get(Cf::kAudit, fmt::MetaKey()));
  *state = State();
  state->meta_written = meta_bytes.has_value();
  if (!head_bytes.has_value()) {
    bool any = false;
    LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
        Cf::kAudit, fmt::LeafPrefix(),
        [&](std::string_view, std::string_view) -> absl::StatusOr<bool> {
          any = true;
          return false;
        }));
    if (any) {
      return absl::DataLossError("audit log has entries but no head");
    }
    return absl::OkStatus();
  }
  v1::LogHead head;
  if (!head.ParseFromString(*head_bytes)) {
    return absl::DataLossError("audit log head does not parse");
  }
  std::vector<Hash> frontier;
  for (const std::string& h : head.frontier_hashes()) {
    absl::StatusOr<Hash> hash = HashFromBytes(h);
    if (!hash.ok()) return absl::DataLossError("audit log head is malformed");
    frontier.push_back(*hash);
  }
  absl::StatusOr<CompactRange> range =
      CompactRange::FromHashes(head.size(), std::move(frontier));
  absl::StatusOr<Hash> chain = HashFromBytes(head.chain_hash());
  if (!range.ok() || !chain.ok() ||
      HashBytes(range->Root()) != head.root_hash()) {
    return absl::DataLossError("audit log head is inconsistent");
  }
  if (head.size() > 0) {
    const uint64_t last = head.size() - 1;
    LINKD_ASSIGN_OR_RETURN(std::optional<std::string> leaf,
                           store_->Get(Cf::kAudit, fmt::LeafKey(last)));
    if (!leaf.has_value()) {
      return absl::DataLossError(absl::StrCat("audit log head has size ",
                                              head.size(), " but entry ", last,
                                              " is missing"));
    }
    absl::StatusOr<fmt::LeafView> view = fmt::ParseLeaf(*leaf);
    if (!view.ok() || view->seq != last ||
        fmt::ChainHash(view->prev_chain, HashLeaf(*leaf)) != *chain) {
      return absl::DataLossError(
          absl::StrCat("audit entry ", last, " does not match the log head"));
    }
  }
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> next,
                         store_->Get(Cf::kAudit, fmt::LeafKey(head.size())));
  if (next.has_value()) {
    return absl::DataLossError(absl::StrCat(
        "audit log has an entry beyond its head (size ", head.size(), ")"));
  }
  state->size = head.size();
  state->chain = *chain;
  state->range = *std::move(range);
  return absl::OkStatus();
}

absl::Status AuditLog::EnsureStateLocked() {
  if (state_valid_) return absl::OkStatus();
  State fresh;
  LINKD_RETURN_IF_ERROR(LoadState(&fresh));
  absl::MutexLock lock(&state_mu_);
  state_ = std::move(fresh);
  state_valid_ = true;
  return absl::OkStatus();
}

absl::StatusOr<SignedCheckpoint> AuditLog::MakeCheckpoint(
    uint64_t size, const Hash& root) const {
  if (signer_ == nullptr) {
    return absl::FailedPreconditionError("the audit log has no signing key");
  }
  SignedCheckpoint out;
  out.checkpoint.origin = origin_;
  out.checkpoint.size = size;
  out.checkpoint.root = root;
  // Microsecond precision: what the text format keeps.
  out.checkpoint.time =
      absl::FromUnixMicros(absl::ToUnixMicros(options_.clock->Now()));
  LINKD_ASSIGN_OR_RETURN(out.note,
                         audit::SignCheckpoint(out.checkpoint, *signer_));
  return out;
}

absl::StatusOr<AppendResult> AuditLog::AppendAndCommit(
    store::WriteBatch batch, absl::Span<const v1::AuditEntry> entries,
    const store::CommitOptions& options) {
  if (entries.empty()) {
    return absl::InvalidArgumentError("no audit entry to append");
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    LINKD_RETURN_IF_ERROR(
        ValidateEntry(entries[i], i, options_.max_entry_bytes));
  }

  absl::MutexLock writer(&write_mu_);
  LINKD_RETURN_IF_ERROR(EnsureStateLocked());
  State next;
  {
    absl::MutexLock lock(&state_mu_);
    next = state_;
  }
  const uint64_t first_seq = next.size;
  const int64_t now_micros = absl::ToUnixMicros(options_.clock->Now());
  // The log's writes are added to the batch in key order: RocksDB inserts
  // a batch into its memtable in order, and neighbouring keys are found
  // from the previous insert's position instead of from the top of the
  // skip list (measured: about twice the append rate of seq order, where
  // leaf, subject, time and node keys alternate).
  std::vector<std::pair<std::string, std::string>> puts;
  puts.reserve(entries.size() * 4 + 4);
  // Owns its strings: a record's subject name is built per record, and a
  // view of it would dangle once the next one is built.
  absl::flat_hash_set<std::string> suis;
  for (const v1::AuditEntry& given : entries) {
    const uint64_t seq = next.size;
    std::string bytes;
    int64_t time_micros = given.time_micros();
    if (time_micros == 0) {
      v1::AuditEntry stamped = given;
      stamped.set_time_micros(now_micros);
      time_micros = now_micros;
      bytes = SerializeDeterministic(stamped);
    } else {
      bytes = SerializeDeterministic(given);
    }
    std::string leaf = fmt::EncodeLeaf(seq, next.chain, bytes);
    const Hash leaf_hash = HashLeaf(leaf);
    next.chain = fmt::ChainHash(HashBytes(next.chain), leaf_hash);
    suis.clear();
    for (const std::string& sui : given.suis()) {
      if (suis.insert(sui).second) {
        puts.emplace_back(fmt::SubjectKey(sui, seq), "");
      }
    }
    for (const v1::RecordRef& r : given.records()) {
      const auto [it, inserted] =
          suis.insert(RecordSubject(r.source(), r.record_id()));
      const std::string& subject = *it;
      if (inserted) {
        puts.emplace_back(fmt::SubjectKey(subject, seq), "");
      }
    }
    puts.emplace_back(fmt::TimeKey(time_micros, seq), "");
    next.range.Append(leaf_hash,
                      [&puts](int level, uint64_t index, const Hash& h) {
                        if (level >= fmt::kMinStoredNodeLevel) {
                          puts.emplace_back(fmt::NodeKey(level, index),
                                            std::string(HashBytes(h)));
                        }
                      });
    puts.emplace_back(fmt::LeafKey(seq), std::move(leaf));
    next.size = seq + 1;
  }
  const Hash root = next.range.Root();

  if (!next.meta_written) {
    v1::LogMeta meta;
    meta.set_origin(origin_);
    if (signer_ != nullptr) meta.set_public_key(signer_->public_key());
    meta.set_created_micros(now_micros);
    meta.set_leaf_format(fmt::kLeafFormatV1);
    puts.emplace_back(fmt::MetaKey(), meta.SerializeAsString());
    next.meta_written = true;
  }
  const uint64_t interval = options_.checkpoint_interval;
  if (interval > 0 && first_seq / interval != next.size / interval) {
    LINKD_ASSIGN_OR_RETURN(SignedCheckpoint cp,
                           MakeCheckpoint(next.size, root));
    puts.emplace_back(fmt::CheckpointKey(next.size), std::move(cp.note));
  }
  v1::LogHead head;
  head.set_size(next.size);
  head.set_root_hash(std::string(HashBytes(root)));
  head.set_chain_hash(std::string(HashBytes(next.chain)));
  for (const Hash& h : next.range.hashes()) {
    head.add_frontier_hashes(std::string(HashBytes(h)));
  }
  head.set_updated_micros(now_micros);
  puts.emplace_back(fmt::HeadKey(), head.SerializeAsString());
  std::sort(puts.begin(), puts.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [key, value] : puts) batch.Put(Cf::kAudit, key, value);

  const absl::Status committed = store_->Commit(std::move(batch), options);
  if (!committed.ok()) {
    // INVALID_ARGUMENT (a foreign or poisoned batch) and FAILED_PRECONDITION
    // (closed store) wrote nothing; anything else might have reached the
    // WAL, so the head is reloaded before the next append.
    if (!absl::IsInvalidArgument(committed) &&
        !absl::IsFailedPrecondition(committed)) {
      state_valid_ = false;
    }
    return committed;
  }
  AppendResult result;
  result.first_seq = first_seq;
  result.head.size = next.size;
  result.head.root = root;
  result.head.chain = next.chain;
  absl::MutexLock lock(&state_mu_);
  state_ = std::move(next);
  return result;
}

absl::StatusOr<AppendResult> AuditLog::AppendAndCommit(
    store::WriteBatch batch, const v1::AuditEntry& entry,
    const store::CommitOptions& options) {
  return AppendAndCommit(std::move(batch), absl::MakeConstSpan(&entry, 1),
                         options);
}

absl::StatusOr<AppendResult> AuditLog::Record(const v1::AuditEntry& entry) {
  return AppendAndCommit(store_->NewBatch(), entry);
}

absl::StatusOr<SignedCheckpoint> AuditLog::SignCheckpoint() {
  absl::MutexLock writer(&write_mu_);
  LINKD_RETURN_IF_ERROR(EnsureStateLocked());
  uint64_t size;
  Hash root;
  {
    absl::MutexLock lock(&state_mu_);
    size = state_.size;
    root = state_.range.Root();
  }
  LINKD_ASSIGN_OR_RETURN(SignedCheckpoint cp, MakeCheckpoint(size, root));
  store::WriteBatch batch = store_->NewBatch();
  batch.Put(Cf::kAudit, fmt::CheckpointKey(size), cp.note);
  LINKD_RETURN_IF_ERROR(store_->Commit(std::move(batch)));
  return cp;
}

absl::StatusOr<std::optional<SignedCheckpoint>> AuditLog::LatestCheckpoint()
    const {
  std::optional<SignedCheckpoint> out;
  absl::Status parsed;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      Cf::kAudit, fmt::CheckpointPrefix(),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        // The note's text ends at its last blank line.
        const size_t split = value.rfind("\n\n");
        absl::StatusOr<Checkpoint> c =
            split == std::string_view::npos
                ? absl::InvalidArgumentError("no blank line")
                : ParseCheckpointText(value.substr(0, split + 1));
        if (!c.ok()) {
          parsed = absl::DataLossError("stored audit checkpoint is malformed");
          return false;
        }
        out = SignedCheckpoint{*std::move(c), std::string(value)};
        return false;
      },
      ReverseScan()));
  LINKD_RETURN_IF_ERROR(parsed);
  return out;
}

uint64_t AuditLog::Size() const {
  absl::MutexLock lock(&state_mu_);
  return state_.size;
}

TreeHead AuditLog::Head() const {
  absl::MutexLock lock(&state_mu_);
  TreeHead h;
  h.size = state_.size;
  h.root = state_.range.Root();
  h.chain = state_.chain;
  return h;
}

absl::StatusOr<LoggedEntry> AuditLog::Get(uint64_t seq) const {
  if (seq >= Size()) {
    return absl::NotFoundError(absl::StrCat("no audit entry ", seq));
  }
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> leaf,
                         store_->Get(Cf::kAudit, fmt::LeafKey(seq)));
  if (!leaf.has_value()) {
    return absl::DataLossError(
        absl::StrCat("audit entry ", seq, " is missing"));
  }
  return DecodeLeaf(seq, *leaf);
}

absl::Status AuditLog::FetchEntries(absl::Span<const uint64_t> seqs,
                                    EntryCallback fn,
                                    const store::Snapshot* snapshot,
                                    bool* more) const {
  std::vector<std::string> keys;
  keys.reserve(seqs.size());
  for (uint64_t seq : seqs) keys.push_back(fmt::LeafKey(seq));
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> leaves,
                         store_->MultiGet(Cf::kAudit, keys, snapshot));
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (!leaves[i].has_value()) {
      return absl::DataLossError(
          absl::StrCat("audit entry ", seqs[i], " is indexed but missing"));
    }
    LINKD_ASSIGN_OR_RETURN(LoggedEntry e, DecodeLeaf(seqs[i], *leaves[i]));
    LINKD_ASSIGN_OR_RETURN(bool go_on, fn(e));
    if (!go_on) {
      *more = false;
      return absl::OkStatus();
    }
  }
  *more = true;
  return absl::OkStatus();
}

std::string AuditLog::RecordSubject(std::string_view source,
                                    std::string_view record_id) {
  return absl::StrCat("record:", source.size(), ":", std::string(source), ":",
                      std::string(record_id));
}

absl::Status AuditLog::Subject(std::string_view sui, EntryCallback fn) const {
  const store::Snapshot snapshot = store_->GetSnapshot();
  std::vector<uint64_t> seqs;
  bool more = true;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      Cf::kAudit, fmt::SubjectPrefix(sui),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(uint64_t seq, fmt::ParseIndexSeq(key));
        seqs.push_back(seq);
        if (seqs.size() < kFetchChunk) return true;
        LINKD_RETURN_IF_ERROR(FetchEntries(seqs, fn, &snapshot, &more));
        seqs.clear();
        return more;
      },
      AtSnapshot(&snapshot, /*fill_cache=*/true)));
  if (more && !seqs.empty()) {
    LINKD_RETURN_IF_ERROR(FetchEntries(seqs, fn, &snapshot, &more));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LoggedEntry>> AuditLog::Subject(std::string_view sui,
                                                           size_t limit) const {
  std::vector<LoggedEntry> out;
  if (limit == 0) return out;
  LINKD_RETURN_IF_ERROR(
      Subject(sui, [&](const LoggedEntry& e) -> absl::StatusOr<bool> {
        out.push_back(e);
        return out.size() < limit;
      }));
  return out;
}

absl::Status AuditLog::Export(absl::Time since, absl::Time until,
                              EntryCallback fn) const {
  if (until <= since) return absl::OkStatus();
  const store::Snapshot snapshot = store_->GetSnapshot();
  std::vector<uint64_t> seqs;
  bool more = true;
  LINKD_RETURN_IF_ERROR(store_->ScanRange(
      Cf::kAudit, fmt::TimeKey(absl::ToUnixMicros(since), 0),
      fmt::TimeKey(absl::ToUnixMicros(until), 0),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(uint64_t seq, fmt::ParseIndexSeq(key));
        seqs.push_back(seq);
        if (seqs.size() < kFetchChunk) return true;
        LINKD_RETURN_IF_ERROR(FetchEntries(seqs, fn, &snapshot, &more));
        seqs.clear();
        return more;
      },
      AtSnapshot(&snapshot, /*fill_cache=*/false)));
  if (more && !seqs.empty()) {
    LINKD_RETURN_IF_ERROR(FetchEntries(seqs, fn, &snapshot, &more));
  }
  return absl::OkStatus();
}

absl::StatusOr<Hash> AuditLog::SubtreeHash(uint64_t begin, uint64_t end) const {
  const uint64_t n = end - begin;
  if (absl::has_single_bit(n)) {
    const int level = absl::countr_zero(n);
    if (level >= fmt::kMinStoredNodeLevel && begin % n == 0) {
      LINKD_ASSIGN_OR_RETURN(
          std::optional<std::string> node,
          store_->Get(Cf::kAudit, fmt::NodeKey(level, begin >> level)));
      if (node.has_value()) {
        absl::StatusOr<Hash> h = HashFromBytes(*node);
        if (h.ok()) return h;
      }
      // A missing or damaged cache entry: recompute from below.
    }
  }
  if (n <= (uint64_t{1} << fmt::kMinStoredNodeLevel)) {
    std::vector<Hash> leaves;
    leaves.reserve(n);
    LINKD_RETURN_IF_ERROR(store_->ScanRange(
        Cf::kAudit, fmt::LeafKey(begin), fmt::LeafKey(end),
        [&](std::string_view key,
            std::string_view leaf) -> absl::StatusOr<bool> {
          LINKD_ASSIGN_OR_RETURN(uint64_t seq, fmt::ParseLeafKey(key));
          if (seq != begin + leaves.size()) {
            return absl::DataLossError(absl::StrCat(
                "audit entry ", begin + leaves.size(), " is missing"));
          }
          leaves.push_back(HashLeaf(leaf));
          return true;
        }));
    if (leaves.size() != n) {
      return absl::DataLossError(
          absl::StrCat("audit entry ", begin + leaves.size(), " is missing"));
    }
    return RootOf(leaves);
  }
  const uint64_t k = absl::bit_floor(n - 1);
  LINKD_ASSIGN_OR_RETURN(Hash left, SubtreeHash(begin, begin + k));
  LINKD_ASSIGN_OR_RETURN(Hash right, SubtreeHash(begin + k, end));
  return HashChildren(left, right);
}

absl::StatusOr<std::vector<Hash>> AuditLog::InclusionProof(
    uint64_t seq, uint64_t tree_size) const {
  if (tree_size > Size() || seq >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("no inclusion proof of entry ", seq, " in a tree of size ",
                     tree_size, " (log size ", Size(), ")"));
  }
  return audit::InclusionProof(seq, tree_size, [this](uint64_t b, uint64_t e) {
    return SubtreeHash(b, e);
  });
}

absl::StatusOr<std::vector<Hash>> AuditLog::ConsistencyProof(
    uint64_t size1, uint64_t size2) const {
  if (size2 > Size() || size1 > size2) {
    return absl::InvalidArgumentError(
        absl::StrCat("no consistency proof from size ", size1, " to ", size2,
                     " (log size ", Size(), ")"));
  }
  return audit::ConsistencyProof(size1, size2, [this](uint64_t b, uint64_t e) {
    return SubtreeHash(b, e);
  });
}

absl::StatusOr<Hash> AuditLog::RootAt(uint64_t size) const {
  if (size > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("log has fewer than ", size, " entries"));
  }
  if (size == 0) return EmptyRoot();
  return SubtreeHash(0, size);
}

}  // namespace linkd::audit
