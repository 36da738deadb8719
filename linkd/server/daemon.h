// The linkd daemon as a library: opens the store, builds the gRPC server with
// every service, and shuts both down in order. main.cc only parses flags and
// signals; tests and benchmarks start the same daemon through the binary.
#ifndef LINKD_SERVER_DAEMON_H_
#define LINKD_SERVER_DAEMON_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "linkd/config/v1/daemon_config.pb.h"
#include "linkd/util/clock.h"

namespace linkd::server {

struct DaemonOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:7300";
  uint32_t max_message_bytes = 16 << 20;
  uint32_t max_batch_items = 10000;
  uint32_t block_cache_mib = 256;
  absl::Duration shutdown_grace = absl::Seconds(10);
  bool start_linking_paused = false;
  // Clustering thresholds in bits, overriding the model's when both are
  // set (see DaemonConfig).
  std::optional<double> link_threshold_bits;
  std::optional<double> review_threshold_bits;
  // The policy directory (policies/ of the checkout by default): loaded and
  // its tests run at start-up; a failure stops start-up.
  std::string policy_dir;
  // mTLS: linkd's certificate chain and key, and the CA whose client
  // certificates it accepts (PEM files). All three, or none (insecure
  // transport, loopback only: every caller is local/operator).
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  // Trust domain of the callers' SPIFFE ids.
  std::string trust_domain = "linkd.example";
  // Ed25519 key signing the audit log's checkpoints; created on first start
  // (mode 0600). Default: <data_dir>/audit-signing.key.
  std::string audit_key;
  // A signed checkpoint is stored every this many audit entries.
  uint64_t checkpoint_interval = 10000;
  // Research extracts: the release key K_res (per-project pseudonyms) and
  // linkd's release signing key (Ed25519, signs every extract manifest),
  // both created on first start (mode 0600). Default:
  // <data_dir>/release.key and <data_dir>/release-signing.key. Back both up
  // with the release component: a lost release key means new pseudonyms
  // for every project. Released extracts wait, encrypted, in
  // <data_dir>/extracts until downloaded.
  std::string release_key;
  std::string release_signing_key;
  // The IG team told when a notification turns out to have gone to the
  // wrong recipient (e.g. "la/999-ig"); empty: such findings are audited
  // only.
  std::string ig_organisation;
  const util::Clock* clock = util::Clock::Real();
};

// The policy directory used when none is configured: the checkout's
// policies/ folder (set at build time).
std::string DefaultPolicyDir();

// Parses a config file in protobuf text format (linkd.config.v1.DaemonConfig)
// into options, defaults filled in. Returns NOT_FOUND if the file is missing,
// INVALID_ARGUMENT naming the file, line and column of a syntax error or an
// unknown field, or naming the field whose value is out of range.
absl::StatusOr<DaemonOptions> LoadConfigFile(const std::string& path);

// Applies the non-default fields of `config` to `*options`; INVALID_ARGUMENT
// naming a field whose value is out of range.
absl::Status ApplyConfig(const config::v1::DaemonConfig& config,
                         DaemonOptions* options);

// Returns true if `listen` (host:port) names a loopback address.
bool IsLoopbackListenAddress(const std::string& listen);

// A running daemon. Not thread-safe: Start, Shutdown and destruction happen
// on one thread (main's).
class Daemon {
 public:
  // Opens the data directory (creating it on first start), loads and tests
  // the policies, opens the audit log and starts serving. Errors:
  // INVALID_ARGUMENT for a bad option or a policy file that does not load
  // (naming file, line and reason); FAILED_PRECONDITION for a failing policy
  // test, a non-loopback listen address without mTLS, or a data directory
  // locked by another process; NOT_FOUND for a missing TLS or policy file;
  // DATA_LOSS for a corrupt data directory or audit log; UNAVAILABLE if the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(DaemonOptions options);

  // Calls Shutdown() if it was not called.
  ~Daemon();

  // The address actually bound, e.g. "127.0.0.1:40123" for port 0.
  const std::string& address() const;

  // Stops accepting calls, lets in-flight calls finish for up to the grace
  // period, drains pending storage work and closes the store. Idempotent.
  void Shutdown();

 private:
  struct State;
  explicit Daemon(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_DAEMON_H_
