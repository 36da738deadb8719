// Internal to linkd::crypto (not installed): strict UTF-8 decoding and the
// per-code-point folding of names described in crypto/ENCODING.md.
#ifndef LINKD_CRYPTO_INTERNAL_FOLD_H_
#define LINKD_CRYPTO_INTERNAL_FOLD_H_

#include <cstddef>
#include <string_view>

namespace linkd::crypto::internal {

// Decodes one code point of `s` at `*pos` and advances `*pos`. Returns false
// for malformed UTF-8 (bad lead or continuation byte, truncated sequence,
// overlong form, surrogate, or above U+10FFFF). Thread-safe.
bool DecodeUtf8(std::string_view s, size_t* pos, char32_t* cp);

enum class FoldKind {
  kLetters,      // append `letters` (upper-case ASCII, one or more)
  kDrop,         // punctuation, apostrophes, marks: removed, no split
  kSplit,        // space, hyphen, comma, full stop: ends a name part
  kDigit,        // a decimal digit
  kControl,      // a control character other than white space
  kUnsupported,  // a script or symbol with no ASCII folding
};

struct Folded {
  FoldKind kind;
  std::string_view letters;  // set for kLetters only; static storage
};

// Folds one code point. Pure and thread-safe.
Folded FoldCodePoint(char32_t cp);

}  // namespace linkd::crypto::internal

#endif  // LINKD_CRYPTO_INTERNAL_FOLD_H_
