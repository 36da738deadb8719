// Research extract benchmark through the daemon: a real linkd over mTLS
// (dev-ca certificates), real policies, the real index, store and crypto.
//
//   extract_daemon_bench [--children N] [--objections K]
//
// Setup (not timed): N synthetic children (default 100,000) encoded in
// process: a school census record each (school/100001, with year group, SEN
// status, FSM and ethnicity attributes); every child has a social care
// episode starting in 2025 reported by la/999 (Child in Need, Child
// Protection or looked after), every second child its end, every third a
// suspension reported by the school: about 1.8 events per child and two
// records (school and LA) linked into one SUI. Uploaded with linking paused,
// bulk-linked, the router's backlog drained; K children (default 100)
// object to research; a project is registered.
//
// Timed: a journey extract of the cohort (children with a social care
// episode open in 2025, reported by la/999) with event type, event date
// (to the month), year group, SEN status and ethnicity (to major groups):
//   request  -> RequestExtract (policy decision, canonical hash, audit)
//   release  -> DecideRequest (approve) until the request is released: the
//               daemon's worker selects the cohort from one snapshot, asks
//               the policy about every child with a consent record, makes
//               the pseudonyms, reads the attributes, writes and encrypts
//               the CSV, samples link quality, signs the manifest and
//               audits the release with every released child's SUI
//   fetch    -> FetchExtract stream to disk
//   open     -> verify the manifest (pinned signer) and the file hash,
//               decrypt and parse every row (as `linkctl extract open`)
// Prints each step's seconds and the rows, children and MB. Target:
// release + fetch + open of 100k children with journeys <= 10 s.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "grpcpp/client_context.h"
#include "linkd/ctl/cli.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/encode/testing/synthetic_people.h"
#include "linkd/extract/extract_file.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/extract_service.grpc.pb.h"
#include "linkd/v1/governance_service.grpc.pb.h"
#include "linkd/v1/linkage_service.grpc.pb.h"
#include "linkd/v1/notification_service.grpc.pb.h"
#include "tests/e2e/mtls_daemon.h"
#include "tests/e2e/subprocess.h"

