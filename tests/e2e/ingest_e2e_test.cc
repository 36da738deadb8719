// End to end, with the real binaries: synthesise three sources, encode them
// with linkd-encode, upload them to a real linkd over loopback with linkctl,
// kill -9 the daemon in the middle of a second upload, restart it, and check
// that every acknowledged record is present and none is duplicated.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/admin_service.grpc.pb.h"
#include "tests/e2e/subprocess.h"

namespace linkd {
namespace {

using testing::RunProgram;
using testing::Subprocess;

// How each synthetic source's extract is laid out, as linkd-encode is told.
struct SourceLayout {
  std::string source;
  std::string csv;
  std::vector<std::string> maps;
  std::string date_format;  // empty: auto
};

const std::vector<SourceLayout>& Layouts() {
  static const auto* const layouts = new std::vector<SourceLayout>{
      {"school_census",
       "school_census.csv",
       {"record_id=pupil_ref", "upn=upn", "given_name=forename",
        "family_name=surname", "dob=dob", "sex=gender", "postcode=postcode"},
       "DD/MM/YYYY"},
      {"social_care",
       "social_care.csv",
       {"record_id=case_id", "given_name=first_name", "family_name=last_name",
        "dob=date_of_birth", "sex=sex", "postcode=post_code",
        "nhs_number=nhs_no", "upn=upn"},
       ""},
      {"health",
       "health.csv",
       {"record_id=patient_id", "nhs_number=nhs_number", "given_name=given",
        "family_name=family", "dob=birth_date", "sex=sex_code",
        "postcode=postcode"},
       "YYYYMMDD"},
  };
  return *layouts;
}

// Population sizes scale with LINKD_E2E_SCALE (default 1), so that slow
// builds (sanitizers) can run the same test on fewer people.
int Scaled(int people) {
  const char* env = std::getenv("LINKD_E2E_SCALE");
  double scale = 1.0;
  if (env != nullptr && !absl::SimpleAtod(env, &scale)) scale = 1.0;
  return std::max(500, static_cast<int>(people * scale));
}

// Reads one number from linkctl's JSON summary.
uint64_t JsonField(const std::string& json, const std::string& name) {
  const std::string label = "\"" + name + "\":";
  const size_t at = json.find(label);
  uint64_t v = 0;
  if (at == std::string::npos) {
    ADD_FAILURE() << "no " << name << " in " << json;
    return 0;
  }
  const size_t begin = at + label.size();
  const size_t end = json.find_first_not_of("0123456789", begin);
  EXPECT_TRUE(absl::SimpleAtoi(json.substr(begin, end - begin), &v)) << json;
  return v;
}

class IngestE2eTest : public ::testing::Test {
 protected:
  // On a failure, what each daemon started by the test said (the data
  // directory goes with the test's temporary directory).
  void TearDown() override {
    if (!HasFailure()) return;
    for (int i = 1; i <= starts_; ++i) {
      std::string err =
          testing::ReadFileOrEmpty(dir_.Sub("linkd.err." + std::to_string(i)));
      if (err.size() > 8000) err = "..." + err.substr(err.size() - 8000);
      std::cerr << "---- linkd start " << i << " stderr:\n" << err << "\n";
    }
  }

  // Generates a population and encodes its three sources, named with
  // `suffix` so that two populations never share a (source, record_id);
  // returns the encoded files in upload order.
  std::vector<std::string> MakeEncodedPopulation(const std::string& name,
                                                 int people, int seed,
                                                 const std::string& suffix) {
    const std::string pop = dir_.Sub(name);
    std::string out, err;
    EXPECT_EQ(RunProgram({LINKD_SYNTH_BIN, "--people", std::to_string(people),
                          "--seed", std::to_string(seed), "--out", pop},
                         dir_.path(), &out, &err),
              0)
        << err;
    std::vector<std::string> files;
    for (const SourceLayout& layout : Layouts()) {
      std::vector<std::string> argv = {LINKD_ENCODE_BIN, "--key", key_,
                                       "--source", layout.source + suffix};
      for (const std::string& m : layout.maps) {
        argv.push_back("--map");
        argv.push_back(m);
      }
      if (!layout.date_format.empty()) {
        argv.push_back("--date-format");
        argv.push_back(layout.date_format);
      }
      const std::string encoded = pop + "/" + layout.source + ".linkd";
      argv.insert(argv.end(), {"--out", encoded, pop + "/" + layout.csv});
      const int code = RunProgram(argv, dir_.path(), &out, &err);
      // 3 means some rows were rejected, which synthetic noise may cause.
      EXPECT_TRUE(code == 0 || code == 3) << code << ": " << err;
      files.push_back(encoded);
    }
    return files;
  }

