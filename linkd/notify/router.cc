#include "linkd/notify/router.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linkd/util/log.h"
#include "linkd/util/status_macros.h"
#include "linkd/util/thread_name.h"

namespace linkd::notify {
namespace {

using events::RecordEventState;
using events::StoredEvent;
using Episode = RecordEventState::Episode;

constexpr char kSafeguarding[] = "safeguarding_notification";
constexpr char kFlagPurpose[] = "has_social_worker_flag";
constexpr char kIgAudit[] = "ig_audit";
constexpr char kRouteMethod[] = "linkd/notifications/route";
constexpr char kMisdirectedMethod[] = "linkd/notifications/misdirected";
// Fields that reveal where a child is (policies/rules/sensitive_routing).
constexpr std::string_view kLocationFields[] = {"reporting_school",
                                                "current_school"};
// Most bases checked in one sweep step, and in one VerifyNow slice.
constexpr size_t kMaxVerifyStep = 5000;

bool IsSchool(std::string_view source) {
  return source.substr(0, 7) == "school/";
}
bool IsLa(std::string_view source) { return source.substr(0, 3) == "la/"; }

bool IsSchoolEvent(v1::EventType t) {
  return t == v1::EVENT_TYPE_SUSPENSION ||
         t == v1::EVENT_TYPE_PERMANENT_EXCLUSION ||
         t == v1::EVENT_TYPE_REMOVED_FROM_ROLL ||
         t == v1::EVENT_TYPE_CHILD_MISSING_EDUCATION ||
         t == v1::EVENT_TYPE_IN_YEAR_ADMISSION;
}

v1::ChildRef RefOf(std::string_view record_key) {
  v1::ChildRef ref;
  std::string_view source, record_id;
  if (store::DecodeRecordKey(record_key, &source, &record_id).ok()) {
    ref.set_source(std::string(source));
    ref.set_record_id(std::string(record_id));
  }
  return ref;
}

// The policy fields a notification would disclose, from what is set in it.
std::vector<std::string> FieldsOf(const v1::Notification& n) {
  std::vector<std::string> f;
  if (n.event_type() != v1::EVENT_TYPE_UNSPECIFIED) f.push_back("event_type");
  if (n.has_event_date()) f.push_back("event_date");
  if (!n.reporting_school().empty()) f.push_back("reporting_school");
  if (n.has_contact() && !n.contact().organisation().empty()) {
    f.push_back("contact");
  }
  if (n.kind() == v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG ||
      n.kind() == v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG_WITHDRAWN) {
    f.push_back("has_social_worker");
  }
  if (n.has_episode_start_date()) f.push_back("episode_start_date");
  if (n.has_episode_end_date()) f.push_back("episode_end_date");
  return f;
}

void ClearField(std::string_view field, v1::Notification* n) {
  if (field == "reporting_school") n->clear_reporting_school();
  if (field == "current_school") return;  // never carried
}

Episode* FindEpisode(RecordEventState* state, v1::EpisodeKind kind) {
  for (Episode& e : *state->mutable_open_episodes()) {
    if (e.kind() == kind) return &e;
  }
  return nullptr;
}

void AddUnique(google::protobuf::RepeatedPtrField<std::string>* list,
               const std::string& value) {
  if (std::find(list->begin(), list->end(), value) == list->end()) {
    *list->Add() = value;
  }
}

}  // namespace

// Everything one routing group writes, and the state it has changed so far
// (later events of the group see the earlier ones).
struct Router::Batch {
  explicit Batch(store::WriteBatch w) : write(std::move(w)) {}
  store::WriteBatch write;
  std::vector<audit::v1::AuditEntry> entries;
  std::map<std::string, RecordEventState> states;
  std::set<std::string> dirty;
  std::set<std::string> recipients;
  std::shared_ptr<const policy::PolicySet> policy;
  absl::Time now;
  uint64_t notifications = 0;
  uint64_t denied = 0;
};

// A child as the router sees it: the records of its SUI and what their
// events say.
struct Router::Child {
  linker::Sui sui;
  struct Open {
    std::string holder;      // the local authority (record source)
    std::string record_key;  // its record
    Episode episode;
  };
  std::vector<Open> episodes;
  bool in_refuge = false;
  bool looked_after = false;
  // The latest school on whose roll the child is, and its record.
  std::string current_school;
  std::string current_school_record;
  // Each school's record of the child (the latest, if several).
  std::map<std::string, std::string> school_records;
  // Objections, opt-outs and consents in force (noted, see the purposes).
  policy::SubjectFacts base;
};

absl::StatusOr<std::unique_ptr<Router>> Router::Start(
    store::Store* store, const linker::Linker* linker,
    const linker::LinkWorker* linking, policy::ReloadablePolicySet* policies,
    const consent::ConsentStore* consents, audit::AuditLog* audit,
    Outbox* outbox, RouterOptions options) {
  events::EventStore events(store);
  LINKD_ASSIGN_OR_RETURN(const uint64_t last, events.LastSeq());
  // Events are routed in order: everything before the first queued one is.
  uint64_t first_queued = 0;
  LINKD_RETURN_IF_ERROR(events.ForEachQueued(
      0, [&](uint64_t seq, uint64_t) -> absl::StatusOr<bool> {
        first_queued = seq;
        return false;
      }));
  const uint64_t routed = first_queued > 0 ? first_queued - 1 : last;
  auto router = std::unique_ptr<Router>(
      new Router(store, linker, linking, policies, consents, audit, outbox,
                 std::move(options), routed));
  {
    absl::MutexLock lock(&router->mu_);
    router->progress_.committed_seq = last;
  }
  router->thread_ = std::thread([r = router.get()] {
    util::NameThisThread("linkd-route");
    r->Loop();
  });
  return router;
}

Router::Router(store::Store* store, const linker::Linker* linker,
               const linker::LinkWorker* linking,
               policy::ReloadablePolicySet* policies,
               const consent::ConsentStore* consents, audit::AuditLog* audit,
               Outbox* outbox, RouterOptions options, uint64_t routed_seq)
    : store_(store),
      linker_(linker),
      linking_(linking),
      policies_(policies),
      consents_(consents),
      audit_(audit),
      outbox_(outbox),
      options_(std::move(options)),
      events_(store),
      records_(store) {
  progress_.routed_seq = routed_seq;
}

Router::~Router() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Router::EventsCommitted(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  progress_.committed_seq = std::max(progress_.committed_seq, seq);
}

RouterProgress Router::progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

bool Router::WaitRouted(uint64_t seq, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto routed = [this, seq]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return progress_.routed_seq >= seq;
  };
  mu_.AwaitWithTimeout(absl::Condition(&routed), timeout);
  return progress_.routed_seq >= seq;
}

