#include "linkd/research/project_store.h"

#include <utility>

#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"

namespace linkd::research {
namespace {

constexpr std::string_view kProjectTag = "research.project";
constexpr std::string_view kRequestTag = "research.request";

std::string ProjectKey(std::string_view id) {
  return store::KeyBuilder().AddString(kProjectTag).AddString(id).key();
}
std::string RequestKey(uint64_t id) {
  return store::KeyBuilder().AddString(kRequestTag).AddU64(id).key();
}
std::string Prefix(std::string_view tag) {
  return store::KeyBuilder().AddString(tag).key();
}

template <typename Message>
absl::Status Parse(std::string_view bytes, std::string_view what,
                   Message* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("malformed stored ", std::string(what)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProjectStore>> ProjectStore::Open(
    store::Store* store) {
  uint64_t last = 0;
  store::ScanOptions options;
  options.reverse = true;
  LINKD_RETURN_IF_ERROR(store->ScanPrefix(
      store::Cf::kDefault, Prefix(kRequestTag),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader reader,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(reader.ReadString().status());
        absl::StatusOr<uint64_t> id = reader.ReadU64();
        if (!id.ok()) return absl::DataLossError("malformed request key");
        last = *id;
        return false;  // the largest id comes first
      },
      options));
  return std::unique_ptr<ProjectStore>(new ProjectStore(store, last));
}

absl::StatusOr<std::optional<v1::Project>> ProjectStore::GetProject(
    std::string_view id) const {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         store_->Get(store::Cf::kDefault, ProjectKey(id)));
  if (!value.has_value()) return std::nullopt;
  v1::Project project;
  LINKD_RETURN_IF_ERROR(Parse(*value, "project", &project));
  return project;
}

absl::StatusOr<std::vector<v1::Project>> ProjectStore::ListProjects() const {
  std::vector<v1::Project> out;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      store::Cf::kDefault, Prefix(kProjectTag),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        v1::Project& p = out.emplace_back();
        LINKD_RETURN_IF_ERROR(Parse(value, "project", &p));
        return true;
      }));
  // Keys order ids by (length, bytes); list them by id.
  std::sort(out.begin(), out.end(),
            [](const v1::Project& a, const v1::Project& b) {
              return a.id() < b.id();
            });
  return out;
}

void ProjectStore::PutProject(const v1::Project& project,
                              store::WriteBatch* batch) const {
  batch->Put(store::Cf::kDefault, ProjectKey(project.id()),
             project.SerializeAsString());
}

uint64_t ProjectStore::NewRequestId() { return ++last_request_id_; }

absl::StatusOr<std::optional<v1::ExtractRequest>> ProjectStore::GetRequest(
    uint64_t id) const {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         store_->Get(store::Cf::kDefault, RequestKey(id)));
  if (!value.has_value()) return std::nullopt;
  v1::ExtractRequest request;
  LINKD_RETURN_IF_ERROR(Parse(*value, "extract request", &request));
  return request;
}

absl::StatusOr<std::vector<v1::ExtractRequest>> ProjectStore::ListRequests(
    std::string_view project_id) const {
  std::vector<v1::ExtractRequest> out;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      store::Cf::kDefault, Prefix(kRequestTag),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        v1::ExtractRequest request;
        LINKD_RETURN_IF_ERROR(Parse(value, "extract request", &request));
        if (project_id.empty() || request.spec().project_id() == project_id) {
          out.push_back(std::move(request));
        }
        return true;
      }));
  return out;
}

void ProjectStore::PutRequest(const v1::ExtractRequest& request,
                              store::WriteBatch* batch) const {
  batch->Put(store::Cf::kDefault, RequestKey(request.id()),
             request.SerializeAsString());
}

}  // namespace linkd::research
