// HttpServer in-process, over real sockets on 127.0.0.1: what a connection does when a
// handler or a body reader throws, the in-flight cap, the lifecycle switch and Stop().
#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <new>
#include <thread>

#include "support/raw_http.h"

namespace yfe::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

using yfe::testing::Connect;
using yfe::testing::StatusOf;

// Everything until the peer closes or the timeout passes.
std::string Exchange(int port, const std::string& request, std::chrono::milliseconds timeout = 5s) {
  int fd = Connect(port);
  if (fd < 0) return "";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string got;
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return got;
}

const std::string kGet = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

class ThrowingReader final : public BodyReader {
 public:
  uint64_t Size() const override { return 1 << 20; }
  size_t Read(uint64_t pos, char* buf, size_t max) override {
    if (pos > 0) throw std::bad_alloc();
    std::fill(buf, buf + max, 'x');
    return max;
  }
};
class ThrowingBody final : public Body {
 public:
  std::unique_ptr<BodyReader> Open(Encoding) const override {
    return std::make_unique<ThrowingReader>();
  }
};

// A server on an ephemeral port, served on a thread, stopped at the end.
class Running {
 public:
  explicit Running(Handlers handlers, ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, std::move(handlers));
    auto port = server_->Bind();
    EXPECT_TRUE(port.ok()) << port.error();
    port_ = port.ok() ? *port : -1;
    thread_ = std::thread([this] { server_->Serve(); });
  }
  ~Running() { StopAndWait(); }
  double StopAndWait() {
    auto start = Clock::now();
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
    return Seconds(start);
  }
  int port() const { return port_; }
  HttpServer& server() { return *server_; }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = -1;
};

TEST(HttpServer, AHandlerThatThrowsGets500AndTheServerKeepsServing) {
  std::atomic<int> calls{0};
  Handlers h;
  h.metrics = [&]() -> std::shared_ptr<const Body> {
    if (calls++ == 0) throw std::bad_alloc();
    return MakeStringBody("up 1\n");
  };
  Running s(h);
  EXPECT_EQ(StatusOf(Exchange(s.port(), kGet)), 500);
  auto r = Exchange(s.port(), kGet);
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("\r\n\r\nup 1\n"), std::string::npos) << r;
}

// /-/ready: 503 with the reason until the handler says ready; /-/healthy is 200 throughout.
TEST(HttpServer, ReadyAnswers503WithTheReasonUntilReady) {
  std::atomic<bool> warm{false};
  Handlers h;
  h.not_ready = [&]() -> std::string { return warm ? "" : "first fetch running"; };
  Running s(h);
  const char* ready = "GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const char* healthy = "GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto r = Exchange(s.port(), ready);
  EXPECT_EQ(StatusOf(r), 503) << r;
  EXPECT_NE(r.find("\r\n\r\nNot ready: first fetch running\n"), std::string::npos) << r;
  EXPECT_EQ(StatusOf(Exchange(s.port(), healthy)), 200);
  warm = true;
  r = Exchange(s.port(), ready);
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("\r\n\r\nReady\n"), std::string::npos) << r;
  // No readiness handler: never ready.
  Running none(Handlers{});
  EXPECT_EQ(StatusOf(Exchange(none.port(), ready)), 503);
}

TEST(HttpServer, HeadIsAnsweredLikeGetWithoutTheBody) {
  Handlers h;
  h.metrics = [] { return MakeStringBody("up 1\n"); };
  Running s(h);
  auto r = Exchange(s.port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("Content-Length: 5\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), "");
}

TEST(HttpServer, AReaderThatThrowsClosesOnlyItsConnection) {
  std::atomic<int> calls{0};
  Handlers h;
  h.metrics = [&]() -> std::shared_ptr<const Body> {
    if (calls++ == 0) return std::make_shared<ThrowingBody>();
    return MakeStringBody("up 1\n");
  };
  Running s(h);
  auto broken = Exchange(s.port(), kGet);
  EXPECT_EQ(StatusOf(broken), 200);
  EXPECT_LT(broken.size(), 1u << 20) << "the body is cut short, the connection closed";
  EXPECT_EQ(StatusOf(Exchange(s.port(), kGet)), 200);
}

TEST(HttpServer, MetricsBeyondTheInFlightCapGet503) {
  Handlers h;
  h.metrics = [&]() -> std::shared_ptr<const Body> {
    std::this_thread::sleep_for(1500ms);
    return MakeStringBody("up 1\n");
  };
  ServerOptions o;
  o.limits.max_requests_in_flight = 1;
  o.limits.in_flight_wait = 300ms;
  Running s(h, o);
  auto first = std::async(std::launch::async, [&] { return Exchange(s.port(), kGet); });
  std::this_thread::sleep_for(200ms);
  auto start = Clock::now();
  auto second = Exchange(s.port(), kGet);
  EXPECT_EQ(StatusOf(second), 503) << second;
  EXPECT_LT(Seconds(start), 1.2);
  EXPECT_EQ(StatusOf(first.get()), 200);
  // /-/healthy is not capped.
  EXPECT_EQ(StatusOf(Exchange(s.port(), "GET /-/healthy HTTP/1.0\r\n\r\n")), 200);
}

TEST(HttpServer, ReloadOnlyWithTheLifecycleSwitch) {
  std::atomic<int> reloads{0};
  Handlers h;
  h.reload = [&]() -> Status {
    reloads++;
    return Ok();
  };
  const std::string post = "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  {
    Running off(h);
    auto r = Exchange(off.port(), post);
    EXPECT_EQ(StatusOf(r), 403);
    EXPECT_NE(r.find("Lifecycle API is not enabled."), std::string::npos);
    EXPECT_EQ(reloads.load(), 0);
  }
  ServerOptions o;
  o.enable_lifecycle = true;
  Running on(h, o);
  EXPECT_EQ(StatusOf(Exchange(on.port(), post)), 200);
  EXPECT_EQ(StatusOf(Exchange(on.port(), "GET /-/reload HTTP/1.0\r\n\r\n")), 405);
  EXPECT_EQ(reloads.load(), 1);
}

TEST(HttpServer, StopEndsServeAtOnceWhateverTheClientsDo) {
  Handlers h;
  const std::string big(8 << 20, 'x');
  h.metrics = [&] { return MakeStringBody(big); };
  Running s(h);
  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) fds.push_back(Connect(s.port()));  // idle
  for (int i = 0; i < 20; ++i) {                                  // half a request
    int fd = Connect(s.port());
    send(fd, "GET /met", 8, MSG_NOSIGNAL);
    fds.push_back(fd);
  }
  for (int i = 0; i < 5; ++i) {  // ask for 8 MB and never read
    int fd = Connect(s.port());
    send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL);
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_GT(s.server().Connections(), 40);
  EXPECT_LT(s.StopAndWait(), 1.5);
  for (int fd : fds) close(fd);
}

TEST(HttpServer, StopBeforeServeMakesServeReturnAtOnce) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  HttpServer server(o, Handlers{});
  ASSERT_TRUE(server.Bind().ok());
  server.Stop();
  auto start = Clock::now();
  server.Serve();
  EXPECT_LT(Seconds(start), 0.5);
}

}  // namespace
}  // namespace yfe::http