absl::StatusOr<size_t> Router::VerifyNow() {
  absl::MutexLock lock(&mu_);
  const uint64_t ticket = ++verify_requests_;
  auto done = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return verify_done_ >= ticket || stopping_;
  };
  mu_.Await(absl::Condition(&done));
  if (verify_done_ < ticket) return absl::UnavailableError("router stopped");
  return verify_result_;
}

void Router::Loop() {
  for (;;) {
    uint64_t verify_ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (verify_requests_ > verify_done_) verify_ticket = verify_requests_;
    }
    if (verify_ticket > 0) {
      // A whole sweep, from the start.
      verify_cursor_.clear();
      absl::StatusOr<size_t> total = size_t{0};
      for (bool wrapped = false; !wrapped;) {
        absl::StatusOr<size_t> n = Verify(kMaxVerifyStep, &wrapped);
        if (!n.ok()) {
          total = n.status();
          break;
        }
        *total += *n;
      }
      absl::MutexLock lock(&mu_);
      verify_result_ = total;
      verify_done_ = verify_ticket;
      continue;
    }

    uint64_t blocked_on = 0;
    size_t routed = 0;
    absl::Status s = RouteSome(&blocked_on, &routed);
    if (!s.ok()) {
      util::Log(util::LogLevel::kError,
                absl::StrCat("notifications: routing failed, retrying: ",
                             s.message()));
      absl::MutexLock lock(&mu_);
      progress_.last_error = std::string(s.message());
      auto stop = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Seconds(1));
      continue;
    }
    // Housekeeping, between groups, when due (also under a steady load).
    const absl::Time now = options_.clock->Now();
    if (now - last_expiry_ >= options_.expiry_interval) {
      last_expiry_ = now;
      absl::StatusOr<size_t> expired = outbox_->ExpireDue(1000);
      if (expired.ok()) {
        absl::MutexLock lock(&mu_);
        progress_.expired += *expired;
      } else {
        util::Log(util::LogLevel::kError,
                  absl::StrCat("notifications: expiry failed: ",
                               expired.status().message()));
      }
    }
    if (options_.verify_per_second > 0) {
      const double secs = last_verify_ == absl::InfinitePast()
                              ? 1.0
                              : absl::ToDoubleSeconds(now - last_verify_);
      const size_t budget = std::min<size_t>(
          kMaxVerifyStep,
          static_cast<size_t>(secs * options_.verify_per_second));
      if (secs >= 0.25) {
        last_verify_ = now;
        bool wrapped = false;
        absl::StatusOr<size_t> n =
            Verify(std::max<size_t>(budget, 1), &wrapped);
        if (!n.ok()) {
          util::Log(util::LogLevel::kError,
                    absl::StrCat("notifications: misdirection check failed: ",
                                 n.status().message()));
        }
      }
    }
    if (routed > 0) continue;  // more may be ready at once

    if (blocked_on > 0) {
      // The next event waits for its record to be linked.
      linking_->WaitLinked(blocked_on, absl::Milliseconds(100));
      continue;
    }
    absl::MutexLock lock(&mu_);
    auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || progress_.committed_seq > progress_.routed_seq ||
             verify_requests_ > verify_done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&work), absl::Seconds(1));
  }
}

