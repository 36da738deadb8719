// Tests of crypto/normalize.h: each rule, each refusal reason, and that no
// error message ever contains the value it refused. Synthetic values only.
#include "crypto/normalize.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::crypto {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::FieldsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr Date kLatest{2025, 8, 31};

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Expects INVALID_ARGUMENT with exactly `reason`, and that the message does
// not contain the input.
template <typename T>
void ExpectRefused(const absl::StatusOr<T>& r, std::string_view input,
                   std::string_view reason,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  ASSERT_THAT(r, StatusIs(code)) << "input: " << input;
  EXPECT_EQ(Msg(r.status()), reason) << "input: " << input;
  if (input.size() >= 2) {
    EXPECT_THAT(Msg(r.status()), Not(HasSubstr(std::string(input))));
  }
}

// ---------------------------------------------------------------- names ---

TEST(NormalizeNameTest, UpperCasesAscii) {
  EXPECT_THAT(NormalizeName("Olivia"), IsOkAndHolds(ElementsAre("OLIVIA")));
  EXPECT_THAT(NormalizeName("  jack  "), IsOkAndHolds(ElementsAre("JACK")));
}

TEST(NormalizeNameTest, FoldsLatinLetters) {
  EXPECT_THAT(NormalizeName("José"), IsOkAndHolds(ElementsAre("JOSE")));
  EXPECT_THAT(NormalizeName("Zoë"), IsOkAndHolds(ElementsAre("ZOE")));
  EXPECT_THAT(NormalizeName("Strauß"), IsOkAndHolds(ElementsAre("STRAUSS")));
  EXPECT_THAT(NormalizeName("Ærø"), IsOkAndHolds(ElementsAre("AERO")));
  EXPECT_THAT(NormalizeName("Søren"), IsOkAndHolds(ElementsAre("SOREN")));
  EXPECT_THAT(NormalizeName("Łukasz"), IsOkAndHolds(ElementsAre("LUKASZ")));
  EXPECT_THAT(NormalizeName("Şahin"), IsOkAndHolds(ElementsAre("SAHIN")));
  EXPECT_THAT(NormalizeName("Œdipe"), IsOkAndHolds(ElementsAre("OEDIPE")));
  EXPECT_THAT(NormalizeName("Þóra"), IsOkAndHolds(ElementsAre("THORA")));
  EXPECT_THAT(NormalizeName("Đorđe"), IsOkAndHolds(ElementsAre("DORDE")));
  EXPECT_THAT(NormalizeName("Yıldız"), IsOkAndHolds(ElementsAre("YILDIZ")));
  EXPECT_THAT(NormalizeName("Ștefan"), IsOkAndHolds(ElementsAre("STEFAN")));
  EXPECT_THAT(NormalizeName("Nguyễn"), IsOkAndHolds(ElementsAre("NGUYEN")));
  EXPECT_THAT(NormalizeName("Ŵyn"), IsOkAndHolds(ElementsAre("WYN")));
  EXPECT_THAT(NormalizeName("Ẃyn"), IsOkAndHolds(ElementsAre("WYN")));
}

TEST(NormalizeNameTest, DecomposedAccentsEqualPrecomposed) {
  // "e" + U+0301 COMBINING ACUTE ACCENT.
  EXPECT_THAT(NormalizeName("Jose\xCC\x81"), IsOkAndHolds(ElementsAre("JOSE")));
  EXPECT_EQ(*NormalizeName("Ade\xCC\x81\x62\x61\xCC\x81yo"),
            *NormalizeName("Adébáyọ̀"));
}

TEST(NormalizeNameTest, TransliteratesGreekAndCyrillic) {
  EXPECT_THAT(NormalizeName("Алексей"), IsOkAndHolds(ElementsAre("ALEKSEY")));
  EXPECT_THAT(NormalizeName("Щербакова"),
              IsOkAndHolds(ElementsAre("SHCHERBAKOVA")));
  EXPECT_THAT(NormalizeName("Юлія"), IsOkAndHolds(ElementsAre("YULIYA")));
  EXPECT_THAT(NormalizeName("Ελένη"), IsOkAndHolds(ElementsAre("ELENI")));
  EXPECT_THAT(NormalizeName("Χρήστος"), IsOkAndHolds(ElementsAre("CHRISTOS")));
}

