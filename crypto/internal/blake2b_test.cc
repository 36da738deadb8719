// Tests of crypto/internal/blake2b.h: every implementation this CPU can run
// gives crypto_generichash's output, for every message length of one block,
// split anywhere between head and tail, for several key and digest lengths,
// and for batches that fill lanes partly.
#include "crypto/internal/blake2b.h"

#include <sodium.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace linkd::crypto::internal {
namespace {

constexpr Blake2bImpl kImpls[] = {Blake2bImpl::kPortable, Blake2bImpl::kAvx2,
                                  Blake2bImpl::kAvx512};

std::vector<uint8_t> Random(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<uint8_t> Reference(const std::vector<uint8_t>& key,
                               const std::vector<uint8_t>& message,
                               size_t out_len) {
  std::vector<uint8_t> out(out_len);
  EXPECT_EQ(crypto_generichash(out.data(), out.size(), message.data(),
                               message.size(), key.data(), key.size()),
            0);
  return out;
}

TEST(Blake2bTest, PortableIsAlwaysAvailableAndBestIsAvailable) {
  ASSERT_GE(sodium_init(), 0);
  EXPECT_TRUE(Blake2bImplAvailable(Blake2bImpl::kPortable));
  EXPECT_TRUE(Blake2bImplAvailable(BestBlake2bImpl()));
}

TEST(Blake2bTest, EveryImplementationMatchesLibsodium) {
  ASSERT_GE(sodium_init(), 0);
  std::mt19937_64 rng(20250831);
  int checked = 0;
  for (Blake2bImpl impl : kImpls) {
    if (!Blake2bImplAvailable(impl)) continue;
    SCOPED_TRACE(static_cast<int>(impl));
    for (size_t key_len : {1u, 32u, 64u}) {
      for (size_t out_len : {8u, 32u, 64u, 13u}) {
        const std::vector<uint8_t> key = Random(rng, key_len);
        Blake2bKey state;
        InitBlake2bKey(key.data(), key.size(), out_len, &state);
        // One job per message length 1..128, each split at a random point;
        // 128 jobs fill lanes exactly, then 1..9 more leave a partial group.
        for (size_t extra : {0u, 1u, 3u, 9u}) {
          std::vector<std::vector<uint8_t>> messages;
          for (size_t len = 1; len <= kBlake2bBlockBytes; ++len) {
            messages.push_back(Random(rng, len));
          }
          for (size_t e = 0; e < extra; ++e) {
            messages.push_back(Random(rng, 1 + rng() % kBlake2bBlockBytes));
          }
          std::vector<std::vector<uint8_t>> outs(
              messages.size(), std::vector<uint8_t>(out_len, 0xAA));
          std::vector<Blake2bJob> jobs;
          for (size_t j = 0; j < messages.size(); ++j) {
            const size_t split = rng() % (messages[j].size() + 1);
            jobs.push_back(
                {&state, split > 0 ? messages[j].data() : nullptr, split,
                 split < messages[j].size() ? messages[j].data() + split
                                            : nullptr,
                 messages[j].size() - split, outs[j].data()});
          }
          Blake2bBatchWith(impl, jobs.data(), jobs.size());
          for (size_t j = 0; j < messages.size(); ++j) {
            EXPECT_EQ(outs[j], Reference(key, messages[j], out_len))
                << "message length " << messages[j].size();
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GE(checked, 12 * 4 * 128);
}

TEST(Blake2bTest, JobsMayMixKeysAndDigestLengths) {
  ASSERT_GE(sodium_init(), 0);
  std::mt19937_64 rng(7);
  const std::vector<uint8_t> k1 = Random(rng, 32), k2 = Random(rng, 32);
  Blake2bKey s1, s2;
  InitBlake2bKey(k1.data(), k1.size(), 32, &s1);
  InitBlake2bKey(k2.data(), k2.size(), 64, &s2);
  const std::string text = "2014-03-07";
  const auto* msg = reinterpret_cast<const uint8_t*>(text.data());
  for (Blake2bImpl impl : kImpls) {
    if (!Blake2bImplAvailable(impl)) continue;
    std::vector<uint8_t> a(32), b(64), c(32);
    const Blake2bJob jobs[] = {{&s1, msg, text.size(), nullptr, 0, a.data()},
                               {&s2, msg, 4, msg + 4, 6, b.data()},
                               {&s1, nullptr, 0, msg, 1, c.data()}};
    Blake2bBatchWith(impl, jobs, 3);
    const std::vector<uint8_t> m(msg, msg + text.size());
    EXPECT_EQ(a, Reference(k1, m, 32));
    EXPECT_EQ(b, Reference(k2, m, 64));
    EXPECT_EQ(c, Reference(k1, {msg[0]}, 32));
  }
  // An empty batch does nothing.
  Blake2bBatch(nullptr, 0);
}

}  // namespace
}  // namespace linkd::crypto::internal
