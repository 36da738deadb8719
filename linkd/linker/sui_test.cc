#include "linkd/linker/sui.h"

#include <sodium.h>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::linker {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

class SuiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(SuiTest, PrintsGroupedAndParsesBack) {
  for (int i = 0; i < 1000; ++i) {
    const Sui s = Sui::Random();
    const std::string text = s.ToString();
    EXPECT_THAT(text,
                MatchesRegex("[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]"));
    auto parsed = Sui::Parse(text);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, s);
  }
}

TEST_F(SuiTest, ParsingForgivesCaseHyphensAndCrockfordLookalikes) {
  auto s = Sui::FromBits(0x123456789ABCDEF);
  ASSERT_THAT(s, IsOk());
  std::string text = s->ToString();
  std::string lower;
  for (char c : text) {
    if (c != '-') lower.push_back(static_cast<char>(std::tolower(c)));
  }
  EXPECT_THAT(Sui::Parse(lower), IsOk());
  // A '1' may be read as 'I' or 'L', a '0' as 'O'.
  auto with_ones = Sui::FromBits(0x0210421084210421);  // many 1s and 0s
  ASSERT_THAT(with_ones, IsOk());
  std::string t = with_ones->ToString();
  for (char& c : t) {
    if (c == '1') c = 'L';
    if (c == '0') c = 'O';
  }
  EXPECT_THAT(Sui::Parse(t), IsOk());
}

TEST_F(SuiTest, CheckCharacterCatchesEverySingleSubstitution) {
  for (int n = 0; n < 50; ++n) {
    const std::string text = Sui::Random().ToString();
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '-') continue;
      for (const char* a = kAlphabet; *a; ++a) {
        if (*a == text[i]) continue;
        std::string typo = text;
        typo[i] = *a;
        EXPECT_THAT(Sui::Parse(typo),
                    StatusIs(absl::StatusCode::kInvalidArgument,
                             HasSubstr("check character")))
            << typo;
      }
    }
  }
}

TEST_F(SuiTest, RefusesMalformedText) {
  EXPECT_THAT(Sui::Parse("ABC"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("13 characters")));
  EXPECT_THAT(Sui::Parse("7K2M-9QXT-4HB3-R-X"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      Sui::Parse("7K2M-9QXT-4HB3-U"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("base-32")));
  EXPECT_THAT(Sui::FromBits(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Sui::FromBits(uint64_t{1} << 60),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SuiTest, RandomSuisDoNotRepeat) {
  absl::flat_hash_set<Sui> seen;
  for (int i = 0; i < 100000; ++i) {
    EXPECT_TRUE(seen.insert(Sui::Random()).second);
  }
}

}  // namespace
}  // namespace linkd::linker
