// SecretBytes: an owned buffer for key material. Wiped with sodium_memzero
// when destroyed or moved from, compared in constant time, and printed as
// "[REDACTED]" by AbslStringify and operator<< so that a key can never reach
// a log by accident.
#ifndef LINKD_CRYPTO_SECRET_BYTES_H_
#define LINKD_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string_view>

namespace linkd::crypto {

// Move-only owner of secret bytes. Not thread-safe to mutate; concurrent
// const use is thread-safe.
class SecretBytes {
 public:
  // Empty.
  SecretBytes() = default;
  // `size` zero bytes, to be filled through data().
  explicit SecretBytes(size_t size);
  // A copy of `bytes`. The caller remains responsible for wiping its copy.
  explicit SecretBytes(std::string_view bytes);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  const uint8_t* data() const { return data_.get(); }
  uint8_t* data() { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Equal sizes and equal contents; contents are compared in constant time
  // (sodium_memcmp). Sizes are not secret.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);
  friend bool operator!=(const SecretBytes& a, const SecretBytes& b) {
    return !(a == b);
  }

  // Never reveals the contents (used by absl::StrCat/StrFormat on abseil
  // releases that support AbslStringify).
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const SecretBytes&) {
    sink.Append("[REDACTED]");
  }
  // Also used by GoogleTest when a comparison fails.
  friend std::ostream& operator<<(std::ostream& os, const SecretBytes&) {
    return os << "[REDACTED]";
  }

 private:
  void Wipe();
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace linkd::crypto

#endif  // LINKD_CRYPTO_SECRET_BYTES_H_
