// Release signing key and researcher key pairs.
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/extract/signing_key.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::extract {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;

class SodiumEnv : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(crypto::Init().ok()); }
};
const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new SodiumEnv);  // NOLINT

int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SigningKeyTest, SignsAndVerifies) {
  const SigningKey key = SigningKey::Generate();
  const std::string sig = key.Sign("message");
  EXPECT_EQ(sig.size(), kSignatureBytes);
  EXPECT_THAT(key.public_key().Verify("message", sig), IsOk());
  EXPECT_THAT(key.public_key().Verify("messagf", sig),
              StatusIs(absl::StatusCode::kDataLoss));
  std::string bad = sig;
  bad[10] ^= 1;
  EXPECT_THAT(key.public_key().Verify("message", bad),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(SigningKey::Generate().public_key().Verify("message", sig),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(SigningPublicKey().Verify("message", sig),
              StatusIs(absl::StatusCode::kDataLoss));
  std::ostringstream printed;
  printed << key;
  EXPECT_EQ(printed.str(), "[REDACTED]");
}

TEST(SigningKeyTest, HexRoundTrip) {
  const SigningKey key = SigningKey::Generate();
  auto pk = SigningPublicKey::FromHex(key.public_key().ToHex());
  ASSERT_THAT(pk, IsOk());
  EXPECT_EQ(*pk, key.public_key());
  EXPECT_THAT(SigningPublicKey::FromHex("abcd"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SigningPublicKey::FromHex(std::string(64, 'z')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SigningKeyTest, SeedIsDeterministic) {
  const std::string seed(kSigningSeedBytes, 'x');
  auto a = SigningKey::FromSeed(seed);
  auto b = SigningKey::FromSeed(seed);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->public_key(), b->public_key());
  EXPECT_THAT(SigningKey::FromSeed("short"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SigningKeyTest, FileRoundTrip) {
  linkd::testing::TempDir dir;
  const std::string path = dir.Sub("signing.key");
  auto created = SigningKey::LoadOrCreate(path);
  ASSERT_THAT(created, IsOk());
  EXPECT_EQ(Mode(path), 0600);
  EXPECT_THAT(Slurp(path), HasSubstr(created->public_key().ToHex()));
  auto loaded = SigningKey::LoadOrCreate(path);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->public_key(), created->public_key());
  EXPECT_THAT(loaded->public_key().Verify("m", created->Sign("m")), IsOk());
  EXPECT_THAT(created->WriteFile(path),
              StatusIs(absl::StatusCode::kAlreadyExists));

  // A public key that does not belong to the seed is refused.
  std::string text = Slurp(path);
  const std::string pk_hex = created->public_key().ToHex();
  text.replace(text.find(pk_hex), pk_hex.size(),
               SigningKey::Generate().public_key().ToHex());
  const std::string other = dir.Sub("other.key");
  std::ofstream(other) << text;
  chmod(other.c_str(), 0600);
  EXPECT_THAT(SigningKey::ReadFile(other),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not belong")));
  chmod(path.c_str(), 0644);
  EXPECT_THAT(SigningKey::ReadFile(path),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST(ResearcherKeyTest, GenerateWritesBothFiles) {
  linkd::testing::TempDir dir;
  const std::string pub = dir.Sub("researcher.pub");
  const std::string sec = dir.Sub("researcher.key");
  auto pk = GenerateResearcherKeyPair(pub, sec);
  ASSERT_THAT(pk, IsOk());
  EXPECT_EQ(Mode(pub), 0644);
  EXPECT_EQ(Mode(sec), 0600);
  auto read_pub = ResearcherPublicKey::ReadFile(pub);
  auto read_sec = ResearcherSecretKey::ReadFile(sec);
  ASSERT_THAT(read_pub, IsOk());
  ASSERT_THAT(read_sec, IsOk());
  EXPECT_EQ(*read_pub, *pk);
  EXPECT_EQ(read_sec->public_key(), *pk);
  std::ostringstream printed;
  printed << *read_sec;
  EXPECT_EQ(printed.str(), "[REDACTED]");
  // The public file holds no secret: only the format line and the key.
  EXPECT_THAT(Slurp(pub), HasSubstr(pk->ToHex()));
  EXPECT_EQ(Slurp(pub).find("secret-key:"), std::string::npos);

  EXPECT_THAT(GenerateResearcherKeyPair(pub, dir.Sub("new.key")),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(GenerateResearcherKeyPair(dir.Sub("new.pub"), sec),
              StatusIs(absl::StatusCode::kAlreadyExists));
  // Nothing half-written by the refused calls.
  EXPECT_EQ(Mode(dir.Sub("new.key")), -1);
  EXPECT_EQ(Mode(dir.Sub("new.pub")), -1);
  EXPECT_THAT(GenerateResearcherKeyPair(pub, pub),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ResearcherKeyTest, SecretFileChecks) {
  linkd::testing::TempDir dir;
  const std::string pub = dir.Sub("r.pub");
  const std::string sec = dir.Sub("r.key");
  ASSERT_THAT(GenerateResearcherKeyPair(pub, sec), IsOk());
  chmod(sec.c_str(), 0604);
  EXPECT_THAT(ResearcherSecretKey::ReadFile(sec),
              StatusIs(absl::StatusCode::kPermissionDenied));
  chmod(sec.c_str(), 0600);
  // A public key file is not a secret key file, and vice versa.
  EXPECT_THAT(ResearcherSecretKey::ReadFile(pub),
              StatusIs(absl::StatusCode::kPermissionDenied));  // 0644
  const std::string pub_copy = dir.Sub("r.pub.0600");
  std::ofstream(pub_copy) << Slurp(pub);
  chmod(pub_copy.c_str(), 0600);
  EXPECT_THAT(ResearcherSecretKey::ReadFile(pub_copy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a linkd-researcher-secret-key file")));
  EXPECT_THAT(ResearcherPublicKey::ReadFile(sec),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A secret key with a foreign public key is refused.
  std::string text = Slurp(sec);
  const std::string pk_hex = ResearcherPublicKey::ReadFile(pub)->ToHex();
  text.replace(text.find(pk_hex), pk_hex.size(),
               ResearcherSecretKey::Generate().public_key().ToHex());
  const std::string other = dir.Sub("other.key");
  std::ofstream(other) << text;
  chmod(other.c_str(), 0600);
  EXPECT_THAT(ResearcherSecretKey::ReadFile(other),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not belong")));
}

}  // namespace
}  // namespace linkd::extract
