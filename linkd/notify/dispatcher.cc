#include "linkd/notify/dispatcher.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "linkd/util/log.h"
#include "linkd/util/thread_name.h"

namespace linkd::notify {

Dispatcher::Dispatcher(store::Store* store, const Outbox* outbox,
                       audit::AuditLog* audit, DispatcherOptions options)
    : store_(store), outbox_(outbox), audit_(audit), options_(options) {
  thread_ = std::thread([this] {
    util::NameThisThread("linkd-dispatch");
    Loop();
  });
}

Dispatcher::~Dispatcher() {
  StopAll();
  {
    absl::MutexLock lock(&mu_);
    exit_ = true;
  }
  thread_.join();
}

absl::StatusOr<uint64_t> Dispatcher::Subscribe(const std::string& recipient,
                                               Subscriber* subscriber,
                                               audit::v1::AuditEntry entry) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError("linkd is shutting down; subscribe again");
  }
  const uint64_t handle = next_handle_++;
  Sub& sub = subs_[handle];
  sub.recipient = recipient;
  sub.subscriber = subscriber;
  sub.entry = std::move(entry);
  by_recipient_[recipient].push_back(handle);
  MarkReadyLocked(handle, &sub);  // its backlog
  return handle;
}

bool Dispatcher::WriteDone(uint64_t handle, bool ok) {
  absl::MutexLock lock(&mu_);
  auto it = subs_.find(handle);
  if (it == subs_.end()) return false;
  Sub& sub = it->second;
  sub.writing = false;
  if ((!ok || sub.cancelled || stopping_) && !sub.finished) {
    sub.finished = true;
    return true;
  }
  MarkReadyLocked(handle, &sub);
  return false;
}

bool Dispatcher::Cancel(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = subs_.find(handle);
  if (it == subs_.end()) return false;
  Sub& sub = it->second;
  sub.cancelled = true;
  if (!sub.writing && !sub.finished) {
    sub.finished = true;
    return true;
  }
  return false;
}

void Dispatcher::Unsubscribe(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = subs_.find(handle);
  if (it == subs_.end()) return;
  auto r = by_recipient_.find(it->second.recipient);
  if (r != by_recipient_.end()) {
    std::vector<uint64_t>& handles = r->second;
    handles.erase(std::remove(handles.begin(), handles.end(), handle),
                  handles.end());
    if (handles.empty()) by_recipient_.erase(r);
  }
  subs_.erase(it);  // a stale entry in ready_ is skipped
}

void Dispatcher::Published(const std::vector<std::string>& recipients) {
  absl::MutexLock lock(&mu_);
  for (const std::string& r : recipients) {
    auto it = by_recipient_.find(r);
    if (it == by_recipient_.end()) continue;
    for (uint64_t handle : it->second) {
      Sub& sub = subs_.at(handle);
      sub.dirty = true;
      ++sub.generation;
      MarkReadyLocked(handle, &sub);
    }
  }
}

void Dispatcher::MarkReadyLocked(uint64_t handle, Sub* sub) {
  if (sub->dirty && !sub->writing && !sub->finished && !sub->cancelled &&
      !sub->queued) {
    sub->queued = true;
    ready_.push_back(handle);
  }
}

void Dispatcher::StopAll() {
  std::vector<Subscriber*> stop;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [handle, sub] : subs_) {
      if (!sub.writing && !sub.finished) {
        sub.finished = true;
        stop.push_back(sub.subscriber);
      }
    }
  }
  // Each subscriber stays valid: its OnDone (and Unsubscribe) can only
  // follow the Finish that Stop calls.
  for (Subscriber* s : stop) {
    s->Stop(absl::UnavailableError("linkd is shutting down; subscribe again"));
  }
}

size_t Dispatcher::subscriptions() const {
  absl::MutexLock lock(&mu_);
  return subs_.size();
}

