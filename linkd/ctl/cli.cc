#include "linkd/ctl/cli.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace linkd::ctl {
namespace {

std::string ReadFileOrDie(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in) {
    absl::FPrintF(stderr, "linkctl: cannot read %s file %s\n", what, path);
    std::exit(1);
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::shared_ptr<grpc::Channel> Connection::Channel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (cert.empty() && key.empty() && ca.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    if (cert.empty() || key.empty() || ca.empty()) {
      absl::FPrintF(stderr,
                    "linkctl: --cert, --key and --ca go together (mTLS)\n");
      std::exit(2);
    }
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFileOrDie(ca, "CA certificate");
    tls.pem_cert_chain = ReadFileOrDie(cert, "certificate");
    tls.pem_private_key = ReadFileOrDie(key, "private key");
    credentials = grpc::SslCredentials(tls);
  }
  return grpc::CreateCustomChannel(server, credentials, args);
}

absl::StatusOr<Args> Args::Parse(
    const std::vector<std::string>& args,
    std::initializer_list<std::string_view> with_value,
    std::initializer_list<std::string_view> flags) {
  Args out;
  auto in = [](std::initializer_list<std::string_view> names,
               std::string_view name) {
    for (std::string_view n : names) {
      if (n == name) return true;
    }
    return false;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!absl::StartsWith(a, "--")) {
      out.positional_.push_back(a);
      continue;
    }
    const std::string name = a.substr(2);
    if (in(flags, name)) {
      out.values_[name] = "";
    } else if (in(with_value, name)) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(a, " needs a value"));
      }
      out.values_[name] = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", a));
    }
  }
  return out;
}

std::optional<std::string> Args::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::GetOr(std::string_view name, std::string fallback) const {
  std::optional<std::string> v = Get(name);
  return v.has_value() ? *v : fallback;
}

bool Args::Has(std::string_view name) const {
  return values_.find(name) != values_.end();
}

int UsageError(absl::string_view message) {
  absl::FPrintF(stderr, "linkctl: %s\n(see linkctl --help)\n", message);
  return 2;
}

int RpcError(absl::string_view what, const grpc::Status& status) {
  absl::FPrintF(stderr, "linkctl: %s: %s\n", what, status.error_message());
  return 1;
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

std::string HumanCount(double n) {
  if (n >= 1e6) return absl::StrFormat("%.2fM", n / 1e6);
  if (n >= 1e4) return absl::StrFormat("%.1fk", n / 1e3);
  return absl::StrFormat("%.0f", n);
}

std::string CsvField(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(v);
  }
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, opts);
  return json;
}

std::string FormatMicros(int64_t micros) {
  if (micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

}  // namespace linkd::ctl