absl::Status Router::RouteSome(uint64_t* blocked_on, size_t* routed) {
  *blocked_on = 0;
  *routed = 0;
  uint64_t after;
  {
    absl::MutexLock lock(&mu_);
    after = progress_.routed_seq;
  }
  const uint64_t linked = linking_->progress().linked_seq;
  std::vector<uint64_t> ready;
  LINKD_RETURN_IF_ERROR(events_.ForEachQueued(
      after, [&](uint64_t seq, uint64_t link_seq) -> absl::StatusOr<bool> {
        if (link_seq > linked) {
          *blocked_on = link_seq;
          return false;
        }
        ready.push_back(seq);
        return ready.size() < options_.max_events_per_batch;
      }));
  if (ready.empty()) return absl::OkStatus();

  Batch batch(store_->NewBatch());
  batch.policy = policies_->Current();
  batch.now = options_.clock->Now();
  for (uint64_t seq : ready) {
    LINKD_ASSIGN_OR_RETURN(std::optional<StoredEvent> event, events_.Get(seq));
    if (!event.has_value()) {
      return absl::DataLossError("events: a queued event is missing");
    }
    LINKD_RETURN_IF_ERROR(Route(*event, &batch));
  }
  for (const std::string& key : batch.dirty) {
    events::EventStore::PutState(key, batch.states[key], &batch.write);
  }
  if (batch.entries.empty()) {
    LINKD_RETURN_IF_ERROR(store_->Commit(std::move(batch.write)));
  } else {
    LINKD_RETURN_IF_ERROR(
        audit_->AppendAndCommit(std::move(batch.write), batch.entries)
            .status());
  }
  {
    absl::MutexLock lock(&mu_);
    progress_.routed_seq = ready.back();
    progress_.events += ready.size();
    progress_.notifications += batch.notifications;
    progress_.denied += batch.denied;
    progress_.last_error.clear();
  }
  if (!batch.recipients.empty() && options_.published) {
    options_.published(std::vector<std::string>(batch.recipients.begin(),
                                                batch.recipients.end()));
  }
  *routed = ready.size();
  return absl::OkStatus();
}

absl::StatusOr<RecordEventState*> Router::State(const std::string& key,
                                                Batch* batch) {
  auto it = batch->states.find(key);
  if (it == batch->states.end()) {
    LINKD_ASSIGN_OR_RETURN(RecordEventState state, events_.GetState(key));
    it = batch->states.emplace(key, std::move(state)).first;
  }
  return &it->second;
}

