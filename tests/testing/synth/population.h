// linkd-synth: a generator of synthetic English children as three
// administrative sources (school census, LA social care, health) would hold
// them, with the ground truth of who is who. Everything is deterministic
// from a seed and streams: a PopulationGenerator yields one person at a
// time and a RecordExtractor turns each person into the source records, so
// memory does not grow with the size of the population. The people are
// invented; no real personal data is involved.
//
// Typical use:
//   synth::Options options;
//   options.seed = 7;
//   options.num_people = 10000;
//   synth::Population pop = synth::GeneratePopulation(options);  // in memory
// or
//   absl::StatusOr<synth::WriteSummary> s =
//       synth::WritePopulation(options, "/tmp/demo");  // CSV files
#ifndef LINKD_TESTS_TESTING_SYNTH_POPULATION_H_
#define LINKD_TESTS_TESTING_SYNTH_POPULATION_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/synth/name_tables.h"

namespace linkd::synth {

// A calendar date.
struct Date {
  int year = 0;
  int month = 0;
  int day = 0;
};
bool operator==(const Date& a, const Date& b);
inline bool operator!=(const Date& a, const Date& b) { return !(a == b); }

// Days since 1970-01-01 (negative before), and back.
int64_t DaysFromCivil(const Date& date);
Date CivilFromDays(int64_t days);
// True for a real calendar date.
bool IsValidDate(const Date& date);
// Whole years of age on `on` for someone born on `dob`.
int AgeOn(const Date& dob, const Date& on);
// "YYYY-MM-DD".
std::string IsoDate(const Date& date);
// Parses "YYYY-MM-DD"; INVALID_ARGUMENT if malformed or not a real date.
absl::StatusOr<Date> ParseIsoDate(std::string_view text);

enum class Sex { kMale = 0, kFemale };

// One synthetic child: the truth behind the source records.
struct Person {
  uint64_t person_id = 0;     // 1-based, unique within a population
  uint64_t household_id = 0;  // children of one household share it
  Origin origin = Origin::kEnglish;
  Sex sex = Sex::kMale;
  Date dob;
  int age = 0;              // whole years on Options::reference_date, 0..18
  std::string given_name;   // UTF-8 as registered at birth
  std::string family_name;  // current surname
  std::string birth_family_name;  // surname at birth; differs iff changed
  std::string postcode;           // current, canonical ("LS6 2AB")
  std::string previous_postcode;  // before the last move; empty if none
  int la_code = 0;                // local authority of `postcode`
  std::string upn;         // 13 characters; empty if never at school (< 4)
  std::string nhs_number;  // 10 digits, valid check digit
  uint64_t twin_of = 0;    // person_id of the co-twin, 0 if not a twin
};

enum class Source { kSchoolCensus = 0, kSocialCare, kHealth };
inline constexpr int kNumSources = 3;

// "school_census", "social_care", "health": the CSV file stem and the value
// of the `source` column of truth.csv.
std::string_view SourceName(Source source);

// Column names of one source's CSV, by role. Pass them to linkd-encode as
// --map given_name=<given_name> ... `upn` or `nhs_number` is empty where the
// source has no such column.
struct SourceColumns {
  std::string_view record_id;
  std::string_view given_name;
  std::string_view family_name;
  std::string_view dob;
  std::string_view sex;
  std::string_view postcode;
  std::string_view upn;
  std::string_view nhs_number;
  // Date pattern of the dob column ("DD/MM/YYYY", "YYYY-MM-DD", "YYYYMMDD").
  std::string_view date_pattern;
};
const SourceColumns& ColumnsOf(Source source);

// Why a source holds a record. Not written to the CSV files; for tests and
// for quality breakdowns of in-memory populations.
enum class RecordKind {
  kRegular = 0,  // the source's record of the child
  kDuplicate,    // a second registration of the same child (new record_id)
  kUnborn,       // a pre-birth record: expected date of birth, no given name
};

// One row of one source, with clear values exactly as the source wrote them
// (noise included). An empty string is a missing value.
struct SourceRecord {
  Source source = Source::kSchoolCensus;
  std::string record_id;   // source-local opaque reference, e.g. "P04417290"
  uint64_t person_id = 0;  // ground truth
  RecordKind kind = RecordKind::kRegular;
  std::string given_name;
  std::string family_name;
  std::string dob;  // in the source's date format
  std::string sex;  // in the source's code set
  std::string postcode;
  std::string upn;
  std::string nhs_number;
};

// The CSV header line of a source (no newline).
std::string CsvHeader(Source source);
// `record` as a CSV line of its source (no newline), quoting where needed.
std::string CsvLine(const SourceRecord& record);

// How one source covers the population and how dirty its data is. Rates are
// probabilities in [0, 1] per record (per field where stated).
struct SourceOptions {
  double coverage = 0;  // share of eligible children with a record
  // Chance of a second registration of a covered child under another
  // record_id (dual registration, re-referral, second GP registration),
  // with its own noise.
  double duplicate_rate = 0;
  double name_typo_rate = 0;  // per name: one edit (sub/del/ins/transpose)
  double nickname_rate = 0;   // given name replaced by a nickname/variant
  double dob_swap_rate = 0;   // day and month swapped, where that is a date
  double dob_typo_rate = 0;   // another small error in the date
  double missing_rate = 0;    // per field (names at a fifth of it)
  double diacritics_kept_rate = 1;        // else folded to ASCII (Zoë -> Zoe)
  double upper_case_rate = 0;             // whole name in capitals
  double lower_case_rate = 0;             // whole name in lower case
  double upper_family_rate = 0;           // family name only in capitals
  double extra_space_rate = 0;            // leading/trailing/double spaces
  double title_rate = 0;                  // "Miss", "Master", ... before a name
  double old_surname_rate = 0;            // birth surname kept after a change
  double partial_double_barrel_rate = 0;  // one part of "A-B" only
  double punctuation_rate = 0;        // O'Brien -> OBrien / O Brien, A-B -> A B
  double previous_postcode_rate = 0;  // the address before the last move
  double other_postcode_rate = 0;     // some other (temporary) address
  double postcode_format_rate = 0;    // lower case or no space
  double unknown_sex_rate = 0;        // "Unknown" / NHS code 0 or 9
  double upn_rate = 0;                // UPN present (children who have one)
  double upn_typo_rate = 0;           // UPN with a wrong check letter
  double nhs_rate = 0;                // NHS number present
  double nhs_spaced_rate = 0;         // written "943 476 5919"
  // The UPN / NHS number column holds a placeholder instead of the child's
  // number (kUpnPlaceholders / kNhsPlaceholders in identifiers.h; several of
  // the NHS ones pass the modulus-11 check). Sources without the column
  // ignore it.
  double upn_placeholder_rate = 0;
  double nhs_placeholder_rate = 0;
  // Children aged 0 or 1 on the reference date who also have a pre-birth
  // record (social care pre-birth referral, antenatal record): no given
  // name or "BABY"/"UNBORN", the birth surname, an expected date of birth
  // some days off the real one (never after the reference date), sex mostly
  // unknown, no UPN or NHS number. Such a child always also has the born
  // record in that source. Must be 0 for the school census. Not scaled by
  // ScaleNoise: it is population structure, not field noise.
  double unborn_rate = 0;
};

// The defaults of each source, as described in population.cc.
SourceOptions DefaultSourceOptions(Source source);

struct Options {
  uint64_t seed = 1;
  int64_t num_people = 1000;
  // Ages (0..18) are taken on this date.
  Date reference_date = {2024, 9, 1};
  double twin_rate = 0.015;           // share of births that are twin births
  double double_barrel_rate = 0.03;   // households with an "A-B" surname
  double surname_change_rate = 0.03;  // children whose surname changed
  double move_rate = 0.15;  // households that moved (previous postcode)
  // Per-source behaviour, indexed by Source.
  std::array<SourceOptions, kNumSources> sources = {
      DefaultSourceOptions(Source::kSchoolCensus),
      DefaultSourceOptions(Source::kSocialCare),
      DefaultSourceOptions(Source::kHealth)};

