// Validation of incoming encoded items, before anything is stored.
//
// linkd never holds a clear identifier, so beyond checking the shape of an
// encoding it refuses anything that looks like one: a record_id that is an
// NHS number, a UPN, a date or a postcode, and a token or Bloom filter whose
// bytes read as plain text.
#ifndef LINKD_INGEST_VALIDATE_H_
#define LINKD_INGEST_VALIDATE_H_

#include <string_view>

#include "absl/status/status.h"
#include "linkd/v1/record.pb.h"

namespace linkd::ingest {

// Checks one item. Returns OK, or INVALID_ARGUMENT whose message starts with
// the offending field path (e.g. "record.identity.upn: ...") and gives the
// reason. The message never contains the submitted value. Thread-safe.
absl::Status ValidateItem(const v1::IngestItem& item);

// Returns true if `text` looks like a clear identifier: an NHS number passing
// its check digit, anything shaped like a UPN, a date in a common layout, or
// a UK postcode. Used on free-text fields such as record_id.
bool LooksLikeClearIdentifier(std::string_view text);

}  // namespace linkd::ingest

#endif  // LINKD_INGEST_VALIDATE_H_
