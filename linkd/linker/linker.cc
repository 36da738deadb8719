#include "linkd/linker/linker.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "linkd/linker/internal/bulk_scoring.h"
#include "linkd/matcher/comparison.h"
#include "linkd/store/key_codec.h"
#include "linkd/store/record_store.h"
#include "linkd/util/parallel.h"
#include "linkd/util/status_macros.h"

namespace linkd::linker {
namespace {

using store::Cf;
using store::KeyBuilder;
using store::v1::ReviewTask;
using store::v1::SuiInfo;

constexpr uint8_t kTagLink = 1;
constexpr uint8_t kTagMember = 2;
constexpr uint8_t kTagSui = 3;
constexpr uint8_t kTagReview = 4;
// First component of the linker's counters in Cf::kStats (records use 1,
// blocking 0x42).
constexpr uint8_t kCounterTag = 0x4C;
constexpr std::string_view kActiveSuis = "active_suis";
constexpr std::string_view kOpenReviews = "open_reviews";
constexpr std::string_view kReviewSeq = "review_seq";

constexpr double kNoCandidate = -std::numeric_limits<double>::infinity();

std::string LinkKey(std::string_view record_key) {
  return KeyBuilder().AddU8(kTagLink).AddString(record_key).key();
}
std::string MemberPrefix(Sui sui) {
  return KeyBuilder().AddU8(kTagMember).AddU64(sui.bits()).key();
}
std::string MemberKey(Sui sui, std::string_view record_key) {
  return KeyBuilder()
      .AddU8(kTagMember)
      .AddU64(sui.bits())
      .AddString(record_key)
      .key();
}
std::string SuiKey(Sui sui) {
  return KeyBuilder().AddU8(kTagSui).AddU64(sui.bits()).key();
}
std::string ReviewKey(uint64_t id) {
  return KeyBuilder().AddU8(kTagReview).AddU64(id).key();
}
std::string ModelKey() { return KeyBuilder().AddString("current").key(); }

std::string CounterKey(std::string_view name) {
  return KeyBuilder().AddU8(kCounterTag).AddString(name).key();
}

// Where a record is linked: its SUI and the revision it was linked from.
struct LinkValue {
  Sui sui;
  uint64_t revision = 0;
};

void PutU64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string EncodeLink(const LinkValue& link) {
  std::string out(16, '\0');
  PutU64(link.sui.bits(), out.data());
  PutU64(link.revision, out.data() + 8);
  return out;
}

absl::StatusOr<LinkValue> DecodeLink(std::string_view bytes) {
  if (bytes.size() != 16) {
    return absl::DataLossError("links: malformed link value");
  }
  absl::StatusOr<Sui> sui = Sui::FromBits(GetU64(bytes.data()));
  if (!sui.ok()) return absl::DataLossError("links: malformed link value");
  return LinkValue{*sui, GetU64(bytes.data() + 8)};
}

bool Contains(const google::protobuf::RepeatedField<uint64_t>& list,
              uint64_t v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

void AddUnique(google::protobuf::RepeatedField<uint64_t>* list, uint64_t v) {
  if (!Contains(*list, v)) list->Add(v);
}

// True if a record with these identifiers cannot belong to `info`: both
// have a UPN (or an NHS number) and the SUI has none equal to the record's.
bool IdentifierConflict(const SuiInfo& info,
                        const matcher::DecodedIdentity& d) {
  if (d.has(matcher::TokenSlot::kUpn) && info.upn_fingerprints_size() > 0 &&
      !Contains(info.upn_fingerprints(), d.token(matcher::TokenSlot::kUpn))) {
    return true;
  }
  return d.has(matcher::TokenSlot::kNhsNumber) &&
         info.nhs_fingerprints_size() > 0 &&
         !Contains(info.nhs_fingerprints(),
                   d.token(matcher::TokenSlot::kNhsNumber));
}

// True if two SUIs may become one: no identifier of one contradicts the
// other's, and no reviewer said they are different people.
bool Compatible(const SuiInfo& a, uint64_t a_bits, const SuiInfo& b,
                uint64_t b_bits) {
  auto disjoint = [](const google::protobuf::RepeatedField<uint64_t>& x,
                     const google::protobuf::RepeatedField<uint64_t>& y) {
    if (x.empty() || y.empty()) return false;
    for (uint64_t v : x) {
      if (Contains(y, v)) return false;
    }
    return true;
  };
  if (disjoint(a.upn_fingerprints(), b.upn_fingerprints())) return false;
  if (disjoint(a.nhs_fingerprints(), b.nhs_fingerprints())) return false;
  return !Contains(a.not_same(), b_bits) && !Contains(b.not_same(), a_bits);
}

}  // namespace

double LinkWeight(const matcher::Model& model,
                  const matcher::ComparisonVector& v) {
  const double w = model.MatchWeight(v);
  if (v.household_disagreements() < 2) return w;
  return std::min(w, std::nextafter(model.upper_threshold(),
                                    -std::numeric_limits<double>::infinity()));
}

// Decoded identities of committed records (never of uncommitted ones, so a
// dropped batch cannot leave stale entries). Writer only. Nodes: a pointer
// from Decoded() stays valid while the map grows, and growing never moves
// the identities. Trimmed to its capacity between calls only, oldest first.
struct Linker::Cache {
  absl::node_hash_map<std::string, matcher::DecodedIdentity> identities;
  std::deque<std::string> order;  // insertion order (may name erased keys)

  void Insert(const std::string& key, const matcher::DecodedIdentity& d) {
    if (identities.try_emplace(key, d).second) order.push_back(key);
  }
  void Trim(size_t capacity) {
    while (identities.size() > capacity && !order.empty()) {
      identities.erase(order.front());
      order.pop_front();
    }
    if (identities.empty()) order.clear();
  }
};

// The state of one Link or Decide call: what this batch has changed so far,
// overlaid on the committed state, so that each record sees the ones before
// it. Everything is written to the batch as it is decided, except SUI
// records and counters, written once by Finish().
class Linker::Run {
 public:
  Run(Linker* linker, const matcher::Model* model, absl::Time now,
      store::WriteBatch* batch)
      : l_(linker),
        model_(model),
        now_micros_(absl::ToUnixMicros(now)),
        batch_(batch) {
    // No identity pointer is held across calls (or batches, see Continue).
    l_->cache_->Trim(l_->options_.identity_cache_entries);
  }

  // A record scored against candidates found elsewhere (bulk linking): not
  // linked before, its blocking keys computed by the caller.
  struct ScoredInput {
    std::string_view record_key;
    const matcher::DecodedIdentity* decoded;
    uint64_t revision;
    absl::Span<const internal::ScoredCandidate> candidates;
  };

  // Bulk linking: the run's records and the SUI each is linked to so far,
  // by position in the run. Candidates name records by position, so finding
  // their SUI needs no key lookup; a run record's link lives here, not in
  // the overlay.
  struct BulkView {
    absl::Span<const BulkRecord> records;
    const std::vector<std::string>* indexed = nullptr;  // ScoredCandidate::ref
    std::vector<uint64_t> sui;                          // 0 until linked
    absl::flat_hash_map<absl::string_view, uint32_t> position;
  };
  // Links run records through `bulk` (not owned; outlives the run).
  void SetBulk(BulkView* bulk) { bulk_ = bulk; }

  absl::StatusOr<LinkOutcome> LinkOne(const LinkInput& in);
  absl::StatusOr<LinkOutcome> LinkScored(const ScoredInput& in);
  absl::StatusOr<ReviewTask> Decide(uint64_t id, bool same, std::string_view by,
                                    std::string_view reason);
  // Relink: moves a linked record to `to` (a new SUI if nullopt: created
  // once per `cluster` and remembered in `fresh`), keeping its revision.
  absl::Status MoveRecord(const std::string& record_key, Sui to);
  absl::StatusOr<Sui> FreshSui() { return NewSui(); }
  // Relink, after the moves: recomputes the identifier fingerprints of
  // `sui` from its members, and retires it (successors `successors`) if it
  // has none left. Returns true if it was retired.
  absl::StatusOr<bool> Settle(Sui sui, const std::vector<Sui>& successors,
                              std::string_view reason);

  // Adds the SUI records and counters changed so far to the batch.
  absl::Status Finish();
  // After the batch given so far is Finish()ed and handed to be committed,
  // and the batch before it is committed: continues into `next`, keeping
  // what this call has read and decided as a cache of the committed state.
  void Continue(store::WriteBatch* next);

 private:
  struct Group {
    // Record keys point into the caller's candidate list, which outlives
    // the decision.
    double best = kNoCandidate;
    std::string_view best_record;
    bool conflict = false;
    // The best candidate without a hard conflict with the record.
    double best_clean = kNoCandidate;
    std::string_view best_clean_record;

    void Add(std::string_view record, double weight, bool pair_conflict) {
      conflict = conflict || pair_conflict;
      if (weight > best) {
        best = weight;
        best_record = record;
      }
      if (!pair_conflict && weight > best_clean) {
        best_clean = weight;
        best_clean_record = record;
      }
    }
  };

  // Candidates by SUI bits. Choose's decisions do not depend on the
  // iteration order (it sorts by weight, then bits).
  using Groups = absl::flat_hash_map<uint64_t, Group>;

  // Competitive linking (LinkerOptions::evict_margin_bits): moves the
  // records of `sui` that conflict with `d` into a new SUI when `d` fits the
  // rest (by `weight`) clearly better than they do. Returns
  // the evicted record keys (empty: nothing evicted, `sui` unchanged).
  absl::StatusOr<std::vector<std::string>> Evict(
      Sui sui, const matcher::DecodedIdentity& d, double weight);

