#include "linkd/extract/extract_file.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/extract/pseudonym.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/extract/signing_key.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::extract {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SodiumEnv : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(crypto::Init().ok()); }
};
const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new SodiumEnv);  // NOLINT

using Rows = std::vector<std::vector<std::string>>;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string Blake2b256(const std::string& data) {
  std::string out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), 32,
                     reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), nullptr, 0);
  return out;
}

int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

v1::Manifest BaseManifest() {
  v1::Manifest m;
  m.set_project_id("P2025-001");
  m.set_request_id("REQ-17");
  m.set_approval_id("APR-9");
  m.set_approver("la/202:ig-officer-3");
  m.set_policy_version("2025.03");
  m.set_policy_hash(std::string(32, '\x07'));
  m.set_suppression_threshold(10);
  m.set_created_micros(1741651200000000);
  auto* c = m.add_coarsenings();
  c->set_field("event_month");
  c->set_date_granularity(v1::DATE_GRANULARITY_MONTH);
  auto* q = m.mutable_linkage_quality();
  q->set_estimated_precision(0.993);
  q->set_estimated_recall(0.971);
  q->set_method("clerical review of 500 sampled links");
  auto* b = q->add_match_weight_buckets();
  b->set_lower(10);
  b->set_upper(15);
  b->set_links(1234);
  auto* s = q->add_subgroup_link_rates();
  s->set_subgroup("ethnicity_major_group=Black");
  s->set_link_rate(0.94);
  return m;
}

class ExtractFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(GenerateResearcherKeyPair(dir_.Sub("r.pub"), dir_.Sub("r.key")),
                IsOk());
    researcher_pub_ = *ResearcherPublicKey::ReadFile(dir_.Sub("r.pub"));
    researcher_ = std::make_unique<ResearcherSecretKey>(
        *ResearcherSecretKey::ReadFile(dir_.Sub("r.key")));
  }

  // Writes an extract with `rows` and its manifest; returns the info.
  ExtractFileInfo Write(const std::string& name, const Rows& rows,
                        std::vector<std::string> columns = {
                            "child", "event_month", "event"}) {
    auto w = ExtractWriter::Create(dir_.Sub(name), *researcher_pub_, columns);
    EXPECT_THAT(w, IsOk());
    for (const auto& row : rows) {
      std::vector<std::string_view> fields(row.begin(), row.end());
      EXPECT_THAT((*w)->WriteRow(fields), IsOk());
    }
    auto info = (*w)->Finish();
    EXPECT_THAT(info, IsOk());
    auto signed_manifest = SignManifest(BaseManifest(), *info, signer_);
    EXPECT_THAT(signed_manifest, IsOk());
    EXPECT_THAT(
        WriteManifestFile(*signed_manifest, ManifestPathFor(dir_.Sub(name))),
        IsOk());
    return *info;
  }

  absl::StatusOr<OpenedExtract> Open(
      const std::string& name,
      std::optional<SigningPublicKey> pinned = std::nullopt,
      const ResearcherSecretKey* key = nullptr) {
    if (!pinned.has_value()) pinned = signer_.public_key();
    return OpenExtract(dir_.Sub(name), ManifestPathFor(dir_.Sub(name)),
                       key ? *key : *researcher_, pinned);
  }

  // Re-signs a manifest for the current content of `name` (as if linkd had
  // signed a broken file), to reach the checks behind the hash.
  void Resign(const std::string& name, uint64_t row_count) {
    const std::string data = Slurp(dir_.Sub(name));
    ExtractFileInfo info;
    info.path = dir_.Sub(name);
    info.columns = {"child", "event_month", "event"};
    info.row_count = row_count;
    info.file_size = data.size();
    info.blake2b_256 = Blake2b256(data);
    auto m = SignManifest(BaseManifest(), info, signer_);
    ASSERT_THAT(m, IsOk());
    unlink(ManifestPathFor(dir_.Sub(name)).c_str());
    ASSERT_THAT(WriteManifestFile(*m, ManifestPathFor(dir_.Sub(name))), IsOk());
  }

  Rows SomeRows(int n, size_t pad = 0) {
    Rows rows;
    const ProjectPseudonymizer p = *release_key_.ForProject("P2025-001");
    for (int i = 0; i < n; ++i) {
      rows.push_back(
          {*p.Pseudonym(1000 + i / 3),
           absl::StrCat("2024-", 1 + i % 12 < 10 ? "0" : "", 1 + i % 12),
           i % 7 == 0 ? "note, with \"quotes\"\nand a newline – Zoë"
                      : std::string("suspension") + std::string(pad, 'x')});
    }
    return rows;
  }

  linkd::testing::TempDir dir_;
  std::optional<ResearcherPublicKey> researcher_pub_;
  std::unique_ptr<ResearcherSecretKey> researcher_;
  SigningKey signer_ = SigningKey::Generate();
  ReleaseKey release_key_ = ReleaseKey::Generate();
};