absl::StatusOr<Router::Child> Router::LoadChild(linker::Sui sui, Batch* batch) {
  Child child;
  child.sui = sui;
  LINKD_ASSIGN_OR_RETURN(std::vector<std::string> members,
                         linker_->Members(sui));
  std::pair<int64_t, bool> latest_school = {-1, false};
  for (const std::string& key : members) {
    std::string_view source, record_id;
    LINKD_RETURN_IF_ERROR(store::DecodeRecordKey(key, &source, &record_id));
    if (IsLa(source)) {
      LINKD_ASSIGN_OR_RETURN(RecordEventState * state, State(key, batch));
      for (const Episode& e : state->open_episodes()) {
        child.episodes.push_back({std::string(source), key, e});
        if (e.kind() == v1::EPISODE_KIND_LOOKED_AFTER) {
          child.looked_after = true;
        }
      }
      child.in_refuge = child.in_refuge || state->in_refuge();
    } else if (IsSchool(source)) {
      LINKD_ASSIGN_OR_RETURN(RecordEventState * state, State(key, batch));
      LINKD_ASSIGN_OR_RETURN(std::optional<store::StoredRecord> record,
                             records_.Get(source, record_id));
      // The school the child was last seen at: by its latest record or
      // admission, an admission winning a tie.
      const std::pair<int64_t, bool> seen = {
          std::max<int64_t>(state->admitted_micros(),
                            record.has_value() ? record->stored_micros() : 0),
          state->admitted_micros() > 0};
      const std::string school(source);
      auto [it, inserted] = child.school_records.emplace(school, key);
      (void)inserted;
      if (!state->off_roll() && seen > latest_school) {
        latest_school = seen;
        child.current_school = school;
        child.current_school_record = key;
        it->second = key;
      }
    }
  }
  if (consents_ != nullptr) {
    LINKD_ASSIGN_OR_RETURN(std::vector<linker::Sui> lineage,
                           linker_->Lineage(sui));
    std::vector<uint64_t> bits;
    for (const linker::Sui& s : lineage) bits.push_back(s.bits());
    LINKD_RETURN_IF_ERROR(consents_->AddFacts(bits, batch->now, &child.base));
  }
  return child;
}