  // The decision shared by LinkOne and LinkScored: join the best eligible
  // SUI, start one (with a review task in the grey zone), or, for an update
  // (prev set), stay or move.
  absl::StatusOr<LinkOutcome> Choose(const std::string& record_key,
                                     const matcher::DecodedIdentity& d,
                                     Groups* groups, std::optional<Sui> prev,
                                     uint64_t revision);

  absl::StatusOr<std::optional<LinkValue>> LinkOf(std::string_view record_key);
  absl::StatusOr<std::optional<Sui>> SuiOf(std::string_view record_key) {
    LINKD_ASSIGN_OR_RETURN(std::optional<LinkValue> link, LinkOf(record_key));
    if (!link.has_value()) return std::optional<Sui>();
    return std::optional<Sui>(link->sui);
  }
  absl::StatusOr<SuiInfo*> Info(Sui sui);
  // Reads the links of `keys` not in the overlay in one batched read, so
  // that the LinkOf calls that follow find them in memory.
  absl::Status LoadLinks(const std::vector<std::string>& keys);
  // Likewise the SUI records of `suis` (bits) for Info.
  absl::Status LoadSuis(const std::vector<uint64_t>& suis);
  // Whether Choose passes over a SUI whose candidates are `g` without
  // reading its SUI record: one of them conflicts with the record, and
  // competitive linking could not take the SUI's place (`update`: the
  // record is linked already).
  bool PassedOver(const Group& g, bool update) const {
    return g.conflict && (update || l_->options_.evict_margin_bits < 0 ||
                          g.best_clean < model_->upper_threshold() +
                                             l_->options_.evict_margin_bits);
  }
  absl::Status LoadIdentities(const std::vector<std::string>& keys);
  // Store::MultiGet, split over LinkerOptions::read_threads threads when
  // there are enough keys.
  absl::StatusOr<std::vector<std::optional<std::string>>> Read(
      Cf cf, const std::vector<std::string>& keys) const;
  absl::StatusOr<const matcher::DecodedIdentity*> Decoded(
      const std::string& record_key);
  absl::StatusOr<std::vector<std::string>> Members(Sui sui);
  absl::StatusOr<Sui> NewSui();
  // Links a record to `sui`, from `revision`.
  absl::Status Assign(std::string_view record_key,
                      const matcher::DecodedIdentity& d, Sui sui,
                      uint64_t revision);
  absl::Status Unassign(std::string_view record_key, Sui sui);
  // Records that a record stays in `sui`, now linked from `revision`.
  absl::Status Relink(std::string_view record_key, Sui sui, uint64_t revision) {
    const LinkValue link{sui, revision};
    batch_->Put(Cf::kLinks, LinkKey(record_key), EncodeLink(link));
    SetLink(record_key, link);
    return absl::OkStatus();
  }
  // The overlay's (or bulk view's) link of a record.
  void SetLink(std::string_view record_key, const LinkValue& link);
  absl::Status Merge(Sui from, Sui into, std::string_view reason);
  absl::StatusOr<uint64_t> OpenReview(std::string_view record_key,
                                      std::string_view candidate, Sui mine,
                                      Sui theirs, double weight);
  void AddToOverlayBlocks(std::string_view record_key,
                          const std::vector<blocking::BlockingKey>& keys);

  Linker* const l_;
  const matcher::Model* const model_;
  const int64_t now_micros_;
  store::WriteBatch* batch_;
  BulkView* bulk_ = nullptr;
  Groups scratch_groups_;

  // Overlay of this call.
  absl::flat_hash_map<std::string, std::optional<LinkValue>> link_of_;
  absl::flat_hash_map<std::string, v1::EncodedIdentity> identity_;
  absl::flat_hash_map<std::string, matcher::DecodedIdentity> decoded_;
  // Loaded; written back if dirty. Node-based: Info() hands out pointers.
  absl::node_hash_map<uint64_t, SuiInfo> suis_;
  absl::flat_hash_set<uint64_t> dirty_;
  // Members added to and removed from each SUI by the batch being built
  // (a key is in at most one of the two), and by the batch before it, which
  // may still be being committed (Continue).
  using MemberChanges =
      absl::flat_hash_map<uint64_t, absl::flat_hash_set<std::string>>;
  MemberChanges added_, removed_;
  MemberChanges prev_added_, prev_removed_;
  std::map<blocking::BlockingKey, std::vector<std::string>> blocks_;
  absl::flat_hash_map<std::string, std::vector<blocking::BlockingKey>> keys_;
  int64_t active_delta_ = 0;
  int64_t open_delta_ = 0;
  int64_t reviews_issued_ = 0;
  std::optional<uint64_t> review_seq_;
};

void Linker::Run::SetLink(std::string_view record_key, const LinkValue& link) {
  if (bulk_ != nullptr) {
    if (auto p = bulk_->position.find(
            absl::string_view(record_key.data(), record_key.size()));
        p != bulk_->position.end()) {
      bulk_->sui[p->second] = link.sui.bits();
      return;
    }
  }
  link_of_[std::string(record_key)] = link;
}

absl::StatusOr<std::optional<LinkValue>> Linker::Run::LinkOf(
    std::string_view record_key) {
  if (bulk_ != nullptr) {
    if (auto p = bulk_->position.find(
            absl::string_view(record_key.data(), record_key.size()));
        p != bulk_->position.end()) {
      const uint64_t bits = bulk_->sui[p->second];
      if (bits == 0) return std::optional<LinkValue>();
      LINKD_ASSIGN_OR_RETURN(Sui sui, Sui::FromBits(bits));
      return std::optional<LinkValue>(
          LinkValue{sui, bulk_->records[p->second].revision});
    }
  }
  // absl::string_view: the map's heterogeneous lookup, no copy of the key.
  if (auto it = link_of_.find(
          absl::string_view(record_key.data(), record_key.size()));
      it != link_of_.end()) {
    return it->second;
  }
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         l_->store_->Get(Cf::kLinks, LinkKey(record_key)));
  std::optional<LinkValue> link;
  if (v.has_value()) {
    LINKD_ASSIGN_OR_RETURN(link, DecodeLink(*v));
  }
  link_of_[std::string(record_key)] = link;
  return link;
}

absl::Status Linker::Run::LoadLinks(const std::vector<std::string>& keys) {
  std::vector<std::string> missing, link_keys;
  for (const std::string& k : keys) {
    if (link_of_.contains(k)) continue;
    if (bulk_ != nullptr &&
        bulk_->position.contains(absl::string_view(k.data(), k.size()))) {
      continue;
    }
    missing.push_back(k);
    link_keys.push_back(LinkKey(k));
  }
  if (missing.empty()) return absl::OkStatus();
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                         Read(Cf::kLinks, link_keys));
  for (size_t i = 0; i < missing.size(); ++i) {
    std::optional<LinkValue> link;
    if (values[i].has_value()) {
      LINKD_ASSIGN_OR_RETURN(link, DecodeLink(*values[i]));
    }
    link_of_.emplace(std::move(missing[i]), link);
  }
  return absl::OkStatus();
}

absl::Status Linker::Run::LoadSuis(const std::vector<uint64_t>& suis) {
  std::vector<std::string> sui_keys;
  std::vector<uint64_t> sui_bits;
  for (uint64_t bits : suis) {
    if (suis_.contains(bits) ||
        std::find(sui_bits.begin(), sui_bits.end(), bits) != sui_bits.end()) {
      continue;
    }
    LINKD_ASSIGN_OR_RETURN(Sui sui, Sui::FromBits(bits));
    sui_bits.push_back(bits);
    sui_keys.push_back(SuiKey(sui));
  }
  if (sui_keys.empty()) return absl::OkStatus();
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> infos,
                         Read(Cf::kLinks, sui_keys));
  for (size_t i = 0; i < sui_keys.size(); ++i) {
    if (!infos[i].has_value()) continue;  // Info() reports it
    SuiInfo& info = suis_[sui_bits[i]];
    if (!info.ParseFromString(*infos[i])) {
      return absl::DataLossError("links: malformed SUI record");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SuiInfo*> Linker::Run::Info(Sui sui) {
  if (auto it = suis_.find(sui.bits()); it != suis_.end()) return &it->second;
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         l_->store_->Get(Cf::kLinks, SuiKey(sui)));
  if (!v.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("sui ", sui.ToString(), ": never issued"));
  }
  SuiInfo& info = suis_[sui.bits()];
  if (!info.ParseFromString(*v)) {
    return absl::DataLossError("links: malformed SUI record");
  }
  return &info;
}

absl::StatusOr<std::vector<std::optional<std::string>>> Linker::Run::Read(
    Cf cf, const std::vector<std::string>& keys) const {
  const int threads = l_->options_.read_threads;
  if (threads <= 1 || keys.size() < l_->options_.parallel_read_keys) {
    return l_->store_->MultiGet(cf, keys);
  }
  std::vector<std::optional<std::string>> values(keys.size());
  std::vector<absl::Status> errors(static_cast<size_t>(threads));
  util::ParallelFor(
      keys.size(), threads, [&](size_t begin, size_t end, size_t slice) {
        absl::StatusOr<std::vector<std::optional<std::string>>> part =
            l_->store_->MultiGet(
                cf, absl::MakeConstSpan(keys).subspan(begin, end - begin));
        if (!part.ok()) {
          errors[slice] = part.status();
          return;
        }
        std::move(part->begin(), part->end(), values.begin() + begin);
      });
  for (const absl::Status& e : errors) {
    if (!e.ok()) return e;
  }
  return values;
}

