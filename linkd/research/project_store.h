// linkd::research project store: the register of research projects and the
// extract requests made under them (DESIGN.md section 8).
//
// Layout in Cf::kDefault (small, rarely written; keys from
// linkd/store/key_codec.h, each starting with a tag string that no other
// component uses):
//   ("research.project", project id)     -> linkd.v1.Project
//   ("research.request", request id u64) -> linkd.v1.ExtractRequest
// Request ids are 1, 2, 3, ... in the order they are allocated; an id whose
// request was never committed is simply skipped.
#ifndef LINKD_RESEARCH_PROJECT_STORE_H_
#define LINKD_RESEARCH_PROJECT_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkd/store/store.h"
#include "linkd/v1/extract_service.pb.h"

namespace linkd::research {

// Thread-safe: reads run alongside writes, which only add to the caller's
// batch. Callers that read, decide and write a request or project (a state
// transition) serialise those transitions themselves.
class ProjectStore {
 public:
  // `store` is not owned and must outlive this object. Reads the largest
  // request id so far. Store errors, DATA_LOSS for a malformed key.
  static absl::StatusOr<std::unique_ptr<ProjectStore>> Open(
      store::Store* store);

  // The project `id`, or nullopt. DATA_LOSS if the stored value is
  // malformed.
  absl::StatusOr<std::optional<v1::Project>> GetProject(
      std::string_view id) const;
  // Every project, by id.
  absl::StatusOr<std::vector<v1::Project>> ListProjects() const;
  // Adds `project` (stored as it is, keyed by its id) to `batch`.
  void PutProject(const v1::Project& project, store::WriteBatch* batch) const;

  // A fresh request id (never 0, never handed out twice by this process,
  // larger than every stored one).
  uint64_t NewRequestId();
  // The request `id`, or nullopt. DATA_LOSS if malformed.
  absl::StatusOr<std::optional<v1::ExtractRequest>> GetRequest(
      uint64_t id) const;
  // Requests by id; only project `project_id`'s when it is not empty.
  absl::StatusOr<std::vector<v1::ExtractRequest>> ListRequests(
      std::string_view project_id = {}) const;
  // Adds `request` (keyed by its id, which must not be 0) to `batch`.
  void PutRequest(const v1::ExtractRequest& request,
                  store::WriteBatch* batch) const;

 private:
  ProjectStore(store::Store* store, uint64_t last_id)
      : store_(store), last_request_id_(last_id) {}
  store::Store* const store_;
  std::atomic<uint64_t> last_request_id_;
};

}  // namespace linkd::research

#endif  // LINKD_RESEARCH_PROJECT_STORE_H_
