#include "linkd/ingest/validate.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/encoder.h"
#include "crypto/normalize.h"
#include "linkd/encode/attributes.h"

namespace linkd::ingest {
namespace {

constexpr size_t kMaxSourceBytes = 128;
constexpr size_t kMaxRecordIdBytes = 128;

absl::Status Invalid(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

// A UPN is a letter, eleven digits and a digit or letter. Anything of that
// shape is refused whether or not its check letter is right: a mistyped UPN
// is still an identifier.
bool LooksLikeUpn(std::string_view s) {
  std::string compact;
  for (char c : s) {
    if (c != ' ') compact.push_back(absl::ascii_toupper(c));
  }
  if (compact.size() != 13 || !absl::ascii_isalpha(compact[0])) return false;
  for (size_t i = 1; i < 12; ++i) {
    if (!absl::ascii_isdigit(compact[i])) return false;
  }
  return absl::ascii_isalnum(compact[12]);
}

// Ten digits, with optional spaces or hyphens, passing modulus 11.
bool LooksLikeNhsNumber(std::string_view s) {
  return crypto::NormalizeNhsNumber(s).ok();
}

bool LooksLikeDate(std::string_view s) {
  static const crypto::DateFormat* const kFormats[] = {
      new crypto::DateFormat(crypto::DateFormat::Auto()),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("DD-MM-YYYY")),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("DD.MM.YYYY")),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("MM/DD/YYYY")),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("YYYY/MM/DD")),
  };
  for (const crypto::DateFormat* f : kFormats) {
    if (f->Parse(s).ok()) return true;
  }
  return false;
}

bool LooksLikePostcode(std::string_view s) {
  return crypto::NormalizePostcode(s).ok();
}

// True if every byte is printable ASCII: an encoding of 32 random bytes is
// all-printable with probability (95/256)^32 < 1e-13, so this only fires on
// text pasted where a token belongs.
bool IsPrintableText(std::string_view bytes) {
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

absl::Status CheckToken(absl::string_view field, const std::string& token) {
  if (token.empty()) return absl::OkStatus();
  if (token.size() != crypto::kTokenBytes) {
    return Invalid(field, absl::StrCat("token must be ", crypto::kTokenBytes,
                                       " bytes, got ", token.size()));
  }
  if (IsPrintableText(token)) {
    return Invalid(field, "looks like clear text, not a keyed token");
  }
  return absl::OkStatus();
}

absl::Status CheckBloom(absl::string_view field, const std::string& filter) {
  if (filter.empty()) return absl::OkStatus();
  if (filter.size() != crypto::kBloomBytes) {
    return Invalid(field,
                   absl::StrCat("Bloom filter must be ", crypto::kBloomBytes,
                                " bytes, got ", filter.size()));
  }
  size_t bits = 0;
  for (char c : filter) bits += __builtin_popcount(static_cast<uint8_t>(c));
  if (bits == 0) return Invalid(field, "empty Bloom filter must be omitted");
  // A name sets at most a few hundred of the 1024 bits; a filter that is
  // mostly ones matches everything and would poison blocking.
  if (bits > crypto::kBloomBits * 3 / 4) {
    return Invalid(field, "Bloom filter is implausibly full");
  }
  if (IsPrintableText(filter)) {
    return Invalid(field, "looks like clear text, not a Bloom filter");
  }
  return absl::OkStatus();
}

bool IsSourceChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.' ||
         c == '/' || c == ':';
}

