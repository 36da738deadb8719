// linkctl: the command line for linkd operators and IG teams.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "linkd/ctl/submit.h"
#include "linkd/v1/admin_service.grpc.pb.h"
#include "linkd/v1/linkage_service.grpc.pb.h"

namespace {

constexpr std::string_view kUsage =
    R"(usage: linkctl [--server HOST:PORT] COMMAND [options]

Commands:
  submit [--batch-size N] [--format text|json] [--no-wait] FILE [FILE...]
      Upload encoded files (from linkd-encode), wait until every batch is
      acknowledged as durable, then until its records are linked into SUIs
      (unless --no-wait, or linking is paused). Prints a summary: accepted,
      unchanged, updated, rejected. Progress goes to stderr.
  stats [--format text|json|csv]
      Record counts per source and in total, with field coverage.
  resolve --source S --record R
      Print the SUI of one record.
  links [--source S] [--format csv|text]
      Every record's SUI, one row per record (csv header
      source,record_id,sui).
  linking status|pause|resume
      Linking progress; pause or resume it (e.g. around a bulk load).

--server defaults to $LINKD_SERVER or 127.0.0.1:7300.
Exit status: 0 success; 1 failure (connection, unreadable file);
2 usage error; 3 finished but some items were rejected.
)";

int UsageError(std::string_view message) {
  absl::FPrintF(stderr, "linkctl: %s\n(see linkctl --help)\n", message);
  return 2;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(),
                                   args);
}

std::string HumanCount(double n) {
  if (n >= 1e6) return absl::StrFormat("%.2fM", n / 1e6);
  if (n >= 1e4) return absl::StrFormat("%.1fk", n / 1e3);
  return absl::StrFormat("%.0f", n);
}

std::unique_ptr<grpc::ClientContext> ShortContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

