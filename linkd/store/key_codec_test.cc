#include "linkd/store/key_codec.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::store {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::Eq;
using ::testing::HasSubstr;

TEST(KeyBuilderTest, LayoutIsVersionThenBigEndianThenLengthPrefixed) {
  std::string key =
      KeyBuilder().AddU8(7).AddU32(0x01020304).AddString("ab").key();
  EXPECT_EQ(key, std::string("\x01\x07\x01\x02\x03\x04\x00\x00\x00\x02"
                             "ab",
                             12));
  EXPECT_EQ(KeyBuilder().key(), std::string(1, char{kKeyFormatVersion}));
}

TEST(KeyBuilderTest, LengthPrefixSeparatesComponents) {
  EXPECT_NE(KeyBuilder().AddString("a").AddString("bc").key(),
            KeyBuilder().AddString("ab").AddString("c").key());
  EXPECT_NE(KeyBuilder().AddString("").AddString("a").key(),
            KeyBuilder().AddString("a").AddString("").key());
}

TEST(KeyBuilderTest, LeadingComponentsArePrefix) {
  const std::string prefix = KeyBuilder().AddString("school").key();
  const std::string full =
      KeyBuilder().AddString("school").AddString("r1").key();
  EXPECT_EQ(full.compare(0, prefix.size(), prefix), 0);
  // A longer source with the same leading bytes is not under the prefix.
  const std::string other =
      KeyBuilder().AddString("schools").AddString("r1").key();
  EXPECT_NE(other.compare(0, prefix.size(), prefix), 0);
}

TEST(KeyReaderTest, RoundTripsEveryType) {
  const std::string bytes("\x00\xff\x01", 3);
  const std::string key = KeyBuilder()
                              .AddU8(255)
                              .AddU32(0xdeadbeef)
                              .AddU64(std::numeric_limits<uint64_t>::max())
                              .AddI64(-42)
                              .AddI64(std::numeric_limits<int64_t>::min())
                              .AddString(bytes)
                              .AddString("")
                              .key();
  absl::StatusOr<KeyReader> r = KeyReader::Create(key);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->ReadU8(), IsOkAndHolds(Eq(255)));
  EXPECT_THAT(r->ReadU32(), IsOkAndHolds(Eq(0xdeadbeefu)));
  EXPECT_THAT(r->ReadU64(),
              IsOkAndHolds(Eq(std::numeric_limits<uint64_t>::max())));
  EXPECT_THAT(r->ReadI64(), IsOkAndHolds(Eq(-42)));
  EXPECT_THAT(r->ReadI64(),
              IsOkAndHolds(Eq(std::numeric_limits<int64_t>::min())));
  EXPECT_THAT(r->ReadString(), IsOkAndHolds(Eq(bytes)));
  EXPECT_THAT(r->ReadString(), IsOkAndHolds(Eq("")));
  EXPECT_TRUE(r->done());
  EXPECT_THAT(r->ExpectEnd(), IsOk());
}