absl::Status Linker::Run::LoadIdentities(const std::vector<std::string>& keys) {
  std::vector<std::string> missing;
  for (const std::string& k : keys) {
    if (!decoded_.contains(k) && !l_->cache_->identities.contains(k)) {
      missing.push_back(k);
    }
  }
  if (missing.empty()) return absl::OkStatus();
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                         Read(Cf::kRecords, missing));
  store::StoredRecord stored;
  for (size_t i = 0; i < missing.size(); ++i) {
    if (!values[i].has_value()) continue;  // indexed but gone: skip it
    if (!stored.ParseFromString(*values[i])) {
      return absl::DataLossError("records: malformed stored record");
    }
    matcher::DecodedIdentity d;
    LINKD_RETURN_IF_ERROR(matcher::Decode(stored.identity(), &d));
    l_->cache_->Insert(missing[i], d);
  }
  return absl::OkStatus();
}

absl::StatusOr<const matcher::DecodedIdentity*> Linker::Run::Decoded(
    const std::string& record_key) {
  if (auto it = decoded_.find(record_key); it != decoded_.end()) {
    return &it->second;
  }
  auto& cache = l_->cache_->identities;
  if (auto it = cache.find(record_key); it != cache.end()) return &it->second;
  LINKD_RETURN_IF_ERROR(LoadIdentities({record_key}));
  if (auto it = cache.find(record_key); it != cache.end()) return &it->second;
  return nullptr;
}

absl::StatusOr<std::vector<std::string>> Linker::Run::Members(Sui sui) {
  absl::flat_hash_set<std::string> members;
  const std::string prefix = MemberPrefix(sui);
  LINKD_RETURN_IF_ERROR(l_->store_->ScanPrefix(
      Cf::kLinks, prefix,
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader r,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(r.ReadU8().status());
        LINKD_RETURN_IF_ERROR(r.ReadU64().status());
        LINKD_ASSIGN_OR_RETURN(std::string_view record, r.ReadString());
        members.emplace(record);
        return true;
      }));
  // The older batch's changes first (a no-op once it is committed).
  for (const auto* gen : {&prev_removed_, &prev_added_, &removed_, &added_}) {
    const bool adds = gen == &prev_added_ || gen == &added_;
    auto it = gen->find(sui.bits());
    if (it == gen->end()) continue;
    for (const std::string& k : it->second) {
      if (adds) {
        members.insert(k);
      } else {
        members.erase(k);
      }
    }
  }
  std::vector<std::string> out(members.begin(), members.end());
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<Sui> Linker::Run::NewSui() {
  for (;;) {
    const Sui sui = Sui::Random();
    absl::StatusOr<SuiInfo*> existing = Info(sui);
    if (existing.ok()) continue;  // issued before: SUIs are never reused
    if (!absl::IsNotFound(existing.status())) return existing.status();
    SuiInfo& info = suis_[sui.bits()];
    info.set_state(SuiInfo::STATE_ACTIVE);
    info.set_created_micros(now_micros_);
    dirty_.insert(sui.bits());
    ++active_delta_;
    return sui;
  }
}

absl::Status Linker::Run::Assign(std::string_view record_key,
                                 const matcher::DecodedIdentity& d, Sui sui,
                                 uint64_t revision) {
  LINKD_ASSIGN_OR_RETURN(SuiInfo * info, Info(sui));
  const std::string key(record_key);
  const LinkValue link{sui, revision};
  batch_->Put(Cf::kLinks, LinkKey(record_key), EncodeLink(link));
  batch_->Put(Cf::kLinks, MemberKey(sui, record_key), "");
  SetLink(record_key, link);
  if (auto r = removed_.find(sui.bits()); r != removed_.end()) {
    r->second.erase(key);
  }
  added_[sui.bits()].insert(key);
  info->set_members(info->members() + 1);
  if (d.has(matcher::TokenSlot::kUpn)) {
    AddUnique(info->mutable_upn_fingerprints(),
              d.token(matcher::TokenSlot::kUpn));
  }
  if (d.has(matcher::TokenSlot::kNhsNumber)) {
    AddUnique(info->mutable_nhs_fingerprints(),
              d.token(matcher::TokenSlot::kNhsNumber));
  }
  dirty_.insert(sui.bits());
  return absl::OkStatus();
}

absl::Status Linker::Run::Unassign(std::string_view record_key, Sui sui) {
  LINKD_ASSIGN_OR_RETURN(SuiInfo * info, Info(sui));
  const std::string key(record_key);
  batch_->Delete(Cf::kLinks, MemberKey(sui, record_key));
  added_[sui.bits()].erase(key);
  removed_[sui.bits()].insert(key);
  info->set_members(info->members() > 0 ? info->members() - 1 : 0);
  dirty_.insert(sui.bits());
  return absl::OkStatus();
}

absl::Status Linker::Run::MoveRecord(const std::string& record_key, Sui to) {
  LINKD_ASSIGN_OR_RETURN(std::optional<LinkValue> link, LinkOf(record_key));
  if (!link.has_value() || link->sui == to) return absl::OkStatus();
  LINKD_ASSIGN_OR_RETURN(const matcher::DecodedIdentity* d,
                         Decoded(record_key));
  if (d == nullptr) return absl::OkStatus();  // record erased: leave it
  LINKD_RETURN_IF_ERROR(Unassign(record_key, link->sui));
  return Assign(record_key, *d, to, link->revision);
}

absl::StatusOr<bool> Linker::Run::Settle(Sui sui,
                                         const std::vector<Sui>& successors,
                                         std::string_view reason) {
  LINKD_ASSIGN_OR_RETURN(SuiInfo * info, Info(sui));
  LINKD_ASSIGN_OR_RETURN(std::vector<std::string> members, Members(sui));
  dirty_.insert(sui.bits());
  if (members.empty()) {
    if (info->state() != SuiInfo::STATE_ACTIVE) return false;
    info->set_state(SuiInfo::STATE_RETIRED);
    info->set_retired_micros(now_micros_);
    info->clear_successors();
    for (const Sui& s : successors) {
      info->add_successors(s.bits());
      LINKD_ASSIGN_OR_RETURN(SuiInfo * next, Info(s));
      AddUnique(next->mutable_merged_from(), sui.bits());
      dirty_.insert(s.bits());
    }
    info->set_retired_reason(std::string(reason));
    info->set_members(0);
    --active_delta_;
    return true;
  }
  LINKD_RETURN_IF_ERROR(LoadIdentities(members));
  info->clear_upn_fingerprints();
  info->clear_nhs_fingerprints();
  for (const std::string& m : members) {
    LINKD_ASSIGN_OR_RETURN(const matcher::DecodedIdentity* d, Decoded(m));
    if (d == nullptr) continue;
    if (d->has(matcher::TokenSlot::kUpn)) {
      AddUnique(info->mutable_upn_fingerprints(),
                d->token(matcher::TokenSlot::kUpn));
    }
    if (d->has(matcher::TokenSlot::kNhsNumber)) {
      AddUnique(info->mutable_nhs_fingerprints(),
                d->token(matcher::TokenSlot::kNhsNumber));
    }
  }
  info->set_members(members.size());
  return false;
}

