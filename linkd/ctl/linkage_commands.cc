#include "linkd/ctl/linkage_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "linkd/v1/linkage_service.grpc.pb.h"

namespace linkd::ctl {
namespace {

using v1::LinkageService;

// "SOURCE:RECORD_ID" (the record id may itself contain ':').
bool ParseRef(const std::string& text, v1::RecordRef* ref) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return false;
  }
  ref->set_source(text.substr(0, colon));
  ref->set_record_id(text.substr(colon + 1));
  return true;
}

std::string Ref(const v1::RecordRef& r) {
  return absl::StrCat(r.source(), ":", r.record_id());
}

void PrintExplanation(const v1::Explanation& e) {
  absl::PrintF("%-12s %-16s %9s\n", "field", "level", "weight");
  for (const v1::FieldWeight& f : e.fields()) {
    absl::PrintF("%-12s %-16s %9s\n", f.field(), f.level(),
                 f.neutral() ? "-" : absl::StrFormat("%+.2f", f.weight()));
  }
  absl::PrintF("%-29s %+9.2f\n", "prior (random pair)", e.prior_weight());
  absl::PrintF("%-29s %+9.2f  (probability %.4f)\n", "total", e.total_weight(),
               e.probability());
  absl::PrintF("verdict: %s%s (model version %d)\n", e.verdict(),
               e.hard_conflict() ? ", hard conflict: different UPN or NHS "
                                   "number"
                                 : "",
               e.model_version());
}

const char* StateName(v1::ReviewTask::State s) {
  switch (s) {
    case v1::ReviewTask::STATE_OPEN:
      return "open";
    case v1::ReviewTask::STATE_SAME:
      return "same";
    case v1::ReviewTask::STATE_NOT_SAME:
      return "not same";
    default:
      return "?";
  }
}

}  // namespace

int RunResolve(const Connection& c, const std::vector<std::string>& args) {
  absl::StatusOr<Args> a = Args::Parse(args, {"source", "record"});
  if (!a.ok()) return UsageError(a.status().message());
  v1::ResolveRequest request;
  request.mutable_record()->set_source(a->GetOr("source", ""));
  request.mutable_record()->set_record_id(a->GetOr("record", ""));
  if (request.record().source().empty() ||
      request.record().record_id().empty() || !a->positional().empty()) {
    return UsageError("resolve needs --source S --record R");
  }
  v1::ResolveResponse response;
  const grpc::Status status =
      LinkageService::NewStub(c.Channel())
          ->Resolve(Deadline().get(), request, &response);
  if (!status.ok()) return RpcError("resolve", status);
  absl::PrintF("%s\n", response.sui());
  return 0;
}

