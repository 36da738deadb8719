#include "linkd/ctl/extract_commands.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "crypto/crypto.h"
#include "linkd/extract/coarsen.h"
#include "linkd/extract/extract_file.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/extract/signing_key.h"
#include "linkd/v1/extract_service.grpc.pb.h"

namespace linkd::ctl {
namespace {

using v1::ExtractService;

std::vector<std::string> List(const std::string& csv) {
  std::vector<std::string> out;
  for (absl::string_view v : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    out.emplace_back(absl::StripAsciiWhitespace(v));
  }
  return out;
}

std::string Hex(const std::string& bytes) {
  return absl::BytesToHexString(bytes);
}

std::string KindName(v1::ExtractKind k) {
  return k == v1::EXTRACT_KIND_JOURNEY     ? "journey"
         : k == v1::EXTRACT_KIND_AGGREGATE ? "aggregate"
                                           : "unspecified";
}

std::string StateName(v1::ExtractRequest::State s) {
  std::string name = v1::ExtractRequest::State_Name(s);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "STATE_"));
}

void PrintRequest(const v1::ExtractRequest& r) {
  const v1::ExtractSpec& s = r.spec();
  absl::PrintF("request %d  project %s  %s  %s\n", r.id(), s.project_id(),
               KindName(s.kind()), StateName(r.state()));
  absl::PrintF("  requested by %s at %s\n", r.requested_by(),
               FormatMicros(r.requested_micros()));
  absl::PrintF("  hash %s\n", Hex(r.request_hash()));
  absl::PrintF("  fields: %s\n", absl::StrJoin(s.fields(), ", "));
  std::vector<std::string> coarse;
  for (const auto& c : s.coarsenings()) {
    coarse.push_back(absl::StrCat(c.field(), "=",
                                  c.date_granularity().empty()
                                      ? c.category_mapping()
                                      : c.date_granularity()));
  }
  if (!coarse.empty()) {
    absl::PrintF("  coarsening: %s\n", absl::StrJoin(coarse, ", "));
  }
  const v1::CohortDefinition& c = s.cohort();
  absl::PrintF(
      "  cohort: %s%s%s%s\n",
      c.event_types().empty()
          ? (c.from_date().empty() && c.to_date().empty()
                 ? "children with a record"
                 : "children with any event")
          : absl::StrCat("children with ",
                         absl::StrJoin(c.event_types(), " or ")),
      c.from_date().empty() && c.to_date().empty()
          ? ""
          : absl::StrCat(" between ",
                         c.from_date().empty() ? "the start" : c.from_date(),
                         " and ",
                         c.to_date().empty() ? "the end" : c.to_date()),
      c.sources().empty()
          ? ""
          : absl::StrCat(" from ", absl::StrJoin(c.sources(), ", ")),
      "");
  if (!s.justification().empty()) {
    absl::PrintF("  justification: %s\n", s.justification());
  }
  if (!r.decided_by().empty()) {
    absl::PrintF("  decided by %s at %s: %s\n", r.decided_by(),
                 FormatMicros(r.decided_micros()), r.decision_reason());
  }
  if (r.state() == v1::ExtractRequest::STATE_RELEASED ||
      r.state() == v1::ExtractRequest::STATE_FETCHED) {
    absl::PrintF("  released %s: %d rows, %d children, file %s (%d bytes)\n",
                 FormatMicros(r.released_micros()), r.row_count(),
                 r.released_children(), r.file_name(), r.file_size());
    if (r.cohort_children() > 0 || r.removed_for_objection() > 0) {
      absl::PrintF(
          "  IG only: cohort %d children, %d removed for an objection or "
          "opt-out\n",
          r.cohort_children(), r.removed_for_objection());
    }
  }
  if (r.fetched_micros() != 0) {
    absl::PrintF("  downloaded %s\n", FormatMicros(r.fetched_micros()));
  }
  if (!r.failure().empty()) absl::PrintF("  failed: %s\n", r.failure());
}

