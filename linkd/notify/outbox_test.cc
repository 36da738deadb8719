#include "linkd/notify/outbox.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/notify/dispatcher.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::notify {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store::StoreOptions so;
    so.path = dir_.Sub("db");
    auto s = store::Store::Open(so);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    audit::AuditLogOptions ao;
    ao.clock = &clock_;
    auto a = audit::AuditLog::Open(store_.get(), nullptr, ao);
    ASSERT_THAT(a, IsOk());
    audit_ = *std::move(a);
    outbox_ = std::make_unique<Outbox>(store_.get(), audit_.get(), &clock_);
  }

  void Reopen() {
    outbox_.reset();
    audit_.reset();
    store_.reset();
    Open();
  }

  // Stages and commits one notification to `recipient`; returns its id.
  uint64_t Put(const std::string& recipient, int64_t expires_micros = 0) {
    StoredNotification n;
    n.mutable_notification()->set_recipient(recipient);
    n.mutable_notification()->set_kind(v1::NOTIFICATION_KIND_SCHOOL_EVENT);
    n.mutable_notification()->set_purpose("safeguarding_notification");
    n.mutable_notification()->set_expires_micros(expires_micros);
    n.set_sui("7K2M-9QXT-4HB3-R");
    v1::ChildRef* ref = n.add_records();
    ref->set_source("la/999");
    ref->set_record_id("C1");
    NotificationBasis basis;
    basis.set_purpose("safeguarding_notification");
    store::WriteBatch batch = store_->NewBatch();
    EXPECT_THAT(outbox_->Stage(&n, &basis, &batch), IsOk());
    EXPECT_EQ(basis.id(), n.notification().id());
    EXPECT_THAT(store_->Commit(std::move(batch)), IsOk());
    return n.notification().id();
  }

  audit::v1::AuditEntry AckEntry(const std::string& org) const {
    audit::v1::AuditEntry e;
    e.set_organisation(org);
    e.set_method("/linkd.v1.NotificationService/Ack");
    return e;
  }

  std::vector<uint64_t> PendingIds(const std::string& recipient) const {
    auto p = outbox_->Pending(recipient, 0, 1000);
    EXPECT_THAT(p, IsOk());
    std::vector<uint64_t> ids;
    for (const auto& n : *p) ids.push_back(n.notification().id());
    return ids;
  }

  testing::TempDir dir_;
  util::ManualClock clock_{absl::FromUnixSeconds(1790000000)};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Outbox> outbox_;
};

TEST_F(OutboxTest, IdsArePerRecipientAndSurviveReopening) {
  EXPECT_EQ(Put("la/999"), 1u);
  EXPECT_EQ(Put("la/999"), 2u);
  EXPECT_EQ(Put("school/100001"), 1u);
  Reopen();
  EXPECT_EQ(Put("la/999"), 3u);
  EXPECT_THAT(PendingIds("la/999"), ElementsAre(1, 2, 3));
  EXPECT_THAT(PendingIds("school/100001"), ElementsAre(1));
  auto count = outbox_->CountPending("la/999");
  ASSERT_THAT(count, IsOk());
  EXPECT_EQ(*count, 3u);
}

TEST_F(OutboxTest, AckRemovesOnlyTheCallersOwnAndIsAudited) {
  Put("la/999");
  Put("la/999");
  Put("school/100001");
  const uint64_t before = audit_->Size();
  // school/100001 cannot acknowledge la/999's notification 2.
  auto other = outbox_->Ack("school/100001", {2}, AckEntry("school/100001"));
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->acknowledged, 0u);
  EXPECT_THAT(other->unknown_ids, ElementsAre(2));
  EXPECT_THAT(PendingIds("la/999"), ElementsAre(1, 2));
  EXPECT_THAT(PendingIds("school/100001"), ElementsAre(1));

  auto mine = outbox_->Ack("la/999", {1, 2, 2, 9}, AckEntry("la/999"));
  ASSERT_THAT(mine, IsOk());
  EXPECT_EQ(mine->acknowledged, 2u);
  EXPECT_THAT(mine->unknown_ids, ElementsAre(9));
  EXPECT_THAT(PendingIds("la/999"), IsEmpty());
  // Acknowledged means gone for good, also after a restart.
  Reopen();
  EXPECT_THAT(PendingIds("la/999"), IsEmpty());
  auto again = outbox_->Ack("la/999", {1}, AckEntry("la/999"));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->acknowledged, 0u);

  // One entry per Ack call, with what it removed.
  ASSERT_EQ(audit_->Size(), before + 3);
  auto e = audit_->Get(before + 1);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->entry.organisation(), "la/999");
  EXPECT_EQ(e->entry.details().at("acknowledged"), "2");
  EXPECT_EQ(e->entry.details().at("notification_ids"), "1,2");
  EXPECT_THAT(e->entry.suis(), ElementsAre("7K2M-9QXT-4HB3-R"));
}

