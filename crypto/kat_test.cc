// Known-answer test of encoding v2: parses testdata/kat_v2.txt and checks
// every normalised value, every issue and every output of every record, and
// the key check. A failure here means the encoding changed: that needs a new
// encoding version, not new vectors.
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifndef LINKD_CRYPTO_TESTDATA_DIR
#error "LINKD_CRYPTO_TESTDATA_DIR must name crypto/testdata"
#endif

namespace linkd::crypto {
namespace {

struct KatFile {
  std::map<std::string, std::string> header;
  std::vector<std::map<std::string, std::string>> records;
};

KatFile Load() {
  KatFile kat;
  std::ifstream in(std::string(LINKD_CRYPTO_TESTDATA_DIR) + "/kat_v2.txt");
  EXPECT_TRUE(in.good()) << "cannot open kat_v2.txt";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string::npos) << line;
    if (colon == std::string::npos) continue;
    const std::string name = line.substr(0, colon),
                      value = line.substr(colon + 2);
    if (name == "record") kat.records.emplace_back();
    auto& target = kat.records.empty() ? kat.header : kat.records.back();
    EXPECT_TRUE(target.emplace(name, value).second) << "duplicate " << name;
  }
  return kat;
}

std::string Hex(const uint8_t* p, size_t n) {
  std::string out;
  char buf[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", p[i]);
    out += buf;
  }
  return out;
}

template <typename T>
std::string HexOpt(const std::optional<T>& v) {
  return v ? Hex(v->data(), v->size()) : "-";
}

std::string Get(const std::map<std::string, std::string>& m,
                const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second;
}

// The normalised form printed in the file, or "issue: <reason>".
template <typename T, typename F>
std::string Norm(const absl::StatusOr<T>& r, F format) {
  return r.ok() ? format(*r) : "issue: " + std::string(r.status().message());
}

std::string Expected(const std::map<std::string, std::string>& rec,
                     const std::string& field) {
  if (rec.count("issue." + field)) return "issue: " + rec.at("issue." + field);
  return Get(rec, "norm." + field);
}

class KatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kat_ = Load();
    std::string raw;
    const std::string hex = Get(kat_.header, "key");
    ASSERT_EQ(hex.size(), 64u);
    for (size_t i = 0; i < hex.size(); i += 2) {
      raw.push_back(
          static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    auto key =
        LinkageKey::FromBytes(raw, std::stoul(Get(kat_.header, "key-version")));
    ASSERT_TRUE(key.ok());
    auto latest = DateFormat::Auto().Parse(Get(kat_.header, "latest-dob"));
    ASSERT_TRUE(latest.ok());
    latest_ = *latest;
    EncodeOptions options;
    options.latest_dob = latest_;
    encoder_ = std::make_unique<Encoder>(*key, options);
  }
  KatFile kat_;
  Date latest_;
  std::unique_ptr<Encoder> encoder_;
};

TEST_F(KatTest, KeyCheck) {
  EXPECT_EQ(Hex(encoder_->key_check().data(), kKeyCheckBytes),
            Get(kat_.header, "key_check"));
}

TEST_F(KatTest, HasEnoughVectors) { EXPECT_GE(kat_.records.size(), 25u); }

