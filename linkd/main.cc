// linkd: the linkage daemon. Flags, configuration, signals and wiring only;
// everything else lives in linkd::server and below.
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "linkd/server/daemon.h"
#include "linkd/util/log.h"

namespace {

constexpr std::string_view kUsage = R"(usage: linkd [options]

Runs the linkd linkage daemon.

options:
  --config FILE        daemon configuration (protobuf text format,
                       linkd.config.v1.DaemonConfig; see deploy/config/)
  --data-dir DIR       RocksDB data directory (created on first start)
  --listen HOST:PORT   address to serve gRPC on (default 127.0.0.1:7300;
                       port 0 picks a free port). Loopback only without mTLS.
  --policy-dir DIR     consent and purpose policies (default: the
                       checkout's policies/); loaded and tested at start-up
  --tls-cert FILE --tls-key FILE --client-ca FILE
                       mTLS: linkd's certificate and key, and the CA of the
                       organisations' client certificates (required on any
                       non-loopback address; see deploy/scripts/dev-ca.sh)
  --trust-domain D     trust domain of the callers' SPIFFE ids
                       (default linkd.example)
  --ready-file FILE    once serving, write the bound address to FILE
  --linking-paused     start with linking paused (bulk loads); resume with
                       `linkctl linking resume`
  --help               show this help

Flags override the values of --config. SIGTERM or SIGINT shuts down
gracefully. Exit status: 0 after a clean shutdown, 1 if start-up failed,
2 for a usage error.
)";

int UsageError(std::string_view message) {
  std::fprintf(stderr, "linkd: %.*s\n(see linkd --help)\n",
               static_cast<int>(message.size()), message.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Buffers of a MiB or more (a bulk run's arrays and candidate lists,
  // RocksDB's memtable arenas) are mapped, so they go back to the system
  // when freed. By default glibc raises this threshold to the size of each
  // mapped buffer freed, and later ones then stay in its heaps: measured on
  // a 1M-record bulk run, 950 MB free but held.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  std::string config_file, data_dir, listen, ready_file, policy_dir, tls_cert,
      tls_key, client_ca, trust_domain;
  bool linking_paused = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    }
    if (arg == "--linking-paused") {
      linking_paused = true;
      continue;
    }
    std::string* target = nullptr;
    if (arg == "--config") target = &config_file;
    if (arg == "--data-dir") target = &data_dir;
    if (arg == "--listen") target = &listen;
    if (arg == "--ready-file") target = &ready_file;
    if (arg == "--policy-dir") target = &policy_dir;
    if (arg == "--tls-cert") target = &tls_cert;
    if (arg == "--tls-key") target = &tls_key;
    if (arg == "--client-ca") target = &client_ca;
    if (arg == "--trust-domain") target = &trust_domain;
    if (target == nullptr) {
      return UsageError(absl::StrCat("unknown argument '", arg, "'"));
    }
    if (i + 1 >= argc) {
      return UsageError(absl::StrCat(arg, " needs a value"));
    }
    *target = argv[++i];
  }

  linkd::server::DaemonOptions options;
  if (!config_file.empty()) {
    absl::StatusOr<linkd::server::DaemonOptions> loaded =
        linkd::server::LoadConfigFile(config_file);
    if (!loaded.ok()) {
      std::fprintf(stderr, "linkd: %s\n",
                   std::string(loaded.status().message()).c_str());
      return 1;
    }
    options = *std::move(loaded);
  }
  if (!data_dir.empty()) options.data_dir = data_dir;
  if (!listen.empty()) options.listen = listen;
  if (linking_paused) options.start_linking_paused = true;
  if (!policy_dir.empty()) options.policy_dir = policy_dir;
  if (!tls_cert.empty()) options.tls_cert = tls_cert;
  if (!tls_key.empty()) options.tls_key = tls_key;
  if (!client_ca.empty()) options.client_ca = client_ca;
  if (!trust_domain.empty()) options.trust_domain = trust_domain;
  if (options.data_dir.empty()) {
    return UsageError("no data directory: give --data-dir or --config");
  }

  // Block the shutdown signals before any thread starts, so that every
  // thread inherits the mask and only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<linkd::server::Daemon>> daemon =
      linkd::server::Daemon::Start(options);
  if (!daemon.ok()) {
    std::fprintf(stderr, "linkd: cannot start: %s\n",
                 std::string(daemon.status().message()).c_str());
    return 1;
  }
  linkd::util::Log(linkd::util::LogLevel::kInfo,
                   absl::StrCat("linkd serving on ", (*daemon)->address(),
                                ", data directory ", options.data_dir));
  if (!ready_file.empty()) {
    const std::string tmp = ready_file + ".tmp";
    std::ofstream(tmp) << (*daemon)->address() << "\n";
    std::rename(tmp.c_str(), ready_file.c_str());
  }

  int received = 0;
  sigwait(&signals, &received);
  linkd::util::Log(linkd::util::LogLevel::kInfo,
                   absl::StrCat("signal ", received, ": shutting down"));
  (*daemon)->Shutdown();
  linkd::util::Log(linkd::util::LogLevel::kInfo, "linkd stopped");
  return 0;
}
