// Test support for linkd::matcher: a synthetic population (linkd::synth)
// encoded with the real encoder (linkd::crypto) under a fixed test key, with
// the ground truth of who is who, plus simple candidate-pair generators
// (blocked pairs on a few token keys, random pairs) standing in for
// linkd/blocking in unit tests. Synthetic people only. Not thread-safe.
#ifndef LINKD_MATCHER_TESTING_ENCODED_POPULATION_H_
#define LINKD_MATCHER_TESTING_ENCODED_POPULATION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "linkd/matcher/comparison.h"
#include "linkd/v1/record.pb.h"
#include "tests/testing/synth/population.h"

namespace linkd::matcher::testing {

// The fixed linkage key of these tests (bytes 0x00..0x1f, version 1, the key
// of crypto/ENCODING.md section 8). Calls crypto::Init().
const crypto::LinkageKey& TestKey();

// Encodes `in` under TestKey() with the encoder's default options (ISO or
// auto-detected dates).
crypto::EncodedIdentity EncodeClear(const crypto::ClearIdentity& in);

// One encoded source record with its truth.
struct TruthRecord {
  synth::Source source = synth::Source::kSchoolCensus;
  std::string record_id;
  uint64_t person_id = 0;
  uint64_t household_id = 0;
  linkd::v1::EncodedIdentity identity;  // wire form
  DecodedIdentity decoded;              // Decode(identity)
};

// Encodes every record of `population` under TestKey(), each source with its
// own date format. Records the encoder rejects entirely (no usable field)
// are skipped. INTERNAL if a decoded record disagrees with its wire form.
absl::StatusOr<std::vector<TruthRecord>> EncodePopulation(
    const synth::Population& population);

using Pair = std::pair<uint32_t, uint32_t>;  // indices, first < second

// Distinct pairs of records sharing at least one blocking key: the
// dob_unordered token, postcode unit + birth year, the UPN or the NHS
// number. Blocks larger than `max_block` records are skipped.
std::vector<Pair> BlockedPairs(const std::vector<TruthRecord>& records,
                               size_t max_block = 200);

// `n` uniformly random pairs of distinct records.
std::vector<Pair> RandomPairs(const std::vector<TruthRecord>& records, size_t n,
                              uint64_t seed);

// `n` random pairs of distinct records with the same dob_unordered token
// (name filters comparable), drawn block by block in proportion to block
// pairs.
std::vector<Pair> RandomSameSaltPairs(const std::vector<TruthRecord>& records,
                                      size_t n, uint64_t seed);

}  // namespace linkd::matcher::testing

#endif  // LINKD_MATCHER_TESTING_ENCODED_POPULATION_H_