int RunLinks(const Connection& c, const std::vector<std::string>& args) {
  absl::StatusOr<Args> a = Args::Parse(args, {"source", "format"});
  if (!a.ok()) return UsageError(a.status().message());
  const std::string format = a->GetOr("format", "csv");
  if (!a->positional().empty() || (format != "csv" && format != "text")) {
    return UsageError("links [--source S] [--format csv|text]");
  }
  v1::ListLinksRequest request;
  request.set_source(a->GetOr("source", ""));
  grpc::ClientContext context;
  auto reader =
      LinkageService::NewStub(c.Channel())->ListLinks(&context, request);
  v1::ListLinksResponse page;
  uint64_t rows = 0;
  const bool tty = isatty(STDERR_FILENO);
  if (format == "csv") absl::PrintF("source,record_id,sui\n");
  std::string out;
  while (reader->Read(&page)) {
    out.clear();
    for (const auto& row : page.rows()) {
      if (format == "csv") {
        absl::StrAppend(&out, CsvField(row.source()), ",",
                        CsvField(row.record_id()), ",", row.sui(), "\n");
      } else {
        absl::StrAppend(&out, absl::StrFormat("%-20s %-20s %s\n", row.source(),
                                              row.record_id(), row.sui()));
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    rows += page.rows_size();
    if (tty) absl::FPrintF(stderr, "\r%d links\033[K", rows);
  }
  if (tty) absl::FPrintF(stderr, "\r\033[K");
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return RpcError(absl::StrCat("links stopped after ", rows, " rows"),
                    status);
  }
  return 0;
}

bool WaitForLinking(const Connection& c, uint64_t seq) {
  auto stub = LinkageService::NewStub(c.Channel());
  const bool tty = isatty(STDERR_FILENO);
  absl::Time last_line = absl::Now();
  for (;;) {
    // A long poll: one call (and one audit entry) per few seconds.
    v1::GetLinkingStatusRequest request;
    request.set_wait_for_seq(seq);
    request.set_wait_millis(tty ? 500 : 5000);
    v1::GetLinkingStatusResponse st;
    const grpc::Status status =
        stub->GetLinkingStatus(Deadline().get(), request, &st);
    if (!status.ok()) {
      RpcError("linking status unavailable", status);
      return false;
    }
    if (st.linked_seq() >= seq) {
      if (tty) absl::FPrintF(stderr, "\r\033[K");
      return true;
    }
    if (st.paused()) {
      absl::FPrintF(stderr,
                    "linkctl: linking is paused; the records are stored and "
                    "will be linked on `linkctl linking resume`\n");
      return false;
    }
    std::string line = absl::StrFormat("linking: %d records still to link",
                                       seq - std::min(seq, st.linked_seq()));
    if (!st.activity().empty())
      absl::StrAppend(&line, " (", st.activity(), ")");
    if (tty) {
      absl::FPrintF(stderr, "\r%s\033[K", line);
    } else if (absl::Now() - last_line >= absl::Seconds(10)) {
      absl::FPrintF(stderr, "%s\n", line);
      last_line = absl::Now();
    }
  }
}

int RunLinking(const Connection& c, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("linking status|pause|resume");
  auto stub = LinkageService::NewStub(c.Channel());
  if (args[0] == "pause" || args[0] == "resume") {
    v1::SetLinkingPausedRequest request;
    request.set_paused(args[0] == "pause");
    v1::SetLinkingPausedResponse response;
    const grpc::Status status =
        stub->SetLinkingPaused(Deadline().get(), request, &response);
    if (!status.ok())
      return RpcError(absl::StrCat("linking ", args[0]), status);
  } else if (args[0] != "status") {
    return UsageError("linking status|pause|resume");
  }
  v1::GetLinkingStatusResponse st;
  const grpc::Status status = stub->GetLinkingStatus(
      Deadline().get(), v1::GetLinkingStatusRequest(), &st);
  if (!status.ok()) return RpcError("linking status", status);
  absl::PrintF(
      "linking:       %s\nwaiting:       %d records\nactive SUIs:   %d\n"
      "open reviews:  %d\nmodel version: %d\n",
      st.paused() ? "paused" : "running",
      st.queued_seq() - std::min(st.queued_seq(), st.linked_seq()),
      st.active_suis(), st.open_reviews(), st.model_version());
  if (!st.activity().empty())
    absl::PrintF("activity:      %s\n", st.activity());
  return 0;
}

int RunExplain(const Connection& c, const std::vector<std::string>& args) {
  absl::StatusOr<Args> a = Args::Parse(args, {"format"});
  if (!a.ok()) return UsageError(a.status().message());
  v1::ExplainRequest request;
  if (a->positional().size() != 2 ||
      !ParseRef(a->positional()[0], request.mutable_a()) ||
      !ParseRef(a->positional()[1], request.mutable_b())) {
    return UsageError(
        "explain SOURCE:RECORD_ID SOURCE:RECORD_ID [--format text|json]");
  }
  v1::ExplainResponse response;
  const grpc::Status status =
      LinkageService::NewStub(c.Channel())
          ->Explain(Deadline().get(), request, &response);
  if (!status.ok()) return RpcError("explain", status);
  if (a->GetOr("format", "text") == "json") {
    absl::PrintF("%s\n", ToJson(response));
    return 0;
  }
  absl::PrintF("a: %s  SUI %s\nb: %s  SUI %s\n\n", Ref(request.a()),
               response.sui_a().empty() ? "(not linked)" : response.sui_a(),
               Ref(request.b()),
               response.sui_b().empty() ? "(not linked)" : response.sui_b());
  PrintExplanation(response.explanation());
  return 0;
}

int RunReview(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage =
      "review list [--all] [--format text|json|csv] | review show ID | "
      "review decide ID same|not-same --reason TEXT";
  if (args.empty()) return UsageError(usage);
  const std::string sub = args[0];
  absl::StatusOr<Args> a =
      Args::Parse(std::vector<std::string>(args.begin() + 1, args.end()),
                  {"format", "reason"}, {"all"});
  if (!a.ok()) return UsageError(a.status().message());
  auto stub = LinkageService::NewStub(c.Channel());
  if (sub == "list") {
    v1::ListReviewsRequest request;
    request.set_include_decided(a->Has("all"));
    v1::ListReviewsResponse response;
    const grpc::Status status =
        stub->ListReviews(Deadline().get(), request, &response);
    if (!status.ok()) return RpcError("review list", status);
    const std::string format = a->GetOr("format", "text");
    if (format == "json") {
      absl::PrintF("%s\n", ToJson(response));
    } else if (format == "csv") {
      absl::PrintF(
          "id,state,record,candidate,record_sui,candidate_sui,"
          "weight,created\n");
      for (const v1::ReviewTask& t : response.tasks()) {
        absl::PrintF("%d,%s,%s,%s,%s,%s,%.2f,%s\n", t.id(),
                     StateName(t.state()), CsvField(Ref(t.record())),
                     CsvField(Ref(t.candidate())), t.record_sui(),
                     t.candidate_sui(), t.match_weight(),
                     FormatMicros(t.created_micros()));
      }
    } else {
      absl::PrintF("%6s  %-8s  %-28s  %-28s  %7s\n", "id", "state", "record",
                   "candidate", "weight");
      for (const v1::ReviewTask& t : response.tasks()) {
        absl::PrintF("%6d  %-8s  %-28s  %-28s  %+7.2f\n", t.id(),
                     StateName(t.state()), Ref(t.record()), Ref(t.candidate()),
                     t.match_weight());
      }
      absl::PrintF("%d %s\n", response.tasks_size(),
                   a->Has("all") ? "tasks" : "open tasks");
    }
    return 0;
  }
  uint64_t id = 0;
  if (a->positional().empty() || !absl::SimpleAtoi(a->positional()[0], &id)) {
    return UsageError(usage);
  }
  if (sub == "show") {
    v1::GetReviewRequest request;
    request.set_id(id);
    v1::ReviewTask t;
    const grpc::Status status = stub->GetReview(Deadline().get(), request, &t);
    if (!status.ok()) return RpcError("review show", status);
    if (a->GetOr("format", "text") == "json") {
      absl::PrintF("%s\n", ToJson(t));
      return 0;
    }
    absl::PrintF(
        "review %d: %s\nrecord:    %s (SUI %s when opened)\ncandidate: %s "
        "(SUI %s when opened)\nweight when opened: %+.2f, opened %s\n",
        t.id(), StateName(t.state()), Ref(t.record()), t.record_sui(),
        Ref(t.candidate()), t.candidate_sui(), t.match_weight(),
        FormatMicros(t.created_micros()));
    if (t.state() != v1::ReviewTask::STATE_OPEN) {
      absl::PrintF("decided %s by %s: %s\n", FormatMicros(t.decided_micros()),
                   t.decided_by(), t.reason());
    }
    absl::PrintF("\n");
    PrintExplanation(t.explanation());
    return 0;
  }
  if (sub == "decide") {
    if (a->positional().size() != 2 || !a->Has("reason")) {
      return UsageError(usage);
    }
    const std::string& d = a->positional()[1];
    v1::DecideReviewRequest request;
    request.set_id(id);
    if (d == "same") {
      request.set_decision(v1::DecideReviewRequest::DECISION_SAME);
    } else if (d == "not-same") {
      request.set_decision(v1::DecideReviewRequest::DECISION_NOT_SAME);
    } else {
      return UsageError("review decide ID same|not-same --reason TEXT");
    }
    request.set_reason(a->GetOr("reason", ""));
    v1::DecideReviewResponse response;
    const grpc::Status status =
        stub->DecideReview(Deadline(120).get(), request, &response);
    if (!status.ok()) return RpcError("review decide", status);
    absl::PrintF("review %d decided: %s; %s is now in SUI %s\n", id,
                 StateName(response.task().state()),
                 Ref(response.task().record()), response.sui());
    return 0;
  }
  return UsageError(usage);
}

int RunModel(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage =
      "model show [--format text|json] | model estimate [--relink]";
  if (args.empty()) return UsageError(usage);
  absl::StatusOr<Args> a =
      Args::Parse(std::vector<std::string>(args.begin() + 1, args.end()),
                  {"format"}, {"relink"});
  if (!a.ok()) return UsageError(a.status().message());
  auto stub = LinkageService::NewStub(c.Channel());
  auto get = [&](v1::GetModelResponse* m) {
    return stub->GetModel(Deadline().get(), v1::GetModelRequest(), m);
  };
  v1::GetModelResponse m;
  if (args[0] == "estimate") {
    grpc::Status status = get(&m);
    if (!status.ok()) return RpcError("model", status);
    const uint64_t before = m.estimations();
    v1::EstimateModelRequest request;
    request.set_relink(a->Has("relink"));
    v1::EstimateModelResponse ignored;
    status = stub->EstimateModel(Deadline().get(), request, &ignored);
    if (!status.ok()) return RpcError("model estimate", status);
    const bool tty = isatty(STDERR_FILENO);
    std::string shown;
    for (;;) {
      status = get(&m);
      if (!status.ok()) return RpcError("model", status);
      if (m.estimations() > before) break;
      if (!m.activity().empty() && m.activity() != shown) {
        absl::FPrintF(stderr, tty ? "\r%s\033[K" : "%s\n", m.activity());
        shown = m.activity();
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    if (tty) absl::FPrintF(stderr, "\r\033[K");
    if (!m.last_estimation_error().empty()) {
      absl::FPrintF(stderr, "linkctl: model estimate: %s\n",
                    m.last_estimation_error());
      return 1;
    }
    absl::PrintF("model version %d estimated\n\n", m.model_version());
  } else if (args[0] == "show") {
    const grpc::Status status = get(&m);
    if (!status.ok()) return RpcError("model", status);
    if (a->GetOr("format", "text") == "json") {
      absl::PrintF("%s\n", ToJson(m));
      return 0;
    }
  } else {
    return UsageError(usage);
  }
  absl::PrintF(
      "model version %d%s\nprior P(match) of a random pair %.3g (%+.2f "
      "bits); link at >= %+.2f bits, review from %+.2f bits\nname Dice "
      "cut-offs: high >= %.2f, low >= %.2f\n",
      m.model_version(),
      m.model_version() == 0 ? " (built-in, not estimated)" : "", m.lambda(),
      m.prior_weight(), m.upper_threshold(), m.lower_threshold(),
      m.name_high_cutoff(), m.name_low_cutoff());
  if (m.trained_at_micros() != 0) {
    std::string sources;
    for (const v1::SourceCount& s : m.trained_on()) {
      absl::StrAppend(&sources, sources.empty() ? "" : ", ", s.source(), " ",
                      s.records());
    }
    absl::PrintF(
        "trained %s on %s records; %d random pairs, %d blocked pairs (%d by "
        "the UPN/NHS rule), EM %d iterations%s\n",
        FormatMicros(m.trained_at_micros()), sources, m.random_pairs(),
        m.blocked_pairs(), m.rule_matches(), m.em_iterations(),
        m.em_converged() ? ", converged" : ", not converged");
  }
  absl::PrintF("\n%-12s %-15s %10s %10s %8s\n", "field", "level", "m", "u",
               "weight");
  for (const v1::FieldModel& f : m.fields()) {
    for (const v1::LevelModel& l : f.levels()) {
      absl::PrintF("%-12s %-15s %10.4g %10.4g %+8.2f%s\n", f.field(), l.level(),
                   l.m(), l.u(), l.weight(),
                   l.m_from_prior() ? "  (m: prior)" : "");
    }
  }
  return 0;
}

}  // namespace linkd::ctl
