#include "policies/engine/policy_hash.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::policy {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;

std::string Hex(std::vector<PolicySourceFile> files) {
  auto h = ComputePolicyHash(std::move(files));
  EXPECT_THAT(h, IsOk());
  return h.ok() ? HexEncode(*h) : "";
}

// Known answers computed independently with the Python snippet in
// policies/README.md.
TEST(PolicyHashTest, KnownAnswers) {
  EXPECT_EQ(Hex({{"b.textproto", "world"}, {"a/x.textproto", "hello"}}),
            "2a1a6465f218e8e1c267f99c5fdffd35747e882efe75bde6c1c5db80f82a61a3");
  EXPECT_EQ(Hex({}),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(PolicyHashTest, OrderOfInputDoesNotMatter) {
  EXPECT_EQ(Hex({{"a", "1"}, {"b", "2"}, {"c", "3"}}),
            Hex({{"c", "3"}, {"a", "1"}, {"b", "2"}}));
}

TEST(PolicyHashTest, NamesAndBoundariesMatter) {
  const std::string base = Hex({{"a", "bc"}});
  EXPECT_NE(base, Hex({{"ab", "c"}}));                         // boundary moved
  EXPECT_NE(base, Hex({{"a", "bc "}}));                        // one byte more
  EXPECT_NE(base, Hex({{"b", "bc"}}));                         // renamed
  EXPECT_NE(Hex({{"a", "x"}, {"b", ""}}), Hex({{"a", "x"}}));  // empty file
}

TEST(PolicyHashTest, DuplicateNamesAreRefused) {
  EXPECT_THAT(ComputePolicyHash({{"a", "1"}, {"a", "2"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PolicyHashTest, HexEncode) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
}

}  // namespace
}  // namespace linkd::policy
