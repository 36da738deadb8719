// linkd-encode: the provider-side encoder. Reads a CSV of clear identifiers
// and writes encoded linkd.v1.IngestItem records; also generates linkage key
// files. Argument parsing and wiring only; the work is in linkd::encode.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"
#include "linkd/encode/attributes.h"
#include "linkd/encode/events_command.h"
#include "linkd/encode/field_map.h"
#include "linkd/encode/file_encoder.h"

namespace linkd::encode {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRejected = 3;

constexpr char kUsage[] =
    R"(Usage:
  linkd-encode --key FILE --source SOURCE [--map FIELD=COLUMN ...]
               [--attr NAME=COLUMN ...] [--format binary|jsonl]
               [--date-format PATTERN] [--out FILE] INPUT.csv
  linkd-encode events --key FILE --source ORG [--map FIELD=COLUMN ...]
               [--event-map FIELD=COLUMN ...] ... INPUT.csv
  linkd-encode keygen --out FILE [--key-version N]
  linkd-encode --help

Encodes a CSV of clear identifiers (header row first) with the linkage key,
writing one linkd.v1.IngestItem per accepted row to stdout (or --out FILE).
INPUT.csv may be '-' for stdin. No clear value is ever written or printed.

Options:
  --key FILE           linkage key file (made by 'linkd-encode keygen').
  --source SOURCE      providing source, e.g. school_census; sent with
                       every record.
  --map FIELD=COLUMN   take FIELD from the CSV column COLUMN. FIELD is one of
                       record_id, given_name, family_name, dob, sex, postcode,
                       upn, nhs_number. Repeatable. Without any --map, fields
                       are taken from columns with exactly their names.
                       record_id is required.
  --attr NAME=COLUMN   pass the CSV column COLUMN through unchanged as the
                       non-identifying attribute NAME, for research
                       extracts. NAME is one of birth_month (YYYY-MM),
                       ethnicity_code (DfE main code), fsm_eligible
                       (true/false/1/0), la_code (3 digits), sen_status
                       (N/K/E; A/P/S), year_group (N1, N2, R, 1-14, X).
                       Repeatable. A value that is not a code of its
                       attribute is dropped from its row; a column named
                       like, or holding what looks like, an identifier (a
                       name, NHS number, UPN, full date or postcode) is
                       refused and nothing more is written.
  --format FORMAT      binary (default): length-delimited protobuf messages;
                       jsonl: one JSON object per line, for inspection.
  --date-format PAT    how dob is written, made of DD, MM, YYYY and
                       separators (e.g. DD-MM-YYYY). Default: ISO 8601,
                       DD/MM/YYYY or YYYYMMDD.
  --out FILE           write to FILE instead of stdout.

  keygen --out FILE    write a new random linkage key (mode 0600; an
                       existing file is never overwritten).
  --key-version N      version of the new key (default 1).

  events ...           encode a CSV of events (the child's identity columns
                       plus event columns: suspensions, exclusions, social
                       care episodes ...); see 'linkd-encode events --help'.

Rows are rejected (not written) when record_id is empty, duplicated, or looks
like an identifier (NHS number, UPN or date), when no identifying field
(upn, nhs_number, given_name, family_name, dob) is usable, or when the row is
malformed. An invalid or placeholder value drops that field only. A summary
with counts, rejected row numbers and reasons goes to stderr.

Exit status:
  0  every row was encoded
  3  finished, but some rows were rejected
  2  usage error
  1  any other failure (unreadable key, unreadable input, a CSV header
     without the mapped columns, a structurally broken CSV such as a quote
     left open at the end, unwritable output)
)";

int UsageError(absl::string_view message) {
  std::cerr << "linkd-encode: " << message << "\n"
            << "Try 'linkd-encode --help'.\n";
  return kExitUsage;
}

int Failure(const absl::Status& status) {
  std::cerr << "linkd-encode: error: " << status.message() << "\n";
  return kExitFailure;
}

// Splits argv into flags with values and positional arguments. Accepts
// "--flag value" and "--flag=value".
class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  // Returns false at the end. On a flag sets *flag (and *value if it takes
  // one); on a positional argument sets *flag empty and *value.
  bool Next(std::string* flag, std::string* value, std::string* error) {
    error->clear();
    if (i_ >= args_.size()) return false;
    std::string arg = args_[i_++];
    if (only_positional_ || arg == "-" || arg.rfind("--", 0) != 0) {
      flag->clear();
      *value = arg;
      return true;
    }
    if (arg == "--") {
      only_positional_ = true;
      return Next(flag, value, error);
    }
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      *flag = arg.substr(0, eq);
      *value = arg.substr(eq + 1);
      has_inline_value_ = true;
      return true;
    }
    *flag = arg;
    value->clear();
    has_inline_value_ = false;
    return true;
  }

  // For a flag that takes a value given as the next argument.
  bool TakeValue(std::string_view flag, std::string* value,
                 std::string* error) {
    if (has_inline_value_) return true;
    if (i_ >= args_.size()) {
      *error = absl::StrCat(std::string(flag), " needs a value");
      return false;
    }
    *value = args_[i_++];
    return true;
  }

  bool has_inline_value() const { return has_inline_value_; }

 private:
  std::vector<std::string> args_;
  size_t i_ = 0;
  bool only_positional_ = false;
  bool has_inline_value_ = false;
};

