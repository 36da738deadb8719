// Tests of crypto/linkage_key.h: generation and the key file contract
// (mode 0600, never overwritten, refused when readable by others, malformed
// files named by line without echoing key material).
#include "crypto/linkage_key.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::crypto {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

class LinkageKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(Init(), IsOk());
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/linkd_key_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string WriteText(const std::string& name, const std::string& text,
                        mode_t mode = 0600) {
    const std::string p = Path(name);
    std::ofstream(p) << text;
    EXPECT_EQ(chmod(p.c_str(), mode), 0);
    return p;
  }
  static std::string Read(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(LinkageKeyTest, GenerateGivesFreshKeys) {
  const LinkageKey a = LinkageKey::Generate(2), b = LinkageKey::Generate(2);
  EXPECT_EQ(a.bytes().size(), kLinkageKeyBytes);
  EXPECT_EQ(a.version(), 2u);
  EXPECT_FALSE(a.bytes() == b.bytes());
  EXPECT_EQ(LinkageKey::Generate(0).version(), 1u);
}

TEST_F(LinkageKeyTest, FromBytesValidates) {
  EXPECT_THAT(LinkageKey::FromBytes(std::string(31, 'k'), 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LinkageKey::FromBytes(std::string(32, 'k'), 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LinkageKey::FromBytes(std::string(32, 'k'), 1), IsOk());
}

TEST_F(LinkageKeyTest, WriteThenReadRoundTrips) {
  const LinkageKey key = LinkageKey::Generate(7);
  const std::string p = Path("k.key");
  ASSERT_THAT(key.WriteFile(p), IsOk());
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = Read(p);
  EXPECT_THAT(text,
              HasSubstr("\nlinkd-linkage-key: v1\nkey-version: 7\nkey: "));
  auto back = LinkageKey::ReadFile(p);
  ASSERT_THAT(back, IsOk());
  EXPECT_TRUE(back->bytes() == key.bytes());
  EXPECT_EQ(back->version(), 7u);
}

TEST_F(LinkageKeyTest, ReadsTheDocumentedFormat) {
  const std::string p = WriteText(
      "doc.key",
      std::string("# comment\n\nlinkd-linkage-key: v1\r\nkey-version: 1\n"
                  "key: ") +
          kHex + "\n");
  auto key = LinkageKey::ReadFile(p);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->bytes().data()[0], 0);
  EXPECT_EQ(key->bytes().data()[31], 0x1f);
}

TEST_F(LinkageKeyTest, NeverOverwrites) {
  const std::string p = Path("k.key");
  ASSERT_THAT(LinkageKey::Generate(1).WriteFile(p), IsOk());
  const std::string before = Read(p);
  EXPECT_THAT(LinkageKey::Generate(1).WriteFile(p),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Read(p), before);
  // Nor through a symbolic link.
  const std::string link = Path("link.key");
  ASSERT_EQ(symlink(Path("elsewhere.key").c_str(), link.c_str()), 0);
  EXPECT_THAT(LinkageKey::Generate(1).WriteFile(link),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_NE(access(Path("elsewhere.key").c_str(), F_OK), 0);
}

TEST_F(LinkageKeyTest, RefusesFilesOthersCanAccess) {
  const std::string good =
      std::string("linkd-linkage-key: v1\nkey-version: 1\nkey: ") + kHex + "\n";
  for (mode_t mode : {0640, 0604, 0660, 0606, 0644, 0610}) {
    const std::string p = WriteText("open.key", good, mode);
    EXPECT_THAT(LinkageKey::ReadFile(p),
                StatusIs(absl::StatusCode::kPermissionDenied))
        << std::oct << mode;
  }
  EXPECT_THAT(LinkageKey::ReadFile(WriteText("ok.key", good, 0400)), IsOk());
}

TEST_F(LinkageKeyTest, MissingAndNotRegular) {
  EXPECT_THAT(LinkageKey::ReadFile(Path("none.key")),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_EQ(mkdir(Path("d").c_str(), 0700), 0);
  EXPECT_THAT(LinkageKey::ReadFile(Path("d")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LinkageKeyTest, MalformedFilesNameTheLineButNotTheKey) {
  const std::string hdr = "linkd-linkage-key: v1\n";
  const std::string ver = "key-version: 1\n";
  const std::string key = std::string("key: ") + kHex + "\n";
  std::string upper(kHex);
  for (char& c : upper) c = static_cast<char>(toupper(c));
  const struct {
    std::string text;
    std::string want;
  } kCases[] = {
      {ver + key, "missing 'linkd-linkage-key: v1'"},
      {hdr + key, "missing key-version"},
      {hdr + ver, "missing key"},
      {"linkd-linkage-key: v2\n" + ver + key, "line 1: unsupported"},
      {hdr + "key-version: 0\n" + key, "line 2: key-version"},
      {hdr + "key-version: 1x\n" + key, "line 2: key-version"},
      {hdr + "key-version: 99999999999\n" + key, "line 2: key-version"},
      {hdr + ver + "key: " + upper + "\n", "line 3: key must be"},
      {hdr + ver + "key: " + std::string(kHex).substr(2) + "\n",
       "line 3: key must be"},
      {hdr + ver + key + key, "line 4: duplicate entry"},
      {hdr + ver + "colour: blue\n" + key, "line 3: unknown entry"},
      {hdr + ver + std::string("key=") + kHex + "\n", "line 3: expected"},
  };
  int i = 0;
  for (const auto& c : kCases) {
    const std::string p =
        WriteText("bad" + std::to_string(i++) + ".key", c.text);
    auto r = LinkageKey::ReadFile(p);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr(c.want), Not(HasSubstr("0a0b0c")),
                                  Not(HasSubstr("0A0B0C")))))
        << c.text;
  }
}

TEST_F(LinkageKeyTest, RefusesHugeFiles) {
  const std::string p = WriteText("big.key", std::string(10000, '#'));
  EXPECT_THAT(
      LinkageKey::ReadFile(p),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too large")));
}

}  // namespace
}  // namespace linkd::crypto