namespace {

using linkd::testing::RunProgram;

int Fail(const std::string& what, const std::string& detail = "") {
  std::fprintf(stderr, "extract_daemon_bench: %s\n%s\n", what.c_str(),
               detail.c_str());
  return 1;
}

double Seconds(absl::Time since) {
  return absl::ToDoubleSeconds(absl::Now() - since);
}

linkd::v1::Date DateOf(absl::CivilDay d) {
  linkd::v1::Date date;
  date.set_year(static_cast<int>(d.year()));
  date.set_month(d.month());
  date.set_day(d.day());
  return date;
}

std::string Iso(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

// Writes the encoded census (records) and events files.
absl::Status MakePopulation(const linkd::testing::TempDir& dir, int children,
                            std::string* census_path, std::string* la_path,
                            std::string* school_path, uint64_t* events) {
  linkd::crypto::LinkageKey key = linkd::crypto::LinkageKey::Generate(1);
  const linkd::crypto::Encoder encoder(key);
  linkd::encode::testing::SyntheticPeople people(2026);
  *census_path = dir.Sub("census.linkd");
  *la_path = dir.Sub("la.linkd");
  *school_path = dir.Sub("school_events.linkd");
  std::ofstream census(*census_path, std::ios::binary);
  std::ofstream la(*la_path, std::ios::binary);
  std::ofstream school(*school_path, std::ios::binary);
  static const char* const kEthnicity[] = {"WBRI", "WOTH", "MWBC", "APKN",
                                           "AIND", "BAFR", "BCRB", "CHNE"};
  static const linkd::v1::EpisodeKind kKinds[] = {
      linkd::v1::EPISODE_KIND_CHILD_IN_NEED_PLAN,
      linkd::v1::EPISODE_KIND_CHILD_PROTECTION_PLAN,
      linkd::v1::EPISODE_KIND_LOOKED_AFTER};
  linkd::v1::IngestItem item, event;
  *events = 0;
  for (int i = 0; i < children; ++i) {
    const linkd::encode::testing::SyntheticPerson p = people.Next();
    linkd::crypto::ClearIdentity clear;
    clear.given_name = p.given_name;
    clear.family_name = p.family_name;
    clear.dob = p.dob;
    clear.sex = p.sex;
    clear.postcode = p.postcode;
    clear.upn = p.upn;
    const linkd::crypto::EncodedIdentity encoded =
        encoder.Encode(clear, nullptr);
    linkd::encode::MakeIngestItem("school/100001", absl::StrCat("P", i),
                                  encoded, &item);
    auto& attrs = *item.mutable_record()->mutable_attributes();
    attrs["year_group"] = absl::StrCat(1 + i % 11);
    attrs["sen_status"] = i % 7 == 0 ? "E" : (i % 4 == 0 ? "K" : "N");
    attrs["fsm_eligible"] = i % 3 == 0 ? "true" : "false";
    attrs["ethnicity_code"] = kEthnicity[i % 8];
    google::protobuf::util::SerializeDelimitedToOstream(item, &census);
    const linkd::v1::EncodedRecord school_record = item.record();

    linkd::encode::MakeIngestItem("la/999", absl::StrCat("C", i), encoded,
                                  &item);
    const absl::CivilDay start = absl::CivilDay(2025, 1, 1) + i % 330;
    event.Clear();
    *event.mutable_event()->mutable_record() = item.record();
    linkd::v1::Event* e = event.mutable_event()->mutable_event();
    e->set_event_id(absl::StrCat("EP-", i, "-S"));
    e->set_type(linkd::v1::EVENT_TYPE_EPISODE_START);
    *e->mutable_date() = DateOf(start);
    e->set_episode_kind(kKinds[i % 3]);
    e->mutable_contact()->set_organisation("la/999");
    e->mutable_contact()->set_team("Children's Services");
    google::protobuf::util::SerializeDelimitedToOstream(event, &la);
    ++*events;
    if (i % 2 == 0) {
      e->set_event_id(absl::StrCat("EP-", i, "-E"));
      e->set_type(linkd::v1::EVENT_TYPE_EPISODE_END);
      *e->mutable_date() = DateOf(start + 30 + i % 200);
      e->clear_contact();
      google::protobuf::util::SerializeDelimitedToOstream(event, &la);
      ++*events;
    }
    if (i % 3 == 0) {
      event.Clear();
      *event.mutable_event()->mutable_record() = school_record;
      event.mutable_event()->mutable_record()->clear_attributes();
      linkd::v1::Event* s = event.mutable_event()->mutable_event();
      s->set_event_id(absl::StrCat("SUS-", i));
      s->set_type(linkd::v1::EVENT_TYPE_SUSPENSION);
      *s->mutable_date() = DateOf(start + 10 + i % 90);
      s->set_days(1 + i % 5);
      google::protobuf::util::SerializeDelimitedToOstream(event, &school);
      ++*events;
    }
  }
  census.close();
  la.close();
  school.close();
  if (!census || !la || !school) {
    return absl::UnavailableError("cannot write the encoded files");
  }
  return absl::OkStatus();
}

using linkd::testing::MtlsDaemon;
using linkd::testing::Upload;

}  // namespace

int main(int argc, char** argv) {
  int children = 100000, objections = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    int* target = nullptr;
    if (flag == "--children") target = &children;
    if (flag == "--objections") target = &objections;
    if (target == nullptr || i + 1 >= argc ||
        !absl::SimpleAtoi(argv[++i], target) || *target < 0) {
      return Fail(
          "usage: extract_daemon_bench [--children N] [--objections K]");
    }
  }
  objections = std::min(objections, children);
  if (!linkd::crypto::Init().ok()) return Fail("libsodium failed to start");
  linkd::testing::TempDir dir;
  const std::string certs = dir.Sub("certs");
  std::string out, err;
  if (RunProgram({"/bin/bash", LINKD_DEV_CA_SCRIPT, certs}, dir.path(), &out,
                 &err) != 0) {
    return Fail("dev-ca.sh failed", err);
  }

  absl::Time t = absl::Now();
  std::string census, la_events, school_events;
  uint64_t events = 0;
  if (absl::Status s = MakePopulation(dir, children, &census, &la_events,
                                      &school_events, &events);
      !s.ok()) {
    return Fail("population", s.ToString());
  }
  std::printf("encoded %d children (%d records, %llu events) in %.1f s\n",
              children, 2 * children, static_cast<unsigned long long>(events),
              Seconds(t));
  std::fflush(stdout);

  MtlsDaemon linkd(LINKD_BIN, dir, certs, {"--linking-paused"});
  if (!linkd.error().empty()) return Fail("linkd did not start", linkd.error());
  t = absl::Now();
  uint64_t link_seq = 0;
  for (const auto& [org, file] :
       std::vector<std::pair<std::string, std::string>>{
           {"school/100001", census},
           {"la/999", la_events},
           {"school/100001", school_events}}) {
    if (absl::Status s = Upload(linkd, org, file, &link_seq); !s.ok()) {
      return Fail("upload of " + file, s.ToString());
    }
  }
  std::printf("uploaded in %.1f s\n", Seconds(t));
  std::fflush(stdout);

