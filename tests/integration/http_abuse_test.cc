// The exporter's HTTP surface under abuse: unknown paths and methods, huge or malformed
// requests, many ranges, idle and trickling connections, and memory over many requests.
// Assertions are on outcomes; the few time bounds are generous and only catch hangs.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "integration/hardening.h"
#include "support/exposition_check.h"
#include "support/harness.h"
#include "support/raw_http.h"
#include "support/sanitized.h"

namespace yfe::testing {
namespace {

using namespace hardening;

std::string Tail(const std::string& s, size_t n = 4000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

long RssKb(pid_t pid) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  std::smatch m;
  if (!std::regex_search(status, m, std::regex(R"(VmRSS:\s+(\d+) kB)"))) return -1;
  return std::stol(m[1]);
}

class HttpAbuse : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<Simulator>(SimulatorOptions{.pipelines = 3, .frozen = true});
    exp_ = std::make_unique<Exporter>(sim_->Config());
    ASSERT_TRUE(exp_->started()) << exp_->process().Stderr();
  }
  // A scrape that must be answered; returns how long it took.
  double TimedScrape() {
    auto start = Clock::now();
    auto r = exp_->Get("/metrics");
    EXPECT_EQ(r.status, 200) << r.error << "\n" << Tail(exp_->process().Stderr());
    EXPECT_NE(r.body.find("yunxiao_flow_up 1"), std::string::npos);
    return Seconds(start);
  }
  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<Exporter> exp_;
};

TEST_F(HttpAbuse, UnknownPathsAndMethodsAre4xx) {
  for (const std::string path :
       {"/nope", "/metrics/", "/METRICS", "/metrics.json", "/-/", "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd", "/-/healthy/x", "//metrics"}) {
    auto r = exp_->Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
  }
  for (const std::string method : {"DELETE", "PATCH", "OPTIONS", "FOO"}) {
    int status = RawRequest(exp_->port(),
                            method + " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_GE(status, 400) << method;
    EXPECT_LT(status, 500) << method;
  }
  EXPECT_EQ(
      RawRequest(exp_->port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
      404);
  EXPECT_LT(TimedScrape(), 10);
}

TEST_F(HttpAbuse, HugeUrlsHeadersAndMalformedRequestsAreRejectedWithoutHarm) {
  const int port = exp_->port();
  const std::string big(100 * 1024, 'a');
  int s = RawRequest(port, "GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_GE(s, 400);
  EXPECT_LT(s, 500);
  s = RawRequest(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n");
  EXPECT_GE(s, 400);
  EXPECT_LT(s, 500);
  // 100 KB in a thousand ordinary headers: rejected or answered, never a crash.
  std::string many = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 1000; ++i) {
    many += "X-H" + std::to_string(i) + ": " + big.substr(0, 100) + "\r\n";
  }
  s = RawRequest(port, many + "\r\n");
  EXPECT_TRUE(s == 200 || s == 431 || s == 400) << s;
  // Garbage and protocol abuse, all at once: some make the server wait for more bytes
  // until its read timeout.
  std::vector<std::string> garbage = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET /metrics HTTP/9.9\r\n\r\n",
      "GET  HTTP/1.1\r\n\r\n",
      "\r\n\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
      "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999-\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nAuthorization: Basic " + std::string(5000, '=') + "\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n" + std::string(10, '\0') + "\r\n\r\n"};
  std::vector<std::future<std::pair<int, std::string>>> answers;
  for (const auto& req : garbage) {
    answers.push_back(std::async(std::launch::async, [port, req] {
      std::string response;
      int status = RawRequest(port, req, &response);
      return std::make_pair(status, response);
    }));
  }
  for (size_t i = 0; i < garbage.size(); ++i) {
    auto [status, response] = answers[i].get();
    EXPECT_TRUE(status == 0 || status == 200 || (status >= 400 && status < 500))
        << status << " for " << garbage[i].substr(0, 60) << "\n"
        << response.substr(0, 300);
  }
  ASSERT_TRUE(exp_->process().Running()) << exp_->process().Stderr();
  EXPECT_LT(TimedScrape(), 10);
}

// Overlapping byte ranges would make httplib build one copy of the body per range: an
// 8 KB request for a response a thousand times the size of /metrics. Ranges are ignored.
TEST_F(HttpAbuse, ManyRangesDoNotMultiplyTheResponse) {
  const size_t plain = exp_->Scrape().size();
  std::string ranges = "bytes=0-";
  for (int i = 0; i < 1500; ++i) ranges += ",0-";
  auto r = exp_->Get("/metrics", {{"Range", ranges}});
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.body.size(), 2 * plain + 4096);
  EXPECT_EQ(CheckExposition(r.body), "");
}

TEST_F(HttpAbuse, ScrapeIsAnsweredWhile200ConnectionsSitIdle) {
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect(exp_->port());
    ASSERT_GE(fd, 0) << i;
    idle.push_back(fd);
  }
  // Half of them also started a request and stalled.
  for (size_t i = 0; i < idle.size(); i += 2) SendAll(idle[i], "GET /metrics HTTP/1.1\r\nHo");
  std::this_thread::sleep_for(300ms);
  const double took = TimedScrape();
  RecordProperty("scrape_seconds", std::to_string(took));
  EXPECT_LT(took, 15) << "a scrape waited behind idle connections";
  for (int fd : idle) close(fd);
  EXPECT_TRUE(exp_->process().Running());
}

