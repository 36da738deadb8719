// linkd-synth: writes a synthetic population of English children as three
// source extracts plus the ground truth.
//
//   linkd-synth --people N --seed S --out DIR [--reference-date YYYY-MM-DD]
//               [--noise-scale X] [--duplicates RATE] [--unborn RATE]
//               [--placeholders RATE]
//
// Writes DIR/school_census.csv, DIR/social_care.csv, DIR/health.csv and
// DIR/truth.csv, and prints the row counts. Exit status 0 on success, 2 on a
// usage error, 1 if the files cannot be written.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "tests/testing/synth/population.h"

namespace {

constexpr char kUsage[] =
    "usage: linkd-synth --people N --seed S --out DIR\n"
    "                   [--reference-date YYYY-MM-DD] [--noise-scale X]\n"
    "                   [--duplicates RATE] [--unborn RATE]\n"
    "                   [--placeholders RATE]\n"
    "Writes DIR/{school_census,social_care,health,truth}.csv of a synthetic\n"
    "population (deterministic for a seed; ages on the reference date,\n"
    "default 2024-09-01). truth.csv is source,record_id,person_id,origin.\n"
    "--duplicates, --unborn and --placeholders set, for every source that\n"
    "can have them, the rate of second registrations, of pre-birth records\n"
    "of children aged 0-1, and of placeholder UPNs/NHS numbers (defaults\n"
    "differ per source; see population.cc).\n";

int Usage(const char* problem) {
  std::fprintf(stderr, "linkd-synth: %s\n%s", problem, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using linkd::synth::Options;
  Options options;
  std::string out;
  bool have_people = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return Usage("missing value after a flag");
    const std::string value = argv[++i];
    if (arg == "--people") {
      if (!absl::SimpleAtoi(value, &options.num_people) ||
          options.num_people < 0) {
        return Usage("--people must be a non-negative integer");
      }
      have_people = true;
    } else if (arg == "--seed") {
      if (!absl::SimpleAtoi(value, &options.seed)) {
        return Usage("--seed must be an unsigned integer");
      }
    } else if (arg == "--out") {
      out = value;
    } else if (arg == "--reference-date") {
      auto date = linkd::synth::ParseIsoDate(value);
      if (!date.ok()) return Usage("--reference-date must be YYYY-MM-DD");
      options.reference_date = *date;
    } else if (arg == "--noise-scale") {
      double scale = 0;
      if (!absl::SimpleAtod(value, &scale) || scale < 0) {
        return Usage("--noise-scale must be a non-negative number");
      }
      options.ScaleNoise(scale);
    } else if (arg == "--duplicates") {
      double rate = 0;
      if (!absl::SimpleAtod(value, &rate) || rate < 0 || rate > 1) {
        return Usage("--duplicates must be in [0, 1]");
      }
      for (auto& s : options.sources) s.duplicate_rate = rate;
    } else if (arg == "--unborn") {
      double rate = 0;
      if (!absl::SimpleAtod(value, &rate) || rate < 0 || rate > 1) {
        return Usage("--unborn must be in [0, 1]");
      }
      options.sources[static_cast<int>(linkd::synth::Source::kSocialCare)]
          .unborn_rate = rate;
      options.sources[static_cast<int>(linkd::synth::Source::kHealth)]
          .unborn_rate = rate;
    } else if (arg == "--placeholders") {
      double rate = 0;
      if (!absl::SimpleAtod(value, &rate) || rate < 0 || rate > 1) {
        return Usage("--placeholders must be in [0, 1]");
      }
      for (auto& s : options.sources) {
        s.upn_placeholder_rate = rate;
        s.nhs_placeholder_rate = rate;
      }
    } else {
      return Usage("unknown flag");
    }
  }
  if (!have_people || out.empty())
    return Usage("--people and --out are required");

  absl::StatusOr<linkd::synth::WriteSummary> summary =
      linkd::synth::WritePopulation(options, out);
  if (!summary.ok()) {
    std::fprintf(stderr, "linkd-synth: %s\n",
                 std::string(summary.status().message()).c_str());
    return 1;
  }
  int64_t total = 0;
  std::printf("people            %lld\n",
              static_cast<long long>(summary->people));
  for (int s = 0; s < linkd::synth::kNumSources; ++s) {
    const auto source = static_cast<linkd::synth::Source>(s);
    std::printf("%-17s %lld rows -> %s/%s.csv\n",
                std::string(linkd::synth::SourceName(source)).c_str(),
                static_cast<long long>(summary->records[s]), out.c_str(),
                std::string(linkd::synth::SourceName(source)).c_str());
    total += summary->records[s];
  }
  std::printf("truth             %lld rows -> %s/truth.csv\n",
              static_cast<long long>(total), out.c_str());
  return 0;
}
