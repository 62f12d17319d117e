// ElasticThreadPool: the HTTP server's task queue, one task per accepted connection.
//
// httplib::ThreadPool has a fixed number of threads, and a connection holds its thread
// until it closes: an idle keep-alive connection until keep_alive_timeout, a client that
// trickles its request until it is done. A few dozen of those queue every scrape behind
// them (200 idle connections held a scrape for two minutes with 16 threads). This pool
// starts a thread whenever every thread is busy, up to max_threads, and lets threads
// beyond min_threads end after idle_exit without work.
//
// The state is shared with the threads, so a thread that ends never touches freed memory;
// shutdown() runs every queued task and waits for every thread to end. Thread-safe.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "util/log.h"

namespace yfe::http {

class ElasticThreadPool final : public httplib::TaskQueue {
 public:
  ElasticThreadPool(size_t min_threads, size_t max_threads,
                    std::chrono::milliseconds idle_exit = std::chrono::seconds(60))
      : state_(std::make_shared<State>()) {
    state_->min_threads = std::max<size_t>(1, min_threads);
    state_->max_threads = std::max(state_->min_threads, max_threads);
    state_->idle_exit = idle_exit;
  }
  ~ElasticThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(state_->mu);
      if (!state_->shutdown) {
        state_->jobs.push_back(std::move(fn));
        if (state_->jobs.size() > state_->idle && state_->threads < state_->max_threads) {
          Spawn();
        } else {
          state_->work.notify_one();
        }
        return;
      }
    }
    fn();  // after shutdown (httplib does not do that): run here rather than drop it
  }

  // Runs every queued task, then waits for every thread to end.
  void shutdown() override {
    std::unique_lock lock(state_->mu);
    state_->shutdown = true;
    state_->work.notify_all();
    state_->ended.wait(lock, [&] { return state_->threads == 0; });
  }

  size_t Threads() const {
    std::lock_guard lock(state_->mu);
    return state_->threads;
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable work, ended;
    std::deque<std::function<void()>> jobs;
    size_t threads = 0, idle = 0, min_threads = 1, max_threads = 1;
    std::chrono::milliseconds idle_exit{0};
    bool shutdown = false;
  };

  // With state_->mu held.
  void Spawn() {
    ++state_->threads;
    try {
      std::thread([s = state_] { Work(*s); }).detach();
    } catch (const std::system_error& e) {
      --state_->threads;  // out of threads: the task waits for a busy one to finish
      logging::Warn("cannot start an HTTP worker thread", {{"err", e.what()}});
      state_->work.notify_one();
    }
  }

  static void Work(State& s) {
    std::unique_lock lock(s.mu);
    while (true) {
      ++s.idle;
      const bool woken =
          s.work.wait_for(lock, s.idle_exit, [&] { return s.shutdown || !s.jobs.empty(); });
      --s.idle;
      if (!s.jobs.empty()) {
        std::function<void()> fn = std::move(s.jobs.front());
        s.jobs.pop_front();
        lock.unlock();
        fn();
        fn = nullptr;  // whatever the task holds is released outside the lock
        lock.lock();
        continue;
      }
      if (s.shutdown || (!woken && s.threads > s.min_threads)) break;
    }
    if (--s.threads == 0) s.ended.notify_all();
  }

  std::shared_ptr<State> state_;
};

}  // namespace yfe::http
