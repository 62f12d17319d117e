// HttpServer: the exporter's HTTP surface. /metrics (the telemetry path), a landing page
// at /, /-/healthy, /-/ready and POST/PUT /-/reload; 404 for everything else. Plain HTTP or
// TLS (with optional client certificates) and basic auth, per the exporter-toolkit web
// config.
//
// Built on Boost.Asio and Boost.Beast's HTTP/1.1 request parser, with OpenSSL for TLS, so
// that every resource a client can make the server hold is bounded here (see Limits and
// docs/security.md): a few I/O threads serve every connection asynchronously, each
// connection holds at most its header limit while it is being read, a timer closes it when
// a deadline passes, and handlers (basic auth, /metrics renders, reloads) run on a fixed
// pool of worker threads. No thread is created per connection; none after start-up.
//
// Thread-safe: Stop() may be called from any thread, before, during or after Serve().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/body.h"
#include "http/web_config.h"
#include "util/result.h"

namespace yfe::http {

// Every bound of the server. Defaults are documented in docs/security.md; the ones a user
// may need to tune are flags (--web.max-connections, --web.max-requests-in-flight).
struct Limits {
  size_t max_request_line = 8 * 1024;   // longer: 414
  size_t max_header_bytes = 64 * 1024;  // request line + headers; more: 431
  size_t max_headers = 100;             // more header fields: 431
  size_t max_body = 64 * 1024;          // request body (only /-/reload takes one); more: 413
  // From accept (or from the first byte of a keep-alive request) to the end of the headers
  // and body, TLS handshake included; the connection is closed when it passes.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  // An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(5);
  // A response that cannot hand the next 64 KiB to the kernel within this is dropped.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
  int max_connections = 2048;       // open connections; more are accepted and closed at once
  int max_requests_in_flight = 40;  // /metrics handlers running at once
  // How long a /metrics request waits for a slot before it is answered 503.
  std::chrono::milliseconds in_flight_wait = std::chrono::seconds(1);
  int io_threads = 2;      // threads running the connections' I/O
  int worker_threads = 0;  // handler threads; 0: max_requests_in_flight + 4
};

struct ServerOptions {
  std::string host;  // empty: all interfaces
  int port = 9847;
  std::string telemetry_path = "/metrics";  // a literal path, validated by ParseFlags
  std::string version;
  WebConfig web;
  Limits limits;
  bool enable_lifecycle = false;  // POST/PUT /-/reload; otherwise 403
};

struct Handlers {
  // The exposition; nullptr while no configuration is running (served as 503). Must not
  // throw.
  std::function<std::shared_ptr<const Body>()> metrics;
  // /-/ready: "" when ready (200 "Ready"); otherwise the 503 body's reason, e.g. "first fetch
  // running". Null: never ready.
  std::function<std::string()> not_ready;
  std::function<Status()> reload;  // re-read the config
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket and starts the worker threads; returns the port (useful
  // with port 0).
  Result<int> Bind();
  // Serves until Stop(); blocking. Returns at once if Stop() came first.
  void Serve();
  // Closes the listener and every connection; Serve() returns within about a second,
  // whatever the clients do. A handler still running is waited for by Serve().
  void Stop();

  // Connections open now (for tests and logs).
  int Connections() const;

  struct Impl;  // opaque; public only so that server.cc's connection classes can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace yfe::http
