// SecretBytes implementation: libsodium for wiping and comparison.
#include "crypto/secret_bytes.h"

#include <sodium.h>

#include <cstring>
#include <utility>

namespace linkd::crypto {

SecretBytes::SecretBytes(size_t size)
    : data_(size ? new uint8_t[size]() : nullptr), size_(size) {}

SecretBytes::SecretBytes(std::string_view bytes) : SecretBytes(bytes.size()) {
  if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
}

SecretBytes::~SecretBytes() { Wipe(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::Wipe() {
  if (data_ != nullptr) sodium_memzero(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  if (a.size_ != b.size_) return false;
  if (a.size_ == 0) return true;
  return sodium_memcmp(a.data_.get(), b.data_.get(), a.size_) == 0;
}

}  // namespace linkd::crypto