  void StartDaemon() {
    const std::string ready = dir_.Sub("ready");
    std::remove(ready.c_str());
    daemon_ = std::make_unique<Subprocess>(
        std::vector<std::string>{LINKD_BIN, "--data-dir", dir_.Sub("db"),
                                 "--listen", "127.0.0.1:0", "--ready-file",
                                 ready},
        dir_.Sub("linkd.out"),
        dir_.Sub("linkd.err." + std::to_string(++starts_)));
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (testing::ReadFileOrEmpty(ready).empty()) {
      ASSERT_TRUE(daemon_->Running()) << daemon_->Stderr();
      ASSERT_LT(absl::Now(), deadline) << "linkd did not become ready";
      absl::SleepFor(absl::Milliseconds(20));
    }
    address_ = testing::ReadFileOrEmpty(ready);
    address_.erase(address_.find_last_not_of('\n') + 1);
  }

  // Runs `linkctl submit --format json FILES`; returns the exit code.
  int Submit(const std::vector<std::string>& files, std::string* json) {
    std::vector<std::string> argv = {LINKCTL_BIN, "--server", address_,
                                     "submit",    "--format", "json"};
    argv.insert(argv.end(), files.begin(), files.end());
    std::string err;
    const int code = RunProgram(argv, dir_.path(), json, &err);
    return code;
  }

  v1::GetStatsResponse Stats() {
    auto stub = v1::AdminService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::GetStatsResponse stats;
    const grpc::Status s =
        stub->GetStats(&context, v1::GetStatsRequest(), &stats);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return stats;
  }

  // Record ids per source, and the total, in encoded files.
  static std::map<std::string, uint64_t> CountBySource(
      const std::vector<std::string>& files, uint64_t* total) {
    std::map<std::string, uint64_t> counts;
    *total = 0;
    for (const std::string& f : files) {
      auto reader = ctl::EncodedFileReader::Open(f);
      EXPECT_TRUE(reader.ok());
      v1::IngestItem item;
      for (;;) {
        auto more = (*reader)->Next(&item);
        EXPECT_TRUE(more.ok()) << more.status();
        if (!more.ok() || !*more) break;
        ++counts[item.record().source()];
        ++*total;
      }
    }
    return counts;
  }

  // Writes the first `n` items of `files` (in order) to one new file.
  std::string Prefix(const std::vector<std::string>& files, uint64_t n) {
    const std::string path = dir_.Sub("prefix.linkd");
    std::ofstream out(path, std::ios::binary);
    uint64_t written = 0;
    for (const std::string& f : files) {
      auto reader = ctl::EncodedFileReader::Open(f);
      v1::IngestItem item;
      while (written < n && *(*reader)->Next(&item)) {
        google::protobuf::util::SerializeDelimitedToOstream(item, &out);
        ++written;
      }
    }
    EXPECT_EQ(written, n);
    return path;
  }

