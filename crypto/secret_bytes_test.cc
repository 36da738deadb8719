// Tests of crypto/secret_bytes.h and crypto/crypto.h.
#include "crypto/secret_bytes.h"

#include <sstream>
#include <string>
#include <utility>

#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::crypto {
namespace {

using ::linkd::testing::IsOk;

TEST(CryptoInitTest, IsIdempotent) {
  EXPECT_THAT(Init(), IsOk());
  EXPECT_THAT(Init(), IsOk());
}

TEST(SecretBytesTest, CopiesAndCompares) {
  const SecretBytes a(std::string_view("secret-one")),
      b(std::string_view("secret-one"));
  const SecretBytes c(std::string_view("secret-two")),
      d(std::string_view("secret"));
  EXPECT_EQ(a.size(), 10u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.data()), a.size()),
            "secret-one");
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_FALSE(a == c);
  EXPECT_FALSE(a == d);
  EXPECT_TRUE(SecretBytes() == SecretBytes());
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  SecretBytes s(4);
  ASSERT_EQ(s.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(s.data()[i], 0);
  s.data()[0] = 9;
  EXPECT_EQ(s.data()[0], 9);
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a(std::string_view("key material"));
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): contract
  EXPECT_EQ(b.size(), 12u);
  SecretBytes c(std::string_view("x"));
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): contract
  EXPECT_TRUE(c == SecretBytes(std::string_view("key material")));
}

struct StringSink {
  void Append(std::string_view s) { out.append(s); }
  std::string out;
};

TEST(SecretBytesTest, PrintsRedacted) {
  const SecretBytes s(std::string_view("hunter2-hunter2"));
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "[REDACTED]");
  StringSink sink;
  AbslStringify(sink, s);
  EXPECT_EQ(sink.out, "[REDACTED]");
  EXPECT_EQ(::testing::PrintToString(s), "[REDACTED]");
}

}  // namespace
}  // namespace linkd::crypto