bool ReadText(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

int Keygen(const Args& a) {
  if (!a.Has("public-key") || !a.Has("secret-key")) {
    return UsageError("extract keygen --public-key FILE --secret-key FILE");
  }
  if (!crypto::Init().ok()) return 1;
  absl::StatusOr<extract::ResearcherPublicKey> pk =
      extract::GenerateResearcherKeyPair(a.GetOr("public-key", ""),
                                         a.GetOr("secret-key", ""));
  if (!pk.ok()) {
    absl::FPrintF(stderr, "linkctl: extract keygen: %s\n",
                  pk.status().message());
    return 1;
  }
  absl::PrintF(
      "wrote %s (give it to the IG team) and %s (mode 0600: keep it "
      "secret)\npublic key %s\n",
      a.GetOr("public-key", ""), a.GetOr("secret-key", ""), pk->ToHex());
  return 0;
}

int Open(const Args& a) {
  if (a.positional().size() != 1 || !a.Has("key")) {
    return UsageError(
        "extract open --key SECRET_KEY_FILE [--signer HEX|FILE] [--manifest "
        "FILE] [--out FILE] FILE");
  }
  if (!crypto::Init().ok()) return 1;
  const std::string path = a.positional()[0];
  const std::string manifest =
      a.GetOr("manifest", extract::ManifestPathFor(path));
  absl::StatusOr<extract::ResearcherSecretKey> key =
      extract::ResearcherSecretKey::ReadFile(a.GetOr("key", ""));
  if (!key.ok()) {
    absl::FPrintF(stderr, "linkctl: extract open: --key: %s\n",
                  key.status().message());
    return 1;
  }
  std::optional<extract::SigningPublicKey> signer;
  if (a.Has("signer")) {
    std::string text = a.GetOr("signer", "");
    std::string from_file;
    if (text.size() != 64 && ReadText(text, &from_file)) text = from_file;
    absl::StatusOr<extract::SigningPublicKey> pinned =
        extract::SigningPublicKey::FromHex(
            std::string(absl::StripAsciiWhitespace(text)));
    if (!pinned.ok()) {
      return UsageError(
          "--signer: 64 hex digits (or a file holding them): linkd's release "
          "signing key as `linkctl project list` shows it");
    }
    signer = *pinned;
  }
  absl::StatusOr<std::unique_ptr<extract::ExtractReader>> reader =
      extract::ExtractReader::Open(path, manifest, *key, signer);
  if (!reader.ok()) {
    absl::FPrintF(stderr, "linkctl: extract open: %s\n",
                  reader.status().message());
    return 4;
  }
  if (!(*reader)->signer_pinned()) {
    absl::FPrintF(stderr,
                  "linkctl: warning: no --signer given: the manifest was "
                  "checked only against the key it names itself (%s), which "
                  "shows it is intact, not that linkd made it; pin linkd's "
                  "release signing key with --signer\n",
                  (*reader)->signer().ToHex());
  }
  // To a file: written beside it and renamed only once everything
  // verified, so a failed check leaves nothing that looks like an extract.
  const std::string out_path = a.GetOr("out", "");
  const std::string partial = out_path + ".partial";
  std::ofstream file;
  if (!out_path.empty()) {
    file.open(partial, std::ios::binary | std::ios::trunc);
    if (!file) {
      absl::FPrintF(stderr, "linkctl: extract open: cannot write %s\n",
                    partial);
      return 1;
    }
    ::chmod(partial.c_str(), 0600);
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  auto line = [](const std::vector<std::string>& fields) {
    std::string l;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) l.push_back(',');
      l += CsvField(fields[i]);
    }
    l.push_back('\n');
    return l;
  };
  out << line((*reader)->columns());
  std::vector<std::string> row;
  uint64_t rows = 0;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok()) {
      absl::FPrintF(
          stderr, "linkctl: extract open: %s%s\n", more.status().message(),
          out_path.empty() ? " (the rows written above are not a verified "
                             "extract: discard them)"
                           : "");
      if (!out_path.empty()) {
        file.close();
        std::remove(partial.c_str());
      }
      return 4;
    }
    if (!*more) break;
    out << line(row);
    ++rows;
  }
  out.flush();
  if (!out_path.empty()) {
    file.close();
    if (!file || std::rename(partial.c_str(), out_path.c_str()) != 0) {
      std::remove(partial.c_str());
      absl::FPrintF(stderr, "linkctl: extract open: cannot write %s\n",
                    out_path);
      return 1;
    }
  }
  const extract::v1::Manifest& m = (*reader)->manifest();
  std::vector<std::string> coarse;
  for (const auto& c : m.coarsenings()) {
    coarse.push_back(absl::StrCat(
        c.field(), "=",
        c.category_mapping().empty()
            ? std::string(extract::DateGranularityName(c.date_granularity()))
            : c.category_mapping()));
  }
  absl::FPrintF(
      stderr,
      "linkctl: verified extract of project %s, request %s, approval %s by "
      "%s, policy %s: %d rows (%s), signed by %s%s\n",
      m.project_id(), m.request_id(), m.approval_id(), m.approver(),
      m.policy_version(), rows,
      coarse.empty() ? "no coarsening"
                     : absl::StrCat("coarsened ", absl::StrJoin(coarse, ", ")),
      (*reader)->signer().ToHex(),
      (*reader)->signer_pinned() ? " (pinned)" : " (NOT pinned)");
  const extract::v1::LinkageQuality& q = m.linkage_quality();
  if (!q.method().empty()) {
    absl::FPrintF(stderr, "linkctl: linkage quality: %s\n", q.method());
    if (q.estimated_precision() > 0) {
      absl::FPrintF(stderr, "linkctl:   estimated precision %.4f\n",
                    q.estimated_precision());
    }
    for (const auto& r : q.subgroup_link_rates()) {
      absl::FPrintF(stderr, "linkctl:   link rate %-40s %.3f (%d records)\n",
                    r.subgroup(), r.link_rate(), r.records());
    }
    for (const auto& b : q.match_weight_buckets()) {
      absl::FPrintF(stderr, "linkctl:   match weight [%5.1f, %5.1f) %d\n",
                    b.lower(), b.upper(), b.links());
    }
  }
  return 0;
}