TEST(NormalizeNameTest, PunctuationRemovedWithoutSplitting) {
  EXPECT_THAT(NormalizeName("O'Brien"), IsOkAndHolds(ElementsAre("OBRIEN")));
  EXPECT_THAT(NormalizeName("O\xE2\x80\x99"
                            "Brien"),  // right single quote
              IsOkAndHolds(ElementsAre("OBRIEN")));
  EXPECT_THAT(NormalizeName("D`Arcy"), IsOkAndHolds(ElementsAre("DARCY")));
  EXPECT_THAT(NormalizeName("(Jo)"), IsOkAndHolds(ElementsAre("JO")));
}

TEST(NormalizeNameTest, SeparatorsSplitParts) {
  EXPECT_THAT(NormalizeName("Smith-Jones"),
              IsOkAndHolds(ElementsAre("SMITH", "JONES")));
  EXPECT_THAT(NormalizeName("van der  Berg"),
              IsOkAndHolds(ElementsAre("VAN", "DER", "BERG")));
  EXPECT_THAT(NormalizeName("Anne,Marie"),
              IsOkAndHolds(ElementsAre("ANNE", "MARIE")));
  EXPECT_THAT(NormalizeName("J.R."), IsOkAndHolds(ElementsAre("J", "R")));
  EXPECT_THAT(NormalizeName("Smith\xE2\x80\x93Jones"),  // en dash
              IsOkAndHolds(ElementsAre("SMITH", "JONES")));
  EXPECT_THAT(NormalizeName("Mary\xC2\xA0Kate"),  // no-break space
              IsOkAndHolds(ElementsAre("MARY", "KATE")));
}

TEST(NormalizeNameTest, StripsTitlesAndSuffixes) {
  EXPECT_THAT(NormalizeName("Mr. Jack"), IsOkAndHolds(ElementsAre("JACK")));
  EXPECT_THAT(NormalizeName("Dr Prof Ngozi Adebayo"),
              IsOkAndHolds(ElementsAre("NGOZI", "ADEBAYO")));
  EXPECT_THAT(NormalizeName("Mx Sam"), IsOkAndHolds(ElementsAre("SAM")));
  EXPECT_THAT(NormalizeName("Master Tom"), IsOkAndHolds(ElementsAre("TOM")));
  EXPECT_THAT(NormalizeName("Smith Jnr"), IsOkAndHolds(ElementsAre("SMITH")));
  EXPECT_THAT(NormalizeName("Henry III"), IsOkAndHolds(ElementsAre("HENRY")));
  EXPECT_THAT(NormalizeName("Mrs Jones Snr"),
              IsOkAndHolds(ElementsAre("JONES")));
}

TEST(NormalizeNameTest, KeepsATitleWordThatIsTheWholeName) {
  EXPECT_THAT(NormalizeName("Lord"), IsOkAndHolds(ElementsAre("LORD")));
  EXPECT_THAT(NormalizeName("Lady Lord"), IsOkAndHolds(ElementsAre("LORD")));
  EXPECT_THAT(NormalizeName("Sr"), IsOkAndHolds(ElementsAre("SR")));
}

TEST(NormalizeNameTest, RefusesDigits) {
  ExpectRefused(NormalizeName("Emily2"), "Emily2", "contains digits");
  ExpectRefused(NormalizeName("Twin 1"), "Twin 1", "contains digits");
}

TEST(NormalizeNameTest, RefusesInvalidUtf8) {
  ExpectRefused(NormalizeName("Jos\xE9"), "Jos\xE9",
                "invalid UTF-8");  // Latin-1
  ExpectRefused(NormalizeName("\xC0\xAF"), "\xC0\xAF",
                "invalid UTF-8");  // overlong
  ExpectRefused(NormalizeName("\xED\xA0\x80"), "\xED\xA0\x80",
                "invalid UTF-8");  // surrogate
  ExpectRefused(NormalizeName("Ann\xE2\x80"), "Ann\xE2\x80", "invalid UTF-8");
}

TEST(NormalizeNameTest, RefusesUnsupportedScripts) {
  ExpectRefused(NormalizeName("李"), "李", "unsupported script");
  ExpectRefused(NormalizeName("محمد"), "محمد", "unsupported script");
  ExpectRefused(NormalizeName("Ann 😀"), "Ann 😀", "unsupported script");
}

TEST(NormalizeNameTest, RefusesControlCharacters) {
  ExpectRefused(NormalizeName(std::string("An\x01n")), "An\x01n",
                "control character");
}

TEST(NormalizeNameTest, RefusesNoLetters) {
  ExpectRefused(NormalizeName("-"), "-", "no letters");
  ExpectRefused(NormalizeName("' . '"), "' . '", "no letters");
}