TEST(KeyReaderTest, RejectsEmptyAndWrongVersion) {
  EXPECT_THAT(KeyReader::Create(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  std::string key = KeyBuilder().AddU32(1).key();
  key[0] = 2;
  EXPECT_THAT(KeyReader::Create(key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("format version 2")));
}

TEST(KeyReaderTest, TruncatedKeysFailClearlyAndLeaveReaderUnchanged) {
  const std::string key = KeyBuilder().AddU32(9).AddString("record").key();
  // Every proper prefix after the version byte is malformed somewhere.
  for (size_t len = 1; len < key.size(); ++len) {
    const std::string prefix = key.substr(0, len);  // the reader views it
    absl::StatusOr<KeyReader> r = KeyReader::Create(prefix);
    ASSERT_THAT(r, IsOk());
    absl::StatusOr<uint32_t> n = r->ReadU32();
    if (!n.ok()) {
      EXPECT_THAT(n, StatusIs(absl::StatusCode::kInvalidArgument,
                              HasSubstr("truncated reading u32")));
      EXPECT_EQ(r->remaining(), len - 1);
      continue;
    }
    const size_t before = r->remaining();
    EXPECT_THAT(r->ReadString(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("truncated reading string")));
    EXPECT_EQ(r->remaining(), before);
  }
}

TEST(KeyReaderTest, ExpectEndReportsTrailingBytes) {
  const std::string key = KeyBuilder().AddU8(1).AddU8(2).key();
  absl::StatusOr<KeyReader> r = KeyReader::Create(key);
  ASSERT_THAT(r, IsOk());
  ASSERT_THAT(r->ReadU8(), IsOk());
  EXPECT_THAT(r->ExpectEnd(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("1 unexpected trailing")));
}

TEST(KeyReaderTest, ErrorsNeverEchoKeyBytes) {
  // A string whose declared length exceeds the key.
  std::string key = KeyBuilder().AddString("SECRETVALUE").key();
  key.resize(key.size() - 1);
  absl::StatusOr<KeyReader> r = KeyReader::Create(key);
  ASSERT_THAT(r, IsOk());
  absl::StatusOr<std::string_view> s = r->ReadString();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              ::testing::Not(HasSubstr("SECRET")));
}

// Tuple order the codec promises: integers numerically, strings by
// (length, bytes).
struct Tuple {
  uint8_t a;
  int64_t b;
  std::string c;
  uint64_t d;
  std::string e;

  std::string Encode() const {
    return KeyBuilder()
        .AddU8(a)
        .AddI64(b)
        .AddString(c)
        .AddU64(d)
        .AddString(e)
        .key();
  }
  auto Rank() const {
    return std::make_tuple(a, b, c.size(), c, d, e.size(), e);
  }
};

TEST(KeyCodecPropertyTest, EncodedOrderEqualsTupleOrderAndRoundTrips) {
  std::mt19937_64 rng(20240611);
  auto small_string = [&] {
    std::string s(rng() % 4, '\0');
    // Bytes from a tiny alphabet incl. 0x00 and 0xff, so ties and edge
    // bytes are common.
    static constexpr char kAlphabet[] = {'\x00', 'a', 'b', '\xff'};
    for (char& ch : s) ch = kAlphabet[rng() % 4];
    return s;
  };
  auto some_i64 = [&]() -> int64_t {
    switch (rng() % 4) {
      case 0:
        return static_cast<int64_t>(rng());  // any value, either sign
      case 1:
        return static_cast<int64_t>(rng() % 5) - 2;  // around zero
      case 2:
        return std::numeric_limits<int64_t>::min() +
               static_cast<int64_t>(rng() % 2);
      default:
        return std::numeric_limits<int64_t>::max() -
               static_cast<int64_t>(rng() % 2);
    }
  };
  std::vector<Tuple> tuples;
  for (int i = 0; i < 3000; ++i) {
    tuples.push_back(Tuple{static_cast<uint8_t>(rng() % 3), some_i64(),
                           small_string(), rng() % 2 ? rng() : rng() % 3,
                           small_string()});
  }
  for (size_t i = 0; i + 1 < tuples.size(); ++i) {
    const Tuple& x = tuples[i];
    const Tuple& y = tuples[i + 1];
    const std::string ex = x.Encode();
    const std::string ey = y.Encode();
    EXPECT_EQ(ex < ey, x.Rank() < y.Rank()) << "pair " << i;
    EXPECT_EQ(ex == ey, x.Rank() == y.Rank()) << "pair " << i;
  }
  // Sorting encodings and sorting tuples agree.
  std::vector<Tuple> by_tuple = tuples;
  std::sort(by_tuple.begin(), by_tuple.end(),
            [](const Tuple& x, const Tuple& y) { return x.Rank() < y.Rank(); });
  std::vector<std::string> encoded;
  for (const Tuple& t : tuples) encoded.push_back(t.Encode());
  std::sort(encoded.begin(), encoded.end());
  for (size_t i = 0; i < tuples.size(); ++i) {
    ASSERT_EQ(encoded[i], by_tuple[i].Encode()) << i;
  }
  // Round trip.
  for (const Tuple& t : tuples) {
    const std::string key = t.Encode();
    absl::StatusOr<KeyReader> r = KeyReader::Create(key);
    ASSERT_THAT(r, IsOk());
    EXPECT_THAT(r->ReadU8(), IsOkAndHolds(Eq(t.a)));
    EXPECT_THAT(r->ReadI64(), IsOkAndHolds(Eq(t.b)));
    EXPECT_THAT(r->ReadString(), IsOkAndHolds(Eq(t.c)));
    EXPECT_THAT(r->ReadU64(), IsOkAndHolds(Eq(t.d)));
    EXPECT_THAT(r->ReadString(), IsOkAndHolds(Eq(t.e)));
    EXPECT_THAT(r->ExpectEnd(), IsOk());
  }
}

TEST(PrefixSuccessorTest, IsTightUpperBound) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(PrefixSuccessor(""), "");
  const std::string p = KeyBuilder().AddString("src").key();
  const std::string inside = KeyBuilder().AddString("src").AddU64(~0ull).key();
  EXPECT_LT(inside, PrefixSuccessor(p));
  EXPECT_GE(KeyBuilder().AddString("srd").key(), PrefixSuccessor(p));
}

}  // namespace
}  // namespace linkd::store
