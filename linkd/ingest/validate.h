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

// Checks one record as ValidateItem does (messages start "record.").
absl::Status ValidateRecord(const v1::EncodedRecord& record);

// Checks one event and its record: the record as ValidateRecord (messages
// then start "event.record."), and the event's fields for its type
// (messages start "event.event."): an event id that is not a clear
// identifier, a valid date, a source that is the reporter's organisation
// id (school/<URN> for school events, la/<code> for social care events),
// and exactly the details its type has (days for a suspension, a reason
// code for a removal from roll, a kind and, at the start, a contact for an
// episode). INVALID_ARGUMENT naming the field; never echoes a value.
absl::Status ValidateEvent(const v1::EncodedEvent& event);

// Returns true if `text` looks like a clear identifier: an NHS number passing
// its check digit, anything shaped like a UPN, a date in a common layout, or
// a UK postcode. Used on free-text fields such as record_id.
bool LooksLikeClearIdentifier(std::string_view text);

}  // namespace linkd::ingest

#endif  // LINKD_INGEST_VALIDATE_H_
