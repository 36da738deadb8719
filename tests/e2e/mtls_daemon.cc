#include "tests/e2e/mtls_daemon.h"

#include <signal.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "linkd/ctl/cli.h"
#include "linkd/ctl/submit.h"

namespace linkd::testing {

MtlsDaemon::MtlsDaemon(const std::string& linkd_bin, const TempDir& dir,
                       const std::string& certs,
                       const std::vector<std::string>& extra_args)
    : certs_(certs) {
  const std::string ready = dir.Sub("ready");
  std::vector<std::string> argv = {linkd_bin,
                                   "--data-dir",
                                   dir.Sub("db"),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--ready-file",
                                   ready,
                                   "--tls-cert",
                                   certs + "/server.pem",
                                   "--tls-key",
                                   certs + "/server.key",
                                   "--client-ca",
                                   certs + "/ca.pem"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_.emplace(argv, dir.Sub("linkd.out"), dir.Sub("linkd.err"));
  while (ReadFileOrEmpty(ready).empty()) {
    if (!process_->Running()) {
      error_ = process_->Stderr();
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  address_ = ReadFileOrEmpty(ready);
  address_.erase(address_.find_last_not_of('\n') + 1);
}

MtlsDaemon::~MtlsDaemon() {
  if (process_.has_value() && process_->Running()) {
    process_->Signal(SIGTERM);
    process_->Wait();
  }
}

std::shared_ptr<grpc::Channel> MtlsDaemon::Channel(
    const std::string& org) const {
  ctl::Connection c;
  c.server = address_;
  std::string file = org;
  std::replace(file.begin(), file.end(), '/', '-');
  c.cert = certs_ + "/" + file + ".pem";
  c.key = certs_ + "/" + file + ".key";
  c.ca = certs_ + "/ca.pem";
  auto channel = c.Channel();
  channel->WaitForConnected(std::chrono::system_clock::now() +
                            std::chrono::seconds(10));
  return channel;
}

absl::Status Upload(const MtlsDaemon& linkd, const std::string& org,
                    const std::string& file, uint64_t* link_seq) {
  ctl::SubmitOptions options;
  options.batch_items = 2000;
  const ctl::SubmitSummary s =
      ctl::Submit(linkd.Channel(org), {file}, options, nullptr);
  if (!s.status.ok()) return s.status;
  if (s.rejected > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        file, ": ", s.rejected, " rejected",
        s.rejections.empty() ? "" : ": " + s.rejections[0].message));
  }
  *link_seq = std::max(*link_seq, s.link_seq);
  return absl::OkStatus();
}

}  // namespace linkd::testing