TEST_F(ExtractFileTest, RoundTrip) {
  const Rows rows = SomeRows(50);
  const ExtractFileInfo info = Write("x.csv.linkdx", rows);
  EXPECT_EQ(info.row_count, 50u);
  auto opened = Open("x.csv.linkdx");
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->rows, rows);
  EXPECT_THAT(opened->columns, ElementsAre("child", "event_month", "event"));
  EXPECT_TRUE(opened->signer_pinned);
  EXPECT_EQ(opened->signer, signer_.public_key());
  const v1::Manifest& m = opened->manifest;
  EXPECT_EQ(m.format_version(), 1u);
  EXPECT_EQ(m.project_id(), "P2025-001");
  EXPECT_EQ(m.request_id(), "REQ-17");
  EXPECT_EQ(m.approval_id(), "APR-9");
  EXPECT_EQ(m.approver(), "la/202:ig-officer-3");
  EXPECT_EQ(m.policy_version(), "2025.03");
  EXPECT_EQ(m.row_count(), 50u);
  EXPECT_THAT(m.fields(), ElementsAre("child", "event_month", "event"));
  EXPECT_EQ(m.file_name(), "x.csv.linkdx");
  EXPECT_EQ(m.file_size(), info.file_size);
  EXPECT_EQ(m.file_blake2b_256(), info.blake2b_256);
  EXPECT_EQ(m.signing_public_key(), signer_.public_key().bytes());
  EXPECT_EQ(m.linkage_quality().estimated_recall(), 0.971);
  EXPECT_EQ(m.linkage_quality().subgroup_link_rates(0).subgroup(),
            "ethnicity_major_group=Black");
  EXPECT_EQ(m.coarsenings(0).date_granularity(), v1::DATE_GRANULARITY_MONTH);
  // Both files are private to their owner.
  EXPECT_EQ(Mode(dir_.Sub("x.csv.linkdx")), 0600);
  EXPECT_EQ(Mode(ManifestPathFor(dir_.Sub("x.csv.linkdx"))), 0600);
}

TEST_F(ExtractFileTest, LayoutAndNoPlaintext) {
  const Rows rows = SomeRows(20);
  const ExtractFileInfo info = Write("x", rows);
  const std::string data = Slurp(dir_.Sub("x"));
  EXPECT_EQ(data.substr(0, 8), "LINKDX1\n");
  EXPECT_EQ(data.substr(8, 4), std::string("\0\0\0\x01", 4));
  EXPECT_EQ(data.substr(12, 4), std::string("\0\x01\0\0", 4));  // 65536
  // Header, sealed key, stream header, one chunk with its 17-byte tag.
  std::string plain = "child,event_month,event\n";
  for (const auto& r : rows) {
    plain += r[0] + "," + r[1] + ",";
    plain += r[2].find_first_of(",\"\n") == std::string::npos
                 ? r[2]
                 : "\"" + absl::StrReplaceAll(r[2], {{"\"", "\"\""}}) + "\"";
    plain += "\n";
  }
  EXPECT_EQ(data.size(), 16u + 80 + 24 + plain.size() + 17);
  EXPECT_EQ(data.find(rows[0][0]), std::string::npos);
  EXPECT_EQ(data.find("suspension"), std::string::npos);
  EXPECT_EQ(data.find("child"), std::string::npos);
  EXPECT_EQ(info.file_size, data.size());
}

TEST_F(ExtractFileTest, ManyChunksAndStreamingReader) {
  const Rows rows = SomeRows(6000, 40);  // about 450 KB: several chunks
  Write("big", rows);
  auto reader =
      ExtractReader::Open(dir_.Sub("big"), ManifestPathFor(dir_.Sub("big")),
                          *researcher_, signer_.public_key());
  ASSERT_THAT(reader, IsOk());
  std::vector<std::string> row;
  size_t n = 0;
  for (;;) {
    auto more = (*reader)->Next(&row);
    ASSERT_THAT(more, IsOk());
    if (!*more) break;
    ASSERT_LT(n, rows.size());
    EXPECT_EQ(row, rows[n]);
    ++n;
  }
  EXPECT_EQ(n, rows.size());
  auto again = (*reader)->Next(&row);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(*again);
}