absl::Status Linker::Run::Merge(Sui from, Sui into, std::string_view reason) {
  LINKD_ASSIGN_OR_RETURN(std::vector<std::string> members, Members(from));
  LINKD_RETURN_IF_ERROR(LoadIdentities(members));
  for (const std::string& m : members) {
    LINKD_ASSIGN_OR_RETURN(const matcher::DecodedIdentity* d, Decoded(m));
    LINKD_ASSIGN_OR_RETURN(std::optional<LinkValue> link, LinkOf(m));
    LINKD_RETURN_IF_ERROR(Unassign(m, from));
    if (d != nullptr && link.has_value()) {
      LINKD_RETURN_IF_ERROR(Assign(m, *d, into, link->revision));
    }
  }
  LINKD_ASSIGN_OR_RETURN(SuiInfo * src, Info(from));
  LINKD_ASSIGN_OR_RETURN(SuiInfo * dst, Info(into));
  for (uint64_t v : src->not_same()) AddUnique(dst->mutable_not_same(), v);
  for (const std::string& c : src->confirmed()) dst->add_confirmed(c);
  for (uint64_t v : src->upn_fingerprints()) {
    AddUnique(dst->mutable_upn_fingerprints(), v);
  }
  for (uint64_t v : src->nhs_fingerprints()) {
    AddUnique(dst->mutable_nhs_fingerprints(), v);
  }
  AddUnique(dst->mutable_merged_from(), from.bits());
  src->set_state(SuiInfo::STATE_RETIRED);
  src->set_retired_micros(now_micros_);
  src->clear_successors();
  src->add_successors(into.bits());
  src->set_retired_reason(std::string(reason));
  src->set_members(0);
  dirty_.insert(from.bits());
  dirty_.insert(into.bits());
  --active_delta_;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Linker::Run::OpenReview(std::string_view record_key,
                                                 std::string_view candidate,
                                                 Sui mine, Sui theirs,
                                                 double weight) {
  if (!review_seq_.has_value()) {
    LINKD_ASSIGN_OR_RETURN(
        int64_t seq,
        l_->store_->GetCounter(Cf::kStats, CounterKey(kReviewSeq)));
    review_seq_ = static_cast<uint64_t>(seq);
  }
  const uint64_t id = ++*review_seq_;
  ReviewTask task;
  task.set_id(id);
  task.set_state(ReviewTask::STATE_OPEN);
  task.set_record_key(std::string(record_key));
  task.set_candidate_record_key(std::string(candidate));
  task.set_record_sui(mine.bits());
  task.set_candidate_sui(theirs.bits());
  task.set_match_weight(weight);
  task.set_created_micros(now_micros_);
  batch_->Put(Cf::kLinks, ReviewKey(id), task.SerializeAsString());
  ++open_delta_;
  ++reviews_issued_;
  return id;
}

void Linker::Run::AddToOverlayBlocks(
    std::string_view record_key,
    const std::vector<blocking::BlockingKey>& keys) {
  const std::string key(record_key);
  if (auto old = keys_.find(key); old != keys_.end()) {
    for (const blocking::BlockingKey& k : old->second) {
      auto& v = blocks_[k];
      v.erase(std::remove(v.begin(), v.end(), key), v.end());
    }
  }
  for (const blocking::BlockingKey& k : keys) blocks_[k].push_back(key);
  keys_[key] = keys;
}

absl::StatusOr<LinkOutcome> Linker::Run::LinkOne(const LinkInput& in) {
  const std::string record_key(in.record_key);
  matcher::DecodedIdentity d;
  LINKD_RETURN_IF_ERROR(matcher::Decode(*in.identity, &d));

  std::vector<blocking::BlockingKey> keys;
  l_->index_->keys()->Keys(*in.identity, &keys);

  // Index: add, or move from the identity it was indexed with.
  LINKD_ASSIGN_OR_RETURN(std::optional<LinkValue> prev_link,
                         LinkOf(record_key));
  std::optional<Sui> prev;
  if (prev_link.has_value()) {
    prev = prev_link->sui;
    const v1::EncodedIdentity* old = nullptr;
    store::StoredRecord stored;
    if (auto it = identity_.find(record_key); it != identity_.end()) {
      old = &it->second;
    } else if (prev_link->revision == in.revision) {
      // Already linked from this very revision (e.g. queued twice).
      LinkOutcome kept;
      kept.action = LinkAction::kKept;
      kept.sui = *prev;
      kept.best_weight = kNoCandidate;
      return kept;
    } else {
      std::string_view source, record_id;
      LINKD_RETURN_IF_ERROR(
          store::DecodeRecordKey(record_key, &source, &record_id));
      store::RecordStore records(l_->store_);
      LINKD_ASSIGN_OR_RETURN(
          std::optional<store::StoredRecord> indexed,
          records.GetRevision(source, record_id, prev_link->revision));
      if (indexed.has_value()) {
        stored = *std::move(indexed);
        old = &stored.identity();
      }
    }
    if (old != nullptr) {
      LINKD_RETURN_IF_ERROR(
          l_->index_->Update(record_key, *old, *in.identity, batch_));
    } else {
      l_->index_->AddKeys(record_key, keys, batch_);
    }
  } else {
    l_->index_->AddKeys(record_key, keys, batch_);
  }
  identity_[record_key] = *in.identity;
  decoded_[record_key] = d;
  l_->cache_->identities.erase(record_key);

  // Candidates: the committed index plus this call's earlier records.
  LINKD_ASSIGN_OR_RETURN(
      blocking::CandidateResult committed,
      l_->index_->CandidatesForKeys(keys, l_->options_.candidates, record_key));
  absl::flat_hash_set<std::string> seen;
  std::vector<std::string> candidates;
  for (blocking::Candidate& c : committed.candidates) {
    if (seen.insert(c.record_key).second) {
      candidates.push_back(std::move(c.record_key));
    }
  }
  for (const blocking::BlockingKey& k : keys) {
    auto it = blocks_.find(k);
    if (it == blocks_.end()) continue;
    for (const std::string& other : it->second) {
      if (other != record_key && seen.insert(other).second) {
        candidates.push_back(other);
      }
    }
  }
  AddToOverlayBlocks(record_key, keys);
  LINKD_RETURN_IF_ERROR(LoadIdentities(candidates));

  // Score the candidates, keeping those that can change the decision (as
  // LinkBulk does). Only their SUIs are read, and they are grouped by SUI.
  struct Kept {
    const std::string* record_key;
    double weight;
    bool conflict;
  };
  std::vector<Kept> kept;
  std::vector<std::string> kept_keys;
  matcher::ComparisonVector v;
  for (const std::string& c : candidates) {
    LINKD_ASSIGN_OR_RETURN(const matcher::DecodedIdentity* dc, Decoded(c));
    if (dc == nullptr) continue;
    matcher::Compare(d, *dc, model_->comparison(), &v);
    const double w = LinkWeight(*model_, v);
    if (!CanChangeDecision(*model_, w, v.hard_conflict())) continue;
    kept.push_back(Kept{&c, w, v.hard_conflict()});
    kept_keys.push_back(c);
  }
  LINKD_RETURN_IF_ERROR(LoadLinks(kept_keys));
  Groups groups;
  for (const Kept& k : kept) {
    LINKD_ASSIGN_OR_RETURN(std::optional<Sui> sc, SuiOf(*k.record_key));
    if (!sc.has_value()) continue;
    groups[sc->bits()].Add(*k.record_key, k.weight, k.conflict);
  }
  // The SUI records Choose reads, in one batch.
  std::vector<uint64_t> suis;
  if (prev.has_value()) suis.push_back(prev->bits());
  for (const auto& [bits, g] : groups) {
    if (!PassedOver(g, prev.has_value())) suis.push_back(bits);
  }
  LINKD_RETURN_IF_ERROR(LoadSuis(suis));
  return Choose(record_key, d, &groups, prev, in.revision);
}

absl::StatusOr<LinkOutcome> Linker::Run::LinkScored(const ScoredInput& in) {
  const std::string record_key(in.record_key);
  const size_t run_records = bulk_->records.size();
  Groups& groups = scratch_groups_;  // reused: keeps its capacity
  groups.clear();
  for (const internal::ScoredCandidate& c : in.candidates) {
    if (c.ref < run_records) {  // an earlier record of the run
      const uint64_t bits = bulk_->sui[c.ref];
      if (bits == 0) continue;
      groups[bits].Add(bulk_->records[c.ref].record_key, c.weight, c.conflict);
      continue;
    }
    const std::string& key = (*bulk_->indexed)[c.ref - run_records];
    LINKD_ASSIGN_OR_RETURN(std::optional<Sui> sc, SuiOf(key));
    if (!sc.has_value()) continue;
    groups[sc->bits()].Add(key, c.weight, c.conflict);
  }
  return Choose(record_key, *in.decoded, &groups, std::nullopt, in.revision);
}

absl::StatusOr<LinkOutcome> Linker::Run::Choose(
    const std::string& record_key, const matcher::DecodedIdentity& d,
    Groups* groups_ptr, std::optional<Sui> prev, uint64_t revision) {
  Groups& groups = *groups_ptr;
  const SuiInfo* prev_info = nullptr;
  if (prev.has_value()) {
    LINKD_ASSIGN_OR_RETURN(SuiInfo * p, Info(*prev));
    prev_info = p;
  }
  // Eligible SUIs, best first; SUIs blocked only by records that conflict
  // with this one are kept aside for competitive linking.
  std::vector<std::pair<double, uint64_t>> ranked;
  std::vector<std::pair<double, uint64_t>> blocked;
  const double margin = l_->options_.evict_margin_bits;
  const double upper = model_->upper_threshold();
  const double lower = model_->lower_threshold();
  for (auto& [bits, g] : groups) {
    // A SUI holding a record that conflicts with this one is never joined;
    // it matters only as a candidate for eviction (below).
    if (PassedOver(g, prev.has_value())) continue;
    LINKD_ASSIGN_OR_RETURN(Sui s, Sui::FromBits(bits));
    LINKD_ASSIGN_OR_RETURN(SuiInfo * info, Info(s));
    if (info->state() != SuiInfo::STATE_ACTIVE) continue;
    const bool own = prev.has_value() && *prev == s;
    if (g.conflict || (!own && IdentifierConflict(*info, d))) {
      if (!prev.has_value()) blocked.emplace_back(g.best_clean, bits);
      continue;
    }
    if (!own && prev_info != nullptr &&
        !Compatible(*prev_info, prev->bits(), *info, bits)) {
      continue;
    }
    ranked.emplace_back(g.best, bits);
  }
  std::sort(ranked.rbegin(), ranked.rend());

  LinkOutcome out;
  if (margin >= 0 && !blocked.empty()) {
    std::sort(blocked.rbegin(), blocked.rend());
    const double best_free = ranked.empty() ? kNoCandidate : ranked[0].first;
    const auto& [w, bits] = blocked.front();
    if (w >= upper + margin && w >= best_free + margin) {
      LINKD_ASSIGN_OR_RETURN(Sui s, Sui::FromBits(bits));
      LINKD_ASSIGN_OR_RETURN(out.evicted, Evict(s, d, w));
      if (!out.evicted.empty()) {
        groups[bits].best = w;
        groups[bits].best_record = groups[bits].best_clean_record;
        ranked.emplace_back(w, bits);
        std::sort(ranked.rbegin(), ranked.rend());
      }
    }
  }
  out.best_weight = ranked.empty() ? kNoCandidate : ranked.front().first;

  if (prev.has_value()) {
    // An update: stay unless the record no longer belongs.
    double own_weight = kNoCandidate;
    for (const auto& [w, bits] : ranked) {
      if (bits == prev->bits()) own_weight = w;
    }
    LINKD_ASSIGN_OR_RETURN(std::vector<std::string> members, Members(*prev));
    const bool alone = members.size() <= 1;
    if (!alone && own_weight >= lower) {
      LINKD_RETURN_IF_ERROR(Relink(record_key, *prev, revision));
      out.action = LinkAction::kKept;
      out.sui = *prev;
      return out;
    }
    const bool better_elsewhere = !ranked.empty() &&
                                  ranked.front().second != prev->bits() &&
                                  ranked.front().first >= upper;
    if (alone && !better_elsewhere) {
      LINKD_RETURN_IF_ERROR(Relink(record_key, *prev, revision));
      out.action = LinkAction::kKept;
      out.sui = *prev;
      return out;
    }
    LINKD_RETURN_IF_ERROR(Unassign(record_key, *prev));
    if (alone) {  // the SUI now has no record: it resolves to the new one
      LINKD_ASSIGN_OR_RETURN(Sui target, Sui::FromBits(ranked.front().second));
      LINKD_RETURN_IF_ERROR(Assign(record_key, d, target, revision));
      LINKD_ASSIGN_OR_RETURN(SuiInfo * info, Info(*prev));
      LINKD_ASSIGN_OR_RETURN(SuiInfo * successor, Info(target));
      AddUnique(successor->mutable_merged_from(), prev->bits());
      info->set_state(SuiInfo::STATE_RETIRED);
      info->set_retired_micros(now_micros_);
      info->clear_successors();
      info->add_successors(target.bits());
      info->set_retired_reason("its only record was updated and relinked");
      --active_delta_;
      out.action = LinkAction::kMoved;
      out.sui = target;
      out.merged.push_back(*prev);
      return out;
    }
    // Leaves a SUI that keeps its other records: link afresh below.
    ranked.erase(
        std::remove_if(ranked.begin(), ranked.end(),
                       [&](const auto& r) { return r.second == prev->bits(); }),
        ranked.end());
    out.best_weight = ranked.empty() ? kNoCandidate : ranked.front().first;
  }

  const bool moved = prev.has_value();
  if (!ranked.empty() && ranked.front().first >= upper) {
    LINKD_ASSIGN_OR_RETURN(Sui target, Sui::FromBits(ranked.front().second));
    LINKD_RETURN_IF_ERROR(Assign(record_key, d, target, revision));
    out.action = moved ? LinkAction::kMoved : LinkAction::kJoined;
    out.sui = target;
    // Bridge: merge other SUIs this record matches with a clear margin.
    if (ranked.front().first >= upper + l_->options_.merge_margin_bits) {
      for (size_t i = 1; i < ranked.size(); ++i) {
        if (ranked[i].first < upper + l_->options_.merge_margin_bits) break;
        LINKD_ASSIGN_OR_RETURN(Sui other, Sui::FromBits(ranked[i].second));
        LINKD_ASSIGN_OR_RETURN(SuiInfo * a, Info(target));
        LINKD_ASSIGN_OR_RETURN(SuiInfo * b, Info(other));
        if (b->state() != SuiInfo::STATE_ACTIVE ||
            !Compatible(*a, target.bits(), *b, other.bits())) {
          continue;
        }
        LINKD_RETURN_IF_ERROR(
            Merge(other, target, "merged: a record matched both"));
        out.merged.push_back(other);
      }
    }
    return out;
  }
  LINKD_ASSIGN_OR_RETURN(Sui fresh, NewSui());
  LINKD_RETURN_IF_ERROR(Assign(record_key, d, fresh, revision));
  out.sui = fresh;
  out.action = moved ? LinkAction::kMoved : LinkAction::kNewSui;
  if (!ranked.empty() && ranked.front().first >= lower) {
    LINKD_ASSIGN_OR_RETURN(Sui theirs, Sui::FromBits(ranked.front().second));
    LINKD_ASSIGN_OR_RETURN(
        out.review_id, OpenReview(record_key, groups[theirs.bits()].best_record,
                                  fresh, theirs, ranked.front().first));
    if (!moved) out.action = LinkAction::kNewForReview;
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Linker::Run::Evict(
    Sui sui, const matcher::DecodedIdentity& d, double weight) {
  std::vector<std::string> evicted;
  LINKD_ASSIGN_OR_RETURN(SuiInfo * info, Info(sui));
  LINKD_ASSIGN_OR_RETURN(std::vector<std::string> members, Members(sui));
  LINKD_RETURN_IF_ERROR(LoadIdentities(members));
  std::vector<std::string> keep, out;
  std::vector<const matcher::DecodedIdentity*> keep_d, out_d;
  for (const std::string& m : members) {
    LINKD_ASSIGN_OR_RETURN(const matcher::DecodedIdentity* dm, Decoded(m));
    if (dm == nullptr) return evicted;  // a member's record is gone: leave it
    if (matcher::Compare(d, *dm, model_->comparison()).hard_conflict()) {
      for (const std::string& c : info->confirmed()) {
        if (c == m) return evicted;  // a reviewer said it belongs here
      }
      out.push_back(m);
      out_d.push_back(dm);
    } else {
      keep.push_back(m);
      keep_d.push_back(dm);
    }
  }
  if (out.empty() || keep.empty()) return evicted;
  // Each conflicting record's own attachment to the rest of the SUI.
  std::vector<double> attach(out.size(), kNoCandidate);
  std::vector<size_t> attach_to(out.size(), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t k = 0; k < keep.size(); ++k) {
      const double w = LinkWeight(
          *model_,
          matcher::Compare(*out_d[i], *keep_d[k], model_->comparison()));
      if (w > attach[i]) {
        attach[i] = w;
        attach_to[i] = k;
      }
    }
    if (weight - attach[i] < l_->options_.evict_margin_bits) return evicted;
  }
  // The conflicting records leave together (they were linked to each
  // other); the SUI keeps its number and the rest.
  LINKD_ASSIGN_OR_RETURN(Sui fresh, NewSui());
  for (size_t i = 0; i < out.size(); ++i) {
    LINKD_ASSIGN_OR_RETURN(std::optional<LinkValue> link, LinkOf(out[i]));
    LINKD_RETURN_IF_ERROR(Unassign(out[i], sui));
    LINKD_RETURN_IF_ERROR(Assign(out[i], *out_d[i], fresh,
                                 link.has_value() ? link->revision : 1));
  }
  info->clear_upn_fingerprints();
  info->clear_nhs_fingerprints();
  for (const matcher::DecodedIdentity* dk : keep_d) {
    if (dk->has(matcher::TokenSlot::kUpn)) {
      AddUnique(info->mutable_upn_fingerprints(),
                dk->token(matcher::TokenSlot::kUpn));
    }
    if (dk->has(matcher::TokenSlot::kNhsNumber)) {
      AddUnique(info->mutable_nhs_fingerprints(),
                dk->token(matcher::TokenSlot::kNhsNumber));
    }
  }
  dirty_.insert(sui.bits());
  LINKD_ASSIGN_OR_RETURN(SuiInfo * split, Info(fresh));
  split->set_split_from(sui.bits());
  // Each eviction is a decision a person should be able to review and
  // undo: the evicted record against what it was linked with.
  for (size_t i = 0; i < out.size(); ++i) {
    LINKD_RETURN_IF_ERROR(
        OpenReview(out[i], keep[attach_to[i]], fresh, sui, attach[i]).status());
  }
  return out;
}

absl::StatusOr<ReviewTask> Linker::Run::Decide(uint64_t id, bool same,
                                               std::string_view by,
                                               std::string_view reason) {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         l_->store_->Get(Cf::kLinks, ReviewKey(id)));
  if (!v.has_value()) {
    return absl::NotFoundError(absl::StrCat("review ", id, ": no such task"));
  }
  ReviewTask task;
  if (!task.ParseFromString(*v)) {
    return absl::DataLossError("links: malformed review task");
  }
  if (task.state() != ReviewTask::STATE_OPEN) {
    return absl::FailedPreconditionError(
        absl::StrCat("review ", id, ": already decided"));
  }
  // The records may have moved since the task was opened: decide on the
  // SUIs they belong to now.
  LINKD_ASSIGN_OR_RETURN(std::optional<Sui> mine, SuiOf(task.record_key()));
  LINKD_ASSIGN_OR_RETURN(std::optional<Sui> theirs,
                         SuiOf(task.candidate_record_key()));
  if (!mine.has_value() || !theirs.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("review ", id, ": a record is no longer linked"));
  }
  if (*mine != *theirs) {
    LINKD_ASSIGN_OR_RETURN(SuiInfo * a, Info(*mine));
    LINKD_ASSIGN_OR_RETURN(SuiInfo * b, Info(*theirs));
    if (same) {
      if (!Compatible(*a, mine->bits(), *b, theirs->bits())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "review ", id,
            ": the SUIs hold different UPNs or NHS numbers, or were decided "
            "to be different people"));
      }
      LINKD_RETURN_IF_ERROR(
          Merge(*mine, *theirs, absl::StrCat("merged by review ", id)));
      LINKD_ASSIGN_OR_RETURN(SuiInfo * merged, Info(*theirs));
      for (const std::string* k :
           {&task.record_key(), &task.candidate_record_key()}) {
        if (std::find(merged->confirmed().begin(), merged->confirmed().end(),
                      *k) == merged->confirmed().end()) {
          merged->add_confirmed(*k);
        }
      }
      dirty_.insert(theirs->bits());
    } else {
      AddUnique(a->mutable_not_same(), theirs->bits());
      AddUnique(b->mutable_not_same(), mine->bits());
      dirty_.insert(mine->bits());
      dirty_.insert(theirs->bits());
    }
  }
  task.set_state(same ? ReviewTask::STATE_SAME : ReviewTask::STATE_NOT_SAME);
  task.set_decided_micros(now_micros_);
  task.set_decided_by(std::string(by));
  task.set_reason(std::string(reason));
  batch_->Put(Cf::kLinks, ReviewKey(id), task.SerializeAsString());
  --open_delta_;
  return task;
}