int Keygen(Args& args) {
  std::string flag, value, error, out;
  uint32_t version = 1;
  while (args.Next(&flag, &value, &error)) {
    if (flag.empty()) return UsageError("keygen takes no positional argument");
    if (flag == "--help") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (flag != "--out" && flag != "--key-version") {
      return UsageError(absl::StrCat("keygen: unknown option ", flag));
    }
    if (!args.TakeValue(flag, &value, &error)) return UsageError(error);
    if (flag == "--out") {
      out = value;
    } else if (!absl::SimpleAtoi(value, &version) || version == 0) {
      return UsageError("--key-version must be a whole number >= 1");
    }
  }
  if (out.empty()) return UsageError("keygen needs --out FILE");
  const crypto::LinkageKey key = crypto::LinkageKey::Generate(version);
  absl::Status status = key.WriteFile(out);
  if (!status.ok()) return Failure(status);
  std::cerr << "linkd-encode: wrote linkage key version " << version << " to "
            << out << " (mode 0600). Keep it secret; never send it to linkd.\n";
  return kExitOk;
}

int Encode(Args& args) {
  std::string flag, value, error;
  std::string key_path, source, date_format, out_path, input;
  std::string format = "binary";
  std::vector<MapSpec> maps;
  std::vector<AttrSpec> attrs;
  bool have_input = false;
  while (args.Next(&flag, &value, &error)) {
    if (flag.empty()) {
      if (have_input) return UsageError("give exactly one INPUT file");
      input = value;
      have_input = true;
      continue;
    }
    if (flag == "--help") {
      std::cout << kUsage;
      return kExitOk;
    }
    std::string* target = nullptr;
    if (flag == "--key") {
      target = &key_path;
    } else if (flag == "--source") {
      target = &source;
    } else if (flag == "--format") {
      target = &format;
    } else if (flag == "--date-format") {
      target = &date_format;
    } else if (flag == "--out") {
      target = &out_path;
    } else if (flag != "--map" && flag != "--attr") {
      return UsageError(absl::StrCat("unknown option ", flag));
    }
    if (!args.TakeValue(flag, &value, &error)) return UsageError(error);
    if (target != nullptr) {
      *target = value;
      continue;
    }
    if (flag == "--attr") {
      absl::StatusOr<AttrSpec> attr = ParseAttrSpec(value);
      if (!attr.ok()) return UsageError(attr.status().message());
      attrs.push_back(*std::move(attr));
      continue;
    }
    absl::StatusOr<MapSpec> spec = ParseMapSpec(value);
    if (!spec.ok()) return UsageError(spec.status().message());
    maps.push_back(*std::move(spec));
  }
  if (key_path.empty()) return UsageError("--key FILE is required");
  if (source.empty()) return UsageError("--source SOURCE is required");
  if (!have_input) return UsageError("INPUT.csv is required ('-' for stdin)");

  FileEncoderOptions options;
  options.source = source;
  options.maps = std::move(maps);
  options.attrs = std::move(attrs);
  absl::StatusOr<OutputFormat> output_format = ParseOutputFormat(format);
  if (!output_format.ok()) return UsageError(output_format.status().message());
  options.format = *output_format;
  crypto::EncodeOptions encode_options;
  if (!date_format.empty()) {
    absl::StatusOr<crypto::DateFormat> parsed =
        crypto::DateFormat::FromPattern(date_format);
    if (!parsed.ok()) {
      return UsageError(
          absl::StrCat("--date-format: ", parsed.status().message()));
    }
    options.date_format = *parsed;
    encode_options.date_format = *parsed;
  }

  absl::StatusOr<crypto::LinkageKey> key =
      crypto::LinkageKey::ReadFile(key_path);
  if (!key.ok()) {
    return Failure(absl::Status(
        key.status().code(), absl::StrCat("reading key file ", key_path, ": ",
                                          key.status().message())));
  }
  const crypto::Encoder encoder(*key, encode_options);

  std::ifstream file_in;
  std::istream* in = &std::cin;
  if (input != "-") {
    file_in.open(input, std::ios::binary);
    if (!file_in.is_open()) {
      return Failure(
          absl::NotFoundError(absl::StrCat("cannot open input file ", input)));
    }
    in = &file_in;
  }
  std::ofstream file_out;
  std::ostream* out = &std::cout;
  if (!out_path.empty()) {
    file_out.open(out_path, std::ios::binary | std::ios::trunc);
    if (!file_out.is_open()) {
      return Failure(absl::UnavailableError(
          absl::StrCat("cannot open output file ", out_path)));
    }
    out = &file_out;
  }

  bool progress_shown = false;
  if (isatty(STDERR_FILENO)) {
    options.progress = [&progress_shown](const EncodeProgress& p) {
      std::cerr << "\rlinkd-encode: " << p.rows_read << " rows read, "
                << p.records_written << " written, " << p.rows_rejected
                << " rejected" << std::flush;
      progress_shown = true;
    };
  }

  FileEncoder file_encoder(&encoder, std::move(options));
  EncodeSummary summary;
  absl::Status status = file_encoder.Run(*in, *out, &summary);
  if (status.ok() && file_out.is_open()) {
    file_out.close();
    if (file_out.fail()) {
      status = absl::UnavailableError(
          absl::StrCat("failed writing output file ", out_path));
    }
  }
  if (progress_shown) std::cerr << "\n";
  std::cerr << FormatSummary(summary);
  if (!status.ok()) return Failure(status);
  return summary.rows_rejected > 0 ? kExitRejected : kExitOk;
}

int Main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (absl::Status init = crypto::Init(); !init.ok()) return Failure(init);
  if (argc < 2) return UsageError("missing arguments");
  const std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  Args args(argc, argv);
  if (first == "events") return RunEventsCommand(argc - 1, argv + 1);
  if (first == "keygen") {
    std::string flag, value, error;
    args.Next(&flag, &value, &error);  // consume "keygen"
    return Keygen(args);
  }
  return Encode(args);
}

}  // namespace
}  // namespace linkd::encode

int main(int argc, char** argv) { return linkd::encode::Main(argc, argv); }
