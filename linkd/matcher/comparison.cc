#include "linkd/matcher/comparison.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace linkd::matcher {
namespace {

struct FieldSpec {
  absl::string_view name;
  int num_levels;
  absl::string_view levels[kMaxLevels];
  // Bit l set: level l is neutral.
  uint8_t neutral_mask;
};

// Indexed by CompareField; level names in enum order.
constexpr FieldSpec kSpecs[kNumCompareFields] = {
    {"upn", 3, {"missing", "agree", "disagree"}, 0x01},
    {"nhs_number", 3, {"missing", "agree", "disagree"}, 0x01},
    {"dob",
     6,
     {"missing", "exact", "transposed", "two_parts", "year_only", "disagree"},
     0x01},
    {"sex", 3, {"missing", "agree", "disagree"}, 0x01},
    {"postcode",
     5,
     {"missing", "unit", "sector", "district", "disagree"},
     0x01},
    {"given_name",
     6,
     {"missing", "not_comparable", "high", "low", "below", "swapped"},
     0x03},
    {"family_name",
     6,
     {"missing", "not_comparable", "high", "low", "below", "swapped"},
     0x23},
};

const FieldSpec& Spec(CompareField field) {
  return kSpecs[static_cast<size_t>(field)];
}

// The proto's token fields by slot, with their names for error messages.
struct TokenField {
  absl::string_view name;
  const std::string& (linkd::v1::EncodedIdentity::*get)() const;
};
const TokenField kTokenFields[kNumTokenSlots] = {
    {"upn", &linkd::v1::EncodedIdentity::upn},
    {"nhs_number", &linkd::v1::EncodedIdentity::nhs_number},
    {"dob", &linkd::v1::EncodedIdentity::dob},
    {"dob_year_month", &linkd::v1::EncodedIdentity::dob_year_month},
    {"dob_year_day", &linkd::v1::EncodedIdentity::dob_year_day},
    {"dob_month_day", &linkd::v1::EncodedIdentity::dob_month_day},
    {"dob_unordered", &linkd::v1::EncodedIdentity::dob_unordered},
    {"birth_year", &linkd::v1::EncodedIdentity::birth_year},
    {"sex", &linkd::v1::EncodedIdentity::sex},
    {"postcode_unit", &linkd::v1::EncodedIdentity::postcode_unit},
    {"postcode_sector", &linkd::v1::EncodedIdentity::postcode_sector},
    {"postcode_district", &linkd::v1::EncodedIdentity::postcode_district},
};

void SetToken(DecodedIdentity* out, TokenSlot slot, absl::string_view token) {
  out->tokens[static_cast<size_t>(slot)] = TokenFingerprint(token);
  out->present |= static_cast<uint16_t>(1u << static_cast<int>(slot));
}

void SetToken(DecodedIdentity* out, TokenSlot slot,
              const std::optional<crypto::Token>& token) {
  if (!token.has_value()) return;
  SetToken(out, slot,
           absl::string_view(reinterpret_cast<const char*>(token->data()),
                             token->size()));
}

// Both present and equal.
bool Agree(const DecodedIdentity& a, const DecodedIdentity& b, TokenSlot slot) {
  return a.has(slot) && b.has(slot) && a.token(slot) == b.token(slot);
}
bool BothHave(const DecodedIdentity& a, const DecodedIdentity& b,
              TokenSlot slot) {
  return a.has(slot) && b.has(slot);
}

uint8_t AgreeOrNot(const DecodedIdentity& a, const DecodedIdentity& b,
                   TokenSlot slot) {
  if (!BothHave(a, b, slot)) return static_cast<uint8_t>(AgreeLevel::kMissing);
  return static_cast<uint8_t>(a.token(slot) == b.token(slot)
                                  ? AgreeLevel::kAgree
                                  : AgreeLevel::kDisagree);
}

NameLevel ByCutoff(double dice, const ComparisonOptions& options) {
  if (dice >= options.name_high_cutoff) return NameLevel::kHigh;
  if (dice >= options.name_low_cutoff) return NameLevel::kLow;
  return NameLevel::kBelow;
}

}  // namespace

absl::string_view FieldName(CompareField field) { return Spec(field).name; }

std::optional<CompareField> FieldFromName(absl::string_view name) {
  for (size_t i = 0; i < kNumCompareFields; ++i) {
    if (kSpecs[i].name == name) return static_cast<CompareField>(i);
  }
  return std::nullopt;
}

int NumLevels(CompareField field) { return Spec(field).num_levels; }

absl::string_view LevelName(CompareField field, int level) {
  const FieldSpec& spec = Spec(field);
  if (level < 0 || level >= spec.num_levels) return "";
  return spec.levels[level];
}

int LevelFromName(CompareField field, absl::string_view name) {
  const FieldSpec& spec = Spec(field);
  for (int l = 0; l < spec.num_levels; ++l) {
    if (spec.levels[l] == name) return l;
  }
  return -1;
}

