#include "linkd/ctl/notification_commands.h"

#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "linkd/v1/notification_service.grpc.pb.h"

namespace linkd::ctl {
namespace {

using v1::NotificationService;

std::string KindName(v1::NotificationKind k) {
  switch (k) {
    case v1::NOTIFICATION_KIND_SCHOOL_EVENT:
      return "school-event";
    case v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG:
      return "has-social-worker";
    case v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG_WITHDRAWN:
      return "social-worker-flag-withdrawn";
    case v1::NOTIFICATION_KIND_MISDIRECTED:
      return "misdirected";
    default:
      return "unknown";
  }
}

std::string DateText(const v1::Date& d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

std::string EventName(v1::EventType t) {
  std::string name = v1::EventType_Name(t);
  if (name.rfind("EVENT_TYPE_", 0) == 0) name = name.substr(11);
  return name;
}

void PrintText(const v1::Notification& n) {
  std::string line =
      absl::StrCat("#", n.id(), "  ", FormatMicros(n.created_micros()), "  ",
                   KindName(n.kind()), "  ", n.purpose(), "  child ",
                   n.child().source(), ":", n.child().record_id());
  if (n.event_type() != v1::EVENT_TYPE_UNSPECIFIED) {
    absl::StrAppend(&line, "\n    ", EventName(n.event_type()));
    if (n.days() > 0) absl::StrAppend(&line, " for ", n.days(), " days");
    if (!n.reason_code().empty()) {
      absl::StrAppend(&line, " (reason ", n.reason_code(), ")");
    }
    if (n.has_event_date()) {
      absl::StrAppend(&line, " on ", DateText(n.event_date()));
    }
    if (!n.reporting_school().empty()) {
      absl::StrAppend(&line, ", reported by ", n.reporting_school());
    }
  }
  if (n.kind() == v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG) {
    absl::StrAppend(&line, "\n    has a social worker");
    if (n.has_episode_start_date()) {
      absl::StrAppend(&line, " since ", DateText(n.episode_start_date()));
    }
  }
  if (n.kind() == v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG_WITHDRAWN) {
    absl::StrAppend(&line, "\n    no longer has a social worker");
    if (n.has_episode_end_date()) {
      absl::StrAppend(&line, " (from ", DateText(n.episode_end_date()), ")");
    }
  }
  if (n.has_contact() && !n.contact().organisation().empty()) {
    absl::StrAppend(&line, "\n    contact: ", n.contact().organisation());
    if (!n.contact().team().empty()) {
      absl::StrAppend(&line, ", ", n.contact().team());
    }
    if (!n.contact().phone().empty()) {
      absl::StrAppend(&line, ", ", n.contact().phone());
    }
  }
  if (n.has_misdirection()) {
    const v1::MisdirectionReport& m = n.misdirection();
    absl::StrAppend(
        &line, "\n    notification #", m.original_id(), " to ",
        m.original_recipient(), " (", m.original_purpose(),
        ") is no longer backed by the links: ", m.event_record().source(), ":",
        m.event_record().record_id(), " is now ", m.event_record_sui_now(),
        ", ", m.basis_record().source(), ":", m.basis_record().record_id(),
        " is now ", m.basis_record_sui_now(),
        m.withdrawn() ? "; withdrawn before it was acknowledged"
                      : "; it had been acknowledged");
  }
  if (n.withheld_fields_size() > 0) {
    absl::StrAppend(&line, "\n    withheld by policy: ",
                    absl::StrJoin(n.withheld_fields(), ", "));
  }
  absl::PrintF("%s\n", line);
}

int Watch(const Connection& c, const Args& a) {
  const std::string format = a.GetOr("format", "text");
  if (format != "text" && format != "jsonl") {
    return UsageError("--format must be text or jsonl");
  }
  int64_t count = -1;
  if (a.Has("count") &&
      (!absl::SimpleAtoi(a.GetOr("count", ""), &count) || count < 1)) {
    return UsageError("--count needs a positive number");
  }
  double wait = -1;
  if (a.Has("wait") &&
      (!absl::SimpleAtod(a.GetOr("wait", ""), &wait) || wait <= 0)) {
    return UsageError("--wait needs a positive number of seconds");
  }
  const bool ack = !a.Has("no-ack");
  std::shared_ptr<grpc::Channel> channel = c.Channel();
  std::unique_ptr<NotificationService::Stub> stub =
      NotificationService::NewStub(channel);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      stub->Subscribe(&context, v1::SubscribeRequest());

  // --wait: give up after that long without a notification.
  absl::Mutex mu;
  absl::Time last = absl::Now();
  bool done = false;
  std::atomic<bool> idle{false};
  std::thread watchdog;
  if (wait > 0) {
    watchdog = std::thread([&] {
      absl::MutexLock lock(&mu);
      for (;;) {
        const absl::Time deadline = last + absl::Seconds(wait);
        if (done) return;
        if (absl::Now() >= deadline) {
          idle = true;
          context.TryCancel();
          return;
        }
        mu.AwaitWithDeadline(absl::Condition(&done), deadline);
      }
    });
  }
  int64_t printed = 0;
  int exit_code = 0;
  v1::SubscribeResponse message;
  while ((count < 0 || printed < count) && reader->Read(&message)) {
    {
      absl::MutexLock lock(&mu);
      last = absl::Now();
    }
    v1::AckRequest request;
    for (const v1::Notification& n : message.notifications()) {
      if (count >= 0 && printed == count) break;
      if (format == "jsonl") {
        absl::PrintF("%s\n", ToJson(n));
      } else {
        PrintText(n);
      }
      ++printed;
      request.add_ids(n.id());
    }
    std::fflush(stdout);
    // Acknowledged only once printed: a crash in between shows it again.
    if (ack && request.ids_size() > 0) {
      v1::AckResponse response;
      const grpc::Status s = stub->Ack(Deadline().get(), request, &response);
      if (!s.ok()) {
        exit_code = RpcError("notifications watch: acknowledging", s);
        break;
      }
    }
  }
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  if (watchdog.joinable()) watchdog.join();
  context.TryCancel();
  const grpc::Status status = reader->Finish();
  if (exit_code != 0) return exit_code;
  const bool finished_by_us = (count >= 0 && printed >= count) || idle.load();
  if (!status.ok() && !finished_by_us) {
    return RpcError("notifications watch", status);
  }
  return 0;
}

int Pending(const Connection& c, const Args& a) {
  const std::string format = a.GetOr("format", "text");
  if (format != "text" && format != "json") {
    return UsageError("--format must be text or json");
  }
  v1::ListPendingRequest request;
  if (a.Has("limit")) {
    uint32_t limit = 0;
    if (!absl::SimpleAtoi(a.GetOr("limit", ""), &limit) || limit == 0) {
      return UsageError("--limit needs a positive number");
    }
    request.set_limit(limit);
  }
  v1::ListPendingResponse response;
  const grpc::Status s =
      NotificationService::NewStub(c.Channel())
          ->ListPending(Deadline().get(), request, &response);
  if (!s.ok()) return RpcError("notifications pending", s);
  if (format == "json") {
    absl::PrintF("%s\n", ToJson(response));
    return 0;
  }
  absl::PrintF("%d notifications waiting to be acknowledged\n",
               response.pending());
  for (const v1::PendingNotification& p : response.notifications()) {
    absl::PrintF("#%d  %s  %-28s %-26s expires %s\n", p.id(),
                 FormatMicros(p.created_micros()), KindName(p.kind()),
                 p.purpose(), FormatMicros(p.expires_micros()));
  }
  if (response.pending() >
      static_cast<uint64_t>(response.notifications_size())) {
    absl::PrintF("... and %d more\n",
                 response.pending() - response.notifications_size());
  }
  return 0;
}

}  // namespace

int RunNotifications(const Connection& c,
                     const std::vector<std::string>& args) {
  if (args.empty()) {
    return UsageError("notifications needs watch or pending");
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "watch") {
    absl::StatusOr<Args> a =
        Args::Parse(rest, {"format", "count", "wait"}, {"no-ack"});
    if (!a.ok()) return UsageError(a.status().message());
    if (!a->positional().empty()) return UsageError("watch takes no FILE");
    return Watch(c, *a);
  }
  if (args[0] == "pending") {
    absl::StatusOr<Args> a = Args::Parse(rest, {"format", "limit"});
    if (!a.ok()) return UsageError(a.status().message());
    return Pending(c, *a);
  }
  return UsageError(
      absl::StrCat("notifications: unknown subcommand '", args[0], "'"));
}

}  // namespace linkd::ctl
