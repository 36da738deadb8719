#include "linkd/extract/pseudonym.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::extract {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class SodiumEnv : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(crypto::Init().ok()); }
};
const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new SodiumEnv);  // NOLINT

ReleaseKey FixedKey(uint8_t first = 0) {
  std::string bytes(kReleaseKeyBytes, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(first + i);
  }
  return *ReleaseKey::FromBytes(bytes);
}

std::string P(const ProjectPseudonymizer& p, uint64_t sui) {
  return *p.Pseudonym(sui);
}

TEST(PseudonymTest, StableWithinAProject) {
  const ReleaseKey key = ReleaseKey::Generate();
  auto a1 = key.ForProject("P2025-001");
  auto a2 = key.ForProject("P2025-001");
  ASSERT_THAT(a1, IsOk());
  ASSERT_THAT(a2, IsOk());
  for (uint64_t sui = 1; sui < 200; ++sui) {
    const std::string p = P(*a1, sui);
    EXPECT_EQ(p, P(*a1, sui));
    EXPECT_EQ(p, P(*a2, sui));
    EXPECT_EQ(p.size(), kPseudonymChars);
    EXPECT_THAT(CheckPseudonym(p), IsOk());
  }
  EXPECT_EQ(a1->project_id(), "P2025-001");
}

TEST(PseudonymTest, UnrelatedAcrossProjects) {
  const ReleaseKey key = ReleaseKey::Generate();
  const auto a = *key.ForProject("P2025-001");
  const auto b = *key.ForProject("P2025-002");
  const auto c = *key.ForProject("p2025-001");  // byte for byte
  absl::flat_hash_set<std::string> in_a, in_b, in_c;
  constexpr int kN = 5000;
  for (uint64_t sui = 1; sui <= kN; ++sui) {
    in_a.insert(P(a, sui * 0x9E3779B97F4A7Cull & ((1ull << 60) - 1)));
    in_b.insert(P(b, sui * 0x9E3779B97F4A7Cull & ((1ull << 60) - 1)));
    in_c.insert(P(c, sui * 0x9E3779B97F4A7Cull & ((1ull << 60) - 1)));
  }
  // No collisions within a project, no pseudonym shared across projects:
  // the two projects' extracts cannot be joined on the identifier.
  EXPECT_EQ(in_a.size(), kN);
  EXPECT_EQ(in_b.size(), kN);
  for (const std::string& p : in_a) {
    EXPECT_FALSE(in_b.contains(p));
    EXPECT_FALSE(in_c.contains(p));
  }
}

TEST(PseudonymTest, DependsOnTheReleaseKey) {
  const auto a = *FixedKey(0).ForProject("P1");
  const auto b = *FixedKey(1).ForProject("P1");
  EXPECT_NE(P(a, 42), P(b, 42));
}

// The derivation as pseudonym.h documents it, recomputed with libsodium
// calls only: any change to the derivation must be deliberate (it changes
// every project's pseudonyms).
TEST(PseudonymTest, MatchesTheDocumentedDerivation) {
  const ReleaseKey key = FixedKey(0);
  unsigned char k_res[32];
  for (int i = 0; i < 32; ++i) k_res[i] = static_cast<unsigned char>(i);
  const std::string project = "P2025-001";
  const std::string msg =
      std::string("linkd-extract-project-v1") + std::string(1, '\0') + project;
  unsigned char k_proj[32];
  crypto_generichash(k_proj, 32,
                     reinterpret_cast<const unsigned char*>(msg.data()),
                     msg.size(), k_res, 32);
  unsigned char k_pseu[32];
  ASSERT_EQ(crypto_kdf_derive_from_key(k_pseu, 32, 1, "LXPSEUDO", k_proj), 0);
  const uint64_t sui = 0x0123456789ABCDEull;
  unsigned char be[8];
  for (int i = 0; i < 8; ++i)
    be[i] = static_cast<unsigned char>(sui >> (56 - 8 * i));
  unsigned char h[16];
  crypto_generichash(h, 16, be, 8, k_pseu, 32);
  // First 80 bits as 16 Crockford digits, then the Luhn mod-32 check.
  const char* alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string expected;
  int digits[16];
  for (int i = 0; i < 16; ++i) {
    int v = 0;
    for (int b = 0; b < 5; ++b) {
      const int bit = 5 * i + b;
      v = (v << 1) | ((h[bit / 8] >> (7 - bit % 8)) & 1);
    }
    digits[i] = v;
    expected.push_back(alphabet[v]);
  }
  int sum = 0;
  for (int i = 15, k = 0; i >= 0; --i, ++k) {
    int v = digits[i];
    if (k % 2 == 0) {
      v *= 2;
      v = v / 32 + v % 32;
    }
    sum += v;
  }
  expected.push_back(alphabet[(32 - sum % 32) % 32]);
  EXPECT_EQ(P(*key.ForProject(project), sui), expected);
}