absl::Status Router::Route(const StoredEvent& event, Batch* batch) {
  const std::string key = store::RecordKey(event.source(), event.record_id());
  const v1::Event& e = event.event();
  LINKD_ASSIGN_OR_RETURN(std::optional<linker::Sui> sui, linker_->Resolve(key));

  // What the event says about its own record, first: the child's state
  // below then includes it.
  LINKD_ASSIGN_OR_RETURN(RecordEventState * own, State(key, batch));
  batch->dirty.insert(key);
  std::optional<Episode> closed;
  switch (e.type()) {
    case v1::EVENT_TYPE_EPISODE_START: {
      Episode started;
      started.set_kind(e.episode_kind());
      *started.mutable_start_date() = e.date();
      *started.mutable_contact() = e.contact();
      started.set_virtual_school(e.virtual_school());
      started.set_opened_by_seq(event.seq());
      if (Episode* again = FindEpisode(own, e.episode_kind())) {
        // Restarted: the schools told still hold the flag.
        *started.mutable_flagged_schools() = again->flagged_schools();
        *again = std::move(started);
      } else {
        *own->add_open_episodes() = std::move(started);
      }
      break;
    }
    case v1::EVENT_TYPE_EPISODE_END: {
      auto* eps = own->mutable_open_episodes();
      for (int i = 0; i < eps->size(); ++i) {
        if (eps->Get(i).kind() == e.episode_kind()) {
          closed = eps->Get(i);
          eps->DeleteSubrange(i, 1);
          break;
        }
      }
      break;
    }
    case v1::EVENT_TYPE_REFUGE_START:
      own->set_in_refuge(true);
      break;
    case v1::EVENT_TYPE_REFUGE_END:
      own->set_in_refuge(false);
      break;
    case v1::EVENT_TYPE_REMOVED_FROM_ROLL:
      own->set_off_roll(true);
      break;
    case v1::EVENT_TYPE_IN_YEAR_ADMISSION:
      own->set_off_roll(false);
      own->set_admitted_micros(event.received_micros());
      break;
    default:
      break;
  }
  events::EventStore::MarkRouted(event, sui.has_value() ? sui->bits() : 0,
                                 &batch->write);
  // Not linked (cannot happen once linking has passed it, unless the
  // record was erased): nobody can be told about an unknown child.
  if (!sui.has_value()) return absl::OkStatus();
  LINKD_ASSIGN_OR_RETURN(Child child, LoadChild(*sui, batch));

  auto facts_for = [&child]() {
    policy::SubjectFacts f = child.base;
    f.in_refuge = child.in_refuge;
    f.looked_after = child.looked_after;
    f.has_open_episode = !child.episodes.empty();
    return f;
  };

  if (IsSchoolEvent(e.type())) {
    v1::Notification note;
    note.set_kind(v1::NOTIFICATION_KIND_SCHOOL_EVENT);
    note.set_event_type(e.type());
    note.set_days(e.days());
    note.set_reason_code(e.reason_code());
    *note.mutable_event_date() = e.date();
    note.set_reporting_school(event.source());
    if (!e.contact().organisation().empty()) {
      *note.mutable_contact() = e.contact();
    }
    std::set<std::string> told;
    // The local authority holding each open episode, wherever the child
    // now lives or goes to school.
    for (const Child::Open& open : child.episodes) {
      if (!told.insert(open.holder).second) continue;
      policy::SubjectFacts facts = facts_for();
      facts.recipient_holds_open_episode = true;
      v1::Notification n = note;
      *n.mutable_child() = RefOf(open.record_key);
      bool allowed = false;
      LINKD_RETURN_IF_ERROR(Decide(event, child,
                                   policy::Action::kNotificationSend,
                                   kSafeguarding, event.source(), open.holder,
                                   open.record_key, facts, n, batch, &allowed));
    }
    // The Virtual School of a looked-after child.
    for (const Child::Open& open : child.episodes) {
      if (open.episode.kind() != v1::EPISODE_KIND_LOOKED_AFTER) continue;
      std::string vs = open.episode.virtual_school();
      if (vs.empty()) {
        absl::StatusOr<policy::OrganisationInfo> info =
            batch->policy->Organisation(open.episode.contact().organisation());
        if (info.ok() && info->virtual_school) {
          vs = open.episode.contact().organisation();
        }
      }
      if (vs.empty() || !told.insert(vs).second) continue;
      policy::SubjectFacts facts = facts_for();
      facts.recipient_is_virtual_school_for_child = true;
      v1::Notification n = note;
      *n.mutable_child() = RefOf(open.record_key);
      bool allowed = false;
      LINKD_RETURN_IF_ERROR(Decide(
          event, child, policy::Action::kNotificationSend, kSafeguarding,
          event.source(), vs, open.record_key, facts, n, batch, &allowed));
    }
    // A school admitting a child who has a social worker is told so, as the
    // current school would have been when the episode began.
    if (e.type() == v1::EVENT_TYPE_IN_YEAR_ADMISSION) {
      std::set<std::string> flagged_by;
      for (const Child::Open& open : child.episodes) {
        if (!flagged_by.insert(open.holder).second) continue;
        policy::SubjectFacts facts = facts_for();
        facts.recipient_is_current_school =
            child.current_school == event.source();
        v1::Notification n;
        n.set_kind(v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG);
        n.set_has_social_worker(true);
        *n.mutable_contact() = open.episode.contact();
        *n.mutable_episode_start_date() = open.episode.start_date();
        *n.mutable_child() = RefOf(key);
        bool allowed = false;
        // The link that entitles the school: its record and the episode's.
        LINKD_RETURN_IF_ERROR(Decide(
            event, child, policy::Action::kFlagSend, kFlagPurpose, open.holder,
            event.source(), open.record_key, facts, n, batch, &allowed));
        if (allowed) {
          LINKD_ASSIGN_OR_RETURN(RecordEventState * holder,
                                 State(open.record_key, batch));
          if (Episode* ep = FindEpisode(holder, open.episode.kind())) {
            AddUnique(ep->mutable_flagged_schools(), event.source());
            batch->dirty.insert(open.record_key);
          }
        }
      }
    }
    return absl::OkStatus();
  }

  if (e.type() == v1::EVENT_TYPE_EPISODE_START) {
    if (child.current_school.empty()) return absl::OkStatus();
    policy::SubjectFacts facts = facts_for();
    facts.recipient_is_current_school = true;
    v1::Notification n;
    n.set_kind(v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG);
    n.set_has_social_worker(true);
    *n.mutable_contact() = e.contact();
    *n.mutable_episode_start_date() = e.date();
    *n.mutable_child() = RefOf(child.current_school_record);
    bool allowed = false;
    LINKD_RETURN_IF_ERROR(
        Decide(event, child, policy::Action::kFlagSend, kFlagPurpose,
               event.source(), child.current_school,
               child.current_school_record, facts, n, batch, &allowed));
    if (allowed) {
      if (Episode* ep = FindEpisode(own, e.episode_kind())) {
        AddUnique(ep->mutable_flagged_schools(), child.current_school);
      }
    }
    return absl::OkStatus();
  }

  if (e.type() == v1::EVENT_TYPE_EPISODE_END) {
    // Still another episode open: the child still has a social worker.
    if (!closed.has_value() || !child.episodes.empty()) return absl::OkStatus();
    std::set<std::string> schools(closed->flagged_schools().begin(),
                                  closed->flagged_schools().end());
    if (!child.current_school.empty()) schools.insert(child.current_school);
    for (const std::string& school : schools) {
      auto rec = child.school_records.find(school);
      if (rec == child.school_records.end()) continue;  // no record to name
      policy::SubjectFacts facts = facts_for();
      facts.recipient_is_current_school = school == child.current_school;
      v1::Notification n;
      n.set_kind(v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG_WITHDRAWN);
      n.set_has_social_worker(false);
      *n.mutable_episode_end_date() = e.date();
      *n.mutable_child() = RefOf(rec->second);
      bool allowed = false;
      LINKD_RETURN_IF_ERROR(Decide(event, child, policy::Action::kFlagSend,
                                   kFlagPurpose, event.source(), school,
                                   rec->second, facts, n, batch, &allowed));
    }
  }
  return absl::OkStatus();
}

