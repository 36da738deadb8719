// Runs the real linkd-encode binary on synthetic files and searches
// everything it writes (records, summary, errors) for every clear value of
// the synthetic people: names as given, upper- and lower-cased and split,
// dates of birth in every common format, postcodes with and without the
// space, UPNs and NHS numbers, including invalid values and rejected rows.
// Also checks the exit statuses 0, 1, 2 and 3.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "crypto/crypto.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/encode/testing/synthetic_people.h"
#include "linkd/util/status_matchers.h"

#ifndef LINKD_ENCODE_BINARY
#error "LINKD_ENCODE_BINARY must name the linkd-encode executable"
#endif

namespace linkd::encode {
namespace {

using ::linkd::encode::testing::CsvLine;
using ::linkd::encode::testing::StandardCsvHeader;
using ::linkd::encode::testing::StandardCsvRow;
using ::linkd::encode::testing::SyntheticPeople;
using ::linkd::encode::testing::SyntheticPerson;
using ::linkd::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout, plus the --out file if one was used
  std::string err;
};

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

class LeakTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_THAT(crypto::Init(), IsOk()); }

  void SetUp() override {
    char tmpl[] = "/tmp/linkd_encode_leak_XXXXXX";
    const std::string base =
        ::testing::TempDir().empty() ? "/tmp/" : ::testing::TempDir();
    std::string pattern = base + "linkd_encode_leak_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    char* made = mkdtemp(buf.data());
    if (made == nullptr) made = mkdtemp(tmpl);
    ASSERT_NE(made, nullptr);
    dir_ = made;
    // A fixed key makes the output bytes deterministic, so a chance
    // occurrence of a short value in base64 text cannot make the test flaky.
    std::string key_bytes(crypto::kLinkageKeyBytes, '\0');
    for (size_t i = 0; i < key_bytes.size(); ++i) {
      key_bytes[i] = static_cast<char>(0x5a ^ (i * 37));
    }
    absl::StatusOr<crypto::LinkageKey> key =
        crypto::LinkageKey::FromBytes(key_bytes, 1);
    ASSERT_THAT(key, IsOk());
    key_path_ = dir_ + "/link.key";
    ASSERT_THAT(key->WriteFile(key_path_), IsOk());
  }

  void TearDown() override {
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  // Runs linkd-encode with `args` (already shell-safe) and `stdin_file`.
  RunResult Run(const std::string& args, const std::string& stdin_file = "",
                const std::string& out_file = "") {
    const std::string out_path = dir_ + "/stdout";
    const std::string err_path = dir_ + "/stderr";
    std::string cmd = absl::StrCat("'", LINKD_ENCODE_BINARY, "' ", args, " >'",
                                   out_path, "' 2>'", err_path, "'");
    if (!stdin_file.empty()) absl::StrAppend(&cmd, " <'", stdin_file, "'");
    const int status = std::system(cmd.c_str());
    RunResult result;
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.out = ReadFileOrEmpty(out_path);
    if (!out_file.empty()) result.out += ReadFileOrEmpty(out_file);
    result.err = ReadFileOrEmpty(err_path);
    return result;
  }

  std::string EncodeArgs(const std::string& format,
                         const std::string& input) const {
    return absl::StrCat("--key '", key_path_, "' --source school_census",
                        " --format ", format, " '", input, "'");
  }

  // Records every form in which `person`'s clear values could leak.
  void AddNeedles(const SyntheticPerson& p) {
    for (const std::string& name : {p.given_name, p.family_name}) {
      AddName(name);
    }
    AddDate(p.year, p.month, p.day);
    AddPostcode(p.postcode);
    needles_.insert(p.upn);
    needles_.insert(p.nhs_number);
    needles_.insert(absl::StrFormat("%s %s %s", p.nhs_number.substr(0, 3),
                                    p.nhs_number.substr(3, 3),
                                    p.nhs_number.substr(6)));
  }
  void AddName(const std::string& name) {
    needles_.insert(name);
    needles_.insert(absl::AsciiStrToUpper(name));
    needles_.insert(absl::AsciiStrToLower(name));
    absl::StatusOr<std::vector<std::string>> parts =
        crypto::NormalizeName(name);
    if (parts.ok()) {
      for (const std::string& part : *parts) {
        needles_.insert(part);
        needles_.insert(absl::AsciiStrToLower(part));
      }
    }
    for (absl::string_view part :
         absl::StrSplit(name, absl::ByAnyChar("- '"), absl::SkipEmpty())) {
      needles_.insert(std::string(part));
    }
  }
  void AddDate(int y, int m, int d) {
    needles_.insert(absl::StrFormat("%04d-%02d-%02d", y, m, d));
    needles_.insert(absl::StrFormat("%02d/%02d/%04d", d, m, y));
    needles_.insert(absl::StrFormat("%04d%02d%02d", y, m, d));
    needles_.insert(absl::StrFormat("%02d-%02d-%04d", d, m, y));
    needles_.insert(absl::StrFormat("%02d%02d%04d", d, m, y));
    needles_.insert(absl::StrFormat("%d/%d/%04d", d, m, y));
    needles_.insert(absl::StrFormat("%02d/%02d/%04d", m, d, y));
  }
  void AddPostcode(const std::string& postcode) {
    needles_.insert(postcode);
    needles_.insert(absl::StrReplaceAll(postcode, {{" ", ""}}));
    needles_.insert(absl::AsciiStrToLower(postcode));
  }

  // Fails the test for every needle found in `haystack`.
  void ExpectNoNeedle(const std::string& haystack, const std::string& what) {
    ASSERT_FALSE(needles_.empty());
    for (const std::string& needle : needles_) {
      ASSERT_GE(needle.size(), 6u) << "needle too short to be meaningful";
      EXPECT_EQ(haystack.find(needle), std::string::npos)
          << what << " contains a clear value (" << needle.size()
          << " characters)";
    }
  }

  // Number of needles found in `haystack`; used to show that the search
  // does find clear values where they are (in the input files).
  int CountNeedles(const std::string& haystack) const {
    int found = 0;
    for (const std::string& needle : needles_) {
      if (haystack.find(needle) != std::string::npos) ++found;
    }
    return found;
  }

  std::string dir_;
  std::string key_path_;
  std::set<std::string> needles_;
};

