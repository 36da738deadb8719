#include "linkd/audit/checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/audit/signer.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::audit {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Known answer from golang.org/x/mod/sumdb/note (its package example and
// note_test.go): Ed25519 is deterministic, so our signer must reproduce
// Go's signed note byte for byte, and Go's verifier key must verify it.
constexpr char kGoSignerKey[] =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+"
    "Y7hfZx09iUvxdXHKDFz";
constexpr char kGoVerifierKey[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kGoText[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr char kGoNote[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnA"
    "M=\n";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SignerTest, ReproducesGoSumdbNoteKnownAnswer) {
  absl::StatusOr<AuditSigner> signer = AuditSigner::FromSignerKey(kGoSignerKey);
  ASSERT_THAT(signer, IsOk());
  EXPECT_EQ(signer->name(), "PeterNeumann");
  EXPECT_EQ(signer->key_id(), 0xc74f20a3u);
  EXPECT_EQ(signer->VerifierKey(), kGoVerifierKey);
  EXPECT_THAT(signer->SignNote(kGoText), IsOkAndHolds(std::string(kGoNote)));

  absl::StatusOr<NoteVerifier> verifier =
      NoteVerifier::FromVerifierKey(kGoVerifierKey);
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(verifier->Open(kGoNote), IsOkAndHolds(std::string(kGoText)));
  std::string tampered =
      absl::StrReplaceAll(kGoNote, {{"cryptography", "cryptographY"}});
  EXPECT_THAT(verifier->Open(tampered),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(SignerTest, RejectsMalformedKeys) {
  EXPECT_THAT(AuditSigner::Generate(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditSigner::Generate("has space"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditSigner::Generate("a+b"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditSigner::FromSeed("x", "short"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A wrong key ID, a truncated key, another algorithm.
  std::string bad_id = kGoSignerKey;
  bad_id.replace(bad_id.find("c74f20a3"), 8, "c74f20a4");
  EXPECT_THAT(AuditSigner::FromSignerKey(bad_id),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      AuditSigner::FromSignerKey(std::string(kGoSignerKey).substr(0, 40)),
      StatusIs(absl::StatusCode::kInvalidArgument));
  std::string bad_vkey = kGoVerifierKey;
  bad_vkey.replace(bad_vkey.find("c74f20a3"), 8, "00000000");
  EXPECT_THAT(NoteVerifier::FromVerifierKey(bad_vkey),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NoteVerifier::FromVerifierKey("PeterNeumann+c74f20a3+AAAA"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Every proper substring of the verifier key is refused.
  const std::string vkey = kGoVerifierKey;
  for (size_t len = 0; len < vkey.size(); ++len) {
    EXPECT_THAT(NoteVerifier::FromVerifierKey(vkey.substr(0, len)), Not(IsOk()))
        << len;
  }
}

TEST(SignerTest, NoteOpeningRules) {
  absl::StatusOr<AuditSigner> a = AuditSigner::Generate("example.org/a");
  absl::StatusOr<AuditSigner> b = AuditSigner::Generate("example.org/b");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  absl::StatusOr<NoteVerifier> va =
      NoteVerifier::FromVerifierKey(a->VerifierKey());
  ASSERT_THAT(va, IsOk());
  absl::StatusOr<std::string> note = a->SignNote("hello\n");
  ASSERT_THAT(note, IsOk());
  EXPECT_THAT(va->Open(*note), IsOkAndHolds(std::string("hello\n")));

  // Another key's signature line is ignored; a note only signed by it fails.
  absl::StatusOr<std::string> by_b = b->SignNote("hello\n");
  ASSERT_THAT(by_b, IsOk());
  EXPECT_THAT(va->Open(*by_b), StatusIs(absl::StatusCode::kUnauthenticated));
  const std::string b_line = by_b->substr(by_b->rfind("\n\n") + 2);
  EXPECT_THAT(va->Open(*note + b_line), IsOkAndHolds(std::string("hello\n")));
  EXPECT_THAT(va->Open(std::string("hello\n\n") + b_line),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // The same name with another key: a verification failure, not a pass.
  absl::StatusOr<AuditSigner> impostor = AuditSigner::Generate("example.org/a");
  ASSERT_THAT(impostor, IsOk());
  absl::StatusOr<std::string> forged = impostor->SignNote("hello\n");
  ASSERT_THAT(forged, IsOk());
  EXPECT_THAT(va->Open(*forged), StatusIs(absl::StatusCode::kUnauthenticated));

  // Malformed notes and texts.
  EXPECT_THAT(va->Open("hello\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(va->Open(note->substr(0, note->size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(va->Open(std::string("he\x01llo\n\n") + b_line),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(va->Open(std::string("h\xff\n\n") + b_line),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a->SignNote("no newline"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a->SignNote("tab\there\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a->SignNote("\xe2\x80\x94 fake signature\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SignerTest, KeyFileIsCreatedPrivateAndReloaded) {
  linkd::testing::TempDir dir;
  const std::string path = dir.Sub("audit.key");
  EXPECT_THAT(AuditSigner::Load(path), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<AuditSigner> created =
      AuditSigner::LoadOrCreate(path, "linkd.test/audit");
  ASSERT_THAT(created, IsOk());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = ReadAll(path);
  EXPECT_THAT(text, ::testing::StartsWith("PRIVATE+KEY+linkd.test/audit+"));
  EXPECT_EQ(text.back(), '\n');

  absl::StatusOr<AuditSigner> loaded =
      AuditSigner::LoadOrCreate(path, "linkd.test/audit");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->VerifierKey(), created->VerifierKey());
  EXPECT_EQ(*loaded->SignNote("x\n"), *created->SignNote("x\n"));

  EXPECT_THAT(AuditSigner::LoadOrCreate(path, "linkd.test/other"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(created->WriteFile(path),
              StatusIs(absl::StatusCode::kAlreadyExists));
  const std::string link = dir.Sub("link.key");
  ASSERT_EQ(symlink(dir.Sub("nowhere").c_str(), link.c_str()), 0);
  EXPECT_THAT(created->WriteFile(link),
              StatusIs(absl::StatusCode::kAlreadyExists));

  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_THAT(AuditSigner::Load(path),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);

  const std::string garbage = dir.Sub("garbage.key");
  {
    std::ofstream out(garbage);
    out << "PRIVATE+KEY+x+00000000+AAAA\n";
  }
  ASSERT_EQ(chmod(garbage.c_str(), 0600), 0);
  absl::StatusOr<AuditSigner> bad = AuditSigner::Load(garbage);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("AAAA")));
  EXPECT_THAT(AuditSigner::Load(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

Checkpoint Sample() {
  Checkpoint c;
  c.origin = "linkd.test/audit";
  c.size = 1048576;
  c.root = HashLeaf("root");
  c.time = absl::FromUnixMicros(1740821400123456);
  return c;
}

TEST(CheckpointTest, TextFormat) {
  const Checkpoint c = Sample();
  const std::string text = FormatCheckpointText(c);
  EXPECT_EQ(text,
            absl::StrCat("linkd.test/audit\n1048576\n",
                         absl::Base64Escape(std::string(HashBytes(c.root))),
                         "\ntimestamp 2025-03-01T09:30:00.123456Z\n"));
  EXPECT_THAT(ParseCheckpointText(text), IsOkAndHolds(c));

  Checkpoint no_time = c;
  no_time.time = absl::InfinitePast();
  EXPECT_EQ(FormatCheckpointText(no_time).find("timestamp"), std::string::npos);
  EXPECT_THAT(ParseCheckpointText(FormatCheckpointText(no_time)),
              IsOkAndHolds(no_time));
  // Unknown extension lines are accepted and ignored.
  EXPECT_THAT(ParseCheckpointText(text + "other extension\n"), IsOkAndHolds(c));
}

TEST(CheckpointTest, ParseRejectsMalformedText) {
  const std::string root =
      absl::Base64Escape(std::string(HashBytes(HashLeaf("r"))));
  for (const std::string& bad : std::vector<std::string>{
           "",
           "origin\n5\n",
           absl::StrCat("origin\n5\n", root),  // no final newline
           absl::StrCat("\n5\n", root, "\n"),
           absl::StrCat("origin\n05\n", root, "\n"),
           absl::StrCat("origin\n-5\n", root, "\n"),
           absl::StrCat("origin\n5x\n", root, "\n"),
           absl::StrCat("origin\n99999999999999999999\n", root, "\n"),
           "origin\n5\nAAAA\n",
           absl::StrCat("origin\n5\n", root.substr(0, root.size() - 1), "\n"),
           absl::StrCat("origin\n5\n", root, "\n\n"),
           absl::StrCat("origin\n5\n", root, "\ntimestamp yesterday\n"),
       }) {
    EXPECT_THAT(ParseCheckpointText(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(ParseCheckpointText(absl::StrCat("origin\n0\n", root, "\n")),
              IsOk());
}

TEST(CheckpointTest, SignOpenAndFiles) {
  absl::StatusOr<AuditSigner> signer =
      AuditSigner::Generate("linkd.test/audit");
  absl::StatusOr<AuditSigner> other = AuditSigner::Generate("linkd.test/other");
  ASSERT_THAT(signer, IsOk());
  ASSERT_THAT(other, IsOk());
  const std::vector<NoteVerifier> trusted = {
      *NoteVerifier::FromVerifierKey(other->VerifierKey()),
      *NoteVerifier::FromVerifierKey(signer->VerifierKey())};
  const Checkpoint c = Sample();
  absl::StatusOr<std::string> note = SignCheckpoint(c, *signer);
  ASSERT_THAT(note, IsOk());
  EXPECT_THAT(OpenCheckpoint(*note, trusted), IsOkAndHolds(c));
  EXPECT_THAT(SignCheckpoint(c, *other),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // Not trusted, tampered, or signed by a key of the wrong name.
  EXPECT_THAT(OpenCheckpoint(*note, {}),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(OpenCheckpoint(*note, absl::MakeConstSpan(trusted).subspan(0, 1)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  std::string bigger = *note;
  bigger.replace(bigger.find("1048576"), 7, "1048577");
  EXPECT_THAT(OpenCheckpoint(bigger, trusted),
              StatusIs(absl::StatusCode::kUnauthenticated));
  Checkpoint as_other = c;
  as_other.origin = "linkd.test/other";
  absl::StatusOr<std::string> other_note = SignCheckpoint(as_other, *other);
  ASSERT_THAT(other_note, IsOk());
  std::string relabelled = *other_note;
  relabelled.replace(0, as_other.origin.size(), c.origin);
  EXPECT_THAT(OpenCheckpoint(relabelled, trusted),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(OpenCheckpoint("garbage", trusted), Not(IsOk()));

  linkd::testing::TempDir dir;
  const std::string path = dir.Sub("checkpoint");
  ASSERT_THAT(WriteCheckpointFile(path, *note), IsOk());
  EXPECT_THAT(ReadCheckpointFile(path), IsOkAndHolds(*note));
  ASSERT_THAT(WriteCheckpointFile(path, *other_note), IsOk());  // replaces
  EXPECT_THAT(ReadCheckpointFile(path), IsOkAndHolds(*other_note));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_THAT(ReadCheckpointFile(dir.Sub("missing")),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace linkd::audit