int Request(const Connection& c, const Args& a) {
  v1::RequestExtractRequest request;
  v1::ExtractSpec* s = request.mutable_spec();
  if (!a.Has("project") || !a.Has("kind") || !a.Has("fields")) {
    return UsageError(
        "extract request needs --project ID, --kind journey|aggregate and "
        "--fields F1,F2");
  }
  s->set_project_id(a.GetOr("project", ""));
  const std::string kind = a.GetOr("kind", "");
  if (kind == "journey") {
    s->set_kind(v1::EXTRACT_KIND_JOURNEY);
  } else if (kind == "aggregate") {
    s->set_kind(v1::EXTRACT_KIND_AGGREGATE);
  } else {
    return UsageError("--kind must be journey or aggregate");
  }
  for (const std::string& f : List(a.GetOr("fields", ""))) s->add_fields(f);
  for (const std::string& t : List(a.GetOr("event-types", ""))) {
    s->mutable_cohort()->add_event_types(t);
  }
  for (const std::string& src : List(a.GetOr("sources", ""))) {
    s->mutable_cohort()->add_sources(src);
  }
  s->mutable_cohort()->set_from_date(a.GetOr("from", ""));
  s->mutable_cohort()->set_to_date(a.GetOr("to", ""));
  for (const std::string& spec : List(a.GetOr("coarsen", ""))) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      return UsageError("--coarsen FIELD=HOW[,FIELD=HOW]");
    }
    v1::FieldCoarseningSpec* fc = s->add_coarsenings();
    fc->set_field(spec.substr(0, eq));
    const std::string how = spec.substr(eq + 1);
    if (extract::ParseDateGranularity(how).ok()) {
      fc->set_date_granularity(how);
    } else {
      fc->set_category_mapping(how);
    }
  }
  s->set_journey_from(a.GetOr("journey-from", ""));
  s->set_journey_to(a.GetOr("journey-to", ""));
  for (const std::string& t : List(a.GetOr("journey-event-types", ""))) {
    s->add_journey_event_types(t);
  }
  s->set_justification(a.GetOr("justification", ""));
  auto stub = ExtractService::NewStub(c.Channel());
  v1::RequestExtractResponse response;
  const grpc::Status status =
      stub->RequestExtract(Deadline().get(), request, &response);
  if (!status.ok()) return RpcError("extract request", status);
  if (a.GetOr("format", "text") == "json") {
    absl::PrintF("%s\n", ToJson(response.request()));
    return 0;
  }
  absl::PrintF("requested:\n");
  PrintRequest(response.request());
  return 0;
}

int Decide(const Connection& c, const Args& a, bool approve) {
  const std::string what = approve ? "extract approve" : "extract refuse";
  uint64_t id = 0;
  if (a.positional().size() != 1 || !absl::SimpleAtoi(a.positional()[0], &id) ||
      !a.Has("reason")) {
    return UsageError(absl::StrCat(what, " ID --reason TEXT [--hash HEX]"));
  }
  auto stub = ExtractService::NewStub(c.Channel());
  v1::DecideRequestRequest request;
  request.set_request_id(id);
  request.set_approve(approve);
  request.set_reason(a.GetOr("reason", ""));
  if (a.Has("hash")) {
    const std::string hex = a.GetOr("hash", "");
    const bool is_hex =
        hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char ch) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(ch));
        });
    const std::string hash = is_hex ? absl::HexStringToBytes(hex) : "";
    if (hash.size() != 32) {
      return UsageError("--hash: 64 hex digits, as extract list shows");
    }
    request.set_request_hash(hash);
  } else {
    v1::ListRequestsRequest list;
    list.set_request_id(id);
    v1::ListRequestsResponse found;
    const grpc::Status status =
        stub->ListRequests(Deadline().get(), list, &found);
    if (!status.ok()) return RpcError(what, status);
    if (found.requests_size() != 1) {
      absl::FPrintF(stderr, "linkctl: %s: no request %d\n", what, id);
      return 1;
    }
    absl::PrintF("deciding on:\n");
    PrintRequest(found.requests(0));
    request.set_request_hash(found.requests(0).request_hash());
  }
  v1::DecideRequestResponse response;
  const grpc::Status status =
      stub->DecideRequest(Deadline().get(), request, &response);
  if (!status.ok()) return RpcError(what, status);
  absl::PrintF("%s request %d (approval %s)%s\n",
               approve ? "approved" : "refused", id,
               response.request().approval_id().empty()
                   ? "-"
                   : response.request().approval_id(),
               approve ? "; linkd is making the extract now" : "");
  return 0;
}