bool IsNeutralLevel(CompareField field, int level) {
  return level >= 0 && level < kMaxLevels &&
         ((Spec(field).neutral_mask >> level) & 1);
}

uint64_t TokenFingerprint(absl::string_view token) {
  uint64_t w = 0;
  for (int i = 7; i >= 0; --i) {
    w = (w << 8) | static_cast<uint8_t>(token[i]);
  }
  return w;
}

absl::Status Decode(const linkd::v1::EncodedIdentity& in,
                    DecodedIdentity* out) {
  *out = DecodedIdentity();
  for (size_t i = 0; i < kNumTokenSlots; ++i) {
    const std::string& token = (in.*kTokenFields[i].get)();
    if (token.empty()) continue;
    if (token.size() != crypto::kTokenBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(kTokenFields[i].name, ": token must be ",
                       crypto::kTokenBytes, " bytes, got ", token.size()));
    }
    SetToken(out, static_cast<TokenSlot>(i), token);
  }
  struct FilterField {
    const std::string& bytes;
    absl::string_view name;
    Filter* filter;
    bool* has;
  };
  const FilterField filters[] = {
      {in.given_name_bf(), "given_name_bf", &out->given_name,
       &out->has_given_name},
      {in.family_name_bf(), "family_name_bf", &out->family_name,
       &out->has_family_name},
      {in.given_name_pc_bf(), "given_name_pc_bf", &out->given_name_pc,
       &out->has_given_name_pc},
      {in.family_name_pc_bf(), "family_name_pc_bf", &out->family_name_pc,
       &out->has_family_name_pc},
  };
  for (const FilterField& f : filters) {
    if (f.bytes.empty()) continue;
    absl::StatusOr<Filter> filter = FilterFromBytes(f.bytes);
    if (!filter.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.name, ": ", filter.status().message()));
    }
    *f.filter = *filter;
    *f.has = true;
  }
  return absl::OkStatus();
}

DecodedIdentity Decode(const crypto::EncodedIdentity& in) {
  DecodedIdentity out;
  SetToken(&out, TokenSlot::kUpn, in.upn);
  SetToken(&out, TokenSlot::kNhsNumber, in.nhs_number);
  SetToken(&out, TokenSlot::kDob, in.dob);
  SetToken(&out, TokenSlot::kDobYearMonth, in.dob_year_month);
  SetToken(&out, TokenSlot::kDobYearDay, in.dob_year_day);
  SetToken(&out, TokenSlot::kDobMonthDay, in.dob_month_day);
  SetToken(&out, TokenSlot::kDobUnordered, in.dob_unordered);
  SetToken(&out, TokenSlot::kBirthYear, in.birth_year);
  SetToken(&out, TokenSlot::kSex, in.sex);
  SetToken(&out, TokenSlot::kPostcodeUnit, in.postcode_unit);
  SetToken(&out, TokenSlot::kPostcodeSector, in.postcode_sector);
  SetToken(&out, TokenSlot::kPostcodeDistrict, in.postcode_district);
  if (in.given_name_bf.has_value()) {
    out.given_name = FilterFromBloom(*in.given_name_bf);
    out.has_given_name = true;
  }
  if (in.family_name_bf.has_value()) {
    out.family_name = FilterFromBloom(*in.family_name_bf);
    out.has_family_name = true;
  }
  if (in.given_name_pc_bf.has_value()) {
    out.given_name_pc = FilterFromBloom(*in.given_name_pc_bf);
    out.has_given_name_pc = true;
  }
  if (in.family_name_pc_bf.has_value()) {
    out.family_name_pc = FilterFromBloom(*in.family_name_pc_bf);
    out.has_family_name_pc = true;
  }
  return out;
}

absl::Status ValidateComparisonOptions(const ComparisonOptions& options) {
  // Written so that NaN fails too.
  if (!(options.name_high_cutoff > 0.0 && options.name_high_cutoff <= 1.0)) {
    return absl::InvalidArgumentError("name_high_cutoff: must be in (0, 1]");
  }
  if (!(options.name_low_cutoff > 0.0 &&
        options.name_low_cutoff <= options.name_high_cutoff)) {
    return absl::InvalidArgumentError(
        "name_low_cutoff: must be in (0, name_high_cutoff]");
  }
  return absl::OkStatus();
}