// Waits until linking reaches `seq`, showing progress; false if linking is
// paused or the status cannot be read.
bool WaitForLinking(const std::shared_ptr<grpc::Channel>& channel, uint64_t seq,
                    bool tty) {
  auto stub = linkd::v1::LinkageService::NewStub(channel);
  absl::Time last_line = absl::Now();
  for (;;) {
    linkd::v1::GetLinkingStatusResponse st;
    const grpc::Status status = stub->GetLinkingStatus(
        ShortContext().get(), linkd::v1::GetLinkingStatusRequest(), &st);
    if (!status.ok()) {
      absl::FPrintF(stderr, "linkctl: linking status unavailable: %s\n",
                    status.error_message());
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
    const std::string line =
        absl::StrFormat("linking: %d records still to link",
                        seq - std::min(seq, st.linked_seq()));
    if (tty) {
      absl::FPrintF(stderr, "\r%s\033[K", line);
    } else if (absl::Now() - last_line >= absl::Seconds(10)) {
      absl::FPrintF(stderr, "%s\n", line);
      last_line = absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

int RunSubmit(const std::string& server, std::vector<std::string> args) {
  linkd::ctl::SubmitOptions options;
  std::string format = "text";
  bool wait_linked = true;
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--batch-size" && i + 1 < args.size()) {
      if (!absl::SimpleAtoi(args[++i], &options.batch_items) ||
          options.batch_items == 0) {
        return UsageError("--batch-size needs a positive number");
      }
    } else if (args[i] == "--format" && i + 1 < args.size()) {
      format = args[++i];
      if (format != "text" && format != "json") {
        return UsageError("--format must be text or json");
      }
    } else if (args[i] == "--no-wait") {
      wait_linked = false;
    } else if (absl::StartsWith(args[i], "--")) {
      return UsageError(absl::StrCat("submit: unknown option ", args[i]));
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) return UsageError("submit: no FILE given");

  const bool tty = isatty(STDERR_FILENO);
  const absl::Time start = absl::Now();
  absl::Time last_line = start;
  auto progress = [&](const linkd::ctl::SubmitProgress& p) {
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    const std::string line = absl::StrFormat(
        "submitted %s items, %s acknowledged (%s/s), %.0f%% of input read",
        HumanCount(p.items_sent), HumanCount(p.items_acknowledged),
        HumanCount(secs > 0 ? p.items_acknowledged / secs : 0),
        p.bytes_total > 0 ? 100.0 * p.bytes_read / p.bytes_total : 100.0);
    if (tty) {
      absl::FPrintF(stderr, "\r%s\033[K", line);
    } else if (absl::Now() - last_line >= absl::Seconds(10)) {
      absl::FPrintF(stderr, "%s\n", line);
      last_line = absl::Now();
    }
  };
  auto channel = Connect(server);
  const linkd::ctl::SubmitSummary s =
      linkd::ctl::Submit(channel, files, options, progress);
  if (tty) absl::FPrintF(stderr, "\r\033[K");
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  bool linked = false;
  if (s.status.ok() && wait_linked && s.link_seq > 0) {
    linked = WaitForLinking(channel, s.link_seq, tty);
  }

  if (format == "json") {
    absl::PrintF(
        "{\"items_read\":%d,\"acknowledged\":%d,\"accepted\":%d,"
        "\"unchanged\":%d,\"updated\":%d,\"rejected\":%d,\"seconds\":%.3f,"
        "\"linked\":%s,\"ok\":%s}\n",
        s.items_read, s.acknowledged, s.accepted, s.unchanged, s.updated,
        s.rejected, secs, linked ? "true" : "false",
        s.status.ok() ? "true" : "false");
  } else {
    absl::PrintF(
        "%d items acknowledged in %.1f s (%s/s)\n"
        "  accepted:  %d\n  unchanged: %d\n  updated:   %d\n"
        "  rejected:  %d\n",
        s.acknowledged, secs, HumanCount(secs > 0 ? s.acknowledged / secs : 0),
        s.accepted, s.unchanged, s.updated, s.rejected);
  }
  for (const linkd::ctl::SubmitRejection& r : s.rejections) {
    absl::FPrintF(stderr, "rejected: %s item %d: %s\n", r.file, r.item,
                  r.message);
  }
  if (s.rejected > s.rejections.size()) {
    absl::FPrintF(stderr, "rejected: ... and %d more\n",
                  s.rejected - s.rejections.size());
  }
  if (!s.status.ok()) {
    absl::FPrintF(stderr,
                  "linkctl: upload stopped: %s\n"
                  "linkctl: %d of the items sent were acknowledged and are "
                  "stored; resubmitting the same files is safe (stored records "
                  "count as unchanged)\n",
                  s.status.ToString(), s.acknowledged);
    return 1;
  }
  return s.rejected > 0 ? 3 : 0;
}

int RunStats(const std::string& server, std::vector<std::string> args) {
  std::string format = "text";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--format" && i + 1 < args.size()) {
      format = args[++i];
    } else {
      return UsageError(absl::StrCat("stats: unknown argument ", args[i]));
    }
  }
  if (format != "text" && format != "json" && format != "csv") {
    return UsageError("--format must be text, json or csv");
  }
  auto stub = linkd::v1::AdminService::NewStub(Connect(server));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  linkd::v1::GetStatsResponse stats;
  const grpc::Status status =
      stub->GetStats(&context, linkd::v1::GetStatsRequest(), &stats);
  if (!status.ok()) {
    absl::FPrintF(stderr, "linkctl: stats from %s failed: %s\n", server,
                  status.error_message());
    return 1;
  }
  if (format == "json") {
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.always_print_primitive_fields = true;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(stats, &json, opts);
    absl::PrintF("%s\n", json);
    return 0;
  }
  if (format == "csv") {
    absl::PrintF("source,field,records\n");
    for (const auto& src : stats.sources()) {
      absl::PrintF("%s,records,%d\n", src.source(), src.records());
      absl::PrintF("%s,updated_records,%d\n", src.source(),
                   src.updated_records());
      for (const auto& f : src.fields()) {
        absl::PrintF("%s,%s,%d\n", src.source(), f.field(), f.records());
      }
    }
    return 0;
  }
  absl::PrintF("%-24s %12s %10s\n", "source", "records", "updated");
  for (const auto& src : stats.sources()) {
    absl::PrintF("%-24s %12d %10d\n", src.source(), src.records(),
                 src.updated_records());
  }
  absl::PrintF("%-24s %12d\n", "total", stats.total_records());
  for (const auto& src : stats.sources()) {
    if (src.records() == 0) continue;
    std::string line = absl::StrCat("\nfield coverage, ", src.source(), ":");
    for (const auto& f : src.fields()) {
      absl::StrAppend(&line,
                      absl::StrFormat("\n  %-20s %5.1f%%", f.field(),
                                      100.0 * f.records() / src.records()));
    }
    absl::PrintF("%s\n", line);
  }
  return 0;
}

int RunResolve(const std::string& server, std::vector<std::string> args) {
  linkd::v1::ResolveRequest request;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--source") {
      request.mutable_record()->set_source(args[i + 1]);
    } else if (args[i] == "--record") {
      request.mutable_record()->set_record_id(args[i + 1]);
    } else {
      return UsageError(absl::StrCat("resolve: unknown option ", args[i]));
    }
  }
  if (args.size() % 2 != 0 || request.record().source().empty() ||
      request.record().record_id().empty()) {
    return UsageError("resolve needs --source S --record R");
  }
  auto stub = linkd::v1::LinkageService::NewStub(Connect(server));
  linkd::v1::ResolveResponse response;
  const grpc::Status status =
      stub->Resolve(ShortContext().get(), request, &response);
  if (!status.ok()) {
    absl::FPrintF(stderr, "linkctl: resolve: %s\n", status.error_message());
    return 1;
  }
  absl::PrintF("%s\n", response.sui());
  return 0;
}

