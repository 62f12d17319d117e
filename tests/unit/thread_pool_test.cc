// ElasticThreadPool: grows while every thread is busy, up to its cap; shrinks when idle;
// runs every task, including those queued when it shuts down.
#include "http/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "support/test_support.h"

namespace yfe::http {
namespace {

using namespace std::chrono_literals;
using yfe::testing::Eventually;

// Tasks that block until released.
class Gate {
 public:
  std::function<void()> Task() {
    return [this] {
      running_++;
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return open_; });
      running_--;
      done_++;
    };
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int running() const { return running_; }
  int done() const { return done_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::atomic<int> running_{0}, done_{0};
};

TEST(ElasticThreadPool, GrowsWhileEveryThreadIsBusyUpToItsCap) {
  Gate gate;
  ElasticThreadPool pool(2, 8, 200ms);
  for (int i = 0; i < 8; ++i) pool.enqueue(gate.Task());
  EXPECT_TRUE(Eventually([&] { return gate.running() == 8; }, 10s)) << gate.running();
  pool.enqueue(gate.Task());  // the cap: this one waits for a free thread
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(gate.running(), 8);
  EXPECT_EQ(pool.Threads(), 8u);
  gate.Open();
  EXPECT_TRUE(Eventually([&] { return gate.done() == 9; }, 10s));
  // Idle threads beyond the minimum end.
  EXPECT_TRUE(Eventually([&] { return pool.Threads() == 2; }, 10s)) << pool.Threads();
  pool.shutdown();
  EXPECT_EQ(pool.Threads(), 0u);
}

TEST(ElasticThreadPool, ReusesIdleThreadsInsteadOfStartingNewOnes) {
  ElasticThreadPool pool(1, 64, 10s);
  std::atomic<int> done{0};
  for (int i = 0; i < 200; ++i) {
    pool.enqueue([&] { done++; });
    EXPECT_TRUE(Eventually([&] { return done == i + 1; }, 10s, 1ms));
  }
  EXPECT_LE(pool.Threads(), 4u);  // one task at a time never needs many
}

TEST(ElasticThreadPool, ShutdownRunsEveryQueuedTask) {
  Gate gate;
  std::atomic<int> quick{0};
  {
    ElasticThreadPool pool(1, 2, 10s);
    pool.enqueue(gate.Task());
    pool.enqueue(gate.Task());
    for (int i = 0; i < 50; ++i) pool.enqueue([&] { quick++; });  // queued behind
    EXPECT_TRUE(Eventually([&] { return gate.running() == 2; }, 10s));
    EXPECT_EQ(quick.load(), 0);
    std::thread opener([&] {
      std::this_thread::sleep_for(100ms);
      gate.Open();
    });
    pool.shutdown();  // waits for the gate, then for the 50 queued tasks
    opener.join();
    EXPECT_EQ(gate.done(), 2);
    EXPECT_EQ(quick.load(), 50);
    pool.enqueue([&] { quick++; });  // after shutdown: run at once, not lost
    EXPECT_EQ(quick.load(), 51);
  }  // the destructor's shutdown() is a no-op now
}

TEST(ElasticThreadPool, ManyProducersAtOnce) {
  std::atomic<int> done{0};
  ElasticThreadPool pool(2, 16, 50ms);
  std::vector<std::thread> producers;
  for (int p = 0; p < 8; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) pool.enqueue([&] { done++; });
    });
  }
  for (auto& t : producers) t.join();
  pool.shutdown();
  EXPECT_EQ(done.load(), 4000);
  EXPECT_EQ(pool.Threads(), 0u);
}

}  // namespace
}  // namespace yfe::http