absl::Status Router::Decide(const StoredEvent& event, const Child& child,
                            policy::Action action, const std::string& purpose,
                            const std::string& requester,
                            const std::string& recipient,
                            const std::string& basis_record,
                            policy::SubjectFacts facts, v1::Notification note,
                            Batch* batch, bool* allowed) {
  *allowed = false;
  const policy::PolicySet& set = *batch->policy;
  policy::Request request;
  request.action = action;
  request.purpose = purpose;
  request.requester = requester;
  request.recipient = recipient;
  request.time = batch->now;
  request.fields = FieldsOf(note);
  policy::Decision decision = set.Evaluate(request, facts);
  std::vector<std::string> withheld;
  std::string refused_by;
  if (!decision.allowed && facts.in_refuge) {
    // A child in a refuge: try again without what would reveal where the
    // child is, and send that if the policy allows it.
    policy::Request reduced = request;
    reduced.fields.clear();
    for (const std::string& f : request.fields) {
      if (std::find(std::begin(kLocationFields), std::end(kLocationFields),
                    f) == std::end(kLocationFields)) {
        reduced.fields.push_back(f);
      } else {
        withheld.push_back(f);
      }
    }
    if (!withheld.empty()) {
      policy::Decision second = set.Evaluate(reduced, facts);
      if (second.allowed) {
        refused_by = decision.deciding_rule_id;
        decision = std::move(second);
        for (const std::string& f : withheld) ClearField(f, &note);
      } else {
        withheld.clear();
      }
    }
  }

  const std::string event_key =
      store::RecordKey(event.source(), event.record_id());
  audit::v1::AuditEntry entry;
  entry.set_organisation(requester);
  entry.set_method(kRouteMethod);
  entry.set_purpose(purpose);
  entry.set_lawful_basis(decision.lawful_basis);
  entry.set_policy_version(decision.policy_version);
  entry.set_policy_hash(decision.policy_hash);
  entry.set_decision(decision.allowed ? audit::v1::DECISION_ALLOWED
                                      : audit::v1::DECISION_DENIED);
  entry.set_reason(decision.reason);
  entry.set_status_code(static_cast<int32_t>(
      decision.allowed ? absl::StatusCode::kOk : decision.code));
  entry.add_suis(child.sui.ToString());
  for (const std::string& k : {event_key, basis_record}) {
    const v1::ChildRef ref = RefOf(k);
    audit::v1::RecordRef* r = entry.add_records();
    r->set_source(ref.source());
    r->set_record_id(ref.record_id());
  }
  entry.set_recipient(recipient);
  auto& d = *entry.mutable_details();
  d["action"] = std::string(policy::ActionName(action));
  d["event_seq"] = absl::StrCat(event.seq());
  d["event_type"] = v1::EventType_Name(event.event().type());
  d["deciding_rule"] = decision.deciding_rule_id;
  if (decision.allowed) {
    d["disclosed"] = absl::StrJoin(decision.disclosed_fields, ",");
  }
  if (!withheld.empty()) {
    d["withheld"] = absl::StrJoin(withheld, ",");
    d["withheld_by"] = refused_by;
  }
  if (!decision.notes.empty()) d["notes"] = absl::StrJoin(decision.notes, "; ");

  if (decision.allowed) {
    const policy::PurposeInfo* info = set.FindPurpose(purpose);
    note.set_recipient(recipient);
    note.set_purpose(purpose);
    note.set_lawful_basis(decision.lawful_basis);
    note.set_policy_version(decision.policy_version);
    note.set_created_micros(absl::ToUnixMicros(batch->now));
    if (info != nullptr && info->notification_expiry_days > 0) {
      note.set_expires_micros(absl::ToUnixMicros(
          batch->now + absl::Hours(24) * info->notification_expiry_days));
    }
    for (const std::string& f : withheld) note.add_withheld_fields(f);
    StoredNotification stored;
    *stored.mutable_notification() = std::move(note);
    stored.set_sui(child.sui.ToString());
    *stored.add_records() = RefOf(event_key);
    if (basis_record != event_key) *stored.add_records() = RefOf(basis_record);
    NotificationBasis basis;
    basis.set_purpose(purpose);
    basis.set_sui(child.sui.bits());
    basis.set_event_record_key(event_key);
    basis.set_basis_record_key(basis_record);
    basis.set_created_micros(absl::ToUnixMicros(batch->now));
    basis.set_event_seq(event.seq());
    LINKD_RETURN_IF_ERROR(outbox_->Stage(&stored, &basis, &batch->write));
    d["notification_id"] = absl::StrCat(stored.notification().id());
    batch->recipients.insert(recipient);
    ++batch->notifications;
    *allowed = true;
  } else {
    ++batch->denied;
  }
  batch->entries.push_back(std::move(entry));
  return absl::OkStatus();
}