  testing::TempDir dir_;
  std::string key_ = dir_.Sub("linkage.key");
  std::unique_ptr<Subprocess> daemon_;
  std::string address_;
  int starts_ = 0;
};

TEST_F(IngestE2eTest, AcknowledgedRecordsSurviveKillNine) {
  std::string out, err;
  ASSERT_EQ(RunProgram({LINKD_ENCODE_BIN, "keygen", "--out", key_}, dir_.path(),
                       &out, &err),
            0)
      << err;

  // 1. 10k synthetic people from three sources, submitted in full.
  const std::vector<std::string> first =
      MakeEncodedPopulation("pop1", Scaled(10000), 1, "");
  uint64_t first_total = 0;
  const std::map<std::string, uint64_t> first_by_source =
      CountBySource(first, &first_total);
  ASSERT_GT(first_total, static_cast<uint64_t>(Scaled(10000)));
  ASSERT_EQ(first_by_source.size(), 3u);

  StartDaemon();
  std::string json;
  ASSERT_EQ(Submit(first, &json), 0) << json;
  EXPECT_EQ(JsonField(json, "accepted"), first_total);
  EXPECT_EQ(JsonField(json, "rejected"), 0u);
  {
    const v1::GetStatsResponse stats = Stats();
    EXPECT_EQ(stats.total_records(), first_total);
    for (const auto& s : stats.sources()) {
      EXPECT_EQ(s.records(), first_by_source.at(s.source())) << s.source();
    }
  }

  // 2. A second, larger upload, killed with SIGKILL part-way through.
  const std::vector<std::string> second =
      MakeEncodedPopulation("pop2", Scaled(60000), 2, "_2025");
  uint64_t second_total = 0;
  CountBySource(second, &second_total);
  std::vector<std::string> argv = {LINKCTL_BIN,    "--server", address_,
                                   "submit",       "--format", "json",
                                   "--batch-size", "500"};
  argv.insert(argv.end(), second.begin(), second.end());
  Subprocess upload(argv, dir_.Sub("upload.out"), dir_.Sub("upload.err"));
  const absl::Time deadline = absl::Now() + absl::Seconds(300);
  while (Stats().total_records() < first_total + second_total / 4) {
    ASSERT_TRUE(upload.Running()) << "upload finished before the kill";
    ASSERT_LT(absl::Now(), deadline);
    absl::SleepFor(absl::Milliseconds(5));
  }
  daemon_->Signal(SIGKILL);
  EXPECT_EQ(daemon_->Wait(), 128 + SIGKILL);
  EXPECT_EQ(upload.Wait(), 1) << upload.Stderr();
  const uint64_t acknowledged = JsonField(upload.Stdout(), "acknowledged");
  ASSERT_GT(acknowledged, 0u);
  ASSERT_LT(acknowledged, second_total);

  // 3. Restart on the same data directory.
  StartDaemon();
  const uint64_t after_restart = Stats().total_records();
  EXPECT_GE(after_restart, first_total + acknowledged);
  EXPECT_LE(after_restart, first_total + second_total);

  // Every acknowledged record is present and identical: resubmitting them
  // changes nothing.
  ASSERT_EQ(Submit({Prefix(second, acknowledged)}, &json), 0) << json;
  EXPECT_EQ(JsonField(json, "unchanged"), acknowledged) << json;
  EXPECT_EQ(JsonField(json, "accepted"), 0u);
  ASSERT_EQ(Submit(first, &json), 0) << json;
  EXPECT_EQ(JsonField(json, "unchanged"), first_total);

  // Finishing the interrupted upload stores each record exactly once.
  ASSERT_EQ(Submit(second, &json), 0) << json;
  EXPECT_EQ(JsonField(json, "accepted") + JsonField(json, "unchanged"),
            second_total)
      << json;
  EXPECT_EQ(JsonField(json, "accepted"),
            first_total + second_total - after_restart);
  EXPECT_EQ(Stats().total_records(), first_total + second_total);

  // 4. Linking caught up across the crash (its queue is durable): submit
  // waited for it, and every record has exactly one SUI.
  EXPECT_NE(json.find("\"linked\":true"), std::string::npos) << json;
  std::string links;
  ASSERT_EQ(RunProgram({LINKCTL_BIN, "--server", address_, "links"},
                       dir_.path(), &links, &err),
            0)
      << err;
  const size_t rows =
      static_cast<size_t>(std::count(links.begin(), links.end(), '\n'));
  EXPECT_EQ(rows, 1 + first_total + second_total);  // with the header
  EXPECT_EQ(links.rfind("source,record_id,sui\n", 0), 0u);

  // 5. SIGTERM shuts down cleanly.
  daemon_->Signal(SIGTERM);
  EXPECT_EQ(daemon_->Wait(), 0) << daemon_->Stderr();
}

TEST_F(IngestE2eTest, SecondDaemonOnTheSameDirectoryFailsClearly) {
  StartDaemon();
  std::string out, err;
  EXPECT_EQ(RunProgram({LINKD_BIN, "--data-dir", dir_.Sub("db"), "--listen",
                        "127.0.0.1:0"},
                       dir_.path(), &out, &err),
            1);
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
}

TEST_F(IngestE2eTest, BadConfigFailsWithFileAndLine) {
  const std::string config = dir_.Sub("bad.textproto");
  std::ofstream(config) << "data_dir: \"x\"\nlisten 7300\n";
  std::string out, err;
  EXPECT_EQ(
      RunProgram({LINKD_BIN, "--config", config}, dir_.path(), &out, &err), 1);
  EXPECT_NE(err.find("bad.textproto: line 2"), std::string::npos) << err;
}

}  // namespace
}  // namespace linkd