void Dispatcher::Loop() {
  for (;;) {
    std::vector<Work> work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Dispatcher* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->mu_) {
            return d->exit_ || (!d->stopping_ && !d->ready_.empty());
          },
          this));
      if (exit_) return;
      std::deque<uint64_t> ready;
      ready.swap(ready_);
      for (uint64_t handle : ready) {
        auto it = subs_.find(handle);
        if (it == subs_.end()) continue;  // gone meanwhile
        Sub& sub = it->second;
        sub.queued = false;
        if (!sub.dirty || sub.writing || sub.finished || sub.cancelled) {
          continue;
        }
        sub.writing = true;  // the write slot, until WriteDone or release
        Work& w = work.emplace_back();
        w.handle = handle;
        w.subscriber = sub.subscriber;
        w.recipient = sub.recipient;
        w.cursor = sub.cursor;
        w.generation = sub.generation;
        w.entry = sub.entry;
      }
    }
    // Read what each is due, outside the lock.
    const int64_t now = absl::ToUnixMicros(options_.clock->Now());
    std::vector<audit::v1::AuditEntry> entries;
    absl::Status failed;
    for (Work& w : work) {
      absl::StatusOr<std::vector<StoredNotification>> due =
          outbox_->Pending(w.recipient, w.cursor, options_.max_per_message);
      if (!due.ok()) {
        failed = due.status();
        break;
      }
      w.more = due->size() == options_.max_per_message;
      w.last_id = w.cursor;
      for (StoredNotification& n : *due) {
        w.last_id = n.notification().id();
        const int64_t expires = n.notification().expires_micros();
        if (expires > 0 && expires <= now) continue;  // for ExpireDue to drop
        audit::v1::AuditEntry& e = entries.emplace_back(w.entry);
        e.set_time_micros(0);
        e.set_purpose(n.notification().purpose());
        e.set_lawful_basis(n.notification().lawful_basis());
        e.set_recipient(w.recipient);
        e.set_decision(audit::v1::DECISION_ALLOWED);
        e.set_status_code(0);
        e.clear_suis();
        if (!n.sui().empty()) e.add_suis(n.sui());
        e.clear_records();
        for (const v1::ChildRef& r : n.records()) {
          audit::v1::RecordRef* ref = e.add_records();
          ref->set_source(r.source());
          ref->set_record_id(r.record_id());
        }
        auto& d = *e.mutable_details();
        d.clear();
        d["released"] = "notification";
        d["notification_id"] = absl::StrCat(n.notification().id());
        *w.message.add_notifications() = std::move(*n.mutable_notification());
      }
    }
    // Released only once audited (DESIGN.md section 7).
    if (failed.ok() && !entries.empty()) {
      failed = audit_->AppendAndCommit(store_->NewBatch(), entries).status();
    }
    std::vector<Work*> send;
    std::vector<std::pair<Subscriber*, absl::Status>> stop;
    {
      absl::MutexLock lock(&mu_);
      for (Work& w : work) {
        auto it = subs_.find(w.handle);
        if (it == subs_.end()) continue;  // cannot happen: slot was held
        Sub& sub = it->second;
        if (!failed.ok()) {
          sub.writing = false;
          if (!sub.finished) {
            sub.finished = true;
            stop.emplace_back(
                w.subscriber,
                absl::UnavailableError(
                    "the audit log cannot be written: nothing is released "
                    "until it can; subscribe again"));
          }
          continue;
        }
        sub.cursor = w.last_id;
        if (!w.more && sub.generation == w.generation) sub.dirty = false;
        if (w.message.notifications_size() == 0) {
          sub.writing = false;
          MarkReadyLocked(w.handle, &sub);  // published meanwhile
          if ((sub.cancelled || stopping_) && !sub.finished) {
            sub.finished = true;
            stop.emplace_back(
                w.subscriber,
                sub.cancelled ? absl::CancelledError("cancelled")
                              : absl::UnavailableError(
                                    "linkd is shutting down; subscribe again"));
          }
          continue;
        }
        send.push_back(&w);
      }
    }
    if (!failed.ok()) {
      util::Log(
          util::LogLevel::kError,
          absl::StrCat("notifications: delivery stopped: ", failed.message()));
    }
    for (auto& [subscriber, status] : stop) subscriber->Stop(status);
    for (Work* w : send) w->subscriber->Deliver(std::move(w->message));
  }
}

}  // namespace linkd::notify