absl::StatusOr<size_t> Router::Verify(size_t max, bool* wrapped) {
  *wrapped = false;
  const absl::Time now = options_.clock->Now();
  const int64_t forget_before =
      absl::ToUnixMicros(now - options_.basis_retention);
  struct Found {
    NotificationBasis basis;
    linker::Sui event_sui, basis_sui;
  };
  std::vector<Found> found;
  std::vector<std::string> forget;
  size_t visited = 0;
  LINKD_RETURN_IF_ERROR(outbox_->ForEachBasis(
      verify_cursor_,
      [&](std::string_view key,
          const NotificationBasis& basis) -> absl::StatusOr<bool> {
        verify_cursor_.assign(key.data(), key.size());
        ++visited;
        if (basis.created_micros() < forget_before) {
          forget.emplace_back(key);
        } else if (!basis.reported()) {
          LINKD_ASSIGN_OR_RETURN(std::optional<linker::Sui> a,
                                 linker_->Resolve(basis.event_record_key()));
          LINKD_ASSIGN_OR_RETURN(std::optional<linker::Sui> b,
                                 linker_->Resolve(basis.basis_record_key()));
          // Both still linked, to two children: the link that entitled the
          // recipient is gone. (An erased record cannot be judged.)
          if (a.has_value() && b.has_value() && *a != *b) {
            found.push_back({basis, *a, *b});
          }
        }
        return visited < max;
      }));
  if (visited < max) {
    *wrapped = true;
    verify_cursor_.clear();
  }
  if (!forget.empty()) {
    store::WriteBatch batch = store_->NewBatch();
    for (const std::string& key : forget) Outbox::DeleteBasis(key, &batch);
    LINKD_RETURN_IF_ERROR(store_->Commit(std::move(batch)));
  }
  for (const Found& f : found) {
    LINKD_RETURN_IF_ERROR(
        ReportMisdirection(f.basis, f.event_sui, f.basis_sui));
  }
  return found.size();
}