TEST(NormalizeNameTest, RefusesTooLong) {
  const std::string long_name(kMaxNameBytes + 1, 'A');
  ExpectRefused(NormalizeName(long_name), long_name, "too long");
  EXPECT_THAT(NormalizeName(std::string(kMaxNameBytes, 'A')), IsOk());
}

TEST(NormalizeNameTest, RefusesPlaceholders) {
  for (const char* p : {"Unknown", "NOT KNOWN", "not-known", "XXX", "xx",
                        "Baby", "Baby Girl", "Infant", "None", "NK", "TBC",
                        "Test", "Mr Unknown", "Unborn", "UNBORN BABY"}) {
    ExpectRefused(NormalizeName(p), p, kPlaceholderReason);
  }
  // A placeholder word inside a longer name is kept.
  EXPECT_THAT(NormalizeName("Test Smith"),
              IsOkAndHolds(ElementsAre("TEST", "SMITH")));
  EXPECT_THAT(NormalizeName("X"), IsOkAndHolds(ElementsAre("X")));
}

// ---------------------------------------------------------------- dates ---

MATCHER_P3(IsDate, y, m, d, "") {
  return arg.ok() && arg->year == y && arg->month == m && arg->day == d;
}

TEST(DateFormatTest, AutoAcceptsIsoSlashAndCompact) {
  const DateFormat f = DateFormat::Auto();
  EXPECT_THAT(f.Parse("2014-03-07"), IsDate(2014, 3, 7));
  EXPECT_THAT(f.Parse("2014-03-07T00:00:00Z"), IsDate(2014, 3, 7));
  EXPECT_THAT(f.Parse("07/03/2014"), IsDate(2014, 3, 7));
  EXPECT_THAT(f.Parse("7/3/2014"), IsDate(2014, 3, 7));
  EXPECT_THAT(f.Parse("20140307"), IsDate(2014, 3, 7));
  EXPECT_THAT(f.Parse(" 2014-03-07 "), IsDate(2014, 3, 7));
}

TEST(DateFormatTest, AutoRefusesOtherShapes) {
  const DateFormat f = DateFormat::Auto();
  for (const char* s :
       {"2014-3-7", "07-03-2014", "07/03/14", "2014/03/07", "2014-03-07 10:00",
        "7 March 2014", "", "201403071", "07/03/2014x", "//2014"}) {
    ExpectRefused(f.Parse(s), s, "not a date format");
  }
}

TEST(DateFormatTest, ChecksTheCalendar) {
  const DateFormat f = DateFormat::Auto();
  EXPECT_THAT(f.Parse("2016-02-29"), IsDate(2016, 2, 29));
  EXPECT_THAT(f.Parse("2000-02-29"), IsDate(2000, 2, 29));
  for (const char* s : {"2015-02-29", "1900-02-29", "2014-04-31", "2014-13-01",
                        "2014-00-10", "2014-01-00", "31/06/2014", "20140230"}) {
    ExpectRefused(f.Parse(s), s, "not a calendar date");
  }
}

TEST(DateFormatTest, ExplicitPatterns) {
  auto us = DateFormat::FromPattern("MM/DD/YYYY");
  ASSERT_THAT(us, IsOk());
  EXPECT_THAT(us->Parse("03/07/2014"), IsDate(2014, 3, 7));
  EXPECT_THAT(us->Parse("3/7/2014"), IsDate(2014, 3, 7));
  auto dotted = DateFormat::FromPattern("YYYY.MM.DD");
  ASSERT_THAT(dotted, IsOk());
  EXPECT_THAT(dotted->Parse("2014.03.07"), IsDate(2014, 3, 7));
  EXPECT_THAT(dotted->Parse("2014.3.7"), IsDate(2014, 3, 7));
  ExpectRefused(dotted->Parse("2014-03-07"), "2014-03-07", "not a date format");
  auto compact = DateFormat::FromPattern("DDMMYYYY");
  ASSERT_THAT(compact, IsOk());
  EXPECT_THAT(compact->Parse("07032014"), IsDate(2014, 3, 7));
  ExpectRefused(compact->Parse("7032014"), "7032014", "not a date format");
  auto dashed = DateFormat::FromPattern("DD-MM-YYYY");
  ASSERT_THAT(dashed, IsOk());
  ExpectRefused(dashed->Parse("31-04-2014"), "31-04-2014",
                "not a calendar date");
}