TEST_F(ExtractFileTest, ChunkBoundaries) {
  // Plaintext of exactly one and exactly two chunks, and one byte over:
  // the last chunk is final and never empty.
  const std::string header = "child,event_month,event\n";
  for (size_t total : {kExtractChunkBytes, 2 * kExtractChunkBytes,
                       2 * kExtractChunkBytes + 1}) {
    SCOPED_TRACE(total);
    const std::string name = absl::StrCat("b", total);
    const size_t row_bytes = 100;  // "a,b," + 95 x + "\n"
    Rows rows;
    size_t left = total - header.size();
    while (left > 0) {
      const size_t len = std::min(row_bytes, left);
      ASSERT_GE(len, 5u);
      rows.push_back({"a", "b", std::string(len - 5, 'x')});
      left -= len;
    }
    const ExtractFileInfo info = Write(name, rows);
    const size_t chunks = (total + kExtractChunkBytes - 1) / kExtractChunkBytes;
    EXPECT_EQ(info.file_size, 120 + total + 17 * chunks);
    auto opened = Open(name);
    ASSERT_THAT(opened, IsOk());
    EXPECT_EQ(opened->rows, rows);
  }
}

TEST_F(ExtractFileTest, EmptyExtract) {
  Write("empty", {});
  auto opened = Open("empty");
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->rows.empty());
  EXPECT_EQ(opened->manifest.row_count(), 0u);
}

TEST_F(ExtractFileTest, UnpinnedSignerIsReported) {
  Write("x", SomeRows(3));
  auto opened = OpenExtract(dir_.Sub("x"), ManifestPathFor(dir_.Sub("x")),
                            *researcher_, std::nullopt);
  ASSERT_THAT(opened, IsOk());
  EXPECT_FALSE(opened->signer_pinned);
  EXPECT_EQ(opened->signer, signer_.public_key());
}

TEST_F(ExtractFileTest, EveryTamperedFileByteIsDetected) {
  Write("x", SomeRows(10));
  const std::string good = Slurp(dir_.Sub("x"));
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    Spit(dir_.Sub("x"), bad);
    EXPECT_THAT(Open("x"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("BLAKE2b-256")))
        << "byte " << i;
  }
  Spit(dir_.Sub("x"), good);
  EXPECT_THAT(Open("x"), IsOk());
}

TEST_F(ExtractFileTest, TamperedBytesOfALargeFile) {
  Write("big", SomeRows(3000, 40));
  const std::string good = Slurp(dir_.Sub("big"));
  std::mt19937_64 rng(5);
  std::vector<size_t> positions = {0, 8, 16, 96, 120, good.size() - 1};
  for (int i = 0; i < 60; ++i) positions.push_back(rng() % good.size());
  for (size_t pos : positions) {
    std::string bad = good;
    bad[pos] ^= 0x80;
    Spit(dir_.Sub("big"), bad);
    EXPECT_THAT(Open("big"), StatusIs(absl::StatusCode::kDataLoss)) << pos;
  }
}

TEST_F(ExtractFileTest, EveryTamperedManifestByteIsDetected) {
  Write("x", SomeRows(5));
  const std::string path = ManifestPathFor(dir_.Sub("x"));
  const std::string good = Slurp(path);
  for (bool pinned : {true, false}) {
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] ^= 0x01;
      Spit(path, bad);
      auto r = OpenExtract(
          dir_.Sub("x"), path, *researcher_,
          pinned ? std::optional<SigningPublicKey>(signer_.public_key())
                 : std::nullopt);
      EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss))
          << "byte " << i << (pinned ? " pinned" : " unpinned");
    }
  }
  Spit(path, good);
  EXPECT_THAT(Open("x"), IsOk());
}

TEST_F(ExtractFileTest, TamperedSignature) {
  Write("x", SomeRows(5));
  const std::string path = ManifestPathFor(dir_.Sub("x"));
  v1::SignedManifest m;
  ASSERT_TRUE(m.ParseFromString(Slurp(path)));
  std::string sig = m.signature();
  sig[63] ^= 0x40;
  m.set_signature(sig);
  Spit(path, m.SerializeAsString());
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kDataLoss,
                                  HasSubstr("signature does not verify")));
  m.clear_signature();
  Spit(path, m.SerializeAsString());
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kDataLoss,
                                  HasSubstr("signature does not verify")));
}