absl::Status Router::ReportMisdirection(const NotificationBasis& basis,
                                        linker::Sui event_sui,
                                        linker::Sui basis_sui) {
  const std::shared_ptr<const policy::PolicySet> set = policies_->Current();
  const policy::PurposeInfo* ig = set->FindPurpose(kIgAudit);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<linker::Sui> then = linker::Sui::FromBits(basis.sui());
  const std::string then_text = then.ok() ? then->ToString() : "";

  audit::v1::AuditEntry entry;
  entry.set_organisation("linkd");
  entry.set_method(kMisdirectedMethod);
  entry.set_purpose(kIgAudit);
  if (ig != nullptr) entry.set_lawful_basis(ig->lawful_basis);
  entry.set_policy_version(set->version());
  entry.set_policy_hash(set->hash());
  entry.set_decision(audit::v1::DECISION_ALLOWED);
  entry.set_reason(
      "a notification's recipient is no longer entitled to it: the record "
      "that entitled it is no longer linked to the child of the event");
  for (const std::string& s :
       {then_text, event_sui.ToString(), basis_sui.ToString()}) {
    if (!s.empty()) entry.add_suis(s);
  }
  for (const std::string& k :
       {basis.event_record_key(), basis.basis_record_key()}) {
    const v1::ChildRef ref = RefOf(k);
    audit::v1::RecordRef* r = entry.add_records();
    r->set_source(ref.source());
    r->set_record_id(ref.record_id());
  }
  entry.set_recipient(options_.ig_organisation);
  auto& d = *entry.mutable_details();
  d["original_recipient"] = basis.recipient();
  d["original_id"] = absl::StrCat(basis.id());
  d["original_purpose"] = basis.purpose();

  std::optional<StoredNotification> report;
  if (!options_.ig_organisation.empty()) {
    report.emplace();
    v1::Notification& n = *report->mutable_notification();
    n.set_recipient(options_.ig_organisation);
    n.set_kind(v1::NOTIFICATION_KIND_MISDIRECTED);
    n.set_purpose(kIgAudit);
    if (ig != nullptr) n.set_lawful_basis(ig->lawful_basis);
    n.set_policy_version(set->version());
    n.set_created_micros(absl::ToUnixMicros(now));
    if (ig != nullptr && ig->notification_expiry_days > 0) {
      n.set_expires_micros(absl::ToUnixMicros(
          now + absl::Hours(24) * ig->notification_expiry_days));
    }
    v1::MisdirectionReport& m = *n.mutable_misdirection();
    m.set_original_recipient(basis.recipient());
    m.set_original_id(basis.id());
    m.set_original_purpose(basis.purpose());
    m.set_original_created_micros(basis.created_micros());
    *m.mutable_event_record() = RefOf(basis.event_record_key());
    *m.mutable_basis_record() = RefOf(basis.basis_record_key());
    m.set_sui_then(then_text);
    m.set_event_record_sui_now(event_sui.ToString());
    m.set_basis_record_sui_now(basis_sui.ToString());
    report->set_sui(event_sui.ToString());
    *report->add_records() = m.event_record();
    *report->add_records() = m.basis_record();
  } else {
    util::Log(util::LogLevel::kWarning,
              "notifications: a misdirected notification was found and "
              "audited; set ig_organisation so that the IG team is told");
  }
  LINKD_ASSIGN_OR_RETURN(
      bool withdrawn,
      outbox_->ReportMisdirected(basis, report ? &*report : nullptr, entry));
  (void)withdrawn;
  {
    absl::MutexLock lock(&mu_);
    ++progress_.misdirections;
  }
  if (report.has_value() && options_.published) {
    options_.published({options_.ig_organisation});
  }
  return absl::OkStatus();
}

}  // namespace linkd::notify
