// Notification latency benchmark: from a school's event submit to its
// delivery to the local authority's connected subscriber, with a real linkd
// over mTLS (dev-ca certificates), a real index and the real policies.
//
//   notify_latency_bench [--children N] [--episodes K] [--rate R]
//                        [--seconds S] [--batch B] [--settle S]
//
// Setup (not timed): N synthetic children (default 1,000,000) encoded in
// process and uploaded as a school census with linking paused; the first K
// (default 20,000) also get a Child Protection plan from la/999 (an event,
// with la/999's record) and a record at school/100001; linking is resumed
// and the bulk link waited for, then the router's backlog, then --settle
// seconds (default 0) for RocksDB to compact what the load left. Measured: R
// events/s (default 1000) for S seconds (default 30), suspensions reported
// by school/100001 for those K children in batches of B (default 10), each
// stamped when sent; la/999 subscribes and acknowledges, and each
// notification's latency is its arrival minus its event's send time.
// Prints p50/p95/p99/max and the delivered throughput, overall and per
// 5-second window of send time. Target: p99 <= 200 ms
// at 1000 events/s with 1M children indexed.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "grpcpp/client_context.h"
#include "linkd/ctl/cli.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/encode/testing/synthetic_people.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/ingest_service.grpc.pb.h"
#include "linkd/v1/linkage_service.grpc.pb.h"
#include "linkd/v1/notification_service.grpc.pb.h"
#include "tests/e2e/mtls_daemon.h"
#include "tests/e2e/subprocess.h"

namespace {

using linkd::testing::RunProgram;

int Fail(const std::string& what, const std::string& detail = "") {
  std::fprintf(stderr, "notify_latency_bench: %s\n%s\n", what.c_str(),
               detail.c_str());
  return 1;
}

double Seconds(absl::Time since) {
  return absl::ToDoubleSeconds(absl::Now() - since);
}

linkd::v1::Date Day(int offset) {
  const absl::CivilDay d = absl::CivilDay(2025, 1, 6) + offset;
  linkd::v1::Date date;
  date.set_year(static_cast<int>(d.year()));
  date.set_month(d.month());
  date.set_day(d.day());
  return date;
}

std::string DateKey(const linkd::v1::Date& d) {
  return absl::StrCat(d.year(), "-", d.month(), "-", d.day());
}

// The encoded files of the setup.
struct Population {
  std::string census;    // N records, source school_census
  std::string school;    // K records, source school/100001
  std::string episodes;  // K CP plan starts, source la/999
  std::vector<linkd::v1::EncodedRecord> school_records;  // for the events
};

absl::Status MakePopulation(const linkd::testing::TempDir& dir, int children,
                            int episodes, Population* pop) {
  linkd::crypto::LinkageKey key = linkd::crypto::LinkageKey::Generate(1);
  const linkd::crypto::Encoder encoder(key);
  linkd::encode::testing::SyntheticPeople people(2025);
  pop->census = dir.Sub("census.linkd");
  pop->school = dir.Sub("school.linkd");
  pop->episodes = dir.Sub("episodes.linkd");
  std::ofstream census(pop->census, std::ios::binary);
  std::ofstream school(pop->school, std::ios::binary);
  std::ofstream plans(pop->episodes, std::ios::binary);
  linkd::v1::IngestItem item;
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
    linkd::encode::MakeIngestItem("school_census", absl::StrCat("R", i),
                                  encoded, &item);
    google::protobuf::util::SerializeDelimitedToOstream(item, &census);
    if (i >= episodes) continue;
    linkd::encode::MakeIngestItem("school/100001", absl::StrCat("P", i),
                                  encoded, &item);
    google::protobuf::util::SerializeDelimitedToOstream(item, &school);
    pop->school_records.push_back(item.record());
    linkd::encode::MakeIngestItem("la/999", absl::StrCat("C", i), encoded,
                                  &item);
    linkd::v1::IngestItem plan;
    *plan.mutable_event()->mutable_record() = item.record();
    linkd::v1::Event* e = plan.mutable_event()->mutable_event();
    e->set_event_id(absl::StrCat("CP-", i));
    e->set_type(linkd::v1::EVENT_TYPE_EPISODE_START);
    *e->mutable_date() = Day(-30);
    e->set_episode_kind(linkd::v1::EPISODE_KIND_CHILD_PROTECTION_PLAN);
    e->mutable_contact()->set_organisation("la/999");
    e->mutable_contact()->set_team("Children's Services");
    google::protobuf::util::SerializeDelimitedToOstream(plan, &plans);
  }
  census.close();
  school.close();
  plans.close();
  if (!census || !school || !plans) {
    return absl::UnavailableError("cannot write the encoded files");
  }
  return absl::OkStatus();
}

using linkd::testing::MtlsDaemon;
using linkd::testing::Upload;

// Percentile of sorted values (nearest rank).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * sorted.size() + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace

int main(int argc, char** argv) {
  int children = 1000000, episodes = 20000, rate = 1000, seconds = 30,
      batch = 10, settle = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    int* target = nullptr;
    if (flag == "--children") target = &children;
    if (flag == "--episodes") target = &episodes;
    if (flag == "--rate") target = &rate;
    if (flag == "--seconds") target = &seconds;
    if (flag == "--batch") target = &batch;
    if (flag == "--settle") target = &settle;
    if (target == nullptr || i + 1 >= argc ||
        !absl::SimpleAtoi(argv[++i], target) || *target < 0) {
      return Fail(
          "usage: notify_latency_bench [--children N] [--episodes K] "
          "[--rate R] [--seconds S] [--batch B] [--settle S]");
    }
  }
  episodes = std::min(episodes, children);
  if (!linkd::crypto::Init().ok()) return Fail("libsodium failed to start");
  linkd::testing::TempDir dir;
  const std::string certs = dir.Sub("certs");
  std::string out, err;
  if (RunProgram({"/bin/bash", LINKD_DEV_CA_SCRIPT, certs}, dir.path(), &out,
                 &err) != 0) {
    return Fail("dev-ca.sh failed", err);
  }

  absl::Time t = absl::Now();
  Population pop;
  if (absl::Status s = MakePopulation(dir, children, episodes, &pop); !s.ok()) {
    return Fail("population", s.ToString());
  }
  std::printf("encoded %d children (%d with a CP plan) in %.1f s\n", children,
              episodes, Seconds(t));
  std::fflush(stdout);

  MtlsDaemon linkd(LINKD_BIN, dir, certs, {"--linking-paused"});
  if (!linkd.error().empty()) return Fail("linkd did not start", linkd.error());
  t = absl::Now();
  uint64_t link_seq = 0;
  for (const auto& [org, file] :
       std::vector<std::pair<std::string, std::string>>{
           {"school/100001", pop.census},
           {"school/100001", pop.school},
           {"la/999", pop.episodes}}) {
    if (absl::Status s = Upload(linkd, org, file, &link_seq); !s.ok()) {
      return Fail("upload of " + file, s.ToString());
    }
  }
  std::printf("uploaded %d records and %d episode events in %.1f s\n",
              children + episodes, episodes, Seconds(t));
  std::fflush(stdout);

  // Bulk link, as for an initial load.
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
  for (;;) {
    linkd::v1::GetLinkingStatusRequest req;
    req.set_wait_for_seq(link_seq);
    req.set_wait_millis(10000);
    linkd::v1::GetLinkingStatusResponse st;
    const grpc::Status s =
        linkage->GetLinkingStatus(linkd::ctl::Deadline(60).get(), req, &st);
    if (!s.ok()) return Fail("linking status", s.error_message());
    if (st.linked_seq() >= link_seq) {
      std::printf("linked %llu records into %llu SUIs in %.1f s\n",
                  static_cast<unsigned long long>(st.linked_seq()),
                  static_cast<unsigned long long>(st.active_suis()),
                  Seconds(t));
      break;
    }
    std::printf("  linking: %llu / %llu %s\n",
                static_cast<unsigned long long>(st.linked_seq()),
                static_cast<unsigned long long>(link_seq),
                st.activity().c_str());
    std::fflush(stdout);
  }
  // The episode events are routed once linked (flags to school/100001).
  t = absl::Now();
  auto school_notes =
      linkd::v1::NotificationService::NewStub(linkd.Channel("school/100001"));
  for (;;) {
    linkd::v1::ListPendingRequest req;
    req.set_limit(1);
    linkd::v1::ListPendingResponse r;
    const grpc::Status s =
        school_notes->ListPending(linkd::ctl::Deadline().get(), req, &r);
    if (!s.ok()) return Fail("pending", s.error_message());
    if (r.pending() >= static_cast<uint64_t>(episodes)) break;
    if (Seconds(t) > 600) return Fail("the episode events were not routed");
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::printf("routed %d episode starts (flags to the school) in %.1f s\n",
              episodes, Seconds(t));
  std::fflush(stdout);

  if (settle > 0) {
    std::printf("settling for %d s\n", settle);
    std::fflush(stdout);
    absl::SleepFor(absl::Seconds(settle));
  }

  // The measurement. Send times by (child's LA record, event date).
  absl::Mutex mu;
  std::map<std::string, absl::Time> sent;
  std::vector<double> latencies_ms;
  // Latencies by 5-second window of send time.
  std::map<int, std::vector<double>> windows;
  absl::Time measure_start = absl::Now();
  std::atomic<bool> stop{false};
  const int total = rate * seconds;

  // la/999's subscriber, acknowledging from a second thread.
  auto la = linkd::v1::NotificationService::NewStub(linkd.Channel("la/999"));
  grpc::ClientContext sub_context;
  auto reader = la->Subscribe(&sub_context, linkd::v1::SubscribeRequest());
  std::vector<uint64_t> to_ack;
  std::thread subscriber([&] {
    linkd::v1::SubscribeResponse m;
    while (reader->Read(&m)) {
      const absl::Time now = absl::Now();
      absl::MutexLock lock(&mu);
      for (const linkd::v1::Notification& n : m.notifications()) {
        to_ack.push_back(n.id());
        auto it =
            sent.find(n.child().record_id() + "/" + DateKey(n.event_date()));
        if (it == sent.end()) continue;
        const double ms = absl::ToDoubleMilliseconds(now - it->second);
        latencies_ms.push_back(ms);
        windows[static_cast<int>(
                    absl::ToDoubleSeconds(it->second - measure_start) / 5)]
            .push_back(ms);
        sent.erase(it);
      }
    }
  });
  std::thread acker([&] {
    while (!stop) {
      absl::SleepFor(absl::Milliseconds(100));
      linkd::v1::AckRequest req;
      {
        absl::MutexLock lock(&mu);
        for (uint64_t id : to_ack) req.add_ids(id);
        to_ack.clear();
      }
      if (req.ids_size() == 0) continue;
      linkd::v1::AckResponse r;
      (void)la->Ack(linkd::ctl::Deadline().get(), req, &r);
    }
  });

  // school/100001's reports, paced.
  auto ingest =
      linkd::v1::IngestService::NewStub(linkd.Channel("school/100001"));
  grpc::ClientContext ingest_context;
  auto stream = ingest->Ingest(&ingest_context);
  std::atomic<int> acked_items{0};
  std::thread ack_reader([&] {
    linkd::v1::IngestAck ack;
    while (stream->Read(&ack)) {
      acked_items += static_cast<int>(ack.accepted() + ack.unchanged());
    }
  });
  const absl::Time start = absl::Now();
  {
    absl::MutexLock lock(&mu);
    measure_start = start;
  }
  const absl::Duration interval = absl::Seconds(1) * batch / rate;
  int produced = 0;
  for (uint64_t b = 0; produced < total; ++b) {
    const absl::Time due = start + interval * static_cast<int64_t>(b);
    const absl::Duration ahead = due - absl::Now();
    if (ahead > absl::ZeroDuration()) absl::SleepFor(ahead);
    linkd::v1::IngestBatch message;
    message.set_batch_seq(b + 1);
    std::vector<std::string> keys;
    for (int j = 0; j < batch && produced < total; ++j, ++produced) {
      const int child = produced % episodes;
      const int round = produced / episodes;
      linkd::v1::IngestItem* item = message.add_items();
      *item->mutable_event()->mutable_record() = pop.school_records[child];
      linkd::v1::Event* e = item->mutable_event()->mutable_event();
      e->set_event_id(absl::StrCat("S-", produced));
      e->set_type(linkd::v1::EVENT_TYPE_SUSPENSION);
      *e->mutable_date() = Day(round);
      e->set_days(1 + produced % 5);
      keys.push_back(absl::StrCat("C", child, "/", DateKey(e->date())));
    }
    {
      absl::MutexLock lock(&mu);
      const absl::Time now = absl::Now();
      for (std::string& k : keys) sent[std::move(k)] = now;
    }
    if (!stream->Write(message)) return Fail("the ingest stream broke");
  }
  stream->WritesDone();
  const double send_seconds = Seconds(start);
  // Wait for the last notifications (at most 30 s).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      if (static_cast<int>(latencies_ms.size()) >= total) break;
    }
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const double elapsed = Seconds(start);
  stop = true;
  acker.join();
  sub_context.TryCancel();
  subscriber.join();
  (void)reader->Finish();
  ack_reader.join();
  (void)stream->Finish();

  std::vector<double> sorted;
  {
    absl::MutexLock lock(&mu);
    sorted = latencies_ms;
  }
  std::sort(sorted.begin(), sorted.end());
  std::printf(
      "\nNotification latency, school event submit -> LA subscriber "
      "(mTLS, %d children indexed, %d with an open CP plan)\n"
      "  offered:   %d events in %.1f s (%.0f events/s, batches of %d)\n"
      "  delivered: %zu of %d (%.0f notifications/s over %.1f s)\n"
      "  latency:   p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms\n"
      "  target:    p99 <= 200 ms at 1000 events/s: %s\n",
      children, episodes, total, send_seconds, total / send_seconds, batch,
      sorted.size(), total, sorted.size() / elapsed, elapsed,
      Percentile(sorted, 50), Percentile(sorted, 95), Percentile(sorted, 99),
      sorted.empty() ? 0.0 : sorted.back(),
      static_cast<int>(sorted.size()) == total && Percentile(sorted, 99) <= 200
          ? "met"
          : "NOT met");
  std::printf("  by 5 s window of send time (p50 / p99 / max ms):\n");
  {
    absl::MutexLock lock(&mu);
    for (auto& [w, v] : windows) {
      std::sort(v.begin(), v.end());
      std::printf("    %3d-%3d s  %7.1f %7.1f %7.1f\n", w * 5, w * 5 + 5,
                  Percentile(v, 50), Percentile(v, 99), v.back());
    }
  }
  return static_cast<int>(sorted.size()) == total ? 0 : 1;
}