TEST_F(ExtractFileTest, ManifestSignedByAnotherKey) {
  // An attacker's manifest, validly signed by the attacker, for a file the
  // attacker made (anyone can seal to a public key).
  Write("x", SomeRows(5));
  const SigningKey attacker = SigningKey::Generate();
  const std::string data = Slurp(dir_.Sub("x"));
  ExtractFileInfo info{dir_.Sub("x"),
                       {"child", "event_month", "event"},
                       5,
                       data.size(),
                       Blake2b256(data)};
  auto m = SignManifest(BaseManifest(), info, attacker);
  ASSERT_THAT(m, IsOk());
  const std::string path = ManifestPathFor(dir_.Sub("x"));
  unlink(path.c_str());
  ASSERT_THAT(WriteManifestFile(*m, path), IsOk());
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kPermissionDenied,
                                  HasSubstr("not by the pinned key")));
  // Unpinned, it opens, but says whose key it trusted.
  auto unpinned = OpenExtract(dir_.Sub("x"), path, *researcher_, std::nullopt);
  ASSERT_THAT(unpinned, IsOk());
  EXPECT_FALSE(unpinned->signer_pinned);
  EXPECT_EQ(unpinned->signer, attacker.public_key());
}

TEST_F(ExtractFileTest, TruncatedFile) {
  Write("x", SomeRows(3000, 40));
  const std::string good = Slurp(dir_.Sub("x"));
  for (size_t len :
       {size_t{0}, size_t{7}, size_t{100}, size_t{120},
        size_t{120 + 65536 + 17}, good.size() / 2, good.size() - 1}) {
    Spit(dir_.Sub("x"), good.substr(0, len));
    EXPECT_THAT(Open("x"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")))
        << len;
  }
}

TEST_F(ExtractFileTest, MissingFinalChunkIsDetectedBehindTheManifest) {
  // Cut at a chunk boundary and have the manifest describe the cut file:
  // the stream itself must show that its final chunk is missing.
  const Rows rows = SomeRows(3000, 40);
  Write("x", rows);
  const std::string good = Slurp(dir_.Sub("x"));
  const size_t two_chunks = 120 + 2 * (kExtractChunkBytes + 17);
  ASSERT_GT(good.size(), two_chunks);
  Spit(dir_.Sub("x"), good.substr(0, two_chunks));
  Resign("x", rows.size());
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kDataLoss,
                                  HasSubstr("ends without its final chunk")));
  // A partial chunk fails authentication instead.
  Spit(dir_.Sub("x"), good.substr(0, two_chunks + 500));
  Resign("x", rows.size());
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kDataLoss,
                                  HasSubstr("fails authentication")));
}

TEST_F(ExtractFileTest, DataAfterTheFinalChunk) {
  // Chunks carry no length, so bytes appended to a short final chunk make
  // it fail authentication ...
  const Rows rows = SomeRows(10);
  Write("x", rows);
  Spit(dir_.Sub("x"), Slurp(dir_.Sub("x")) + "extra");
  Resign("x", rows.size());
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kDataLoss,
                                  HasSubstr("fails authentication")));
  // ... and bytes after a full final chunk are reported as such.
  const std::string header = "child,event_month,event\n";
  Rows full;
  for (size_t left = kExtractChunkBytes - header.size(); left > 0;) {
    const size_t len = std::min<size_t>(100, left);
    full.push_back({"a", "b", std::string(len - 5, 'x')});
    left -= len;
  }
  Write("full", full);
  Spit(dir_.Sub("full"), Slurp(dir_.Sub("full")) + "extra");
  Resign("full", full.size());
  EXPECT_THAT(Open("full"), StatusIs(absl::StatusCode::kDataLoss,
                                     HasSubstr("after its final chunk")));
}

TEST_F(ExtractFileTest, RowCountMismatch) {
  const Rows rows = SomeRows(10);
  Write("x", rows);
  Resign("x", rows.size() + 1);
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kDataLoss,
                                  HasSubstr("rows but its manifest says")));
}