void Compare(const DecodedIdentity& a, const DecodedIdentity& b,
             const ComparisonOptions& options, ComparisonVector* out) {
  *out = ComparisonVector();
  auto set = [out](CompareField f, auto level) {
    out->levels[static_cast<size_t>(f)] = static_cast<uint8_t>(level);
  };

  set(CompareField::kUpn, AgreeOrNot(a, b, TokenSlot::kUpn));
  set(CompareField::kNhsNumber, AgreeOrNot(a, b, TokenSlot::kNhsNumber));
  set(CompareField::kSex, AgreeOrNot(a, b, TokenSlot::kSex));

  // A valid date of birth yields all six date tokens (ENCODING.md 5).
  if (BothHave(a, b, TokenSlot::kDob)) {
    DobLevel level = DobLevel::kDisagree;
    if (a.token(TokenSlot::kDob) == b.token(TokenSlot::kDob)) {
      level = DobLevel::kExact;
      out->dob_token = a.token(TokenSlot::kDob);
    } else if (Agree(a, b, TokenSlot::kDobUnordered)) {
      level = DobLevel::kTransposed;
    } else if (Agree(a, b, TokenSlot::kDobYearMonth) ||
               Agree(a, b, TokenSlot::kDobYearDay) ||
               Agree(a, b, TokenSlot::kDobMonthDay)) {
      level = DobLevel::kTwoParts;
    } else if (Agree(a, b, TokenSlot::kBirthYear)) {
      level = DobLevel::kYearOnly;
    }
    set(CompareField::kDob, level);
  }

  if (BothHave(a, b, TokenSlot::kPostcodeUnit)) {
    PostcodeLevel level = PostcodeLevel::kDisagree;
    if (a.token(TokenSlot::kPostcodeUnit) ==
        b.token(TokenSlot::kPostcodeUnit)) {
      level = PostcodeLevel::kUnit;
      out->postcode_unit_token = a.token(TokenSlot::kPostcodeUnit);
    } else if (Agree(a, b, TokenSlot::kPostcodeSector)) {
      level = PostcodeLevel::kSector;
    } else if (Agree(a, b, TokenSlot::kPostcodeDistrict)) {
      level = PostcodeLevel::kDistrict;
    }
    set(CompareField::kPostcode, level);
  }

  // Names: filters under different salts are unrelated bit patterns. The
  // dob salt is preferred (a day/month swap keeps it); the postcode salt
  // compares names when a date is missing or mistyped but the address
  // agrees.
  const Filter *ga = nullptr, *fa = nullptr, *gb = nullptr, *fb = nullptr;
  if (Agree(a, b, TokenSlot::kDobUnordered)) {
    ga = a.has_given_name ? &a.given_name : nullptr;
    fa = a.has_family_name ? &a.family_name : nullptr;
    gb = b.has_given_name ? &b.given_name : nullptr;
    fb = b.has_family_name ? &b.family_name : nullptr;
  }
  if ((ga == nullptr && fa == nullptr) || (gb == nullptr && fb == nullptr)) {
    ga = fa = gb = fb = nullptr;
    if (Agree(a, b, TokenSlot::kPostcodeUnit)) {
      ga = a.has_given_name_pc ? &a.given_name_pc : nullptr;
      fa = a.has_family_name_pc ? &a.family_name_pc : nullptr;
      gb = b.has_given_name_pc ? &b.given_name_pc : nullptr;
      fb = b.has_family_name_pc ? &b.family_name_pc : nullptr;
    }
  }
  if ((ga == nullptr && fa == nullptr) || (gb == nullptr && fb == nullptr)) {
    // No common salt: a name both records hold carries no evidence either
    // way; a name one side lacks stays missing.
    if ((a.has_given_name || a.has_given_name_pc) &&
        (b.has_given_name || b.has_given_name_pc)) {
      set(CompareField::kGivenName, NameLevel::kNotComparable);
    }
    if ((a.has_family_name || a.has_family_name_pc) &&
        (b.has_family_name || b.has_family_name_pc)) {
      set(CompareField::kFamilyName, NameLevel::kNotComparable);
    }
    return;
  }
  const bool given = ga != nullptr && gb != nullptr;
  const bool family = fa != nullptr && fb != nullptr;
  // Cut-offs are applied to the exact (double) values; the floats kept in
  // the vector are for explanation only.
  double dice_given = 0.0, dice_family = 0.0;
  if (given) {
    dice_given = Dice(*ga, *gb);
    out->dice_given = static_cast<float>(dice_given);
    set(CompareField::kGivenName, ByCutoff(dice_given, options));
  }
  if (family) {
    dice_family = Dice(*fa, *fb);
    out->dice_family = static_cast<float>(dice_family);
    set(CompareField::kFamilyName, ByCutoff(dice_family, options));
  }
  if (given && family && dice_given < options.name_high_cutoff &&
      dice_family < options.name_high_cutoff) {
    const double cross_gf = Dice(*ga, *fb);
    const double cross_fg = Dice(*fa, *gb);
    out->dice_given_family = static_cast<float>(cross_gf);
    out->dice_family_given = static_cast<float>(cross_fg);
    if (cross_gf >= options.name_high_cutoff &&
        cross_fg >= options.name_high_cutoff) {
      set(CompareField::kGivenName, NameLevel::kSwapped);
      set(CompareField::kFamilyName, NameLevel::kSwapped);
    }
  }
}

}  // namespace linkd::matcher