int Fetch(const Connection& c, const Args& a) {
  uint64_t id = 0;
  if (a.positional().size() != 1 || !absl::SimpleAtoi(a.positional()[0], &id)) {
    return UsageError("extract fetch ID [--out-dir DIR]");
  }
  const std::string dir = a.GetOr("out-dir", ".");
  auto stub = ExtractService::NewStub(c.Channel());
  v1::FetchExtractRequest request;
  request.set_request_id(id);
  auto context = Deadline(3600);
  std::unique_ptr<grpc::ClientReader<v1::FetchExtractResponse>> reader =
      stub->FetchExtract(context.get(), request);
  v1::FetchExtractResponse message;
  std::string path, partial;
  std::ofstream out;
  uint64_t expected = 0, got = 0;
  while (reader->Read(&message)) {
    if (message.has_header()) {
      const auto& h = message.header();
      const std::string name = std::filesystem::path(h.file_name())
                                   .filename()
                                   .string();  // never a path from the wire
      if (name.empty() || name == "." || name == "..") {
        absl::FPrintF(stderr, "linkctl: extract fetch: bad file name\n");
        return 1;
      }
      path = absl::StrCat(dir, "/", name);
      partial = path + ".partial";
      expected = h.file_size();
      std::ofstream manifest(extract::ManifestPathFor(path),
                             std::ios::binary | std::ios::trunc);
      ::chmod(extract::ManifestPathFor(path).c_str(), 0600);
      manifest << h.manifest();
      if (!manifest) {
        absl::FPrintF(stderr, "linkctl: extract fetch: cannot write %s\n",
                      extract::ManifestPathFor(path));
        return 1;
      }
      out.open(partial, std::ios::binary | std::ios::trunc);
      ::chmod(partial.c_str(), 0600);
      if (!out) {
        absl::FPrintF(stderr, "linkctl: extract fetch: cannot write %s\n",
                      partial);
        return 1;
      }
      continue;
    }
    out.write(message.chunk().data(),
              static_cast<std::streamsize>(message.chunk().size()));
    got += message.chunk().size();
  }
  const grpc::Status status = reader->Finish();
  out.close();
  if (!status.ok() || path.empty() || got != expected || !out) {
    if (!partial.empty()) std::remove(partial.c_str());
    if (!status.ok()) return RpcError("extract fetch", status);
    absl::FPrintF(stderr, "linkctl: extract fetch: incomplete download\n");
    return 1;
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    absl::FPrintF(stderr, "linkctl: extract fetch: cannot write %s\n", path);
    return 1;
  }
  absl::PrintF(
      "downloaded %s (%d bytes) and %s\nopen it with: linkctl extract open "
      "--key YOUR_SECRET_KEY --signer RELEASE_KEY %s\n",
      path, got, extract::ManifestPathFor(path), path);
  return 0;
}

}  // namespace