TEST_F(ExtractFileTest, BadMagicBehindTheManifest) {
  Write("x", SomeRows(3));
  std::string data = Slurp(dir_.Sub("x"));
  data[3] = 'Z';
  Spit(dir_.Sub("x"), data);
  Resign("x", 3);
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("bad magic")));
  data = Slurp(dir_.Sub("x"));
  data[3] = 'K';
  data[11] = 2;
  Spit(dir_.Sub("x"), data);
  Resign("x", 3);
  EXPECT_THAT(Open("x"), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("format version 2")));
}

TEST_F(ExtractFileTest, WrongResearcherKey) {
  Write("x", SomeRows(3));
  const ResearcherSecretKey other = ResearcherSecretKey::Generate();
  EXPECT_THAT(Open("x", std::nullopt, &other),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("not sealed to this researcher key")));
}

TEST_F(ExtractFileTest, MissingFiles) {
  Write("x", SomeRows(3));
  EXPECT_THAT(OpenExtract(dir_.Sub("nope"), ManifestPathFor(dir_.Sub("x")),
                          *researcher_, signer_.public_key()),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(OpenExtract(dir_.Sub("x"), dir_.Sub("nope.manifest"),
                          *researcher_, signer_.public_key()),
              StatusIs(absl::StatusCode::kNotFound));
  // The extract itself is not a manifest.
  EXPECT_THAT(OpenExtract(dir_.Sub("x"), dir_.Sub("x"), *researcher_,
                          signer_.public_key()),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(ExtractFileTest, WriterChecks) {
  EXPECT_THAT(ExtractWriter::Create(dir_.Sub("a"), *researcher_pub_, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      ExtractWriter::Create(dir_.Sub("a"), *researcher_pub_, {"c", "c"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(ExtractWriter::Create(dir_.Sub("a"), *researcher_pub_, {""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto w = ExtractWriter::Create(dir_.Sub("a"), *researcher_pub_, {"c", "d"});
  ASSERT_THAT(w, IsOk());
  EXPECT_THAT(ExtractWriter::Create(dir_.Sub("a"), *researcher_pub_, {"c"}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT((*w)->WriteRow({"only one"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*w)->WriteRow({"ok", "bad \xff"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid UTF-8")));
  EXPECT_THAT((*w)->WriteRow({"ok", "fine"}), IsOk());
  EXPECT_EQ((*w)->row_count(), 1u);
  ASSERT_THAT((*w)->Finish(), IsOk());
  EXPECT_THAT((*w)->WriteRow({"late", "row"}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*w)->Finish(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ExtractFileTest, UnfinishedWriterLeavesNothing) {
  {
    auto w = ExtractWriter::Create(dir_.Sub("half"), *researcher_pub_, {"c"});
    ASSERT_THAT(w, IsOk());
    ASSERT_THAT((*w)->WriteRow({"row"}), IsOk());
    EXPECT_EQ(Mode(dir_.Sub("half")), 0600);
  }
  EXPECT_EQ(Mode(dir_.Sub("half")), -1);
}

TEST_F(ExtractFileTest, SignManifestChecks) {
  const ExtractFileInfo info = Write("x", SomeRows(2));
  const auto expect_refused = [&](v1::Manifest m, const char* what) {
    EXPECT_THAT(SignManifest(m, info, signer_),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)));
  };
  v1::Manifest m = BaseManifest();
  m.clear_project_id();
  expect_refused(m, "project_id");
  m = BaseManifest();
  m.clear_approver();
  expect_refused(m, "approver");
  m = BaseManifest();
  m.clear_created_micros();
  expect_refused(m, "created_micros");
  m = BaseManifest();
  m.clear_suppression_threshold();
  expect_refused(m, "suppression_threshold");
  m = BaseManifest();
  m.add_fields("child");
  expect_refused(m, "differ");
  m = BaseManifest();
  m.add_coarsenings()->set_field("date_of_birth");
  expect_refused(m, "date_of_birth");
  m = BaseManifest();
  for (const char* f : {"child", "event_month", "event"}) m.add_fields(f);
  EXPECT_THAT(SignManifest(m, info, signer_), IsOk());
}

TEST(ManifestSchemaTest, NoObjectionCountInTheManifest) {
  // The number of children removed for objections goes to IG only.
  const auto* d = v1::Manifest::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->name();
    EXPECT_EQ(name.find("objection"), std::string::npos) << name;
    EXPECT_EQ(name.find("opt"), std::string::npos) << name;
    EXPECT_EQ(name.find("removed"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace linkd::extract
