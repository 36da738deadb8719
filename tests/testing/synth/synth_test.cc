#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "crypto/normalize.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "tests/testing/synth/identifiers.h"
#include "tests/testing/synth/name_tables.h"
#include "tests/testing/synth/population.h"

namespace linkd::synth {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;

Options Opts(uint64_t seed, int64_t people) {
  Options o;
  o.seed = seed;
  o.num_people = people;
  return o;
}

// One shared mid-size population for the statistical tests.
const Population& Big() {
  static const Population* const pop =
      new Population(GeneratePopulation(Opts(20240901, 30000)));
  return *pop;
}

std::map<uint64_t, const Person*> ById(const Population& pop) {
  std::map<uint64_t, const Person*> m;
  for (const Person& p : pop.people) m[p.person_id] = &p;
  return m;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int Int(std::string_view s) {
  int v = -1;
  if (!absl::SimpleAtoi(std::string(s), &v)) return -1;
  return v;
}

// Parses a record's dob in its source's format; {0,0,0} if absent/bad.
Date ParseSourceDate(const SourceRecord& r) {
  const std::string& s = r.dob;
  switch (r.source) {
    case Source::kSchoolCensus:
      if (s.size() == 10 && s[2] == '/' && s[5] == '/') {
        return {Int(s.substr(6, 4)), Int(s.substr(3, 2)), Int(s.substr(0, 2))};
      }
      break;
    case Source::kSocialCare:
      if (auto d = ParseIsoDate(s); d.ok()) return *d;
      break;
    case Source::kHealth:
      if (s.size() == 8 && AllDigits(s)) {
        return {Int(s.substr(0, 4)), Int(s.substr(4, 2)), Int(s.substr(6, 2))};
      }
      break;
  }
  return {};
}

TEST(IdentifiersTest, UpnCheckLetter) {
  // Worked by hand: digits 8,2,0,2,0,0,1,0,1,0,0,1 with weights 2..13 sum
  // to 63; 63 mod 23 = 17 -> 'U'.
  EXPECT_EQ(UpnCheckLetter("820200101001"), 'U');
  EXPECT_TRUE(IsValidUpn("U820200101001"));
  EXPECT_FALSE(IsValidUpn("T820200101001"));
  EXPECT_FALSE(IsValidUpn("U82020010100"));
  EXPECT_EQ(UpnCheckLetter("82020010100x"), '?');
}

TEST(IdentifiersTest, NhsCheckDigit) {
  // The NHS Data Dictionary's example number.
  EXPECT_TRUE(IsValidNhsNumber("943 476 5919"));
  EXPECT_TRUE(IsValidNhsNumber("9434765919"));
  EXPECT_FALSE(IsValidNhsNumber("9434765918"));
  EXPECT_FALSE(IsValidNhsNumber("943476591"));
  EXPECT_EQ(NhsCheckDigit("943476591"), 9);
  EXPECT_EQ(NhsCheckDigit("94347659"), -1);
}

TEST(DateTest, CivilRoundTrip) {
  for (int64_t d = DaysFromCivil({1999, 12, 25});
       d < DaysFromCivil({2025, 3, 1}); d += 17) {
    const Date c = CivilFromDays(d);
    EXPECT_TRUE(IsValidDate(c));
    EXPECT_EQ(DaysFromCivil(c), d);
  }
  EXPECT_EQ(DaysFromCivil({1970, 1, 1}), 0);
  EXPECT_EQ(AgeOn({2010, 9, 2}, {2024, 9, 1}), 13);
  EXPECT_EQ(AgeOn({2010, 9, 1}, {2024, 9, 1}), 14);
  EXPECT_THAT(ParseIsoDate("2024-02-30").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NameTablesTest, SizesAndDiversity) {
  std::set<std::string> boys, girls, family;
  for (int o = 0; o < kNumOrigins; ++o) {
    const auto origin = static_cast<Origin>(o);
    for (auto [set, table] : {std::pair{&boys, BoysNames(origin)},
                              std::pair{&girls, GirlsNames(origin)},
                              std::pair{&family, FamilyNames(origin)}}) {
      ASSERT_GT(table.size, 0u) << OriginName(origin);
      for (size_t i = 0; i < table.size; ++i) {
        EXPECT_GE(table.entries[i].weight, 1u);
        set->insert(table.entries[i].name);
      }
    }
  }
  EXPECT_GE(boys.size(), 300u);
  EXPECT_GE(girls.size(), 300u);
  EXPECT_GE(family.size(), 1500u);
  for (const char* n :
       {"Muhammad", "Mohammed", "Mohammad", "Łukasz", "Zoltán", "José"}) {
    // José is Spanish/Portuguese: not required, only the others are.
    if (std::string_view(n) == "José") continue;
    EXPECT_EQ(boys.count(n), 1u) << n;
  }
  for (const char* n : {"Zoë", "Chloé"}) EXPECT_EQ(girls.count(n), 1u) << n;
  for (const char* n : {"O'Brien", "Wiśniewski", "Smith", "Okafor", "Wong"}) {
    EXPECT_EQ(family.count(n), 1u) << n;
  }
}

TEST(PopulationTest, DeterministicForASeed) {
  const Population a = GeneratePopulation(Opts(42, 2000));
  const Population b = GeneratePopulation(Opts(42, 2000));
  const Population c = GeneratePopulation(Opts(43, 2000));
  ASSERT_EQ(a.records.size(), b.records.size());
  for (size_t i = 0; i < a.records.size(); ++i) {
    ASSERT_EQ(CsvLine(a.records[i]), CsvLine(b.records[i])) << i;
    ASSERT_EQ(a.records[i].person_id, b.records[i].person_id);
  }
  size_t same = 0;
  for (size_t i = 0; i < std::min(a.records.size(), c.records.size()); ++i) {
    same += CsvLine(a.records[i]) == CsvLine(c.records[i]);
  }
  EXPECT_LT(same, 10u);
}

TEST(PopulationTest, PeopleAreWellFormed) {
  const Population& pop = Big();
  ASSERT_EQ(pop.people.size(), 30000u);
  const Options o = Opts(0, 0);
  absl::flat_hash_set<std::string> upns, nhs;
  for (size_t i = 0; i < pop.people.size(); ++i) {
    const Person& p = pop.people[i];
    EXPECT_EQ(p.person_id, i + 1);
    EXPECT_TRUE(IsValidDate(p.dob));
    EXPECT_GE(p.age, 0);
    EXPECT_LE(p.age, 18);
    EXPECT_EQ(p.age, AgeOn(p.dob, o.reference_date));
    EXPECT_FALSE(p.given_name.empty());
    EXPECT_FALSE(p.family_name.empty());
    EXPECT_TRUE(IsValidNhsNumber(p.nhs_number)) << i;
    EXPECT_TRUE(nhs.insert(p.nhs_number).second) << "duplicate NHS number";
    if (p.age >= 4) {
      EXPECT_TRUE(IsValidUpn(p.upn)) << i;
      EXPECT_TRUE(upns.insert(p.upn).second) << "duplicate UPN";
      EXPECT_EQ(p.upn.substr(1, 3), std::to_string(p.la_code));
    } else {
      EXPECT_TRUE(p.upn.empty());
    }
    EXPECT_EQ(p.postcode.substr(0, 1) == "L" ? 383 : 352, p.la_code);
  }
}

TEST(PopulationTest, HouseholdsSiblingsAndTwins) {
  const Population& pop = Big();
  const auto by_id = ById(pop);
  std::map<uint64_t, std::vector<const Person*>> households;
  for (const Person& p : pop.people) households[p.household_id].push_back(&p);
  int multi = 0, twins = 0, one_letter_twins = 0, changed = 0,
      double_barrel = 0;
  for (const auto& [id, kids] : households) {
    EXPECT_LE(kids.size(), 5u);
    if (kids.size() > 1) ++multi;
    for (const Person* a : kids) {
      changed += a->birth_family_name != a->family_name;
      double_barrel += a->family_name.find('-') != std::string::npos;
      for (const Person* b : kids) {
        if (a == b) continue;
        EXPECT_EQ(a->postcode, b->postcode);
        EXPECT_EQ(a->origin, b->origin);
        EXPECT_NE(a->given_name, b->given_name);
        // Same surname, up to the Polish feminine ending.
        EXPECT_EQ(a->family_name.substr(0, a->family_name.size() - 1),
                  b->family_name.substr(0, b->family_name.size() - 1));
        const int64_t gap =
            std::llabs(DaysFromCivil(a->dob) - DaysFromCivil(b->dob));
        if (a->twin_of == b->person_id) {
          EXPECT_EQ(gap, 0);
        } else {
          EXPECT_GE(gap, 300);
          EXPECT_LE(gap, 6 * 366 * 4);
        }
      }
      if (a->twin_of != 0) {
        ++twins;
        const Person* co = by_id.at(a->twin_of);
        EXPECT_EQ(co->twin_of, a->person_id);
        EXPECT_EQ(co->household_id, a->household_id);
        if (co->given_name.size() == a->given_name.size() &&
            co->given_name.substr(1) == a->given_name.substr(1)) {
          ++one_letter_twins;
        } else if (co->given_name.size() + 1 == a->given_name.size() ||
                   a->given_name.size() + 1 == co->given_name.size()) {
          ++one_letter_twins;  // counted loosely: a letter added or removed
        }
      }
    }
  }
  const double n = static_cast<double>(pop.people.size());
  EXPECT_GT(multi, 3000);
  // 1.5 % of births are twin births: about 3 % of children are twins.
  EXPECT_GT(twins / n, 0.015);
  EXPECT_LT(twins / n, 0.05);
  EXPECT_GT(one_letter_twins, 0);
  EXPECT_NEAR(changed / n, 0.03, 0.01);
  EXPECT_GT(double_barrel / n, 0.005);
}

TEST(PopulationTest, SourceFormats) {
  const Population& pop = Big();
  const auto by_id = ById(pop);
  absl::flat_hash_set<std::string> ids[kNumSources];
  for (const SourceRecord& r : pop.records) {
    const Person& p = *by_id.at(r.person_id);
    const int s = static_cast<int>(r.source);
    EXPECT_TRUE(ids[s].insert(r.record_id).second) << "duplicate record id";
    // Record ids are opaque local references, never an identifier.
    EXPECT_NE(r.record_id, p.upn);
    EXPECT_EQ(r.record_id.find(p.nhs_number), std::string::npos);
    switch (r.source) {
      case Source::kSchoolCensus:
        EXPECT_TRUE(r.record_id.size() == 9 && r.record_id[0] == 'P' &&
                    AllDigits(r.record_id.substr(1)));
        EXPECT_GE(p.age, 4);
        EXPECT_FALSE(r.upn.empty());
        EXPECT_TRUE(r.nhs_number.empty());
        EXPECT_THAT(r.sex, ::testing::AnyOf("M", "F", ""));
        if (!r.dob.empty()) {
          EXPECT_TRUE(IsValidDate(ParseSourceDate(r))) << r.dob;
        }
        break;
      case Source::kSocialCare:
        EXPECT_TRUE(r.record_id.size() == 9 &&
                    r.record_id.substr(0, 2) == "C-" &&
                    AllDigits(r.record_id.substr(2)));
        EXPECT_THAT(r.sex, ::testing::AnyOf("Male", "Female", "Unknown", ""));
        if (!r.dob.empty()) {
          EXPECT_TRUE(IsValidDate(ParseSourceDate(r))) << r.dob;
        }
        if (!r.nhs_number.empty() && !IsPlaceholderIdentifier(r.nhs_number)) {
          EXPECT_TRUE(IsValidNhsNumber(r.nhs_number));
        }
        break;
      case Source::kHealth:
        EXPECT_TRUE(r.record_id.size() == 9 && r.record_id[0] == 'H' &&
                    AllDigits(r.record_id.substr(1)));
        EXPECT_THAT(r.sex, ::testing::AnyOf("1", "2", "9", "0", ""));
        EXPECT_TRUE(r.upn.empty());
        if (!r.dob.empty()) {
          EXPECT_TRUE(IsValidDate(ParseSourceDate(r))) << r.dob;
        }
        if (!r.nhs_number.empty() && !IsPlaceholderIdentifier(r.nhs_number)) {
          EXPECT_TRUE(IsValidNhsNumber(r.nhs_number));
        }
        break;
    }
  }
  EXPECT_EQ(CsvHeader(Source::kSchoolCensus),
            "pupil_ref,upn,forename,surname,dob,gender,postcode");
  EXPECT_EQ(
      CsvHeader(Source::kSocialCare),
      "case_id,first_name,last_name,date_of_birth,sex,post_code,nhs_no,upn");
  EXPECT_EQ(CsvHeader(Source::kHealth),
            "nhs_number,patient_id,given,family,birth_date,sex_code,postcode");
  // ColumnsOf() names real header columns.
  for (int s = 0; s < kNumSources; ++s) {
    const auto source = static_cast<Source>(s);
    const std::vector<std::string> cols =
        absl::StrSplit(CsvHeader(source), ',');
    const SourceColumns& c = ColumnsOf(source);
    for (std::string_view col :
         {c.record_id, c.given_name, c.family_name, c.dob, c.sex, c.postcode,
          c.upn, c.nhs_number}) {
      if (col.empty()) continue;
      EXPECT_THAT(cols, ::testing::Contains(std::string(col))) << col;
    }
  }
}

TEST(PopulationTest, RecordsPerSourceProportions) {
  const Population& pop = Big();
  double school_age = 0;
  for (const Person& p : pop.people) school_age += p.age >= 4;
  double counts[kNumSources] = {0, 0, 0};
  for (const SourceRecord& r : pop.records) {
    if (r.kind == RecordKind::kRegular) ++counts[static_cast<int>(r.source)];
  }
  const double n = static_cast<double>(pop.people.size());
  EXPECT_NEAR(counts[0] / school_age, 0.90, 0.01);
  EXPECT_NEAR(counts[1] / n, 0.10, 0.01);
  EXPECT_NEAR(counts[2] / n, 0.60, 0.015);
  // At most one regular record per person per source.
  std::set<std::pair<uint64_t, int>> seen;
  for (const SourceRecord& r : pop.records) {
    if (r.kind != RecordKind::kRegular) continue;
    EXPECT_TRUE(seen.insert({r.person_id, static_cast<int>(r.source)}).second);
  }
}

TEST(PopulationTest, NoiseRatesWithinTolerance) {
  const Population& pop = Big();
  const auto by_id = ById(pop);
  double school = 0, bad_upn = 0, swap_eligible = 0, swapped = 0;
  double social = 0, social_nhs = 0, social_has_upn = 0, social_upn = 0;
  double health = 0, health_nhs = 0, spaced = 0, postcode_missing = 0;
  double diacritic_truth = 0, diacritic_kept = 0;
  for (const SourceRecord& r : pop.records) {
    const Person& p = *by_id.at(r.person_id);
    if (r.kind != RecordKind::kRegular || IsPlaceholderIdentifier(r.upn) ||
        IsPlaceholderIdentifier(r.nhs_number)) {
      continue;
    }
    switch (r.source) {
      case Source::kSchoolCensus: {
        ++school;
        bad_upn += !IsValidUpn(r.upn);
        if (p.dob.day <= 12 && p.dob.day != p.dob.month && !r.dob.empty()) {
          ++swap_eligible;
          const Date d = ParseSourceDate(r);
          swapped += d.day == p.dob.month && d.month == p.dob.day &&
                     d.year == p.dob.year;
        }
        postcode_missing += r.postcode.empty();
        break;
      }
      case Source::kSocialCare:
        ++social;
        social_nhs += !r.nhs_number.empty();
        if (!p.upn.empty()) {
          ++social_has_upn;
          social_upn += !r.upn.empty();
        }
        break;
      case Source::kHealth:
        ++health;
        health_nhs += !r.nhs_number.empty();
        spaced += r.nhs_number.size() == 12;
        break;
    }
    if (r.source == Source::kHealth && p.given_name == "Zoë") {
      ++diacritic_truth;
      diacritic_kept += r.given_name.find("ë") != std::string::npos ||
                        r.given_name.find("Ë") != std::string::npos;
    }
  }
  EXPECT_NEAR(bad_upn / school, 0.005, 0.003);
  EXPECT_NEAR(swapped / swap_eligible, 0.01, 0.005);
  EXPECT_NEAR(postcode_missing / school, 0.02, 0.006);
  EXPECT_NEAR(social_nhs / social, 0.70, 0.04);
  EXPECT_NEAR(social_upn / social_has_upn, 0.40, 0.05);
  EXPECT_NEAR(health_nhs / health, 0.95, 0.01);
  EXPECT_NEAR(spaced / health_nhs, 0.30, 0.03);
  // Diacritics are sometimes dropped, sometimes kept.
  if (diacritic_truth > 20) {
    EXPECT_GT(diacritic_kept, 0);
    EXPECT_LT(diacritic_kept, diacritic_truth);
  }
}

TEST(PopulationTest, TyposAreSmallEditsAtTheConfiguredRate) {
  Options o = Opts(99, 20000);
  o.ScaleNoise(0);
  for (SourceOptions& s : o.sources) s.name_typo_rate = 0.03;
  const Population pop = GeneratePopulation(o);
  const auto by_id = ById(pop);
  double names = 0, changed = 0;
  for (const SourceRecord& r : pop.records) {
    if (r.kind == RecordKind::kUnborn) continue;
    const Person& p = *by_id.at(r.person_id);
    for (auto [got, want] : {std::pair{&r.given_name, &p.given_name},
                             std::pair{&r.family_name, &p.family_name}}) {
      ++names;
      if (*got == *want) continue;
      ++changed;
      // One edit: lengths differ by at most one, first character kept.
      EXPECT_LE(std::abs(static_cast<int>(got->size()) -
                         static_cast<int>(want->size())),
                1)
          << "typo";
      EXPECT_EQ((*got)[0], (*want)[0]);
    }
  }
  // Some edits are no-ops (e.g. a transposition of equal letters falls back
  // to a deletion, never to nothing), so the rate is close to 3 %.
  EXPECT_NEAR(changed / names, 0.03, 0.006);
}

TEST(PopulationTest, NoNoiseGivesCleanRecords) {
  Options o = Opts(5, 3000);
  o.ScaleNoise(0);
  const Population pop = GeneratePopulation(o);
  const auto by_id = ById(pop);
  int unborn = 0;
  for (const SourceRecord& r : pop.records) {
    const Person& p = *by_id.at(r.person_id);
    // Pre-birth records are not noise: they differ by nature.
    if (r.kind == RecordKind::kUnborn) {
      ++unborn;
      continue;
    }
    EXPECT_EQ(r.given_name, p.given_name);
    EXPECT_EQ(r.family_name, p.family_name);
    EXPECT_EQ(r.postcode, p.postcode);
    const Date d = ParseSourceDate(r);
    EXPECT_EQ(d, p.dob) << r.dob;
    if (r.source == Source::kSchoolCensus) {
      EXPECT_EQ(r.upn, p.upn);
    }
    if (!r.nhs_number.empty()) {
      EXPECT_EQ(r.nhs_number, p.nhs_number);
    }
  }
  EXPECT_GT(unborn, 0);
}

TEST(PopulationTest, NoiseKindsOccur) {
  const Population& pop = Big();
  const auto by_id = ById(pop);
  int nickname = 0, title = 0, partial = 0, upper = 0, old_surname = 0,
      moved = 0, apostrophe = 0, muhammad_variants = 0;
  std::set<std::string> muhammads;
  std::map<std::string, std::set<std::string>> variants;
  const NicknameTable nick = Nicknames();
  for (size_t i = 0; i < nick.size; ++i) {
    for (absl::string_view v : absl::StrSplit(nick.entries[i].variants, '|')) {
      variants[nick.entries[i].name].insert(std::string(v));
    }
  }
  for (const SourceRecord& r : pop.records) {
    const Person& p = *by_id.at(r.person_id);
    const std::string g(absl::StripAsciiWhitespace(r.given_name));
    if (auto it = variants.find(p.given_name);
        it != variants.end() && it->second.count(g) > 0) {
      ++nickname;
    }
    title += absl::StartsWith(r.given_name, "Miss ") ||
             absl::StartsWith(r.given_name, "Master ");
    if (p.family_name.find('-') != std::string::npos &&
        !r.family_name.empty() &&
        r.family_name.find('-') == std::string::npos &&
        r.family_name.find(' ') == std::string::npos) {
      ++partial;
    }
    upper += r.family_name == absl::AsciiStrToUpper(p.family_name) &&
             r.family_name != p.family_name;
    old_surname += p.birth_family_name != p.family_name &&
                   r.family_name == p.birth_family_name;
    moved += !p.previous_postcode.empty() && r.postcode == p.previous_postcode;
    apostrophe += r.family_name.find('\'') != std::string::npos;
    if (p.given_name.rfind("Muh", 0) == 0 ||
        p.given_name.rfind("Moh", 0) == 0) {
      muhammads.insert(r.given_name);
    }
  }
  muhammad_variants = static_cast<int>(muhammads.count("Muhammad") +
                                       muhammads.count("Mohammed") +
                                       muhammads.count("Mohammad"));
  EXPECT_GT(title, 0);
  EXPECT_GT(partial, 0);
  EXPECT_GT(upper, 100);
  EXPECT_GT(old_surname, 50);
  EXPECT_GT(moved, 100);
  EXPECT_GT(apostrophe, 50);
  EXPECT_EQ(muhammad_variants, 3);
  EXPECT_GT(nickname, 20);
}

TEST(PopulationTest, DuplicatesOption) {
  Options o = Opts(8, 5000);
  for (SourceOptions& s : o.sources) {
    s.duplicate_rate = 0.2;
    s.unborn_rate = 0;
  }
  const Population pop = GeneratePopulation(o);
  std::map<std::pair<uint64_t, int>, std::vector<const SourceRecord*>> n;
  for (const SourceRecord& r : pop.records)
    n[{r.person_id, static_cast<int>(r.source)}].push_back(&r);
  double dup = 0;
  for (const auto& [k, v] : n) {
    ASSERT_LE(v.size(), 2u);
    EXPECT_EQ(v[0]->kind, RecordKind::kRegular);
    if (v.size() == 2) {
      ++dup;
      // Same child, same person_id, another registration.
      EXPECT_EQ(v[1]->kind, RecordKind::kDuplicate);
      EXPECT_EQ(v[1]->person_id, v[0]->person_id);
      EXPECT_NE(v[1]->record_id, v[0]->record_id);
    }
  }
  EXPECT_NEAR(dup / static_cast<double>(n.size()), 0.2, 0.03);
}

// Duplicates, pre-birth records and placeholders are on by default, at low
// rates per source.
TEST(PopulationTest, DefaultAdditionsAtTheirRates) {
  const Population& pop = Big();
  double regular[kNumSources] = {0, 0, 0}, dup[kNumSources] = {0, 0, 0},
         unborn[kNumSources] = {0, 0, 0};
  double upn_col[kNumSources] = {0, 0, 0}, upn_ph[kNumSources] = {0, 0, 0};
  double nhs_ph[kNumSources] = {0, 0, 0};
  double all[kNumSources] = {0, 0, 0};
  for (const SourceRecord& r : pop.records) {
    const int s = static_cast<int>(r.source);
    ++all[s];
    regular[s] += r.kind == RecordKind::kRegular;
    dup[s] += r.kind == RecordKind::kDuplicate;
    unborn[s] += r.kind == RecordKind::kUnborn;
    if (r.kind == RecordKind::kUnborn) continue;
    upn_col[s] += !r.upn.empty();
    upn_ph[s] += IsPlaceholderIdentifier(r.upn);
    nhs_ph[s] += IsPlaceholderIdentifier(r.nhs_number);
  }
  double aged_0_1 = 0;
  for (const Person& p : pop.people) aged_0_1 += p.age <= 1;
  for (int s = 0; s < kNumSources; ++s) {
    const SourceOptions d = DefaultSourceOptions(static_cast<Source>(s));
    const double non_unborn = all[s] - unborn[s];
    // Binomial tolerance: 4 standard deviations, at least 0.002.
    const auto tol = [](double p, double n) {
      return std::max(0.002, 4 * std::sqrt(p * (1 - p) / n));
    };
    EXPECT_NEAR(dup[s] / regular[s], d.duplicate_rate,
                tol(d.duplicate_rate, regular[s]))
        << s;
    EXPECT_NEAR(unborn[s] / aged_0_1, d.unborn_rate,
                tol(d.unborn_rate, aged_0_1))
        << s;
    EXPECT_NEAR(nhs_ph[s] / non_unborn, d.nhs_placeholder_rate,
                tol(d.nhs_placeholder_rate, non_unborn))
        << s;
    EXPECT_NEAR(upn_ph[s] / non_unborn, d.upn_placeholder_rate,
                tol(d.upn_placeholder_rate, non_unborn))
        << s;
  }
  EXPECT_GT(dup[0], 0);
  EXPECT_GT(dup[1], 0);
  EXPECT_GT(dup[2], 0);
  EXPECT_EQ(unborn[0], 0);
  EXPECT_GT(unborn[1], 0);
  EXPECT_GT(unborn[2], 0);
  EXPECT_GT(upn_ph[0], 0);
  EXPECT_GT(nhs_ph[1], 0);
  EXPECT_GT(nhs_ph[2], 0);
}

TEST(PopulationTest, PlaceholderIdentifiers) {
  Options o = Opts(12, 6000);
  for (SourceOptions& s : o.sources) {
    s.upn_placeholder_rate = 0.1;
    s.nhs_placeholder_rate = 0.1;
  }
  const Population pop = GeneratePopulation(o);
  double with_col[kNumSources] = {0, 0, 0};
  double upn_ph[kNumSources] = {0, 0, 0}, nhs_ph[kNumSources] = {0, 0, 0};
  std::map<std::string, std::set<uint64_t>> holders;
  for (const SourceRecord& r : pop.records) {
    if (r.kind == RecordKind::kUnborn) continue;
    const int s = static_cast<int>(r.source);
    ++with_col[s];
    if (IsPlaceholderIdentifier(r.upn)) {
      ++upn_ph[s];
      holders[r.upn].insert(r.person_id);
      // The encoder's normaliser refuses every UPN placeholder.
      EXPECT_FALSE(crypto::NormalizeUpn(r.upn).ok()) << "upn placeholder";
    }
    if (IsPlaceholderIdentifier(r.nhs_number)) {
      ++nhs_ph[s];
      holders[r.nhs_number].insert(r.person_id);
      EXPECT_FALSE(crypto::NormalizeNhsNumber(r.nhs_number).ok())
          << "nhs placeholder";
    }
  }
  // UPN column: school census and social care; NHS: social care and health.
  EXPECT_NEAR(upn_ph[0] / with_col[0], 0.1, 0.02);
  EXPECT_NEAR(upn_ph[1] / with_col[1], 0.1, 0.04);
  EXPECT_EQ(upn_ph[2], 0);
  EXPECT_EQ(nhs_ph[0], 0);
  EXPECT_NEAR(nhs_ph[1] / with_col[1], 0.1, 0.04);
  EXPECT_NEAR(nhs_ph[2] / with_col[2], 0.1, 0.02);
  // A placeholder is shared by many different children (the trap for an
  // exact-identifier rule), and some pass the modulus-11 check.
  size_t widest = 0;
  for (const auto& [value, people] : holders) {
    widest = std::max(widest, people.size());
  }
  EXPECT_GT(widest, 20u);
  EXPECT_TRUE(IsValidNhsNumber("9999999999"));
  EXPECT_TRUE(IsValidNhsNumber("0000000000"));
  EXPECT_FALSE(IsPlaceholderIdentifier("9434765919"));
}

TEST(PopulationTest, UnbornChildrenHaveAPreBirthAndABornRecord) {
  Options o = Opts(21, 20000);
  o.sources[static_cast<int>(Source::kSocialCare)].unborn_rate = 0.5;
  o.sources[static_cast<int>(Source::kHealth)].unborn_rate = 0.5;
  const Population pop = GeneratePopulation(o);
  const auto by_id = ById(pop);
  std::map<std::pair<uint64_t, int>, std::vector<const SourceRecord*>> n;
  for (const SourceRecord& r : pop.records) {
    n[{r.person_id, static_cast<int>(r.source)}].push_back(&r);
  }
  double eligible = 0;
  for (const Person& p : pop.people) eligible += p.age <= 1;
  double unborn[kNumSources] = {0, 0, 0};
  int known_sex = 0, exact_dob = 0, no_given = 0;
  for (const SourceRecord& r : pop.records) {
    if (r.kind != RecordKind::kUnborn) continue;
    const Person& p = *by_id.at(r.person_id);
    ++unborn[static_cast<int>(r.source)];
    EXPECT_NE(r.source, Source::kSchoolCensus);
    EXPECT_LE(p.age, 1);
    EXPECT_THAT(r.given_name,
                ::testing::AnyOf("", "BABY", "Baby", "UNBORN", "Unborn"));
    no_given += r.given_name.empty();
    EXPECT_TRUE(r.upn.empty());
    EXPECT_TRUE(r.nhs_number.empty());
    EXPECT_FALSE(r.family_name.empty());
    // Expected date of birth: some days off, never after the reference date.
    const Date expected = ParseSourceDate(r);
    ASSERT_TRUE(IsValidDate(expected)) << SourceName(r.source);
    const int64_t off = DaysFromCivil(expected) - DaysFromCivil(p.dob);
    EXPECT_LE(std::llabs(off), 70);
    exact_dob += off == 0;
    EXPECT_LE(DaysFromCivil(expected), DaysFromCivil(o.reference_date));
    known_sex += r.sex != "Unknown" && r.sex != "0";
    // The same child later appears born, in the same source.
    const auto& same = n.at({r.person_id, static_cast<int>(r.source)});
    ASSERT_GE(same.size(), 2u);
    EXPECT_EQ(same[0], &r);
    EXPECT_EQ(same[1]->kind, RecordKind::kRegular);
    EXPECT_EQ(same[1]->person_id, r.person_id);
    EXPECT_NE(same[1]->record_id, r.record_id);
  }
  EXPECT_NEAR(unborn[1] / eligible, 0.5, 0.04);
  EXPECT_NEAR(unborn[2] / eligible, 0.5, 0.04);
  const double total = unborn[1] + unborn[2];
  EXPECT_NEAR(known_sex / total, 0.3, 0.05);
  EXPECT_NEAR(no_given / total, 3.0 / 7, 0.05);
  EXPECT_LT(exact_dob / total, 0.1);
}

// Switching the additions on or off leaves the regular records (ids, noise)
// as they were, apart from identifiers replaced by placeholders: existing
// outputs for a seed barely move.
TEST(PopulationTest, AdditionsLeaveRegularRecordsUnchanged) {
  Options with = Opts(31, 4000);
  Options without = with;
  for (SourceOptions& s : without.sources) {
    s.duplicate_rate = 0;
    s.unborn_rate = 0;
    s.upn_placeholder_rate = 0;
    s.nhs_placeholder_rate = 0;
  }
  for (SourceOptions& s : with.sources) {
    s.duplicate_rate = std::max(s.duplicate_rate, 0.05);
    s.upn_placeholder_rate = 0.05;
    s.nhs_placeholder_rate = 0.05;
  }
  with.sources[1].unborn_rate = 0.3;
  with.sources[2].unborn_rate = 0.3;
  const Population a = GeneratePopulation(with);
  const Population b = GeneratePopulation(without);
  // A child with a pre-birth record always has the born record too, so
  // those regular records are new; every other one must be unchanged.
  std::set<std::pair<uint64_t, Source>> in_b;
  for (const SourceRecord& r : b.records) in_b.insert({r.person_id, r.source});
  std::vector<SourceRecord> regular;
  int added = 0;
  for (const SourceRecord& r : a.records) {
    if (r.kind == RecordKind::kRegular &&
        in_b.count({r.person_id, r.source}) > 0) {
      regular.push_back(r);
    } else {
      ++added;
    }
  }
  EXPECT_GT(added, 100);
  ASSERT_EQ(regular.size(), b.records.size());
  int placeholders = 0;
  for (size_t i = 0; i < regular.size(); ++i) {
    SourceRecord r = regular[i];
    if (IsPlaceholderIdentifier(r.upn)) {
      ++placeholders;
      r.upn = b.records[i].upn;
    }
    if (IsPlaceholderIdentifier(r.nhs_number)) {
      ++placeholders;
      r.nhs_number = b.records[i].nhs_number;
    }
    EXPECT_EQ(CsvLine(r), CsvLine(b.records[i])) << i;
  }
  EXPECT_GT(placeholders, 50);
}

TEST(PopulationTest, ValidateOptions) {
  EXPECT_THAT(ValidateOptions(Opts(1, 10)), IsOk());
  Options o = Opts(1, -1);
  EXPECT_THAT(ValidateOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = Opts(1, 10);
  o.sources[1].nhs_rate = 1.5;
  EXPECT_THAT(ValidateOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("social_care")));
  o = Opts(1, 10);
  o.reference_date = {2024, 2, 30};
  EXPECT_THAT(ValidateOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = Opts(1, 10);
  o.sources[0].unborn_rate = 0.1;
  EXPECT_THAT(ValidateOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("school_census")));
  o = Opts(1, 10);
  o.sources[2].nhs_placeholder_rate = -0.1;
  EXPECT_THAT(ValidateOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Cross-check with the provider-side normaliser (crypto/normalize.h): the
// generator's identifiers, dates and postcodes are what real extracts
// carry, so the encoder must accept the clean ones and refuse the broken
// check letters.
TEST(PopulationTest, AgreesWithTheEncoderNormaliser) {
  const Population& pop = Big();
  int upns = 0, nhs = 0, bad_upns = 0;
  crypto::Date latest{2024, 9, 1};
  for (const SourceRecord& r : pop.records) {
    if (!r.upn.empty()) {
      ++upns;
      EXPECT_EQ(crypto::NormalizeUpn(r.upn).ok(), IsValidUpn(r.upn));
      bad_upns += !IsValidUpn(r.upn);
    }
    if (!r.nhs_number.empty()) {
      ++nhs;
      // Placeholders are refused, whether or not they pass the check digit.
      EXPECT_EQ(crypto::NormalizeNhsNumber(r.nhs_number).ok(),
                !IsPlaceholderIdentifier(r.nhs_number));
    }
    if (!r.postcode.empty()) {
      EXPECT_TRUE(crypto::NormalizePostcode(r.postcode).ok());
    }
    if (!r.dob.empty()) {
      auto format =
          crypto::DateFormat::FromPattern(ColumnsOf(r.source).date_pattern);
      ASSERT_TRUE(format.ok());
      auto dob = crypto::NormalizeDateOfBirth(r.dob, *format, latest);
      EXPECT_TRUE(dob.ok()) << SourceName(r.source);
      if (dob.ok()) {
        const Date d = ParseSourceDate(r);
        EXPECT_EQ((Date{dob->year, dob->month, dob->day}), d);
      }
    }
  }
  EXPECT_GT(upns, 10000);
  EXPECT_GT(nhs, 10000);
  EXPECT_GT(bad_upns, 0);
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(WritePopulationTest, WritesFilesMatchingTheInMemoryPopulation) {
  linkd::testing::TempDir dir;
  const Options o = Opts(77, 3000);
  absl::StatusOr<WriteSummary> summary = WritePopulation(o, dir.Sub("out"));
  ASSERT_THAT(summary.status(), IsOk());
  EXPECT_EQ(summary->people, 3000);
  const Population pop = GeneratePopulation(o);
  std::vector<std::string> expected[kNumSources];
  for (const SourceRecord& r : pop.records) {
    expected[static_cast<int>(r.source)].push_back(CsvLine(r));
  }
  int64_t total = 0;
  for (int s = 0; s < kNumSources; ++s) {
    const auto source = static_cast<Source>(s);
    const std::vector<std::string> lines =
        ReadLines(dir.Sub("out/" + std::string(SourceName(source)) + ".csv"));
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines[0], CsvHeader(source));
    EXPECT_EQ(static_cast<int64_t>(lines.size()) - 1, summary->records[s]);
    EXPECT_EQ(std::vector<std::string>(lines.begin() + 1, lines.end()),
              expected[s]);
    total += summary->records[s];
  }
  const std::vector<std::string> truth = ReadLines(dir.Sub("out/truth.csv"));
  ASSERT_EQ(static_cast<int64_t>(truth.size()) - 1, total);
  // The first three columns are as before; the origin is appended.
  EXPECT_EQ(truth[0], "source,record_id,person_id,origin");
  const auto by_id = ById(pop);
  std::set<std::string> origins;
  for (size_t i = 1; i < truth.size(); ++i) {
    const SourceRecord& r = pop.records[i - 1];
    const std::string origin(OriginName(by_id.at(r.person_id)->origin));
    origins.insert(origin);
    EXPECT_EQ(truth[i], std::string(SourceName(r.source)) + "," + r.record_id +
                            "," + std::to_string(r.person_id) + "," + origin);
  }
  EXPECT_GE(origins.size(), 8u);
}

TEST(WritePopulationTest, RejectsBadOptionsAndUnwritableDirectories) {
  linkd::testing::TempDir dir;
  EXPECT_THAT(WritePopulation(Opts(1, -5), dir.path()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(dir.Sub("file")) << "x";
  EXPECT_THAT(WritePopulation(Opts(1, 5), dir.Sub("file/sub")).status(),
              StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace linkd::synth