  t = absl::Now();
  auto linkage =
      linkd::v1::LinkageService::NewStub(linkd.Channel("la/999-ops"));
  {
    linkd::v1::SetLinkingPausedRequest resume;
    resume.set_paused(false);
    linkd::v1::SetLinkingPausedResponse r;
    const grpc::Status s =
        linkage->SetLinkingPaused(linkd::ctl::Deadline().get(), resume, &r);
    if (!s.ok()) return Fail("resume linking", s.error_message());
  }
  uint64_t suis = 0;
  for (;;) {
    linkd::v1::GetLinkingStatusRequest req;
    req.set_wait_for_seq(link_seq);
    req.set_wait_millis(10000);
    linkd::v1::GetLinkingStatusResponse st;
    const grpc::Status s =
        linkage->GetLinkingStatus(linkd::ctl::Deadline(60).get(), req, &st);
    if (!s.ok()) return Fail("linking status", s.error_message());
    if (st.linked_seq() >= link_seq) {
      suis = st.active_suis();
      break;
    }
  }
  std::printf("linked into %llu SUIs in %.1f s\n",
              static_cast<unsigned long long>(suis), Seconds(t));
  std::fflush(stdout);
  // Let the router finish the notifications of the load, so that it does
  // not share the cores with the release being measured.
  t = absl::Now();
  auto school_notes =
      linkd::v1::NotificationService::NewStub(linkd.Channel("school/100001"));
  uint64_t last = 0;
  int stable = 0;
  while (stable < 5 && Seconds(t) < 900) {
    linkd::v1::ListPendingRequest req;
    req.set_limit(1);
    linkd::v1::ListPendingResponse r;
    const grpc::Status s =
        school_notes->ListPending(linkd::ctl::Deadline().get(), req, &r);
    if (!s.ok()) return Fail("pending", s.error_message());
    stable = r.pending() == last ? stable + 1 : 0;
    last = r.pending();
    absl::SleepFor(absl::Seconds(1));
  }
  std::printf("router settled (%llu notifications for the school) in %.1f s\n",
              static_cast<unsigned long long>(last), Seconds(t));

  // Objections, and the project.
  auto governance =
      linkd::v1::GovernanceService::NewStub(linkd.Channel("la/999-ig"));
  for (int i = 0; i < objections; ++i) {
    linkd::v1::RecordConsentRequest req;
    req.mutable_subject()->mutable_record()->set_source("school/100001");
    req.mutable_subject()->mutable_record()->set_record_id(
        absl::StrCat("P", i * (children / std::max(objections, 1))));
    req.set_kind(linkd::v1::ConsentRecord::KIND_OBJECTION);
    req.add_categories("research");
    req.set_reason("benchmark");
    linkd::v1::RecordConsentResponse r;
    const grpc::Status s =
        governance->RecordConsent(linkd::ctl::Deadline().get(), req, &r);
    if (!s.ok()) return Fail("objection", s.error_message());
  }
  const linkd::extract::ResearcherSecretKey researcher =
      linkd::extract::ResearcherSecretKey::Generate();
  auto ig = linkd::v1::ExtractService::NewStub(linkd.Channel("la/999-ig"));
  auto project =
      linkd::v1::ExtractService::NewStub(linkd.Channel("research/PRJ-001"));
  const absl::CivilDay today =
      absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  {
    linkd::v1::RegisterProjectRequest req;
    linkd::v1::Project* p = req.mutable_project();
    p->set_id("PRJ-001");
    p->set_title("Benchmark");
    p->set_researcher_public_key(researcher.public_key().bytes());
    p->set_ethics_reference("REC 26/YH/0042");
    p->set_data_processing_agreement("DPA-2026-007");
    p->add_approved_purposes("research_extract");
    for (const char* f : {"project_pseudonym", "event_type", "event_date",
                          "year_group", "sen_status", "ethnicity_code"}) {
      p->add_approved_fields(f);
    }
    p->set_period_start("2020-09-01");
    p->set_period_end(Iso(today));
    p->set_end_date(Iso(today + 365));
    linkd::v1::RegisterProjectResponse r;
    const grpc::Status s =
        ig->RegisterProject(linkd::ctl::Deadline().get(), req, &r);
    if (!s.ok()) return Fail("register project", s.error_message());
  }
  linkd::v1::ListProjectsResponse projects;
  if (!ig->ListProjects(linkd::ctl::Deadline().get(),
                        linkd::v1::ListProjectsRequest(), &projects)
           .ok()) {
    return Fail("list projects");
  }
  const auto signer = linkd::extract::SigningPublicKey::FromHex(
      projects.release_signing_public_key());
  if (!signer.ok()) return Fail("release key", signer.status().ToString());