TEST_F(HttpAbuse, SlowTricklingClientsDoNotBlockScrapes) {
  // More tricklers than a fixed pool of workers would have had, each taking about 9 s for
  // its request (a byte every 150 ms, well within the server's per-read timeout).
  constexpr int kClients = 40;
  const std::string request = "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      int fd = Connect(exp_->port());
      if (fd < 0) return;
      for (char c : request) {
        if (!SendAll(fd, std::string_view(&c, 1))) break;
        std::this_thread::sleep_for(150ms);
      }
      if (StatusOf(ReadResponse(fd, 20s)) == 200) answered++;
      close(fd);
    });
  }
  std::this_thread::sleep_for(1s);
  // While they trickle, scrapes are answered (in milliseconds; 5 s only catches waiting
  // behind the tricklers).
  for (int i = 0; i < 3; ++i) EXPECT_LT(TimedScrape(), 5);
  for (auto& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients) << "slow but valid requests are still served";
  EXPECT_TRUE(exp_->process().Running());
}

TEST_F(HttpAbuse, MemoryDoesNotGrowOver2000Requests) {
  const pid_t pid = exp_->process().pid();
  httplib::Client keep_alive("127.0.0.1", exp_->port());
  keep_alive.set_keep_alive(true);
  auto batch = [&](int n) {
    for (int i = 0; i < n; ++i) {
      switch (i % 5) {
        case 0:
        case 1: {
          auto r = keep_alive.Get("/metrics");
          ASSERT_TRUE(r && r->status == 200);
          break;
        }
        case 2:
          ASSERT_EQ(exp_->Get("/-/healthy").status, 200);
          break;
        case 3:
          ASSERT_EQ(exp_->Get("/nope/" + std::to_string(i)).status, 404);
          break;
        default:
          ASSERT_EQ(RawRequest(exp_->port(),
                               "GET /" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n"),
                    414);
          break;
      }
    }
  };
  batch(200);  // warm up: caches, threads, allocator arenas
  const long before = RssKb(pid);
  ASSERT_GT(before, 0);
  batch(2000);
  const long after = RssKb(pid);
  RecordProperty("rss_before_kb", static_cast<int>(before));
  RecordProperty("rss_after_kb", static_cast<int>(after));
  if (!YFE_SANITIZED) {
    EXPECT_LT(after - before, 20 * 1024) << "RSS " << before << " kB -> " << after << " kB";
  }
  EXPECT_TRUE(exp_->process().Running());
}

}  // namespace
}  // namespace yfe::testing