  // Multiplies every noise rate (not coverage, presence, duplicate or
  // unborn rates); 0 gives clean fields. Applied by ScaleNoise().
  void ScaleNoise(double factor);
};

// OK, or INVALID_ARGUMENT naming the first bad option (negative people, a
// rate outside [0, 1], an invalid reference date, unborn records in the
// school census).
absl::Status ValidateOptions(const Options& options);

// Generates the people of a population in order of person_id. Deterministic
// for given Options. Not thread-safe.
class PopulationGenerator {
 public:
  // `options` must pass ValidateOptions (checked in debug builds).
  explicit PopulationGenerator(const Options& options);
  ~PopulationGenerator();
  PopulationGenerator(const PopulationGenerator&) = delete;
  PopulationGenerator& operator=(const PopulationGenerator&) = delete;

  // Overwrites `*person` with the next person and returns true, or returns
  // false once options.num_people people have been produced.
  bool Next(Person* person);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Produces the source records of each person. Record ids depend on the order
// in which people are passed, so pass them in generation order to reproduce
// a population. Not thread-safe.
class RecordExtractor {
 public:
  explicit RecordExtractor(const Options& options);
  ~RecordExtractor();
  RecordExtractor(const RecordExtractor&) = delete;
  RecordExtractor& operator=(const RecordExtractor&) = delete;

  // Replaces `*records` with the records the sources hold about `person`,
  // in Source order; within a source: the pre-birth record (if any), the
  // regular record, the duplicate (if any). Regular records draw from their
  // own random streams and id sequence, so they do not change when the
  // duplicate, unborn or placeholder rates change (except for the
  // placeholder replacing an identifier).
  void Extract(const Person& person, std::vector<SourceRecord>* records);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A whole population in memory (for tests; use the streaming classes for
// large populations).
struct Population {
  std::vector<Person> people;
  std::vector<SourceRecord> records;  // grouped by person, Source order
};
Population GeneratePopulation(const Options& options);

struct WriteSummary {
  int64_t people = 0;
  std::array<int64_t, kNumSources> records{};  // data rows per source
};

// Writes DIR/school_census.csv, DIR/social_care.csv, DIR/health.csv and
// DIR/truth.csv (source,record_id,person_id,origin; origin is OriginName of
// the person, the name-culture subgroup for quality reports; readers that
// take the first three columns keep working), creating DIR if needed and
// overwriting those files. Streams. Returns INVALID_ARGUMENT for bad
// options, or INTERNAL naming the file when it cannot be written.
absl::StatusOr<WriteSummary> WritePopulation(const Options& options,
                                             const std::string& dir);

}  // namespace linkd::synth

#endif  // LINKD_TESTS_TESTING_SYNTH_POPULATION_H_