// Quotes a CSV field when it needs it (RFC 4180).
std::string CsvField(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

int RunLinks(const std::string& server, std::vector<std::string> args) {
  linkd::v1::ListLinksRequest request;
  std::string format = "csv";
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--source") {
      request.set_source(args[i + 1]);
    } else if (args[i] == "--format") {
      format = args[i + 1];
    } else {
      return UsageError(absl::StrCat("links: unknown option ", args[i]));
    }
  }
  if (args.size() % 2 != 0 || (format != "csv" && format != "text")) {
    return UsageError("links [--source S] [--format csv|text]");
  }
  auto stub = linkd::v1::LinkageService::NewStub(Connect(server));
  grpc::ClientContext context;
  auto reader = stub->ListLinks(&context, request);
  linkd::v1::ListLinksResponse page;
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
    absl::FPrintF(stderr, "linkctl: links stopped after %d rows: %s\n", rows,
                  status.error_message());
    return 1;
  }
  return 0;
}

int RunLinking(const std::string& server, std::vector<std::string> args) {
  if (args.size() != 1) return UsageError("linking status|pause|resume");
  auto stub = linkd::v1::LinkageService::NewStub(Connect(server));
  if (args[0] == "pause" || args[0] == "resume") {
    linkd::v1::SetLinkingPausedRequest request;
    request.set_paused(args[0] == "pause");
    linkd::v1::SetLinkingPausedResponse response;
    const grpc::Status status =
        stub->SetLinkingPaused(ShortContext().get(), request, &response);
    if (!status.ok()) {
      absl::FPrintF(stderr, "linkctl: linking %s: %s\n", args[0],
                    status.error_message());
      return 1;
    }
  } else if (args[0] != "status") {
    return UsageError("linking status|pause|resume");
  }
  linkd::v1::GetLinkingStatusResponse st;
  const grpc::Status status = stub->GetLinkingStatus(
      ShortContext().get(), linkd::v1::GetLinkingStatusRequest(), &st);
  if (!status.ok()) {
    absl::FPrintF(stderr, "linkctl: linking status: %s\n",
                  status.error_message());
    return 1;
  }
  absl::PrintF(
      "linking:       %s\nwaiting:       %d records\nactive SUIs:   %d\n"
      "open reviews:  %d\n",
      st.paused() ? "paused" : "running",
      st.queued_seq() - std::min(st.queued_seq(), st.linked_seq()),
      st.active_suis(), st.open_reviews());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server =
      getenv("LINKD_SERVER") != nullptr ? getenv("LINKD_SERVER") : "";
  if (server.empty()) server = "127.0.0.1:7300";
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      absl::PrintF("%s", kUsage);
      return 0;
    }
    if (arg == "--server") {
      if (i + 1 >= argc) return UsageError("--server needs HOST:PORT");
      server = argv[++i];
      continue;
    }
    break;
  }
  if (i >= argc) return UsageError("no command given");
  const std::string command = argv[i];
  std::vector<std::string> rest(argv + i + 1, argv + argc);
  if (command == "submit") return RunSubmit(server, std::move(rest));
  if (command == "stats") return RunStats(server, std::move(rest));
  if (command == "resolve") return RunResolve(server, std::move(rest));
  if (command == "links") return RunLinks(server, std::move(rest));
  if (command == "linking") return RunLinking(server, std::move(rest));
  return UsageError(absl::StrCat("unknown command '", command, "'"));
}