TEST_F(KatTest, Normalisation) {
  const auto join = [](const std::vector<std::string>& parts) {
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : " ") + p;
    return s;
  };
  for (const auto& rec : kat_.records) {
    SCOPED_TRACE("record " + Get(rec, "record"));
    if (rec.count("in.given_name")) {
      EXPECT_EQ(Norm(NormalizeName(Get(rec, "in.given_name")), join),
                Expected(rec, "given_name"));
    }
    if (rec.count("in.family_name")) {
      EXPECT_EQ(Norm(NormalizeName(Get(rec, "in.family_name")), join),
                Expected(rec, "family_name"));
    }
    if (rec.count("in.dob")) {
      EXPECT_EQ(Norm(NormalizeDateOfBirth(Get(rec, "in.dob"),
                                          DateFormat::Auto(), latest_),
                     [](const Date& d) {
                       char buf[16];
                       std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", d.year,
                                     d.month, d.day);
                       return std::string(buf);
                     }),
                Expected(rec, "dob"));
    }
    if (rec.count("in.sex")) {
      EXPECT_EQ(Norm(NormalizeSex(Get(rec, "in.sex")),
                     [](char c) { return std::string(1, c); }),
                Expected(rec, "sex"));
    }
    if (rec.count("in.postcode")) {
      EXPECT_EQ(Norm(NormalizePostcode(Get(rec, "in.postcode")),
                     [](const Postcode& p) { return p.unit; }),
                Expected(rec, "postcode"));
    }
    const auto same = [](const std::string& s) { return s; };
    if (rec.count("in.upn")) {
      EXPECT_EQ(Norm(NormalizeUpn(Get(rec, "in.upn")), same),
                Expected(rec, "upn"));
    }
    if (rec.count("in.nhs_number")) {
      EXPECT_EQ(Norm(NormalizeNhsNumber(Get(rec, "in.nhs_number")), same),
                Expected(rec, "nhs_number"));
    }
  }
}

TEST_F(KatTest, EveryOutputOfEveryRecord) {
  int compared = 0;
  for (const auto& rec : kat_.records) {
    SCOPED_TRACE("record " + Get(rec, "record"));
    const ClearIdentity in{
        Get(rec, "in.given_name"), Get(rec, "in.family_name"),
        Get(rec, "in.dob"),        Get(rec, "in.sex"),
        Get(rec, "in.postcode"),   Get(rec, "in.upn"),
        Get(rec, "in.nhs_number")};
    std::vector<FieldIssue> issues;
    const EncodedIdentity e = encoder_->Encode(in, &issues);
    EXPECT_EQ(e.encoding_version, kEncodingVersion);
    EXPECT_EQ(Hex(e.key_check.data(), kKeyCheckBytes),
              Get(kat_.header, "key_check"));
    const std::vector<std::pair<std::string, std::string>> got = {
        {"upn", HexOpt(e.upn)},
        {"nhs_number", HexOpt(e.nhs_number)},
        {"dob", HexOpt(e.dob)},
        {"dob_year_month", HexOpt(e.dob_year_month)},
        {"dob_year_day", HexOpt(e.dob_year_day)},
        {"dob_month_day", HexOpt(e.dob_month_day)},
        {"dob_unordered", HexOpt(e.dob_unordered)},
        {"birth_year", HexOpt(e.birth_year)},
        {"sex", HexOpt(e.sex)},
        {"postcode_unit", HexOpt(e.postcode_unit)},
        {"postcode_sector", HexOpt(e.postcode_sector)},
        {"postcode_district", HexOpt(e.postcode_district)},
        {"given_name_bf", HexOpt(e.given_name_bf)},
        {"family_name_bf", HexOpt(e.family_name_bf)},
        {"given_name_pc_bf", HexOpt(e.given_name_pc_bf)},
        {"family_name_pc_bf", HexOpt(e.family_name_pc_bf)},
    };
    for (const auto& [name, value] : got) {
      ASSERT_TRUE(rec.count(name)) << "file lacks " << name;
      EXPECT_EQ(value, rec.at(name)) << name;
      ++compared;
    }
    // Issues: exactly the issue.* lines, in Field order.
    std::vector<std::string> want_issues, got_issues;
    for (int f = 0; f < kNumFields; ++f) {
      const std::string name(FieldName(static_cast<Field>(f)));
      if (rec.count("issue." + name)) {
        want_issues.push_back(name + ": " + rec.at("issue." + name));
      }
    }
    for (const FieldIssue& i : issues) {
      got_issues.push_back(std::string(FieldName(i.field)) + ": " + i.reason);
    }
    EXPECT_EQ(got_issues, want_issues);
  }
  EXPECT_EQ(compared, 16 * static_cast<int>(kat_.records.size()));
}

}  // namespace
}  // namespace linkd::crypto