TEST(PseudonymTest, RefusesTheNullSuiAndBadProjectIds) {
  const ReleaseKey key = ReleaseKey::Generate();
  EXPECT_THAT(key.ForProject("P1")->Pseudonym(0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.ForProject(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.ForProject("P 1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.ForProject(std::string(129, 'P')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.ForProject(std::string("P\0", 2)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.ForProject(std::string(128, 'P')), IsOk());
}

TEST(PseudonymTest, CheckCatchesMangledPseudonyms) {
  const std::string p = P(*ReleaseKey::Generate().ForProject("P1"), 7);
  ASSERT_THAT(CheckPseudonym(p), IsOk());
  EXPECT_THAT(CheckPseudonym(p.substr(1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::string lower = p;
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  if (lower != p) {
    EXPECT_THAT(CheckPseudonym(lower),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // Every single-character substitution is caught by the check character.
  const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  for (size_t i = 0; i < p.size(); ++i) {
    for (char c : alphabet) {
      if (c == p[i]) continue;
      std::string q = p;
      q[i] = c;
      EXPECT_THAT(CheckPseudonym(q),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr("check character")));
    }
  }
}

TEST(ReleaseKeyTest, FileRoundTripAndMode) {
  linkd::testing::TempDir dir;
  const std::string path = dir.Sub("release.key");
  const ReleaseKey key = ReleaseKey::Generate();
  ASSERT_THAT(key.WriteFile(path), IsOk());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto read = ReleaseKey::ReadFile(path);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(P(*read->ForProject("P1"), 99), P(*key.ForProject("P1"), 99));
  EXPECT_THAT(key.WriteFile(path), StatusIs(absl::StatusCode::kAlreadyExists));
  std::ostringstream printed;
  printed << key;
  EXPECT_EQ(printed.str(), "[REDACTED]");
}

TEST(ReleaseKeyTest, LoadOrCreateKeepsTheKey) {
  linkd::testing::TempDir dir;
  const std::string path = dir.Sub("release.key");
  auto first = ReleaseKey::LoadOrCreate(path);
  ASSERT_THAT(first, IsOk());
  auto second = ReleaseKey::LoadOrCreate(path);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(P(*first->ForProject("P1"), 5), P(*second->ForProject("P1"), 5));
}

TEST(ReleaseKeyTest, ConcurrentLoadOrCreateAgreeOnOneKey) {
  for (int round = 0; round < 20; ++round) {
    linkd::testing::TempDir dir;
    const std::string path = dir.Sub("release.key");
    std::vector<std::string> seen(6);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < seen.size(); ++i) {
      threads.emplace_back([&, i] {
        auto key = ReleaseKey::LoadOrCreate(path);
        if (key.ok()) seen[i] = P(*key->ForProject("P1"), 1);
      });
    }
    for (auto& t : threads) t.join();
    for (const std::string& p : seen) EXPECT_EQ(p, seen[0]);
    EXPECT_FALSE(seen[0].empty());
    // Only the key file is left: no temporary files.
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      (void)e;
      ++files;
    }
    EXPECT_EQ(files, 1);
  }
}

TEST(ReleaseKeyTest, ReadFileErrors) {
  linkd::testing::TempDir dir;
  EXPECT_THAT(ReleaseKey::ReadFile(dir.Sub("missing")),
              StatusIs(absl::StatusCode::kNotFound));
  const std::string path = dir.Sub("release.key");
  ASSERT_THAT(ReleaseKey::Generate().WriteFile(path), IsOk());
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_THAT(ReleaseKey::ReadFile(path),
              StatusIs(absl::StatusCode::kPermissionDenied));

  const auto write = [&](const std::string& name, const std::string& text) {
    const std::string p = dir.Sub(name);
    std::ofstream(p) << text;
    chmod(p.c_str(), 0600);
    return p;
  };
  const std::string hex(64, 'a');
  EXPECT_THAT(ReleaseKey::ReadFile(write("a", "key: " + hex + "\n")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      ReleaseKey::ReadFile(write("b", "linkd-release-key: v2\nkey: " + hex)),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ReleaseKey::ReadFile(write("c", "linkd-release-key: v1\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing entry key")));
  // A malformed key is reported by line, never echoed.
  auto bad = ReleaseKey::ReadFile(
      write("d", "linkd-release-key: v1\nkey: " + std::string(63, 'b') + "\n"));
  EXPECT_THAT(
      bad, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
  EXPECT_THAT(std::string(bad.status().message()),
              Not(HasSubstr(std::string(63, 'b'))));
  EXPECT_THAT(
      ReleaseKey::ReadFile(
          write("e", "linkd-release-key: v1\nkey: " + hex + "\nkey: " + hex)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate")));
  EXPECT_THAT(ReleaseKey::ReadFile(write(
                  "f", "# comment\nlinkd-release-key: v1\nkey: " + hex + "\n")),
              IsOk());
  // Another key file kind is not a release key.
  EXPECT_THAT(ReleaseKey::ReadFile(
                  write("g", "linkd-linkage-key: v1\nkey: " + hex + "\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a linkd-release-key file")));
}

}  // namespace
}  // namespace linkd::extract