TEST_F(LeakTest, NoClearValueInOutputOrMessages) {
  SyntheticPeople people(2024);
  // good.csv: every row valid, dates in the three automatic formats.
  std::string good = StandardCsvHeader();
  for (int i = 0; i < 120; ++i) {
    SyntheticPerson p = people.Next();
    AddNeedles(p);
    if (i % 3 == 1)
      p.dob = absl::StrFormat("%02d/%02d/%04d", p.day, p.month, p.year);
    if (i % 3 == 2)
      p.dob = absl::StrFormat("%04d%02d%02d", p.year, p.month, p.day);
    if (i % 4 == 0) p.family_name += "-" + people.Name(8);
    if (i % 5 == 0)
      p.given_name = "M\xC3\xA9" + people.Name(7).substr(0, 6) + "ine";
    if (i % 6 == 0)
      p.nhs_number = p.nhs_number.substr(0, 3) + " " +
                     p.nhs_number.substr(3, 3) + " " + p.nhs_number.substr(6);
    AddName(p.given_name);
    AddName(p.family_name);
    good += StandardCsvRow(p);
  }
  const std::string good_path = dir_ + "/good.csv";
  WriteFile(good_path, good);

  // mixed.csv: invalid values (dropped) and rejected rows of every kind.
  std::string mixed = StandardCsvHeader();
  int expected_rejects = 0;
  for (int i = 0; i < 60; ++i) {
    SyntheticPerson p = people.Next();
    AddNeedles(p);
    switch (i % 10) {
      case 0:  // invalid UPN and NHS number: dropped, row kept
        p.upn = people.BadUpn();
        p.nhs_number = people.BadNhsNumber();
        needles_.insert(p.upn);
        needles_.insert(p.nhs_number);
        break;
      case 1:  // impossible date and placeholder postcode: dropped
        p.dob = absl::StrFormat("%04d-02-30", p.year);
        needles_.insert(p.dob);
        p.postcode = "ZZ99 3VZ";
        break;
      case 2:  // record_id is the NHS number: rejected
        p.record_id = p.nhs_number;
        ++expected_rejects;
        break;
      case 3:  // record_id is the UPN: rejected
        p.record_id = p.upn;
        ++expected_rejects;
        break;
      case 4:  // record_id is the date of birth: rejected
        p.record_id = p.dob;
        ++expected_rejects;
        break;
      case 5:  // no identifying field left: rejected
        p.given_name = p.family_name = "";
        p.upn = people.BadUpn();
        p.nhs_number = "";
        p.dob = "31/31/2015";
        needles_.insert(p.upn);
        ++expected_rejects;
        break;
      case 6:  // empty record_id: rejected
        p.record_id = "";
        ++expected_rejects;
        break;
      case 7:  // malformed row (too few columns) holding clear values
        mixed +=
            CsvLine({p.record_id, p.given_name, p.family_name, p.dob, p.upn});
        ++expected_rejects;
        continue;
      case 8:  // text after a closing quote, values around it
        mixed += absl::StrCat(p.record_id, ",\"", p.given_name, "\"",
                              p.family_name, ",x,", p.dob, ",M,", p.postcode,
                              ",", p.upn, ",", p.nhs_number, "\n");
        ++expected_rejects;
        continue;
      default:
        break;
    }
    mixed += StandardCsvRow(p);
  }
  const std::string mixed_path = dir_ + "/mixed.csv";
  WriteFile(mixed_path, mixed);

  // A file that is structurally broken after some good rows.
  SyntheticPerson q = people.Next();
  AddNeedles(q);
  const std::string broken =
      StandardCsvHeader() + StandardCsvRow(people.Next()) +
      absl::StrCat(q.record_id, ",\"", q.given_name, ",", q.family_name, ",",
                   q.dob, ",M,", q.postcode, ",", q.upn, ",", q.nhs_number,
                   "\n");
  const std::string broken_path = dir_ + "/broken.csv";
  WriteFile(broken_path, broken);

  // The search works: the inputs hold hundreds of the clear values.
  EXPECT_GT(CountNeedles(good), 500);
  EXPECT_GT(CountNeedles(mixed), 200);
  EXPECT_GT(CountNeedles(broken), 5);

  for (const char* format : {"binary", "jsonl"}) {
    SCOPED_TRACE(format);
    RunResult r = Run(EncodeArgs(format, good_path));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("records written: 120"));
    EXPECT_FALSE(r.out.empty());
    ExpectNoNeedle(r.out, "stdout of good.csv");
    ExpectNoNeedle(r.err, "stderr of good.csv");

    r = Run(EncodeArgs(format, mixed_path));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_THAT(r.err,
                HasSubstr(absl::StrCat("rows rejected:   ", expected_rejects)));
    EXPECT_THAT(r.err, HasSubstr("records written: " +
                                 std::to_string(60 - expected_rejects)));
    EXPECT_THAT(r.err, HasSubstr("fields dropped"));
    ExpectNoNeedle(r.out, "stdout of mixed.csv");
    ExpectNoNeedle(r.err, "stderr of mixed.csv");

    // From stdin, to --out.
    const std::string out_file = absl::StrCat(dir_, "/out.", format);
    r = Run(absl::StrCat("--key '", key_path_, "' --source=school_census",
                         " --format=", format, " --out '", out_file, "' -"),
            mixed_path, out_file);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_FALSE(ReadFileOrEmpty(out_file).empty());
    ExpectNoNeedle(r.out, "--out file of mixed.csv");
    ExpectNoNeedle(r.err, "stderr of mixed.csv from stdin");

    r = Run(EncodeArgs(format, broken_path));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("not terminated"));
    ExpectNoNeedle(r.out, "stdout of broken.csv");
    ExpectNoNeedle(r.err, "stderr of broken.csv");
  }
}