absl::Status Linker::Run::Finish() {
  for (uint64_t bits : dirty_) {
    LINKD_ASSIGN_OR_RETURN(Sui sui, Sui::FromBits(bits));
    batch_->Put(Cf::kLinks, SuiKey(sui), suis_[bits].SerializeAsString());
  }
  if (active_delta_ != 0) {
    batch_->AddToCounter(Cf::kStats, CounterKey(kActiveSuis), active_delta_);
  }
  if (open_delta_ != 0) {
    batch_->AddToCounter(Cf::kStats, CounterKey(kOpenReviews), open_delta_);
  }
  if (reviews_issued_ != 0) {
    batch_->AddToCounter(Cf::kStats, CounterKey(kReviewSeq), reviews_issued_);
  }
  return absl::OkStatus();
}

void Linker::Run::Continue(store::WriteBatch* next) {
  // The batch before the one just finished is committed now: Members()
  // reads its changes from the store. The one just finished may still be
  // being committed: its member changes stay in view.
  prev_added_ = std::move(added_);
  prev_removed_ = std::move(removed_);
  added_.clear();
  removed_.clear();
  dirty_.clear();
  active_delta_ = 0;
  open_delta_ = 0;
  reviews_issued_ = 0;
  batch_ = next;
  l_->cache_->Trim(l_->options_.identity_cache_entries);
}