  // --- timed
  const absl::Time total = absl::Now();
  t = absl::Now();
  linkd::v1::RequestExtractRequest ask;
  linkd::v1::ExtractSpec* spec = ask.mutable_spec();
  spec->set_project_id("PRJ-001");
  spec->set_kind(linkd::v1::EXTRACT_KIND_JOURNEY);
  spec->mutable_cohort()->add_event_types("social_care_episode");
  spec->mutable_cohort()->set_from_date("2025-01-01");
  spec->mutable_cohort()->set_to_date("2025-12-31");
  spec->mutable_cohort()->add_sources("la/999");
  for (const char* f : {"event_type", "event_date", "year_group", "sen_status",
                        "ethnicity_code"}) {
    spec->add_fields(f);
  }
  auto* c = spec->add_coarsenings();
  c->set_field("event_date");
  c->set_date_granularity("month");
  c = spec->add_coarsenings();
  c->set_field("ethnicity_code");
  c->set_category_mapping("ethnicity_major_group");
  linkd::v1::RequestExtractResponse asked;
  grpc::Status s =
      project->RequestExtract(linkd::ctl::Deadline().get(), ask, &asked);
  if (!s.ok()) return Fail("request", s.error_message());
  const double request_s = Seconds(t);

  t = absl::Now();
  linkd::v1::DecideRequestRequest decide;
  decide.set_request_id(asked.request().id());
  decide.set_approve(true);
  decide.set_reason("benchmark");
  decide.set_request_hash(asked.request().request_hash());
  linkd::v1::DecideRequestResponse decided;
  s = ig->DecideRequest(linkd::ctl::Deadline().get(), decide, &decided);
  if (!s.ok()) return Fail("approve", s.error_message());
  linkd::v1::ExtractRequest released;
  for (;;) {
    linkd::v1::ListRequestsRequest q;
    q.set_request_id(asked.request().id());
    linkd::v1::ListRequestsResponse r;
    s = ig->ListRequests(linkd::ctl::Deadline().get(), q, &r);
    if (!s.ok()) return Fail("list", s.error_message());
    released = r.requests(0);
    if (released.state() == linkd::v1::ExtractRequest::STATE_FAILED) {
      return Fail("release failed", released.failure());
    }
    if (released.state() == linkd::v1::ExtractRequest::STATE_RELEASED) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const double release_s = Seconds(t);

  t = absl::Now();
  const std::string path = dir.Sub("extract.lx");
  {
    linkd::v1::FetchExtractRequest f;
    f.set_request_id(asked.request().id());
    auto context = linkd::ctl::Deadline(600);
    auto reader = project->FetchExtract(context.get(), f);
    linkd::v1::FetchExtractResponse m;
    std::ofstream file(path, std::ios::binary);
    while (reader->Read(&m)) {
      if (m.has_header()) {
        std::ofstream(linkd::extract::ManifestPathFor(path), std::ios::binary)
            << m.header().manifest();
      } else {
        file << m.chunk();
      }
    }
    s = reader->Finish();
    if (!s.ok()) return Fail("fetch", s.error_message());
  }
  const double fetch_s = Seconds(t);

  t = absl::Now();
  auto opened = linkd::extract::ExtractReader::Open(
      path, linkd::extract::ManifestPathFor(path), researcher, *signer);
  if (!opened.ok()) return Fail("open", opened.status().ToString());
  std::vector<std::string> row;
  uint64_t rows = 0;
  for (;;) {
    absl::StatusOr<bool> more = (*opened)->Next(&row);
    if (!more.ok()) return Fail("open", more.status().ToString());
    if (!*more) break;
    ++rows;
  }
  const double open_s = Seconds(t);
  const double total_s = Seconds(total);

  const double mb = static_cast<double>(released.file_size()) / 1e6;
  std::printf(
      "journey extract: %llu cohort children, %llu released (%llu removed "
      "for objections), %llu rows, %.1f MB encrypted\n",
      static_cast<unsigned long long>(released.cohort_children()),
      static_cast<unsigned long long>(released.released_children()),
      static_cast<unsigned long long>(released.removed_for_objection()),
      static_cast<unsigned long long>(rows), mb);
  std::printf("  request  %6.3f s\n", request_s);
  std::printf("  release  %6.3f s  (approve -> released: %.0f children/s)\n",
              release_s, released.released_children() / release_s);
  std::printf("  fetch    %6.3f s  (%.0f MB/s)\n", fetch_s, mb / fetch_s);
  std::printf("  open     %6.3f s  (%.0f rows/s, verified)\n", open_s,
              rows / open_s);
  std::printf("  total    %6.3f s  (target <= 10 s: %s)\n", total_s,
              total_s <= 10 ? "met" : "MISSED");
  return 0;
}
