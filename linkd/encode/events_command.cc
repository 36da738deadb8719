#include "linkd/encode/events_command.h"

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crypto/linkage_key.h"
#include "linkd/encode/event_encoder.h"

namespace linkd::encode {
namespace {

constexpr char kEventsUsage[] =
    R"(Usage:
  linkd-encode events --key FILE --source ORG [--map FIELD=COLUMN ...]
                      [--event-map FIELD=COLUMN ...] [--format binary|jsonl]
                      [--date-format PATTERN] [--out FILE] INPUT.csv

Encodes a CSV of events about children (header row first): each row holds
the child's identity columns, encoded exactly as records are (see --map in
'linkd-encode --help'), and the event's columns. Writes one
linkd.v1.IngestItem event per accepted row, to submit with
'linkctl submit'. linkd stores the child's record, links it, files the
event under the child and routes notifications by policy. No clear value
is ever written or printed.

Options:
  --source ORG          your organisation id, the reporting source of every
                        event: school/<URN> for school events, la/<code>
                        for social care events. The identity columns are
                        sent as this source's record of the child.
  --map FIELD=COLUMN    identity columns, as for records (record_id,
                        given_name, family_name, dob, sex, postcode, upn,
                        nhs_number).
  --event-map FIELD=COLUMN
                        event columns. FIELD is one of
                          event_id        your own reference for the event
                                          (required; unique per source)
                          type            suspension, permanent_exclusion,
                                          removed_from_roll,
                                          child_missing_education,
                                          in_year_admission, episode_start,
                                          episode_end, refuge_start,
                                          refuge_end (required)
                          date            when it happened, in
                                          --date-format (required)
                          days            suspension: school days
                          reason_code     removed_from_roll: DfE reason code
                          episode_kind    episode_start/end: cin, cp or lac
                          contact_org     episode_start: whom the school
                                          should contact (organisation id,
                                          e.g. la/999 or la/999-vs)
                          contact_team    ... its team name
                          contact_phone   ... its phone number
                          virtual_school  lac episode_start: the Virtual
                                          School (e.g. la/999-vs)
                        Without any --event-map, columns named exactly like
                        the fields are used.
  --date-format PAT     how dates (event date and dob) are written, e.g.
                        DD/MM/YYYY. Default: ISO 8601, DD/MM/YYYY or
                        YYYYMMDD.
  --format, --out       as for records.

Rows are rejected when record_id or event_id is empty, looks like an
identifier or (event_id) repeats, when the type or date is unusable, or
when no identifying field is usable. linkd checks the rest (the details
each type needs) and lists refused events in 'linkctl submit'.

Exit status: 0 every row encoded; 3 some rows rejected; 2 usage error;
1 any other failure.
)";

int UsageError(const std::string& message) {
  std::cerr << "linkd-encode events: " << message << "\n"
            << "Try 'linkd-encode events --help'.\n";
  return 2;
}

int Failure(const absl::Status& status) {
  std::cerr << "linkd-encode events: error: " << status.message() << "\n";
  return 1;
}

}  // namespace

int RunEventsCommand(int argc, char** argv) {
  std::string key_path, date_format, out_path, input, format = "binary";
  EventEncoderOptions options;
  bool have_input = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kEventsUsage;
      return 0;
    }
    if (arg == "-" || arg.rfind("--", 0) != 0) {
      if (have_input) return UsageError("give exactly one INPUT file");
      input = arg;
      have_input = true;
      continue;
    }
    std::string value;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return UsageError(absl::StrCat(arg, " needs a value"));
    }
    if (arg == "--key") {
      key_path = value;
    } else if (arg == "--source") {
      options.source = value;
    } else if (arg == "--format") {
      format = value;
    } else if (arg == "--date-format") {
      date_format = value;
    } else if (arg == "--out") {
      out_path = value;
    } else if (arg == "--map") {
      absl::StatusOr<MapSpec> spec = ParseMapSpec(value);
      if (!spec.ok()) return UsageError(std::string(spec.status().message()));
      options.maps.push_back(*std::move(spec));
    } else if (arg == "--event-map") {
      absl::StatusOr<MapSpec> spec = ParseEventMapSpec(value);
      if (!spec.ok()) return UsageError(std::string(spec.status().message()));
      options.event_maps.push_back(*std::move(spec));
    } else {
      return UsageError(absl::StrCat("unknown option ", arg));
    }
  }
  if (key_path.empty()) return UsageError("--key FILE is required");
  if (options.source.empty()) return UsageError("--source ORG is required");
  if (!have_input) return UsageError("INPUT.csv is required ('-' for stdin)");
  absl::StatusOr<OutputFormat> output_format = ParseOutputFormat(format);
  if (!output_format.ok()) {
    return UsageError(std::string(output_format.status().message()));
  }
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
  EventFileEncoder events(&encoder, std::move(options));
  EncodeSummary summary;
  absl::Status status = events.Run(*in, *out, &summary);
  if (status.ok() && file_out.is_open()) {
    file_out.close();
    if (file_out.fail()) {
      status = absl::UnavailableError(
          absl::StrCat("failed writing output file ", out_path));
    }
  }
  std::string text = FormatSummary(summary);
  // FormatSummary speaks of records; these are events.
  const std::string from = "records written:";
  if (size_t at = text.find(from); at != std::string::npos) {
    text.replace(at, from.size(), "events written: ");
  }
  std::cerr << text;
  if (!status.ok()) return Failure(status);
  return summary.rows_rejected > 0 ? 3 : 0;
}

}  // namespace linkd::encode