Linker::Linker(store::Store* store, const blocking::BlockingIndex* index,
               LinkerOptions options)
    : store_(store),
      index_(index),
      options_(options),
      model_(std::make_shared<matcher::Model>()),
      cache_(std::make_unique<Cache>()) {}

Linker::~Linker() = default;

void Linker::SetModel(std::shared_ptr<const matcher::Model> model) {
  absl::MutexLock lock(&model_mu_);
  model_ = std::move(model);
}

std::shared_ptr<const matcher::Model> Linker::model() const {
  absl::MutexLock lock(&model_mu_);
  return model_;
}

absl::Status Linker::LoadSavedModel() {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         store_->Get(Cf::kModel, ModelKey()));
  if (!v.has_value()) return absl::OkStatus();
  store::v1::LinkageModel proto;
  if (!proto.ParseFromString(*v)) {
    return absl::DataLossError("model: the saved linkage model is malformed");
  }
  absl::StatusOr<matcher::Model> model = matcher::Model::FromProto(proto);
  if (!model.ok()) {
    return absl::DataLossError(
        absl::StrCat("model: the saved linkage model is invalid: ",
                     model.status().message()));
  }
  SetModel(std::make_shared<const matcher::Model>(*std::move(model)));
  return absl::OkStatus();
}

void Linker::SaveModel(const matcher::Model& model, store::WriteBatch* batch) {
  store::v1::LinkageModel proto;
  model.ToProto(&proto);
  batch->Put(Cf::kModel, ModelKey(), proto.SerializeAsString());
}

absl::StatusOr<std::vector<LinkOutcome>> Linker::Link(
    absl::Span<const LinkInput> inputs, absl::Time now,
    store::WriteBatch* batch) {
  const std::shared_ptr<const matcher::Model> model = this->model();
  Run run(this, model.get(), now, batch);
  std::vector<LinkOutcome> outcomes;
  outcomes.reserve(inputs.size());
  for (const LinkInput& in : inputs) {
    LINKD_ASSIGN_OR_RETURN(LinkOutcome o, run.LinkOne(in));
    outcomes.push_back(std::move(o));
  }
  LINKD_RETURN_IF_ERROR(run.Finish());
  return outcomes;
}

absl::StatusOr<Linker::RelinkStats> Linker::Relink(
    const std::string& scratch_dir, absl::Time now, const BulkOptions& options,
    BulkCommit commit) {
  const auto start = std::chrono::steady_clock::now();
  RelinkStats stats;
  // 1. Every linked record, in the order it was first seen.
  struct Linked {
    std::string key;
    uint64_t sui;
    int64_t first_seen = 0;
  };
  std::vector<Linked> linked;
  LINKD_RETURN_IF_ERROR(ForEachLink([&](std::string_view key, Sui sui) {
    linked.push_back({std::string(key), sui.bits(), 0});
    return true;
  }));
  std::vector<BulkRecord> records(linked.size());
  std::vector<char> present(linked.size(), 0);
  constexpr size_t kChunk = 32768;
  for (size_t begin = 0; begin < linked.size(); begin += kChunk) {
    const size_t end = std::min(linked.size(), begin + kChunk);
    std::vector<std::string> keys;
    for (size_t i = begin; i < end; ++i) keys.push_back(linked[i].key);
    LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                           store_->MultiGet(Cf::kRecords, keys));
    std::vector<absl::Status> errors(
        static_cast<size_t>(std::max(1, options.threads)));
    util::ParallelFor(
        end - begin, options.threads, [&](size_t b, size_t e, size_t slice) {
          store::StoredRecord stored;
          for (size_t i = b; i < e; ++i) {
            if (!values[i].has_value()) continue;
            if (!stored.ParseFromString(*values[i])) {
              errors[slice] =
                  absl::DataLossError("records: malformed stored record");
              return;
            }
            absl::StatusOr<BulkRecord> r = PrepareBulk(
                linked[begin + i].key, stored.identity(), stored.revision());
            if (!r.ok()) {
              errors[slice] = r.status();
              return;
            }
            records[begin + i] = *std::move(r);
            linked[begin + i].first_seen = stored.first_seen_micros();
            present[begin + i] = 1;
          }
        });
    for (const absl::Status& e : errors) LINKD_RETURN_IF_ERROR(e);
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < linked.size(); ++i) {
    if (present[i]) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return linked[a].first_seen != linked[b].first_seen
               ? linked[a].first_seen < linked[b].first_seen
               : linked[a].key < linked[b].key;
  });
  std::vector<BulkRecord> ordered;
  ordered.reserve(order.size());
  for (size_t i : order) ordered.push_back(std::move(records[i]));
  std::vector<BulkRecord>().swap(records);
  stats.records = ordered.size();

  // 2. Link them afresh in a scratch database holding a copy of the
  // records (merges and evictions read identities from it).
  std::error_code ec;
  std::filesystem::remove_all(scratch_dir, ec);
  absl::flat_hash_map<std::string, uint64_t> fresh_of;  // record -> cluster
  {
    store::StoreOptions so;
    so.path = scratch_dir;
    so.block_cache_mib = 64;
    LINKD_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> scratch,
                           store::Store::Open(so));
    LINKD_ASSIGN_OR_RETURN(store::SortedLoad load,
                           scratch->NewSortedLoad(Cf::kRecords));
    store::ScanOptions scan;
    scan.fill_cache = false;
    LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
        Cf::kRecords, "",
        [&](std::string_view key,
            std::string_view value) -> absl::StatusOr<bool> {
          LINKD_RETURN_IF_ERROR(load.Add(key, value));
          return true;
        },
        scan));
    std::vector<store::SortedLoad> loads;
    loads.push_back(std::move(load));
    LINKD_RETURN_IF_ERROR(scratch->Ingest(std::move(loads)));
    blocking::BlockingIndex scratch_index(scratch.get(), index_->keys());
    Linker scratch_linker(scratch.get(), &scratch_index, options_);
    scratch_linker.SetModel(model());
    LINKD_RETURN_IF_ERROR(
        scratch_linker
            .LinkBulk(std::move(ordered), now, options,
                      [&](store::WriteBatch batch, size_t) {
                        store::CommitOptions c;
                        c.sync = false;  // scratch: rebuilt if lost
                        return scratch->Commit(std::move(batch), c);
                      })
            .status());
    LINKD_RETURN_IF_ERROR(
        scratch_linker.ForEachLink([&](std::string_view key, Sui sui) {
          fresh_of.emplace(std::string(key), sui.bits());
          return true;
        }));
  }
  std::filesystem::remove_all(scratch_dir, ec);

  // 3. Which SUI each new cluster carries on: the SUI holding most of its
  // records, each SUI at most once, largest overlaps first.
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, uint64_t>>
      overlap;  // cluster -> live SUI -> records
  for (const Linked& l : linked) {
    auto it = fresh_of.find(l.key);
    if (it != fresh_of.end()) ++overlap[it->second][l.sui];
  }
  struct Claim {
    uint64_t count, cluster, live;
  };
  std::vector<Claim> claims;
  for (const auto& [cluster, lives] : overlap) {
    for (const auto& [live, count] : lives) {
      claims.push_back({count, cluster, live});
    }
  }
  std::sort(claims.begin(), claims.end(), [](const Claim& a, const Claim& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.cluster != b.cluster ? a.cluster < b.cluster : a.live < b.live;
  });
  absl::flat_hash_map<uint64_t, uint64_t> carried;  // cluster -> live SUI
  absl::flat_hash_set<uint64_t> taken;
  for (const Claim& c : claims) {
    if (carried.contains(c.cluster) || taken.contains(c.live)) continue;
    carried[c.cluster] = c.live;
    taken.insert(c.live);
  }

  // 4. Move what changed, respecting reviewer decisions.
  const std::shared_ptr<const matcher::Model> m = model();
  store::WriteBatch batch = store_->NewBatch();
  Run run(this, m.get(), now, &batch);
  absl::flat_hash_map<uint64_t, Sui> created;  // cluster -> new SUI
  absl::flat_hash_map<uint64_t, std::vector<Sui>> went_to;  // live -> SUIs
  absl::flat_hash_set<uint64_t> touched;
  size_t since_commit = 0;
  const size_t per_batch = std::max<size_t>(1, options.records_per_batch);
  for (const Linked& l : linked) {
    auto it = fresh_of.find(l.key);
    if (it == fresh_of.end()) continue;
    LINKD_ASSIGN_OR_RETURN(Sui from, Sui::FromBits(l.sui));
    LINKD_ASSIGN_OR_RETURN(SuiInfo info, GetSui(from));
    if (std::find(info.confirmed().begin(), info.confirmed().end(), l.key) !=
        info.confirmed().end()) {
      continue;  // a reviewer put it here
    }
    std::optional<Sui> to;
    if (auto c = carried.find(it->second); c != carried.end()) {
      LINKD_ASSIGN_OR_RETURN(to, Sui::FromBits(c->second));
    }
    if (to.has_value() && *to == from) continue;
    if (to.has_value()) {
      LINKD_ASSIGN_OR_RETURN(SuiInfo target, GetSui(*to));
      if (std::find(target.not_same().begin(), target.not_same().end(),
                    from.bits()) != target.not_same().end() ||
          std::find(info.not_same().begin(), info.not_same().end(),
                    to->bits()) != info.not_same().end()) {
        continue;  // decided to be different children
      }
    } else {
      auto [c, inserted] = created.try_emplace(it->second, Sui());
      if (inserted) {
        LINKD_ASSIGN_OR_RETURN(c->second, run.FreshSui());
        ++stats.new_suis;
      }
      to = c->second;
    }
    LINKD_RETURN_IF_ERROR(run.MoveRecord(l.key, *to));
    ++stats.moved;
    touched.insert(l.sui);
    touched.insert(to->bits());
    auto& dest = went_to[l.sui];
    if (std::find(dest.begin(), dest.end(), *to) == dest.end()) {
      dest.push_back(*to);
    }
    if (++since_commit == per_batch) {
      LINKD_RETURN_IF_ERROR(run.Finish());
      LINKD_RETURN_IF_ERROR(commit(std::move(batch), stats.moved));
      batch = store_->NewBatch();
      run.Continue(&batch);
      since_commit = 0;
    }
  }
  for (uint64_t bits : touched) {
    LINKD_ASSIGN_OR_RETURN(Sui sui, Sui::FromBits(bits));
    LINKD_ASSIGN_OR_RETURN(
        bool retired,
        run.Settle(sui, went_to[bits], "its records were re-linked elsewhere"));
    if (retired) ++stats.retired_suis;
  }
  LINKD_RETURN_IF_ERROR(run.Finish());
  LINKD_RETURN_IF_ERROR(commit(std::move(batch), stats.moved));
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return stats;
}

