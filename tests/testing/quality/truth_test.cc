#include "tests/testing/quality/truth.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::quality {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(TruthTest, ParsesColumnsByNameWithQuotingAndCrlf) {
  absl::StatusOr<Truth> t = ParseTruthCsv(
      "extra,person_id,record_id,source,origin\r\n"
      "x,1,A1,school,english\r\n"
      "x,1,\"B,1\",health,english\r\n"
      "\n"
      "x,2,\"A\"\"2\",school,\r\n");
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(t->size(), 3u);
  EXPECT_EQ(t->num_sources(), 2u);
  EXPECT_EQ(t->num_persons(), 2u);
  EXPECT_EQ(t->Find("school", "A1"), 0);
  EXPECT_EQ(t->Find("health", "B,1"), 1);
  EXPECT_EQ(t->Find("school", "A\"2"), 2);
  EXPECT_EQ(t->Find("health", "A1"), -1);
  EXPECT_EQ(t->Find("nowhere", "A1"), -1);
  EXPECT_EQ(t->person_of(0), t->person_of(1));
  EXPECT_NE(t->person_of(0), t->person_of(2));
  EXPECT_EQ(t->origin_name(t->origin_of_person(t->person_of(0))), "english");
  EXPECT_EQ(t->origin_name(t->origin_of_person(t->person_of(2))), "");
}

TEST(TruthTest, OriginColumnIsOptional) {
  absl::StatusOr<Truth> t =
      ParseTruthCsv("source,record_id,person_id\nsc,1,7\nhe,1,7\n");
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(t->num_origins(), 1u);
  EXPECT_EQ(t->origin_name(0), "");
}

TEST(TruthTest, ErrorsNameTheLineNeverTheValue) {
  EXPECT_THAT(ParseTruthCsv("source,record_id\nsc,1\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: header has no column person_id")));
  EXPECT_THAT(ParseTruthCsv("").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseTruthCsv("source,record_id,person_id\nsc,R77,1\nsc,R77,2\n")
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("line 3"), HasSubstr("duplicate"),
                             Not(HasSubstr("R77")))));
  EXPECT_THAT(ParseTruthCsv("source,record_id,person_id\nsc,\"R7,1\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: malformed quoting")));
  EXPECT_THAT(ParseTruthCsv("source,record_id,person_id\nsc,R7\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: too few fields")));
  EXPECT_THAT(ParseTruthCsv("source,record_id,person_id\nsc,R7,\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("empty person_id")));
  EXPECT_THAT(ParseTruthCsv("source,record_id,person_id,origin\n"
                            "sc,R1,9,welsh\nhe,R2,9,irish\n")
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("line 3"), HasSubstr("origin"),
                             Not(HasSubstr("irish")))));
}

TEST(ClusteringTest, LinksAlignWithTheTruth) {
  absl::StatusOr<Truth> t = ParseTruthCsv(
      "source,record_id,person_id\nsc,1,p\nhe,1,p\nhe,2,q\nsc,9,r\n");
  ASSERT_THAT(t.status(), IsOk());
  absl::StatusOr<Clustering> c = ParseLinksCsv(
      "sui,source,record_id\nS1,he,1\nS1,sc,1\nS2,he,2\nS3,xx,5\n", *t);
  ASSERT_THAT(c.status(), IsOk());
  ASSERT_EQ(c->cluster_of.size(), 4u);
  EXPECT_EQ(c->cluster_of[0], c->cluster_of[1]);
  EXPECT_NE(c->cluster_of[0], c->cluster_of[2]);
  // sc/9 is not in the links: its own cluster.
  EXPECT_NE(c->cluster_of[3], c->cluster_of[0]);
  EXPECT_NE(c->cluster_of[3], c->cluster_of[2]);
  EXPECT_EQ(c->num_clusters, 3u);
  EXPECT_EQ(c->records_not_in_links, 1);
  EXPECT_EQ(c->links_not_in_truth, 1);

  EXPECT_THAT(
      ParseLinksCsv("source,record_id,sui\nsc,1,S\nsc,1,T\n", *t).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 3: record given twice")));
  EXPECT_THAT(ParseLinksCsv("source,record_id,sui\nsc,1,\n", *t).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: empty sui")));
  EXPECT_THAT(
      ParseLinksCsv("source,record_id\nsc,1\n", *t).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no column sui")));
}

TEST(ClusteringTest, TruthAndSingletonClusterings) {
  absl::StatusOr<Truth> t =
      ParseTruthCsv("source,record_id,person_id\nsc,1,p\nhe,1,p\nhe,2,q\n");
  ASSERT_THAT(t.status(), IsOk());
  const Clustering perfect = TruthAsClustering(*t);
  EXPECT_EQ(perfect.num_clusters, 2u);
  EXPECT_EQ(perfect.cluster_of[0], perfect.cluster_of[1]);
  const Clustering alone = SingletonClustering(*t);
  EXPECT_EQ(alone.num_clusters, 3u);
  EXPECT_NE(alone.cluster_of[0], alone.cluster_of[1]);
}

}  // namespace
}  // namespace linkd::quality