// Attributes: closed names, each value a code of its attribute
// (linkd/encode/attributes.h). An unknown name is not echoed: it could be
// anything a provider typed.
absl::Status CheckAttributes(const v1::EncodedRecord& r) {
  for (const auto& [name, value] : r.attributes()) {
    if (!encode::IsAttributeName(name)) {
      return Invalid(
          "record.attributes",
          absl::StrCat("an attribute name linkd does not accept; "
                       "allowed: ",
                       absl::StrJoin(encode::AttributeNames(), ", ",
                                     [](std::string* out, std::string_view n) {
                                       out->append(n.data(), n.size());
                                     })));
    }
    const std::string field = absl::StrCat("record.attributes.", name);
    if (value.empty()) return Invalid(field, "empty: omit it instead");
    if (absl::Status s = encode::CheckAttributeValue(name, value); !s.ok()) {
      return Invalid(field, s.message());
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRecord(const v1::EncodedRecord& r) {
  if (r.source().empty()) return Invalid("record.source", "missing");
  if (r.source().size() > kMaxSourceBytes) {
    return Invalid("record.source",
                   absl::StrCat("longer than ", kMaxSourceBytes, " bytes"));
  }
  for (char c : r.source()) {
    if (!IsSourceChar(c)) {
      return Invalid("record.source",
                     "may contain only letters, digits and _ - . / :");
    }
  }
  if (r.record_id().empty()) return Invalid("record.record_id", "missing");
  if (r.record_id().size() > kMaxRecordIdBytes) {
    return Invalid("record.record_id",
                   absl::StrCat("longer than ", kMaxRecordIdBytes, " bytes"));
  }
  for (char c : r.record_id()) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) {
      return Invalid("record.record_id", "must be printable ASCII");
    }
  }
  if (LooksLikeClearIdentifier(r.record_id())) {
    return Invalid("record.record_id",
                   "looks like a clear identifier (NHS number, UPN, date or "
                   "postcode); send the source's own record reference");
  }
  if (!r.has_identity()) return Invalid("record.identity", "missing");
  const v1::EncodedIdentity& id = r.identity();
  if (id.encoding_version() != crypto::kEncodingVersion) {
    return Invalid("record.identity.encoding_version",
                   absl::StrCat("unsupported version ", id.encoding_version(),
                                "; this linkd accepts only version ",
                                crypto::kEncodingVersion,
                                ": re-encode the source file with a version ",
                                crypto::kEncodingVersion, " encoder"));
  }
  if (id.key_version() == 0) {
    return Invalid("record.identity.key_version", "missing");
  }
  if (id.key_check().size() != crypto::kKeyCheckBytes) {
    return Invalid("record.identity.key_check",
                   absl::StrCat("must be ", crypto::kKeyCheckBytes,
                                " bytes, got ", id.key_check().size()));
  }
  const std::pair<absl::string_view, const std::string*> tokens[] = {
      {"record.identity.upn", &id.upn()},
      {"record.identity.nhs_number", &id.nhs_number()},
      {"record.identity.dob", &id.dob()},
      {"record.identity.dob_year_month", &id.dob_year_month()},
      {"record.identity.dob_year_day", &id.dob_year_day()},
      {"record.identity.dob_month_day", &id.dob_month_day()},
      {"record.identity.dob_unordered", &id.dob_unordered()},
      {"record.identity.birth_year", &id.birth_year()},
      {"record.identity.sex", &id.sex()},
      {"record.identity.postcode_unit", &id.postcode_unit()},
      {"record.identity.postcode_sector", &id.postcode_sector()},
      {"record.identity.postcode_district", &id.postcode_district()},
  };
  for (const auto& [field, value] : tokens) {
    if (absl::Status s = CheckToken(field, *value); !s.ok()) return s;
  }
  // Name filters, with the salt field each family needs (ENCODING.md 6): a
  // dob-salted filter without dob_unordered, or a postcode-salted one without
  // postcode_unit, cannot have been salted as version 2 requires (it would be
  // version 1's unsalted filter, with the frequency exposure v2 removes).
  struct NameFilter {
    absl::string_view field;
    const std::string* filter;
    absl::string_view salt_field;
    const std::string* salt;
  };
  const NameFilter filters[] = {
      {"record.identity.given_name_bf", &id.given_name_bf(), "dob_unordered",
       &id.dob_unordered()},
      {"record.identity.family_name_bf", &id.family_name_bf(), "dob_unordered",
       &id.dob_unordered()},
      {"record.identity.given_name_pc_bf", &id.given_name_pc_bf(),
       "postcode_unit", &id.postcode_unit()},
      {"record.identity.family_name_pc_bf", &id.family_name_pc_bf(),
       "postcode_unit", &id.postcode_unit()},
  };
  bool any_filter = false;
  for (const NameFilter& f : filters) {
    if (absl::Status s = CheckBloom(f.field, *f.filter); !s.ok()) return s;
    if (f.filter->empty()) continue;
    any_filter = true;
    if (f.salt->empty()) {
      return Invalid(f.field,
                     absl::StrCat("present without ", f.salt_field,
                                  ", the field that salts it; version ",
                                  crypto::kEncodingVersion,
                                  " never builds an unsalted name filter"));
    }
  }
  if (id.upn().empty() && id.nhs_number().empty() && id.dob().empty() &&
      !any_filter) {
    return Invalid("record.identity",
                   "no identifying field (needs upn, nhs_number, dob or a "
                   "name filter)");
  }
  return CheckAttributes(r);
}

}  // namespace

bool LooksLikeClearIdentifier(std::string_view text) {
  const absl::string_view stripped =
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  const std::string_view t(stripped.data(), stripped.size());
  if (t.empty()) return false;
  return LooksLikeNhsNumber(t) || LooksLikeUpn(t) || LooksLikeDate(t) ||
         LooksLikePostcode(t);
}

absl::Status ValidateRecord(const v1::EncodedRecord& record) {
  return CheckRecord(record);
}

absl::Status ValidateItem(const v1::IngestItem& item) {
  switch (item.kind_case()) {
    case v1::IngestItem::kRecord:
      return CheckRecord(item.record());
    case v1::IngestItem::kEvent:
      return ValidateEvent(item.event());
    case v1::IngestItem::KIND_NOT_SET:
      break;
  }
  return Invalid("item", "empty: expected a record or an event");
}

}  // namespace linkd::ingest
