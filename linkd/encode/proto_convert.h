// linkd::encode proto conversion: crypto::EncodedIdentity (the encoder's
// in-memory result) to the wire messages of proto/linkd/v1/record.proto.
// Pure functions; thread-safe.
#ifndef LINKD_ENCODE_PROTO_CONVERT_H_
#define LINKD_ENCODE_PROTO_CONVERT_H_

#include <string_view>

#include "crypto/encoder.h"
#include "linkd/v1/record.pb.h"

namespace linkd::encode {

// Fills `*out` (cleared first) from `in`: versions, key check and every
// present token or filter as raw bytes. Absent optionals leave their bytes
// field empty. `out` must not be null.
void ToProto(const crypto::EncodedIdentity& in,
             linkd::v1::EncodedIdentity* out);

// Overwrites `*out` with the ingest item for one source record (reusing its
// allocations).
// `out` must not be null.
void MakeIngestItem(std::string_view source, std::string_view record_id,
                    const crypto::EncodedIdentity& identity,
                    linkd::v1::IngestItem* out);

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_PROTO_CONVERT_H_
