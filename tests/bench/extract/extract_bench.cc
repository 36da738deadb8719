// Research extract benchmark: the release half of an approved extract for
// N synthetic children with journeys, then the researcher's open.
//
//   extract_bench [--children N] [--seed S] [--dir DIR]
//
// Generates N children (default 100000), each with a SUI, an ethnicity
// code, a year group, an LA and a journey of 5 to 20 events (school and
// social-care event types on dates from 2015-09 to 2025-08). Release, timed:
// per-project pseudonyms, ethnicity to major groups, year group to key
// stage, journeys sorted by date and coarsened to the month, one CSV row
// per event through the encrypted writer, a suppressed aggregate (children
// of one LA whose journey starts with a child protection plan, by major
// group x year group: many small cells), the manifest signed and written. Open,
// timed: verify the manifest signature and file hash, decrypt and parse every
// row, check the final chunk and the row count. Prints children/s, MB/s and
// seconds for both. Target: release of 100k children with journeys <= 10 s.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/crypto.h"
#include "linkd/extract/coarsen.h"
#include "linkd/extract/extract_file.h"
#include "linkd/extract/pseudonym.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/extract/signing_key.h"
#include "linkd/extract/suppression.h"

namespace {

namespace ex = ::linkd::extract;

struct Event {
  std::string date;  // ISO
  int type;
};

struct Child {
  uint64_t sui;
  int ethnicity;
  int year_group;
  int la;
  std::vector<Event> journey;
};

constexpr const char* kEventTypes[] = {
    "in_year_admission",  "suspension",        "permanent_exclusion",
    "removed_from_roll",  "missing_education", "cin_plan_start",
    "cin_plan_end",       "cp_plan_start",     "cp_plan_end",
    "looked_after_start", "looked_after_end"};
constexpr const char* kEthnicity[] = {
    "WBRI", "WIRI", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND",
    "APKN", "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU"};
constexpr const char* kYearGroups[] = {"R", "1", "2", "3",  "4",  "5",  "6",
                                       "7", "8", "9", "10", "11", "12", "13"};
constexpr const char* kLas[] = {"202", "203", "204", "205", "206", "207"};

std::vector<Child> Generate(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> journey_len(5, 20);
  std::uniform_int_distribution<int> day(0, 3652);  // 2015-09-01 + day
  std::vector<Child> children(n);
  const absl::CivilDay start(2015, 9, 1);
  for (Child& c : children) {
    do {
      c.sui = rng() & ((uint64_t{1} << 60) - 1);
    } while (c.sui == 0);
    // Skewed like the population: mostly WBRI.
    c.ethnicity = rng() % 2 == 0 ? 0 : static_cast<int>(rng() % 18);
    c.year_group = static_cast<int>(rng() % 14);
    c.la = static_cast<int>(rng() % 6);
    const int len = journey_len(rng);
    c.journey.reserve(len);
    for (int i = 0; i < len; ++i) {
      const absl::CivilDay d = start + day(rng);
      c.journey.push_back(
          {absl::FormatCivilTime(d), static_cast<int>(rng() % 11)});
    }
  }
  return children;
}

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "extract_bench: %s: %s\n", what.c_str(),
               s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100000;
  uint64_t seed = 11;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--children") (void)absl::SimpleAtoi(argv[i + 1], &n);
    if (flag == "--seed") (void)absl::SimpleAtoi(argv[i + 1], &seed);
    if (flag == "--dir") dir = argv[i + 1];
  }
  if (const absl::Status s = linkd::crypto::Init(); !s.ok()) {
    return Fail("init", s);
  }
  bool remove_dir = false;
  if (dir.empty()) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "extract-bench-XXXXXX")
            .string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    remove_dir = true;
  }
  const std::string path = dir + "/P2025-001-REQ-17.csv.linkdx";
  const std::string manifest_path = ex::ManifestPathFor(path);
  std::filesystem::remove(path);
  std::filesystem::remove(manifest_path);

  absl::Time t0 = absl::Now();
  const std::vector<Child> children = Generate(n, seed);
  size_t events = 0;
  for (const Child& c : children) events += c.journey.size();
  std::printf("generated %d synthetic children, %zu events in %.2f s\n", n,
              events, absl::ToDoubleSeconds(absl::Now() - t0));

  const ex::ReleaseKey release_key = ex::ReleaseKey::Generate();
  const ex::SigningKey signer = ex::SigningKey::Generate();
  const ex::ResearcherSecretKey researcher =
      ex::ResearcherSecretKey::Generate();

  // ---- Release.
  t0 = absl::Now();
  auto pseudonyms = release_key.ForProject("P2025-001");
  if (!pseudonyms.ok()) return Fail("project", pseudonyms.status());
  auto writer =
      ex::ExtractWriter::Create(path, researcher.public_key(),
                                {"child", "seq", "event_month", "event",
                                 "ethnicity_major_group", "key_stage", "la"});
  if (!writer.ok()) return Fail("create", writer.status());
  const ex::CategoryMap& ethnicity = ex::EthnicityMajorGroups();
  const ex::CategoryMap& stages = ex::YearGroupKeyStages();
  // The aggregate: children of LA 202 whose journey starts with a child
  // protection plan, by major group x year group.
  std::vector<std::string> groups;
  const std::vector<std::string> year_names(std::begin(kYearGroups),
                                            std::end(kYearGroups));
  std::vector<std::vector<int64_t>> counts;
  std::vector<const Event*> order;
  for (const Child& c : children) {
    auto pseudonym = pseudonyms->Pseudonym(c.sui);
    if (!pseudonym.ok()) return Fail("pseudonym", pseudonym.status());
    auto group = ethnicity.Map(kEthnicity[c.ethnicity]);
    auto stage = stages.Map(kYearGroups[c.year_group]);
    if (!group.ok() || !stage.ok()) return Fail("map", group.status());

    order.clear();
    for (const Event& e : c.journey) order.push_back(&e);
    std::stable_sort(
        order.begin(), order.end(),
        [](const Event* a, const Event* b) { return a->date < b->date; });
    if (c.la == 0 && order[0]->type == 7) {  // cp_plan_start
      auto it = std::find(groups.begin(), groups.end(), *group);
      const size_t gi = it - groups.begin();
      if (it == groups.end()) {
        groups.emplace_back(*group);
        counts.emplace_back(year_names.size(), 0);
      }
      ++counts[gi][c.year_group];
    }
    for (size_t i = 0; i < order.size(); ++i) {
      auto month = ex::CoarsenDate(order[i]->date,
                                   linkd::extract::v1::DATE_GRANULARITY_MONTH);
      if (!month.ok()) return Fail("coarsen", month.status());
      const std::string seq = absl::StrCat(i + 1);
      const std::string_view row[] = {
          *pseudonym, seq,    *month,    kEventTypes[order[i]->type],
          *group,     *stage, kLas[c.la]};
      if (const absl::Status s = (*writer)->WriteRow(row); !s.ok()) {
        return Fail("write", s);
      }
    }
  }
  auto info = (*writer)->Finish();
  if (!info.ok()) return Fail("finish", info.status());

  ex::CrossTable table{groups, year_names, counts};
  auto suppressed = ex::SuppressCrossTable(table);
  if (!suppressed.ok()) return Fail("suppress", suppressed.status());
  int hidden = 0, secondary = 0;
  for (const auto& row : suppressed->cells) {
    for (const ex::Cell& cell : row) {
      hidden += cell.suppressed();
      secondary += cell.state == ex::Cell::State::kSecondary;
    }
  }

  linkd::extract::v1::Manifest m;
  m.set_project_id("P2025-001");
  m.set_request_id("REQ-17");
  m.set_approval_id("APR-9");
  m.set_approver("la/202:ig-officer");
  m.set_policy_version("bench");
  m.set_policy_hash(std::string(32, '\x42'));  // stands in for a policy hash
  m.set_suppression_threshold(10);
  m.set_created_micros(absl::ToUnixMicros(absl::Now()));
  auto* co = m.add_coarsenings();
  co->set_field("event_month");
  co->set_date_granularity(linkd::extract::v1::DATE_GRANULARITY_MONTH);
  co = m.add_coarsenings();
  co->set_field("ethnicity_major_group");
  co->set_category_mapping(ethnicity.name());
  co->set_category_mapping_digest(ethnicity.digest());
  co = m.add_coarsenings();
  co->set_field("key_stage");
  co->set_category_mapping(stages.name());
  co->set_category_mapping_digest(stages.digest());
  auto signed_manifest = ex::SignManifest(std::move(m), *info, signer);
  if (!signed_manifest.ok()) return Fail("sign", signed_manifest.status());
  if (const absl::Status s =
          ex::WriteManifestFile(*signed_manifest, manifest_path);
      !s.ok()) {
    return Fail("manifest", s);
  }
  const double release_s = absl::ToDoubleSeconds(absl::Now() - t0);
  const double mb = static_cast<double>(info->file_size) / 1e6;

  // ---- Open.
  t0 = absl::Now();
  auto reader = ex::ExtractReader::Open(path, manifest_path, researcher,
                                        signer.public_key());
  if (!reader.ok()) return Fail("open", reader.status());
  std::vector<std::string> row;
  uint64_t rows = 0;
  for (;;) {
    auto more = (*reader)->Next(&row);
    if (!more.ok()) return Fail("read", more.status());
    if (!*more) break;
    ++rows;
  }
  const double open_s = absl::ToDoubleSeconds(absl::Now() - t0);
  if (rows != events) {
    std::fprintf(stderr, "extract_bench: read %llu rows, wrote %zu\n",
                 static_cast<unsigned long long>(rows), events);
    return 1;
  }

  std::printf(
      "extract file: %.1f MB, %llu rows (one per event), manifest "
      "%zu bytes\n",
      mb, static_cast<unsigned long long>(info->row_count),
      static_cast<size_t>(std::filesystem::file_size(manifest_path)));
  std::printf(
      "aggregate %zux%zu (major group x year group): %d of %zu cells "
      "suppressed (%d secondary)\n",
      groups.size(), year_names.size(), hidden,
      groups.size() * year_names.size(), secondary);
  std::printf("release: %.2f s, %.0f children/s, %.0f events/s, %.1f MB/s\n",
              release_s, n / release_s, events / release_s, mb / release_s);
  std::printf("open:    %.2f s, %.0f children/s, %.0f events/s, %.1f MB/s\n",
              open_s, n / open_s, events / open_s, mb / open_s);
  const bool met = n < 100000 || release_s <= 10.0;
  std::printf("target: release of 100k children <= 10 s: %s\n",
              n < 100000 ? "n/a (fewer children)"
              : met      ? "met"
                         : "MISSED");
  if (remove_dir) std::filesystem::remove_all(dir);
  return met ? 0 : 2;
}