absl::StatusOr<BulkRecord> Linker::PrepareBulk(
    std::string_view record_key, const v1::EncodedIdentity& identity,
    uint64_t revision) const {
  BulkRecord r;
  r.record_key = std::string(record_key);
  r.revision = revision;
  LINKD_RETURN_IF_ERROR(matcher::Decode(identity, &r.decoded));
  index_->keys()->Keys(identity, &r.keys);
  return r;
}

absl::StatusOr<BulkStats> Linker::LinkBulk(std::vector<BulkRecord> records,
                                           absl::Time now,
                                           const BulkOptions& options,
                                           BulkCommit commit) {
  auto check = [&options]() -> absl::Status {
    if (options.cancelled && options.cancelled()) {
      return absl::CancelledError("bulk linking: stopped");
    }
    return absl::OkStatus();
  };
  LINKD_RETURN_IF_ERROR(check());
  auto stage = [&options](std::string_view name) {
    if (options.progress) options.progress(name);
  };
  const std::shared_ptr<const matcher::Model> model = this->model();
  // Records already in the index are candidates too; skip reading it when
  // nothing was ever linked.
  LINKD_ASSIGN_OR_RETURN(LinkStats before, Stats());
  const bool use_index = before.active_suis > 0;
  std::vector<std::vector<blocking::BlockingKey>> keys(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    keys[i] = std::move(records[i].keys);
  }
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  BulkStats stats;
  stats.records = records.size();
  // The run's shared blocks; each chunk's candidate pairs are found from
  // them when the chunk is scored.
  std::optional<blocking::RunBlocks> blocks;
  auto find_blocks = [&]() -> absl::Status {
    stage("finding candidate pairs");
    const auto start = Clock::now();
    blocks.emplace(keys, options.threads);
    stats.block_seconds += since(start);
    return check();
  };
  // The run's index entries are written as table files: far cheaper than
  // batches, and harmless should the links below never be committed.
  auto write_index = [&]() -> absl::Status {
    stage("writing the blocking index");
    const auto start = Clock::now();
    std::vector<std::string_view> record_keys;
    record_keys.reserve(records.size());
    for (const BulkRecord& r : records) record_keys.push_back(r.record_key);
    LINKD_RETURN_IF_ERROR(index_->BulkAdd(record_keys, keys, options.threads));
    stats.index_seconds = since(start);
    return check();
  };
  auto free_keys = [&keys]() {
    std::vector<std::vector<blocking::BlockingKey>>().swap(keys);
    malloc_trim(0);  // their pieces go back to the system
  };

  // Scores, a chunk of records at a time. Without stored candidates (an
  // initial load) the index goes first, then the blocks (each stage's
  // memory is freed before the next), and the next chunk is scored while
  // this one is clustered, so only two chunks' candidates are ever held.
  // Scoring against the stored index must not find the run's own records
  // there: then every chunk is scored before the index is written.
  const size_t chunk = std::max<size_t>(1, options.score_chunk_records);
  const size_t chunks = (records.size() + chunk - 1) / chunk;
  auto score = [&](size_t c, internal::BulkScores* out) -> absl::Status {
    const size_t begin = c * chunk;
    const size_t end = std::min(records.size(), begin + chunk);
    const auto block_start = Clock::now();
    const blocking::EarlierCandidates earlier = blocks->Earlier(
        begin, end, options_.candidates.max_block_size, options.threads);
    stats.candidate_pairs += earlier.earlier.size();
    stats.oversize_skips += earlier.oversize_skips;
    stats.block_seconds += since(block_start);
    const auto score_start = Clock::now();
    absl::Status s = internal::ScoreBulk(
        records, earlier, keys, *index_, store_, *model, options_.candidates,
        use_index, begin, end, options.threads, out);
    stats.score_seconds += since(score_start);
    stats.kept_pairs += out->stats.kept_pairs;
    stats.committed_candidates += out->stats.committed_candidates;
    return s;
  };
  std::deque<internal::BulkScores> scored;  // chunks c, c + 1, ...
  if (use_index) {
    LINKD_RETURN_IF_ERROR(find_blocks());
    stage("scoring candidate pairs");
    for (size_t c = 0; c < chunks; ++c) {
      LINKD_RETURN_IF_ERROR(score(c, &scored.emplace_back()));
      LINKD_RETURN_IF_ERROR(check());
    }
    blocks.reset();
    LINKD_RETURN_IF_ERROR(write_index());
    free_keys();
  } else {
    LINKD_RETURN_IF_ERROR(write_index());
    LINKD_RETURN_IF_ERROR(find_blocks());
    free_keys();  // scoring reads no stored index
    if (chunks > 0) LINKD_RETURN_IF_ERROR(score(0, &scored.emplace_back()));
  }

  const auto start = Clock::now();
  stage("scoring and clustering");
  store::WriteBatch batch = store_->NewBatch();
  Run run(this, model.get(), now, &batch);
  Run::BulkView view;
  view.records = records;
  view.sui.assign(records.size(), 0);
  view.position.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string& k = records[i].record_key;
    view.position.emplace(absl::string_view(k.data(), k.size()),
                          static_cast<uint32_t>(i));
  }
  run.SetBulk(&view);
  // Each batch is committed on a second thread while the next one is
  // decided; at most one commit is in flight. The next chunk is scored on
  // the scoring threads meanwhile.
  std::future<absl::Status> in_flight;
  std::future<absl::Status> scoring;
  double commit_seconds = 0;  // written by the committing thread
  auto wait = [](std::future<absl::Status>* f) -> absl::Status {
    if (!f->valid()) return absl::OkStatus();
    return f->get();
  };
  auto link_all = [&]() -> absl::Status {
    const size_t per_batch = std::max<size_t>(1, options.records_per_batch);
    for (size_t i = 0; i < records.size(); ++i) {
      if (i % chunk == 0) {  // chunk i / chunk starts
        if (i > 0) {
          LINKD_RETURN_IF_ERROR(wait(&scoring));
          scored.pop_front();
        }
        const size_t next = i / chunk + 1;
        if (!use_index && next < chunks) {
          internal::BulkScores* out = &scored.emplace_back();
          scoring = std::async(std::launch::async, [&score, next, out] {
            return score(next, out);
          });
        }
        view.indexed = &scored.front().indexed;
      }
      Run::ScoredInput in{records[i].record_key, &records[i].decoded,
                          records[i].revision, scored.front().of(i)};
      LINKD_RETURN_IF_ERROR(run.LinkScored(in).status());
      if ((i + 1) % per_batch != 0 && i + 1 != records.size()) continue;
      LINKD_RETURN_IF_ERROR(run.Finish());
      LINKD_RETURN_IF_ERROR(wait(&in_flight));  // the previous batch is in
      LINKD_RETURN_IF_ERROR(check());
      in_flight = std::async(
          std::launch::async,
          [&commit, &commit_seconds, done = i + 1,
           b = std::make_shared<store::WriteBatch>(std::move(batch))]() {
            const auto commit_start = Clock::now();
            absl::Status s = commit(std::move(*b), done);
            commit_seconds +=
                std::chrono::duration<double>(Clock::now() - commit_start)
                    .count();
            return s;
          });
      batch = store_->NewBatch();
      run.Continue(&batch);
    }
    return absl::OkStatus();
  };
  absl::Status linked = link_all();
  // Also on error: nothing may outlive this call.
  absl::Status scored_rest = wait(&scoring);
  absl::Status committed = wait(&in_flight);
  LINKD_RETURN_IF_ERROR(linked);
  LINKD_RETURN_IF_ERROR(scored_rest);
  LINKD_RETURN_IF_ERROR(committed);
  stats.commit_seconds = commit_seconds;
  stats.cluster_seconds = since(start);
  return stats;
}

