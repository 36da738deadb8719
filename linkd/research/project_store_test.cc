#include "linkd/research/project_store.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/research/research_testing.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::research {
namespace {

using ::linkd::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::Property;

class ProjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    projects_.reset();
    store_.reset();
    store::StoreOptions o;
    o.path = dir_.Sub("db");
    o.block_cache_mib = 8;
    auto s = store::Store::Open(o);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    auto p = ProjectStore::Open(store_.get());
    ASSERT_THAT(p, IsOk());
    projects_ = *std::move(p);
  }
  v1::ExtractRequest Request(const std::string& project) {
    v1::ExtractRequest r;
    r.set_id(projects_->NewRequestId());
    r.mutable_spec()->set_project_id(project);
    r.set_state(v1::ExtractRequest::STATE_PENDING);
    store::WriteBatch batch = store_->NewBatch();
    projects_->PutRequest(r, &batch);
    EXPECT_THAT(store_->Commit(std::move(batch)), IsOk());
    return r;
  }

  linkd::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ProjectStore> projects_;
};

TEST_F(ProjectStoreTest, ProjectsRoundTripAndList) {
  EXPECT_FALSE(projects_->GetProject("PRJ-001")->has_value());
  store::WriteBatch batch = store_->NewBatch();
  projects_->PutProject(testing::TestProject("PRJ-002", std::string(32, 'k')),
                        &batch);
  projects_->PutProject(testing::TestProject("PRJ-1", std::string(32, 'k')),
                        &batch);
  projects_->PutProject(testing::TestProject("PRJ-001", std::string(32, 'k')),
                        &batch);
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  auto p = projects_->GetProject("PRJ-001");
  ASSERT_THAT(p, IsOk());
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->ethics_reference(), "REC 25/YH/0001");
  Reopen();
  auto all = projects_->ListProjects();
  ASSERT_THAT(all, IsOk());
  EXPECT_THAT(*all, ElementsAre(Property(&v1::Project::id, "PRJ-001"),
                                Property(&v1::Project::id, "PRJ-002"),
                                Property(&v1::Project::id, "PRJ-1")));
}

TEST_F(ProjectStoreTest, RequestIdsGrowAcrossRestarts) {
  const v1::ExtractRequest a = Request("PRJ-001");
  const v1::ExtractRequest b = Request("PRJ-002");
  EXPECT_EQ(a.id(), 1u);
  EXPECT_EQ(b.id(), 2u);
  // An id taken but never committed is skipped, never reused.
  EXPECT_EQ(projects_->NewRequestId(), 3u);
  Reopen();
  const v1::ExtractRequest c = Request("PRJ-001");
  EXPECT_EQ(c.id(), 3u);
  Reopen();
  EXPECT_EQ(projects_->NewRequestId(), 4u);
  auto mine = projects_->ListRequests("PRJ-001");
  ASSERT_THAT(mine, IsOk());
  EXPECT_THAT(*mine, ElementsAre(Property(&v1::ExtractRequest::id, 1u),
                                 Property(&v1::ExtractRequest::id, 3u)));
  auto all = projects_->ListRequests();
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->size(), 3u);
  auto got = projects_->GetRequest(2);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->spec().project_id(), "PRJ-002");
  EXPECT_FALSE(projects_->GetRequest(9)->has_value());
}

TEST_F(ProjectStoreTest, MalformedValueIsDataLoss) {
  store::WriteBatch batch = store_->NewBatch();
  batch.Put(store::Cf::kDefault,
            store::KeyBuilder().AddString("research.request").AddU64(5).key(),
            "\xff\xff\xff");
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  EXPECT_THAT(projects_->GetRequest(5),
              linkd::testing::StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace linkd::research