int RunProject(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage = "project register ... | project list";
  if (args.empty()) return UsageError(usage);
  absl::StatusOr<Args> a = Args::Parse(
      std::vector<std::string>(args.begin() + 1, args.end()),
      {"id", "title", "public-key", "ethics", "dpa", "fields", "purposes",
       "period-start", "period-end", "end-date", "format"});
  if (!a.ok()) return UsageError(a.status().message());
  auto stub = ExtractService::NewStub(c.Channel());
  if (args[0] == "register") {
    for (const char* required :
         {"id", "title", "public-key", "ethics", "dpa", "fields",
          "period-start", "period-end", "end-date"}) {
      if (!a->Has(required)) {
        return UsageError(absl::StrCat("project register needs --", required));
      }
    }
    absl::StatusOr<extract::ResearcherPublicKey> pk =
        extract::ResearcherPublicKey::ReadFile(a->GetOr("public-key", ""));
    if (!pk.ok()) {
      absl::FPrintF(stderr, "linkctl: project register: --public-key: %s\n",
                    pk.status().message());
      return 1;
    }
    v1::RegisterProjectRequest request;
    v1::Project* p = request.mutable_project();
    p->set_id(a->GetOr("id", ""));
    p->set_title(a->GetOr("title", ""));
    p->set_researcher_public_key(pk->bytes());
    p->set_ethics_reference(a->GetOr("ethics", ""));
    p->set_data_processing_agreement(a->GetOr("dpa", ""));
    for (const std::string& f : List(a->GetOr("fields", ""))) {
      p->add_approved_fields(f);
    }
    for (const std::string& f :
         List(a->GetOr("purposes", "research_extract"))) {
      p->add_approved_purposes(f);
    }
    p->set_period_start(a->GetOr("period-start", ""));
    p->set_period_end(a->GetOr("period-end", ""));
    p->set_end_date(a->GetOr("end-date", ""));
    v1::RegisterProjectResponse response;
    const grpc::Status status =
        stub->RegisterProject(Deadline().get(), request, &response);
    if (!status.ok()) return RpcError("project register", status);
    absl::PrintF("%s project %s (version %d) for %s, ending %s\n",
                 response.replaced() ? "re-registered" : "registered",
                 response.project().id(), response.project().version(),
                 response.project().lead_organisation(),
                 response.project().end_date());
    return 0;
  }
  if (args[0] == "list") {
    v1::ListProjectsResponse response;
    const grpc::Status status = stub->ListProjects(
        Deadline().get(), v1::ListProjectsRequest(), &response);
    if (!status.ok()) return RpcError("project list", status);
    if (a->GetOr("format", "text") == "json") {
      absl::PrintF("%s\n", ToJson(response));
      return 0;
    }
    for (const v1::Project& p : response.projects()) {
      absl::PrintF(
          "%s  v%d  %s\n  %s; ethics %s; DPA %s\n  period %s to %s, ends "
          "%s\n  fields: %s\n  researcher key %s\n",
          p.id(), p.version(), p.title(), p.lead_organisation(),
          p.ethics_reference(), p.data_processing_agreement(), p.period_start(),
          p.period_end(), p.end_date(),
          absl::StrJoin(p.approved_fields(), ", "),
          Hex(p.researcher_public_key()));
    }
    absl::PrintF("release signing key (pin with extract open --signer): %s\n",
                 response.release_signing_public_key());
    return 0;
  }
  return UsageError(usage);
}

int RunExtract(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage =
      "extract keygen | request | list | approve | refuse | fetch | open "
      "(see linkctl --help)";
  if (args.empty()) return UsageError(usage);
  absl::StatusOr<Args> a =
      Args::Parse(std::vector<std::string>(args.begin() + 1, args.end()),
                  {"public-key",
                   "secret-key",
                   "project",
                   "kind",
                   "fields",
                   "event-types",
                   "from",
                   "to",
                   "sources",
                   "coarsen",
                   "journey-from",
                   "journey-to",
                   "journey-event-types",
                   "justification",
                   "format",
                   "id",
                   "reason",
                   "hash",
                   "out-dir",
                   "key",
                   "signer",
                   "manifest",
                   "out"});
  if (!a.ok()) return UsageError(a.status().message());
  const std::string& command = args[0];
  if (command == "keygen") return Keygen(*a);
  if (command == "open") return Open(*a);
  if (command == "request") return Request(c, *a);
  if (command == "approve") return Decide(c, *a, true);
  if (command == "refuse") return Decide(c, *a, false);
  if (command == "fetch") return Fetch(c, *a);
  if (command == "list") {
    auto stub = ExtractService::NewStub(c.Channel());
    v1::ListRequestsRequest request;
    request.set_project_id(a->GetOr("project", ""));
    uint64_t id = 0;
    if (a->Has("id") && !absl::SimpleAtoi(a->GetOr("id", ""), &id)) {
      return UsageError("--id: a request number");
    }
    request.set_request_id(id);
    v1::ListRequestsResponse response;
    const grpc::Status status =
        stub->ListRequests(Deadline().get(), request, &response);
    if (!status.ok()) return RpcError("extract list", status);
    if (a->GetOr("format", "text") == "json") {
      absl::PrintF("%s\n", ToJson(response));
      return 0;
    }
    for (const v1::ExtractRequest& r : response.requests()) PrintRequest(r);
    if (response.requests_size() == 0) absl::PrintF("no requests\n");
    return 0;
  }
  return UsageError(usage);
}

}  // namespace linkd::ctl