TEST_F(LeakTest, UsageErrorsExitTwo) {
  const std::string csv = dir_ + "/one.csv";
  WriteFile(csv, StandardCsvHeader());
  for (const std::string& args :
       {std::string(""), std::string("--bogus"),
        absl::StrCat("--source s '", csv, "'"),
        absl::StrCat("--key '", key_path_, "' '", csv, "'"),
        absl::StrCat("--key '", key_path_, "' --source s"),
        absl::StrCat("--key '", key_path_, "' --source s --format xml '", csv,
                     "'"),
        absl::StrCat("--key '", key_path_, "' --source s --map surname=x '",
                     csv, "'"),
        absl::StrCat("--key '", key_path_, "' --source s --date-format QQ '",
                     csv, "'"),
        absl::StrCat("--key '", key_path_, "' --source s a.csv b.csv"),
        std::string("keygen"), std::string("keygen --out")}) {
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << "args: " << args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("linkd-encode: ")) << args;
    EXPECT_THAT(r.out, IsEmpty()) << args;
  }
  RunResult help = Run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Exit status:"));
  EXPECT_THAT(help.out, HasSubstr("3  finished, but some rows were rejected"));
}

TEST_F(LeakTest, OtherFailuresExitOne) {
  const std::string csv = dir_ + "/one.csv";
  SyntheticPeople people(5);
  WriteFile(csv, StandardCsvHeader() + StandardCsvRow(people.Next()));
  // Missing key file.
  RunResult r =
      Run(absl::StrCat("--key '", dir_, "/nokey' --source s '", csv, "'"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("key file"));
  // Key file readable by others.
  ASSERT_EQ(chmod(key_path_.c_str(), 0644), 0);
  r = Run(EncodeArgs("binary", csv));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_EQ(chmod(key_path_.c_str(), 0600), 0);
  // Missing input, and a header without record_id.
  r = Run(EncodeArgs("binary", dir_ + "/missing.csv"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string no_id = dir_ + "/noid.csv";
  WriteFile(no_id, "given_name,dob\nAbcdefg,2015-01-01\n");
  r = Run(EncodeArgs("binary", no_id));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("record_id"));
  EXPECT_THAT(r.err, Not(HasSubstr("Abcdefg")));
}

TEST_F(LeakTest, KeygenWritesAPrivateKeyAndNeverOverwrites) {
  const std::string path = dir_ + "/new.key";
  RunResult r = Run(absl::StrCat("keygen --out '", path, "' --key-version 4"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<crypto::LinkageKey> key = crypto::LinkageKey::ReadFile(path);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->version(), 4u);
  const std::string before = ReadFileOrEmpty(path);

  r = Run(absl::StrCat("keygen --out '", path, "'"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(path), before);

  // The new key encodes a file.
  const std::string csv = dir_ + "/k.csv";
  SyntheticPeople people(9);
  WriteFile(csv, StandardCsvHeader() + StandardCsvRow(people.Next()));
  r = Run(absl::StrCat("--key '", path, "' --source s '", csv, "'"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

}  // namespace
}  // namespace linkd::encode
