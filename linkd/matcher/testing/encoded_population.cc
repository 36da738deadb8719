#include "linkd/matcher/testing/encoded_population.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "crypto/crypto.h"
#include "linkd/encode/proto_convert.h"
#include "tests/testing/synth/rng.h"

namespace linkd::matcher::testing {
namespace {

crypto::LinkageKey MakeKey() {
  (void)crypto::Init();
  std::string bytes(32, '\0');
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>(i);
  return *crypto::LinkageKey::FromBytes(bytes, 1);
}

uint64_t PairKey(uint32_t a, uint32_t b) {
  return (static_cast<uint64_t>(a) << 32) | b;
}

}  // namespace

const crypto::LinkageKey& TestKey() {
  static const crypto::LinkageKey* const key =
      new crypto::LinkageKey(MakeKey());
  return *key;
}

crypto::EncodedIdentity EncodeClear(const crypto::ClearIdentity& in) {
  static const crypto::Encoder* const encoder = new crypto::Encoder(TestKey());
  return encoder->Encode(in, nullptr);
}

absl::StatusOr<std::vector<TruthRecord>> EncodePopulation(
    const synth::Population& population) {
  std::unique_ptr<crypto::Encoder> encoders[synth::kNumSources];
  for (int s = 0; s < synth::kNumSources; ++s) {
    crypto::EncodeOptions options;
    absl::StatusOr<crypto::DateFormat> format = crypto::DateFormat::FromPattern(
        synth::ColumnsOf(static_cast<synth::Source>(s)).date_pattern);
    if (!format.ok()) return format.status();
    options.date_format = *format;
    encoders[s] = std::make_unique<crypto::Encoder>(TestKey(), options);
  }
  absl::flat_hash_map<uint64_t, uint64_t> household;
  for (const synth::Person& p : population.people) {
    household[p.person_id] = p.household_id;
  }
  std::vector<TruthRecord> out;
  out.reserve(population.records.size());
  for (const synth::SourceRecord& r : population.records) {
    crypto::ClearIdentity clear;
    clear.given_name = r.given_name;
    clear.family_name = r.family_name;
    clear.dob = r.dob;
    clear.sex = r.sex;
    clear.postcode = r.postcode;
    clear.upn = r.upn;
    clear.nhs_number = r.nhs_number;
    const crypto::EncodedIdentity e =
        encoders[static_cast<int>(r.source)]->Encode(clear, nullptr);
    TruthRecord t;
    t.source = r.source;
    t.record_id = r.record_id;
    t.person_id = r.person_id;
    t.household_id = household[r.person_id];
    encode::ToProto(e, &t.identity);
    absl::Status s = Decode(t.identity, &t.decoded);
    if (!s.ok()) return s;
    const DecodedIdentity direct = Decode(e);
    if (direct.present != t.decoded.present ||
        direct.tokens != t.decoded.tokens ||
        std::memcmp(direct.given_name.words, t.decoded.given_name.words,
                    sizeof(direct.given_name.words)) != 0 ||
        direct.given_name.popcount != t.decoded.given_name.popcount) {
      return absl::InternalError("decoded forms disagree");
    }
    if (t.decoded.present == 0 && !t.decoded.has_given_name &&
        !t.decoded.has_family_name) {
      continue;
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<Pair> BlockedPairs(const std::vector<TruthRecord>& records,
                               size_t max_block) {
  // Block key: (kind, token fingerprint[, second fingerprint]) hashed.
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, std::vector<uint32_t>>
      blocks;
  for (uint32_t i = 0; i < records.size(); ++i) {
    const DecodedIdentity& d = records[i].decoded;
    if (d.has(TokenSlot::kDobUnordered)) {
      blocks[{1, d.token(TokenSlot::kDobUnordered)}].push_back(i);
    }
    if (d.has(TokenSlot::kPostcodeUnit) && d.has(TokenSlot::kBirthYear)) {
      blocks[{2, d.token(TokenSlot::kPostcodeUnit) ^
                     (d.token(TokenSlot::kBirthYear) * 0x9E3779B97F4A7C15ULL)}]
          .push_back(i);
    }
    if (d.has(TokenSlot::kUpn))
      blocks[{3, d.token(TokenSlot::kUpn)}].push_back(i);
    if (d.has(TokenSlot::kNhsNumber)) {
      blocks[{4, d.token(TokenSlot::kNhsNumber)}].push_back(i);
    }
  }
  absl::flat_hash_set<uint64_t> seen;
  std::vector<Pair> pairs;
  for (const auto& [key, members] : blocks) {
    if (members.size() < 2 || members.size() > max_block) continue;
    for (size_t a = 0; a < members.size(); ++a) {
      for (size_t b = a + 1; b < members.size(); ++b) {
        const uint32_t x = std::min(members[a], members[b]);
        const uint32_t y = std::max(members[a], members[b]);
        if (seen.insert(PairKey(x, y)).second) pairs.emplace_back(x, y);
      }
    }
  }
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

std::vector<Pair> RandomPairs(const std::vector<TruthRecord>& records, size_t n,
                              uint64_t seed) {
  synth::Rng rng(seed);
  std::vector<Pair> pairs;
  if (records.size() < 2) return pairs;
  pairs.reserve(n);
  while (pairs.size() < n) {
    const auto a = static_cast<uint32_t>(rng.Uniform(records.size()));
    const auto b = static_cast<uint32_t>(rng.Uniform(records.size()));
    if (a == b) continue;
    pairs.emplace_back(std::min(a, b), std::max(a, b));
  }
  return pairs;
}

std::vector<Pair> RandomSameSaltPairs(const std::vector<TruthRecord>& records,
                                      size_t n, uint64_t seed) {
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> by_salt;
  for (uint32_t i = 0; i < records.size(); ++i) {
    const DecodedIdentity& d = records[i].decoded;
    if (d.has(TokenSlot::kDobUnordered)) {
      by_salt[d.token(TokenSlot::kDobUnordered)].push_back(i);
    }
  }
  // Weighted by block pairs: pick a record pair uniformly among all
  // same-salt pairs. Cumulative pair counts, then binary search.
  std::vector<const std::vector<uint32_t>*> groups;
  std::vector<uint64_t> cumulative;
  uint64_t total = 0;
  for (const auto& [salt, members] : by_salt) {
    if (members.size() < 2) continue;
    total += members.size() * (members.size() - 1) / 2;
    groups.push_back(&members);
    cumulative.push_back(total);
  }
  std::vector<Pair> pairs;
  if (total == 0) return pairs;
  synth::Rng rng(seed);
  pairs.reserve(n);
  while (pairs.size() < n) {
    const uint64_t r = rng.Uniform(total);
    const size_t g = std::upper_bound(cumulative.begin(), cumulative.end(), r) -
                     cumulative.begin();
    const std::vector<uint32_t>& m = *groups[g];
    const auto a = static_cast<uint32_t>(m[rng.Uniform(m.size())]);
    const auto b = static_cast<uint32_t>(m[rng.Uniform(m.size())]);
    if (a == b) continue;
    pairs.emplace_back(std::min(a, b), std::max(a, b));
  }
  return pairs;
}

}  // namespace linkd::matcher::testing
