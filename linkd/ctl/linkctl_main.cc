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
#include "grpcpp/client_context.h"
#include "linkd/ctl/cli.h"
#include "linkd/ctl/extract_commands.h"
#include "linkd/ctl/governance_commands.h"
#include "linkd/ctl/linkage_commands.h"
#include "linkd/ctl/notification_commands.h"
#include "linkd/ctl/submit.h"
#include "linkd/v1/admin_service.grpc.pb.h"

namespace {

using linkd::ctl::Connection;
using linkd::ctl::HumanCount;
using linkd::ctl::RpcError;
using linkd::ctl::RunExplain;
using linkd::ctl::RunLinking;
using linkd::ctl::RunLinks;
using linkd::ctl::RunModel;
using linkd::ctl::RunResolve;
using linkd::ctl::RunReview;
using linkd::ctl::ToJson;
using linkd::ctl::UsageError;
using linkd::ctl::WaitForLinking;

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
  explain SOURCE:RECORD_ID SOURCE:RECORD_ID [--format text|json]
      How the current model compares two records: each field's comparison
      level and weight, the total and what the thresholds make of it.
  review list [--all] [--format text|json|csv]
  review show ID
  review decide ID same|not-same --reason TEXT
      The clerical review queue: pairs between the thresholds. "same"
      merges the two SUIs; "not same" keeps them apart for good.
  model show [--format text|json]
      The linkage model: m and u per comparison level, the prior, the
      thresholds and what it was trained on.
  model estimate
      Re-estimate the model from the stored records (EM), with progress.
  policy check DIR
      Validate the policy files in DIR and run their tests (no daemon
      needed); names file, line and reason of every problem.
  policy show | policy reload
      The policy in force (version, hash, purposes and lawful bases, your
      organisation and roles); reload it from its directory (audited).
  consent record --kind objection|opt-out|consent --categories A[,B]
                 [--from T] [--until T] --reason TEXT SUBJECT
  consent list SUBJECT
      Record or list a child's consent, objection and opt-out records.
      SUBJECT is --sui SUI, --source S --record R, or --identity FILE (an
      encoded file of the child's details, made with linkd-encode).
  audit verify [--checkpoint WITNESS] [--save-checkpoint FILE]
      Check the whole audit log (Merkle tree, hash chain, signed
      checkpoints, and the witness you kept); names the first bad entry.
  audit verify --data-dir DIR [--public-key FILE] [--checkpoint WITNESS]
      The same, offline, on a stopped daemon's data directory.
  audit export [--since T] [--until T] [--format text|jsonl]
      Entries of a time range (T: 2026-12-01 or RFC 3339).
  audit subject SUBJECT [--format text|jsonl]
      Every use of one child's data: a subject access report.
  audit checkpoint [--fresh] [--out FILE]
      A signed checkpoint of the log, to keep as a witness.
  project register --id ID --title TEXT --public-key FILE --ethics REF
                   --dpa REF --fields F1,F2,... --period-start DATE
                   --period-end DATE --end-date DATE [--purposes P1,P2]
      Register (or re-register, as a new version) a research project: its
      organisation is research/ID, FILE the researcher's public key (from
      extract keygen), fields what its extracts may contain (a subset of
      project_pseudonym, event_type, event_date, year_group, sen_status,
      fsm_eligible, ethnicity_code, la_code, birth_month). IG officers.
  project list [--format text|json]
      Projects, and linkd's release signing key to pin with extract open.
  extract keygen --public-key FILE --secret-key FILE
      A researcher key pair (no daemon needed). Give the public file to the
      IG team; keep the secret one (mode 0600) to open extracts.
  extract request --project ID --kind journey|aggregate --fields F1,F2
                  [--event-types T1,T2] [--from DATE] [--to DATE]
                  [--sources S1,S2] [--coarsen FIELD=HOW,...]
                  [--journey-from DATE] [--journey-to DATE]
                  [--journey-event-types T1,T2] [--justification TEXT]
      Ask for an extract (the project's own certificate). The cohort is the
      children with an event of the types (suspension,
      permanent_exclusion, removed_from_roll, child_missing_education,
      in_year_admission, child_in_need_plan_start|_end,
      child_protection_plan_start|_end, looked_after_start|_end) or an
      episode open in the range (social_care_episode, child_in_need_plan,
      child_protection_plan, looked_after) between --from and --to,
      reported by --sources; without event types or dates, the children
      with a record from --sources. HOW is day|month|quarter|year|
      academic_year for event_date and birth_month, ethnicity_major_group
      for ethnicity_code, year_group_key_stage for year_group. A journey
      lists each child's events; an aggregate counts children by one or
      two attributes (cells under 10 suppressed).
  extract list [--project ID] [--id N] [--format text|json]
      Requests with their state and hash (IG officers see every request
      and the number of children removed for objections).
  extract approve ID --reason TEXT [--hash HEX]
  extract refuse ID --reason TEXT [--hash HEX]
      Decide a request (an IG officer of another organisation than the
      requester's). The decision binds the request's hash: --hash pins the
      one you reviewed, else the current one is shown and used.
  extract fetch ID [--out-dir DIR]
      Download a released extract and its manifest into DIR (default .).
      linkd keeps it only until it is downloaded.
  extract open --key SECRET_KEY_FILE [--signer HEX|FILE] [--manifest FILE]
               [--out FILE] FILE
      Verify a downloaded extract (manifest signature, file hash, every
      chunk, the end, the row count) and write its CSV to stdout or FILE.
      --signer pins linkd's release signing key (project list shows it);
      without it the manifest is checked against the key it names itself.
  notifications watch [--format text|jsonl] [--count N] [--wait SECONDS]
                      [--no-ack]
      Print the notifications routed to your organisation (the one your
      --cert names): everything not yet acknowledged, then new ones as they
      arrive. Each is acknowledged once printed, so it is never sent again
      (--no-ack: leave them pending). Stops after N, or after SECONDS
      without one; otherwise runs until interrupted.
  notifications pending [--format text|json] [--limit N]
      Your backlog: notifications not yet acknowledged (no content).

Global options (before the command):
  --server HOST:PORT   linkd's address; default $LINKD_SERVER or
                       127.0.0.1:7300
  --cert F --key F --ca F
                       mTLS: this organisation's certificate and key, and
                       the CA that signed linkd's certificate.
Exit status: 0 success; 1 failure (connection, unreadable file);
2 usage error; 3 finished but some items were rejected; 4 the audit log
or an extract failed verification.
)";

int RunSubmit(const Connection& c, std::vector<std::string> args) {
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
  const linkd::ctl::SubmitSummary s =
      linkd::ctl::Submit(c.Channel(), files, options, progress);
  if (tty) absl::FPrintF(stderr, "\r\033[K");
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  bool linked = false;
  if (s.status.ok() && wait_linked && s.link_seq > 0) {
    linked = WaitForLinking(c, s.link_seq);
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

int RunStats(const Connection& c, std::vector<std::string> args) {
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
  auto stub = linkd::v1::AdminService::NewStub(c.Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  linkd::v1::GetStatsResponse stats;
  const grpc::Status status =
      stub->GetStats(&context, linkd::v1::GetStatsRequest(), &stats);
  if (!status.ok()) {
    return RpcError(absl::StrCat("stats from ", c.server), status);
  }
  if (format == "json") {
    absl::PrintF("%s\n", ToJson(stats));
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

}  // namespace

int main(int argc, char** argv) {
  Connection c;
  c.server = getenv("LINKD_SERVER") != nullptr ? getenv("LINKD_SERVER") : "";
  if (c.server.empty()) c.server = "127.0.0.1:7300";
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      absl::PrintF("%s", kUsage);
      return 0;
    }
    std::string* target = nullptr;
    if (arg == "--server") target = &c.server;
    if (arg == "--cert") target = &c.cert;
    if (arg == "--key") target = &c.key;
    if (arg == "--ca") target = &c.ca;
    if (target == nullptr) break;
    if (i + 1 >= argc) return UsageError(absl::StrCat(arg, " needs a value"));
    *target = argv[++i];
  }
  if (i >= argc) return UsageError("no command given");
  const std::string command = argv[i];
  std::vector<std::string> rest(argv + i + 1, argv + argc);
  if (command == "submit") return RunSubmit(c, std::move(rest));
  if (command == "stats") return RunStats(c, std::move(rest));
  if (command == "resolve") return RunResolve(c, rest);
  if (command == "links") return RunLinks(c, rest);
  if (command == "linking") return RunLinking(c, rest);
  if (command == "explain") return RunExplain(c, rest);
  if (command == "review") return RunReview(c, rest);
  if (command == "model") return RunModel(c, rest);
  if (command == "policy") return linkd::ctl::RunPolicy(c, rest);
  if (command == "consent") return linkd::ctl::RunConsent(c, rest);
  if (command == "audit") return linkd::ctl::RunAudit(c, rest);
  if (command == "project") return linkd::ctl::RunProject(c, rest);
  if (command == "extract") return linkd::ctl::RunExtract(c, rest);
  if (command == "notifications") {
    return linkd::ctl::RunNotifications(c, rest);
  }
  return UsageError(absl::StrCat("unknown command '", command, "'"));
}