absl::StatusOr<ReviewTask> Linker::Decide(uint64_t id, bool same,
                                          std::string_view decided_by,
                                          std::string_view reason,
                                          absl::Time now,
                                          store::WriteBatch* batch) {
  const std::shared_ptr<const matcher::Model> model = this->model();
  Run run(this, model.get(), now, batch);
  LINKD_ASSIGN_OR_RETURN(ReviewTask task,
                         run.Decide(id, same, decided_by, reason));
  LINKD_RETURN_IF_ERROR(run.Finish());
  return task;
}

absl::StatusOr<std::optional<Sui>> Linker::Resolve(
    std::string_view record_key, const store::Snapshot* snapshot) const {
  LINKD_ASSIGN_OR_RETURN(
      std::optional<std::string> v,
      store_->Get(Cf::kLinks, LinkKey(record_key), snapshot));
  if (!v.has_value()) return std::optional<Sui>();
  LINKD_ASSIGN_OR_RETURN(LinkValue link, DecodeLink(*v));
  return std::optional<Sui>(link.sui);
}

absl::StatusOr<SuiInfo> Linker::GetSui(Sui sui,
                                       const store::Snapshot* snapshot) const {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         store_->Get(Cf::kLinks, SuiKey(sui), snapshot));
  if (!v.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("sui ", sui.ToString(), ": never issued"));
  }
  SuiInfo info;
  if (!info.ParseFromString(*v)) {
    return absl::DataLossError("links: malformed SUI record");
  }
  return info;
}

absl::StatusOr<Sui> Linker::Current(Sui sui) const {
  for (int hops = 0; hops < 1000; ++hops) {
    LINKD_ASSIGN_OR_RETURN(SuiInfo info, GetSui(sui));
    if (info.state() != SuiInfo::STATE_RETIRED) return sui;
    if (info.successors_size() != 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sui ", sui.ToString(), ": retired into ", info.successors_size(),
          " SUIs (its records were split); name one of them"));
    }
    LINKD_ASSIGN_OR_RETURN(sui, Sui::FromBits(info.successors(0)));
  }
  return absl::DataLossError("links: SUI successors form a cycle");
}

absl::StatusOr<std::vector<std::string>> Linker::Members(
    Sui sui, const store::Snapshot* snapshot) const {
  std::vector<std::string> members;
  store::ScanOptions options;
  options.snapshot = snapshot;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      Cf::kLinks, MemberPrefix(sui),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader r,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(r.ReadU8().status());
        LINKD_RETURN_IF_ERROR(r.ReadU64().status());
        LINKD_ASSIGN_OR_RETURN(std::string_view record, r.ReadString());
        members.emplace_back(record);
        return true;
      },
      options));
  return members;
}

absl::StatusOr<std::vector<Sui>> Linker::Lineage(Sui sui) const {
  std::vector<Sui> out{sui};
  absl::flat_hash_set<uint64_t> seen{sui.bits()};
  for (size_t i = 0; i < out.size(); ++i) {
    LINKD_ASSIGN_OR_RETURN(SuiInfo info, GetSui(out[i]));
    for (uint64_t bits : info.merged_from()) {
      if (!seen.insert(bits).second) continue;
      LINKD_ASSIGN_OR_RETURN(Sui s, Sui::FromBits(bits));
      out.push_back(s);
    }
  }
  return out;
}

absl::StatusOr<Sui> Linker::Lookup(const v1::EncodedIdentity& identity) const {
  matcher::DecodedIdentity d;
  LINKD_RETURN_IF_ERROR(matcher::Decode(identity, &d));
  const std::shared_ptr<const matcher::Model> model = this->model();
  const store::Snapshot snapshot = store_->GetSnapshot();
  LINKD_ASSIGN_OR_RETURN(
      blocking::CandidateResult found,
      index_->Candidates(identity, options_.candidates, {}, &snapshot));
  std::vector<std::string> keys;
  for (const blocking::Candidate& c : found.candidates) {
    keys.push_back(c.record_key);
  }
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                         store_->MultiGet(Cf::kRecords, keys, &snapshot));
  struct Best {
    double weight = kNoCandidate;
    bool conflict = false;
  };
  std::map<uint64_t, Best> by_sui;
  store::StoredRecord stored;
  matcher::DecodedIdentity other;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!values[i].has_value()) continue;
    if (!stored.ParseFromString(*values[i])) {
      return absl::DataLossError("records: malformed stored record");
    }
    LINKD_RETURN_IF_ERROR(matcher::Decode(stored.identity(), &other));
    const matcher::ComparisonVector v =
        matcher::Compare(d, other, model->comparison());
    const double w = LinkWeight(*model, v);
    // A candidate that cannot change a decision cannot change the answer:
    // its SUI is not read (as in linking).
    if (!CanChangeDecision(*model, w, v.hard_conflict())) continue;
    LINKD_ASSIGN_OR_RETURN(std::optional<Sui> sui, Resolve(keys[i], &snapshot));
    if (!sui.has_value()) continue;
    Best& b = by_sui[sui->bits()];
    b.conflict = b.conflict || v.hard_conflict();
    b.weight = std::max(b.weight, w);
  }
  double best = kNoCandidate;
  uint64_t best_bits = 0;
  for (const auto& [bits, b] : by_sui) {
    if (!b.conflict && b.weight > best) {
      best = b.weight;
      best_bits = bits;
    }
  }
  if (best_bits == 0 || best < model->lower_threshold()) {
    return absl::NotFoundError("no linked child matches this encoded identity");
  }
  if (best < model->upper_threshold()) {
    return absl::FailedPreconditionError(
        "the closest linked child is not a certain enough match; give the "
        "SUI or a source record instead");
  }
  return Sui::FromBits(best_bits);
}

absl::Status Linker::ForEachLink(
    absl::FunctionRef<bool(std::string_view record_key, Sui sui)> fn,
    const store::Snapshot* snapshot, std::string_view start_after) const {
  store::ScanOptions options;
  options.snapshot = snapshot;
  options.fill_cache = false;
  const std::string begin = start_after.empty()
                                ? KeyBuilder().AddU8(kTagLink).key()
                                : LinkKey(start_after);
  const std::string end = KeyBuilder().AddU8(kTagLink + 1).key();
  return store_->ScanRange(
      Cf::kLinks, begin, end,
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader r,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(r.ReadU8().status());
        LINKD_ASSIGN_OR_RETURN(std::string_view record, r.ReadString());
        if (!start_after.empty() && record == start_after) return true;
        LINKD_ASSIGN_OR_RETURN(LinkValue link, DecodeLink(value));
        return fn(record, link.sui);
      },
      options);
}

absl::StatusOr<std::vector<ReviewTask>> Linker::ListReviews(
    bool open_only, const store::Snapshot* snapshot) const {
  std::vector<ReviewTask> tasks;
  store::ScanOptions options;
  options.snapshot = snapshot;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      Cf::kLinks, KeyBuilder().AddU8(kTagReview).key(),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        ReviewTask task;
        if (!task.ParseFromArray(value.data(),
                                 static_cast<int>(value.size()))) {
          return absl::DataLossError("links: malformed review task");
        }
        if (!open_only || task.state() == ReviewTask::STATE_OPEN) {
          tasks.push_back(std::move(task));
        }
        return true;
      },
      options));
  return tasks;
}

absl::StatusOr<ReviewTask> Linker::GetReview(uint64_t id) const {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         store_->Get(Cf::kLinks, ReviewKey(id)));
  if (!v.has_value()) {
    return absl::NotFoundError(absl::StrCat("review ", id, ": no such task"));
  }
  ReviewTask task;
  if (!task.ParseFromString(*v)) {
    return absl::DataLossError("links: malformed review task");
  }
  return task;
}

absl::StatusOr<LinkStats> Linker::Stats() const {
  LinkStats stats;
  LINKD_ASSIGN_OR_RETURN(
      stats.active_suis,
      store_->GetCounter(Cf::kStats, CounterKey(kActiveSuis)));
  LINKD_ASSIGN_OR_RETURN(
      stats.open_reviews,
      store_->GetCounter(Cf::kStats, CounterKey(kOpenReviews)));
  return stats;
}

std::string Linker::RecordLinkKey(std::string_view record_key) {
  return LinkKey(record_key);
}

}  // namespace linkd::linker
