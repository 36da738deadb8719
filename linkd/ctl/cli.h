// Shared pieces of linkctl's commands: the connection to linkd, option
// parsing, and output helpers. Not thread-safe (a command-line program).
#ifndef LINKD_CTL_CLI_H_
#define LINKD_CTL_CLI_H_

#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace linkd::ctl {

// Where and how to reach linkd (the global options).
struct Connection {
  std::string server;  // host:port
  // mTLS: the caller's certificate and key, and the CA that signed linkd's
  // certificate (PEM files). All empty: plaintext, loopback only.
  std::string cert, key, ca;

  // A channel to `server`; exits the program with a message if the TLS
  // files cannot be read.
  std::shared_ptr<grpc::Channel> Channel() const;
};

// A command's options: `--name value` for names in `with_value`, `--name`
// alone for names in `flags`, anything else is positional.
class Args {
 public:
  // INVALID_ARGUMENT naming an unknown option or one missing its value.
  static absl::StatusOr<Args> Parse(
      const std::vector<std::string>& args,
      std::initializer_list<std::string_view> with_value,
      std::initializer_list<std::string_view> flags = {});

  std::optional<std::string> Get(std::string_view name) const;
  std::string GetOr(std::string_view name, std::string fallback) const;
  bool Has(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string, std::less<>> values_;
  std::vector<std::string> positional_;
};

// Prints "linkctl: <message>" and the help hint to stderr; returns 2.
int UsageError(absl::string_view message);
// Prints "linkctl: <what>: <grpc message>" to stderr; returns 1.
int RpcError(absl::string_view what, const grpc::Status& status);

// A context with a deadline `seconds` from now.
std::unique_ptr<grpc::ClientContext> Deadline(int seconds = 30);

// 1234 -> "1234", 12345 -> "12.3k", 1234567 -> "1.23M".
std::string HumanCount(double n);
// A CSV field, quoted when it needs it (RFC 4180).
std::string CsvField(std::string_view v);
// `message` as one line of JSON (proto field names, defaults included).
std::string ToJson(const google::protobuf::Message& message);
// Microseconds since the Unix epoch as "2026-12-01 08:00:00 UTC" ("-" if 0).
std::string FormatMicros(int64_t micros);

}  // namespace linkd::ctl

#endif  // LINKD_CTL_CLI_H_