TEST_F(OutboxTest, AckRefusesTooManyIds) {
  std::vector<uint64_t> ids(10001, 1);
  EXPECT_THAT(outbox_->Ack("la/999", ids, AckEntry("la/999")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(OutboxTest, ExpiryDropsAndAuditsEachNotification) {
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  Put("la/999", now + 1000);
  Put("la/999", now + absl::ToInt64Microseconds(absl::Hours(1)));
  Put("la/999", 0);  // never expires
  auto n = outbox_->ExpireDue(100);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, 0u);
  clock_.Advance(absl::Minutes(1));
  n = outbox_->ExpireDue(100);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, 1u);
  EXPECT_THAT(PendingIds("la/999"), ElementsAre(2, 3));
  auto last = audit_->Get(audit_->Size() - 1);
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(last->entry.method(), "linkd/notifications/expire");
  EXPECT_EQ(last->entry.recipient(), "la/999");
  // An acknowledged notification is not "expired" later.
  ASSERT_THAT(outbox_->Ack("la/999", {2}, AckEntry("la/999")), IsOk());
  clock_.Advance(absl::Hours(2));
  n = outbox_->ExpireDue(100);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, 0u);
  EXPECT_THAT(PendingIds("la/999"), ElementsAre(3));
}

// A subscriber that completes each write on another thread, as gRPC does.
class FakeSubscriber : public Subscriber {
 public:
  explicit FakeSubscriber(Dispatcher* d) : d_(d) {}
  ~FakeSubscriber() override {
    for (std::thread& t : threads_) t.join();
  }
  void Deliver(v1::SubscribeResponse message) override {
    absl::MutexLock lock(&mu_);
    for (const auto& n : message.notifications()) ids_.push_back(n.id());
    threads_.emplace_back([this] {
      uint64_t h;
      {
        absl::MutexLock lock(&mu_);
        auto known = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return handle_ != 0;
        };
        mu_.Await(absl::Condition(&known));
        h = handle_;
      }
      if (d_->WriteDone(h, true)) {
        absl::MutexLock lock(&mu_);
        stopped_ = true;
      }
    });
  }
  void Stop(const absl::Status&) override {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }
  void set_handle(uint64_t h) {
    absl::MutexLock lock(&mu_);
    handle_ = h;
  }
  std::vector<uint64_t> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ids_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return ids_;
  }
  bool stopped() {
    absl::MutexLock lock(&mu_);
    return stopped_;
  }

 private:
  Dispatcher* const d_;
  absl::Mutex mu_;
  uint64_t handle_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> ids_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

TEST_F(OutboxTest, DispatcherDeliversBacklogThenNewAndAuditsEachRelease) {
  Put("la/999");
  Put("la/999");
  Put("school/100001");
  DispatcherOptions options;
  options.clock = &clock_;
  Dispatcher dispatcher(store_.get(), outbox_.get(), audit_.get(), options);
  FakeSubscriber sub(&dispatcher);
  audit::v1::AuditEntry entry;
  entry.set_organisation("la/999");
  entry.set_method("/linkd.v1.NotificationService/Subscribe");
  const uint64_t before = audit_->Size();
  {
    // Registering and setting the handle race with the first delivery in
    // real use too; the fake reads the handle under its lock.
    auto h = dispatcher.Subscribe("la/999", &sub, entry);
    ASSERT_THAT(h, IsOk());
    sub.set_handle(*h);
  }
  EXPECT_THAT(sub.WaitFor(2), ElementsAre(1, 2));
  Put("la/999");
  dispatcher.Published({"la/999"});
  EXPECT_THAT(sub.WaitFor(3), ElementsAre(1, 2, 3));
  // Each release was audited (before it was sent).
  EXPECT_EQ(audit_->Size(), before + 3);
  auto e = audit_->Get(before);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->entry.organisation(), "la/999");
  EXPECT_EQ(e->entry.recipient(), "la/999");
  EXPECT_EQ(e->entry.details().at("notification_id"), "1");
  EXPECT_EQ(dispatcher.subscriptions(), 1u);
  dispatcher.StopAll();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!sub.stopped() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(sub.stopped());
  auto refused = dispatcher.Subscribe("la/999", &sub, entry);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace linkd::notify
