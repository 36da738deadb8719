#include "tests/testing/quality/cli.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/testing/quality/evaluate.h"
#include "tests/testing/quality/truth.h"

namespace linkd::quality {
namespace {

constexpr char kUsage[] =
    "usage: linkd-quality --truth TRUTH.csv --links LINKS.csv\n"
    "                     [--format text|json] [--min-f1 X]\n"
    "                     [--min-cross-source-f1 X]\n"
    "Scores a linkage (source,record_id,sui, as `linkctl links --format csv`\n"
    "prints it) against the ground truth (source,record_id,person_id[,origin]\n"
    "as linkd-synth writes it). \"-\" reads standard input. Exit status 3 if\n"
    "an F1 is below a --min-* threshold.\n";

int Usage(const std::string& problem, std::string* err) {
  absl::StrAppend(err, "linkd-quality: ", problem, "\n", kUsage);
  return 2;
}

}  // namespace

int RunQualityCommand(const std::vector<std::string>& args, std::string* out,
                      std::string* err) {
  std::string truth_path, links_path, format = "text";
  double min_f1 = -1, min_cross_f1 = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      *out += kUsage;
      return 0;
    }
    if (i + 1 >= args.size()) return Usage("missing value after " + arg, err);
    const std::string& value = args[++i];
    if (arg == "--truth") {
      truth_path = value;
    } else if (arg == "--links") {
      links_path = value;
    } else if (arg == "--format") {
      if (value != "text" && value != "json") {
        return Usage("--format must be text or json", err);
      }
      format = value;
    } else if (arg == "--min-f1" || arg == "--min-cross-source-f1") {
      double x = 0;
      if (!absl::SimpleAtod(value, &x) || x < 0 || x > 1) {
        return Usage(arg + " must be in [0, 1]", err);
      }
      (arg == "--min-f1" ? min_f1 : min_cross_f1) = x;
    } else {
      return Usage("unknown flag " + arg, err);
    }
  }
  if (truth_path.empty() || links_path.empty()) {
    return Usage("--truth and --links are required", err);
  }
  if (truth_path == "-" && links_path == "-") {
    return Usage("only one of --truth and --links can be -", err);
  }

  absl::StatusOr<std::string> truth_text = ReadFileOrStdin(truth_path);
  if (!truth_text.ok()) {
    absl::StrAppend(err, "linkd-quality: ", truth_text.status().message(),
                    "\n");
    return 1;
  }
  absl::StatusOr<Truth> truth = ParseTruthCsv(*truth_text);
  truth_text->clear();
  truth_text->shrink_to_fit();
  if (!truth.ok()) {
    absl::StrAppend(err, "linkd-quality: ", truth_path, ": ",
                    truth.status().message(), "\n");
    return 1;
  }
  absl::StatusOr<std::string> links_text = ReadFileOrStdin(links_path);
  if (!links_text.ok()) {
    absl::StrAppend(err, "linkd-quality: ", links_text.status().message(),
                    "\n");
    return 1;
  }
  absl::StatusOr<Clustering> links = ParseLinksCsv(*links_text, *truth);
  if (!links.ok()) {
    absl::StrAppend(err, "linkd-quality: ", links_path, ": ",
                    links.status().message(), "\n");
    return 1;
  }
  const QualityReport report = Evaluate(*truth, *links);
  *out += format == "json" ? FormatJson(report) : FormatText(report);

  int status = 0;
  const auto check = [&](const char* name, double min, double f1) {
    if (min < 0) return;
    if (std::isnan(f1) || f1 < min) {
      absl::StrAppend(err, "linkd-quality: ", name, " F1 ",
                      std::isnan(f1) ? std::string("undefined")
                                     : absl::StrFormat("%.5f", f1),
                      " is below ", absl::StrFormat("%.5f", min), "\n");
      status = 3;
    }
  };
  check("pairwise", min_f1, report.all.f1());
  check("cross-source", min_cross_f1, report.cross_source.f1());
  return status;
}

}  // namespace linkd::quality
