// Test and benchmark support: a real linkd over mTLS with the development
// certificates of deploy/scripts/dev-ca.sh, and uploads to it.
#ifndef LINKD_TESTS_E2E_MTLS_DAEMON_H_
#define LINKD_TESTS_E2E_MTLS_DAEMON_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "linkd/util/temp_dir.h"
#include "tests/e2e/subprocess.h"

namespace linkd::testing {

// Starts `linkd_bin` on a data directory under `dir` with TLS from the
// dev-ca directory `certs`, on a free loopback port, with `extra_args`
// (e.g. --linking-paused), and waits until it serves. The destructor stops
// it with SIGTERM.
class MtlsDaemon {
 public:
  MtlsDaemon(const std::string& linkd_bin, const TempDir& dir,
             const std::string& certs,
             const std::vector<std::string>& extra_args = {});
  ~MtlsDaemon();

  // Why it did not start (its stderr); empty once it serves.
  const std::string& error() const { return error_; }
  const std::string& address() const { return address_; }

  // A connected channel presenting `org`'s certificate (e.g.
  // "school/100001").
  std::shared_ptr<grpc::Channel> Channel(const std::string& org) const;

 private:
  std::string certs_;
  std::optional<Subprocess> process_;
  std::string address_;
  std::string error_;
};

// Submits the encoded `file` as `org` (linkctl's submit, in process) and
// raises `*link_seq` to the sequence number to wait on for its linking.
// FAILED_PRECONDITION if any item was rejected.
absl::Status Upload(const MtlsDaemon& linkd, const std::string& org,
                    const std::string& file, uint64_t* link_seq);

}  // namespace linkd::testing

#endif  // LINKD_TESTS_E2E_MTLS_DAEMON_H_
