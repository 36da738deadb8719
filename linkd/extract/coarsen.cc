// Date and category coarsening (coarsen.h).
#include "linkd/extract/coarsen.h"

#include <sodium.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linkd/extract/internal/strings.h"

namespace linkd::extract {
namespace {

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

bool Digits(std::string_view s, int* out) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

void AppendTwoDigits(int v, std::string* out) {
  out->push_back(static_cast<char>('0' + v / 10 % 10));
  out->push_back(static_cast<char>('0' + v % 10));
}

// Length-prefixed, so that the canonical form is unambiguous.
void AppendField(std::string_view s, std::string* out) {
  absl::StrAppend(out, s.size(), ":", internal::AsAbsl(s), ";");
}

}  // namespace

absl::StatusOr<DateGranularity> ParseDateGranularity(std::string_view name) {
  if (name == "day") return v1::DATE_GRANULARITY_DAY;
  if (name == "month") return v1::DATE_GRANULARITY_MONTH;
  if (name == "quarter") return v1::DATE_GRANULARITY_QUARTER;
  if (name == "year") return v1::DATE_GRANULARITY_YEAR;
  if (name == "academic_year") return v1::DATE_GRANULARITY_ACADEMIC_YEAR;
  return absl::InvalidArgumentError(
      "date granularity must be day, month, quarter, year or academic_year");
}

std::string_view DateGranularityName(DateGranularity granularity) {
  switch (granularity) {
    case v1::DATE_GRANULARITY_DAY:
      return "day";
    case v1::DATE_GRANULARITY_MONTH:
      return "month";
    case v1::DATE_GRANULARITY_QUARTER:
      return "quarter";
    case v1::DATE_GRANULARITY_YEAR:
      return "year";
    case v1::DATE_GRANULARITY_ACADEMIC_YEAR:
      return "academic_year";
    default:
      return "unspecified";
  }
}

absl::StatusOr<std::string> CoarsenDate(std::string_view iso_date,
                                        DateGranularity granularity) {
  int y = 0, m = 0, d = 0;
  if (iso_date.size() != 10 || iso_date[4] != '-' || iso_date[7] != '-' ||
      !Digits(iso_date.substr(0, 4), &y) ||
      !Digits(iso_date.substr(5, 2), &m) ||
      !Digits(iso_date.substr(8, 2), &d)) {
    return absl::InvalidArgumentError("date must be YYYY-MM-DD");
  }
  if (y < 1000 || m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m)) {
    return absl::InvalidArgumentError("date is not a calendar date");
  }
  switch (granularity) {
    case v1::DATE_GRANULARITY_DAY:
      return std::string(iso_date);
    case v1::DATE_GRANULARITY_MONTH:
      return std::string(iso_date.substr(0, 7));
    case v1::DATE_GRANULARITY_QUARTER:
      return absl::StrCat(internal::AsAbsl(iso_date.substr(0, 4)), "-Q",
                          (m - 1) / 3 + 1);
    case v1::DATE_GRANULARITY_YEAR:
      return std::string(iso_date.substr(0, 4));
    case v1::DATE_GRANULARITY_ACADEMIC_YEAR: {
      const int start = m >= 9 ? y : y - 1;
      std::string out = absl::StrCat(start, "/");
      AppendTwoDigits((start + 1) % 100, &out);
      return out;
    }
    default:
      return absl::InvalidArgumentError("date granularity is unspecified");
  }
}

absl::StatusOr<CategoryMap> CategoryMap::Create(
    std::string name, std::vector<std::pair<std::string, std::string>> groups,
    std::optional<std::string> other_group) {
  if (name.empty()) {
    return absl::InvalidArgumentError("category mapping needs a name");
  }
  if (other_group.has_value() && other_group->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "category mapping ", name, ": the other group must not be empty"));
  }
  CategoryMap map;
  map.name_ = std::move(name);
  map.other_ = std::move(other_group);
  for (auto& [value, group] : groups) {
    if (value.empty() || group.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("category mapping ", map.name_,
                       ": values and groups must not be empty"));
    }
    if (!map.groups_.emplace(value, group).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "category mapping ", map.name_, ": a value is mapped twice"));
    }
  }
  std::sort(groups.begin(), groups.end());
  std::string canonical = "linkd-category-map-v1;";
  AppendField(map.name_, &canonical);
  for (const auto& [value, group] : groups) {
    AppendField(value, &canonical);
    AppendField(group, &canonical);
  }
  canonical.append(map.other_.has_value() ? "other;" : "refuse;");
  if (map.other_.has_value()) AppendField(*map.other_, &canonical);
  map.digest_.assign(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(map.digest_.data()),
                     map.digest_.size(),
                     reinterpret_cast<const unsigned char*>(canonical.data()),
                     canonical.size(), nullptr, 0);
  return map;
}

absl::StatusOr<std::string_view> CategoryMap::Map(
    std::string_view value) const {
  const auto it = groups_.find(internal::AsAbsl(value));
  if (it != groups_.end()) return std::string_view(it->second);
  if (other_.has_value()) return std::string_view(*other_);
  return absl::InvalidArgumentError(absl::StrCat(
      "category mapping ", name_, ": value not in the mapping (refused)"));
}

const CategoryMap& EthnicityMajorGroups() {
  static const CategoryMap* map = [] {
    std::vector<std::pair<std::string, std::string>> g;
    for (const char* c : {"WBRI", "WIRI", "WIRT", "WOTH", "WROM"}) {
      g.emplace_back(c, "White");
    }
    for (const char* c : {"MWBC", "MWBA", "MWAS", "MOTH"}) {
      g.emplace_back(c, "Mixed");
    }
    for (const char* c : {"AIND", "APKN", "ABAN", "AOTH"}) {
      g.emplace_back(c, "Asian");
    }
    for (const char* c : {"BCRB", "BAFR", "BOTH"}) g.emplace_back(c, "Black");
    g.emplace_back("CHNE", "Chinese");
    g.emplace_back("OOTH", "Any other ethnic group");
    g.emplace_back("REFU", "Unclassified");
    g.emplace_back("NOBT", "Unclassified");
    return new CategoryMap(*CategoryMap::Create("ethnicity_major_group",
                                                std::move(g), std::nullopt));
  }();
  return *map;
}

const CategoryMap& YearGroupKeyStages() {
  static const CategoryMap* map = [] {
    std::vector<std::pair<std::string, std::string>> g = {
        {"N1", "EYFS"}, {"N2", "EYFS"},       {"R", "EYFS"}, {"1", "KS1"},
        {"2", "KS1"},   {"3", "KS2"},         {"4", "KS2"},  {"5", "KS2"},
        {"6", "KS2"},   {"7", "KS3"},         {"8", "KS3"},  {"9", "KS3"},
        {"10", "KS4"},  {"11", "KS4"},        {"12", "KS5"}, {"13", "KS5"},
        {"14", "KS5"},  {"X", "Not followed"}};
    return new CategoryMap(*CategoryMap::Create("year_group_key_stage",
                                                std::move(g), std::nullopt));
  }();
  return *map;
}

}  // namespace linkd::extract