TEST(DateFormatTest, RejectsBadPatterns) {
  EXPECT_THAT(DateFormat::FromPattern("DD/MM"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DateFormat::FromPattern("DD/MM/YYYY/DD"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DateFormat::FromPattern("DD/MM/YY"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DateFormat::FromPattern("D/M/YYYY"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NormalizeDateOfBirthTest, RangeAndPlaceholders) {
  const DateFormat f = DateFormat::Auto();
  EXPECT_THAT(NormalizeDateOfBirth("2025-08-31", f, kLatest),
              IsDate(2025, 8, 31));
  EXPECT_THAT(NormalizeDateOfBirth("1900-01-02", f, kLatest),
              IsDate(1900, 1, 2));
  ExpectRefused(NormalizeDateOfBirth("2025-09-01", f, kLatest), "2025-09-01",
                "date in the future");
  ExpectRefused(NormalizeDateOfBirth("1899-12-31", f, kLatest), "1899-12-31",
                "date before 1900");
  for (const char* s :
       {"1900-01-01", "01/01/1900", "1901-01-01", "9999-12-31", "31/12/9999"}) {
    ExpectRefused(NormalizeDateOfBirth(s, f, kLatest), s, kPlaceholderReason);
  }
  ExpectRefused(NormalizeDateOfBirth("2015-02-29", f, kLatest), "2015-02-29",
                "not a calendar date");
}

// ------------------------------------------------------------------ sex ---

TEST(NormalizeSexTest, Codes) {
  for (const char* s : {"M", "m", "Male", "1", " M "}) {
    EXPECT_THAT(NormalizeSex(s), IsOkAndHolds(Eq('M'))) << s;
  }
  for (const char* s : {"F", "female", "2"}) {
    EXPECT_THAT(NormalizeSex(s), IsOkAndHolds(Eq('F'))) << s;
  }
  EXPECT_THAT(NormalizeSex("I"), IsOkAndHolds(Eq('I')));
  EXPECT_THAT(NormalizeSex("Indeterminate"), IsOkAndHolds(Eq('I')));
  for (const char* s : {"0", "9", "U", "unknown", "Not Known"}) {
    ExpectRefused(NormalizeSex(s), s, kUnknownReason,
                  absl::StatusCode::kNotFound);
  }
  for (const char* s : {"X", "3", "boy", "MF"}) {
    ExpectRefused(NormalizeSex(s), s, "unrecognised code");
  }
}

// ------------------------------------------------------------- postcode ---

TEST(NormalizePostcodeTest, AllFormats) {
  const struct {
    const char* in;
    const char* unit;
    const char* sector;
    const char* district;
  } kCases[] = {
      {"M1 1AE", "M1 1AE", "M1 1", "M1"},          // A9 9AA
      {"B33 8TH", "B33 8TH", "B33 8", "B33"},      // A99 9AA
      {"W1A 0AX", "W1A 0AX", "W1A 0", "W1A"},      // A9A 9AA
      {"CR2 6XH", "CR2 6XH", "CR2 6", "CR2"},      // AA9 9AA
      {"DN55 1PT", "DN55 1PT", "DN55 1", "DN55"},  // AA99 9AA
      {"EC1A 1BB", "EC1A 1BB", "EC1A 1", "EC1A"},  // AA9A 9AA
      {"GIR 0AA", "GIR 0AA", "GIR 0", "GIR"},
      {"sw1a1aa", "SW1A 1AA", "SW1A 1", "SW1A"},
      {"  s w1a 1a a ", "SW1A 1AA", "SW1A 1", "SW1A"},
  };
  for (const auto& c : kCases) {
    auto pc = NormalizePostcode(c.in);
    ASSERT_THAT(pc, IsOk()) << c.in;
    EXPECT_THAT(*pc, FieldsAre(c.unit, c.sector, c.district)) << c.in;
  }
}

TEST(NormalizePostcodeTest, Refusals) {
  ExpectRefused(NormalizePostcode("ZZ99 3VZ"), "ZZ99 3VZ", kPlaceholderReason);
  ExpectRefused(NormalizePostcode("zz993wz"), "zz993wz", kPlaceholderReason);
  ExpectRefused(NormalizePostcode("SW1"), "SW1", "wrong length");
  ExpectRefused(NormalizePostcode("SW1A 1AAA"), "SW1A 1AAA", "wrong length");
  ExpectRefused(NormalizePostcode("SW1A-1AA"), "SW1A-1AA", "wrong length");
  ExpectRefused(NormalizePostcode("SW1A!AA"), "SW1A!AA", "invalid character");
  ExpectRefused(NormalizePostcode("SW\xC3\x81 1AA"), "SW\xC3\x81 1AA",
                "invalid character");
  ExpectRefused(NormalizePostcode("1W1A 1AA"), "1W1A 1AA",
                "not a postcode format");
  ExpectRefused(NormalizePostcode("SW1A AAA"), "SW1A AAA",
                "not a postcode format");
  ExpectRefused(NormalizePostcode("SWA1 1AA"), "SWA1 1AA",
                "not a postcode format");
  ExpectRefused(NormalizePostcode("Q1 1AA"), "Q1 1AA",
                "letter not allowed in position");
  ExpectRefused(NormalizePostcode("AZ1 1AA"), "AZ1 1AA",
                "letter not allowed in position");
  ExpectRefused(NormalizePostcode("M1 1AC"), "M1 1AC",
                "letter not allowed in position");
  ExpectRefused(NormalizePostcode("W1Z 1AA"), "W1Z 1AA",
                "letter not allowed in position");
  ExpectRefused(NormalizePostcode("EC1C 1AA"), "EC1C 1AA",
                "letter not allowed in position");
}

// ------------------------------------------------------------------ UPN ---

TEST(NormalizeUpnTest, ValidPermanentAndTemporary) {
  // Check letter worked by hand in ENCODING.md.
  EXPECT_THAT(NormalizeUpn("B801200005001"), IsOkAndHolds(Eq("B801200005001")));
  EXPECT_THAT(NormalizeUpn("g999 1234 14001"),
              IsOkAndHolds(Eq("G999123414001")));
  EXPECT_THAT(NormalizeUpn("F99912341401A"), IsOkAndHolds(Eq("F99912341401A")));
  EXPECT_THAT(NormalizeUpn("B99912341511Q"), IsOkAndHolds(Eq("B99912341511Q")));
}

TEST(NormalizeUpnTest, Refusals) {
  ExpectRefused(NormalizeUpn("A801200005001"), "A801200005001",
                "check letter mismatch");
  ExpectRefused(NormalizeUpn("B801200005002"), "B801200005002",
                "check letter mismatch");
  // Swapping two digits changes the weighted sum.
  ExpectRefused(NormalizeUpn("B802100005001"), "B802100005001",
                "check letter mismatch");
  ExpectRefused(NormalizeUpn("B80120000500"), "B80120000500", "wrong length");
  ExpectRefused(NormalizeUpn("B8012000050011"), "B8012000050011",
                "wrong length");
  ExpectRefused(NormalizeUpn("B80120000A001"), "B80120000A001",
                "invalid character");
  ExpectRefused(NormalizeUpn("X99912341401I"), "X99912341401I",
                "invalid character");
  ExpectRefused(NormalizeUpn("I801200005001"), "I801200005001",
                "invalid check letter");
  ExpectRefused(NormalizeUpn("1801200005001"), "1801200005001",
                "invalid check letter");
}

// ----------------------------------------------------------- NHS number ---

TEST(NormalizeNhsNumberTest, Valid) {
  EXPECT_THAT(NormalizeNhsNumber("9434765919"), IsOkAndHolds(Eq("9434765919")));
  EXPECT_THAT(NormalizeNhsNumber("943 476 5919"),
              IsOkAndHolds(Eq("9434765919")));
  EXPECT_THAT(NormalizeNhsNumber("943-476-5919"),
              IsOkAndHolds(Eq("9434765919")));
  // Remainder 0 gives check digit 0 (11 -> 0).
  EXPECT_THAT(NormalizeNhsNumber("9991000100"), IsOkAndHolds(Eq("9991000100")));
}

TEST(NormalizeNhsNumberTest, Refusals) {
  ExpectRefused(NormalizeNhsNumber("9434765918"), "9434765918",
                "check digit mismatch");
  ExpectRefused(NormalizeNhsNumber("4434765919"), "4434765919",
                "check digit mismatch");
  // 999100002x: the weighted sum leaves check value 10, so no digit fits.
  ExpectRefused(NormalizeNhsNumber("9991000020"), "9991000020",
                "no valid check digit");
  ExpectRefused(NormalizeNhsNumber("943476591"), "943476591", "wrong length");
  ExpectRefused(NormalizeNhsNumber("94347659190"), "94347659190",
                "wrong length");
  ExpectRefused(NormalizeNhsNumber("943476591X"), "943476591X",
                "invalid character");
  for (const char* s : {"0000000000", "1111111111", "9999999999"}) {
    ExpectRefused(NormalizeNhsNumber(s), s, kPlaceholderReason);
  }
}

}  // namespace
}  // namespace linkd::crypto
