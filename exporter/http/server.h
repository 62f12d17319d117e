// HttpServer: the exporter's HTTP surface. /metrics (the telemetry path), a landing page
// at /, /-/healthy, /-/ready and POST /-/reload; 404 for everything else. Plain HTTP or
// TLS (with optional client certificates) and basic auth, per the exporter-toolkit web
// config. Built on cpp-httplib with OpenSSL, not on civetweb, whose TLS crashes with
// OpenSSL 3 on Debian bookworm.
//
// Thread-safe: each connection is served by a worker thread from a pool that grows on
// demand up to max_threads. An idle keep-alive connection, or a client that trickles its
// request, occupies a worker until keep_alive_timeout / read_timeout: with a fixed pool a
// few hundred of those would queue every scrape behind them for minutes.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "http/body.h"
#include "http/web_config.h"
#include "util/result.h"

namespace httplib {
class Server;
}

namespace yfe::http {

struct ServerOptions {
  std::string host;  // empty: all interfaces
  int port = 9847;
  std::string telemetry_path = "/metrics";
  std::string version;
  WebConfig web;
  int min_threads = 4;            // kept alive while idle
  int max_threads = 512;          // connections served at once; more wait in a queue
  int keep_alive_seconds = 5;     // an idle connection is closed after this
  int read_timeout_seconds = 10;  // per read; a request making no progress is dropped
};

struct Handlers {
  // The exposition; nullptr while no configuration is running (served as 503). Must not
  // throw.
  std::function<std::shared_ptr<const Body>()> metrics;
  std::function<bool()> ready;           // config loaded (and first discovery done)
  std::function<Result<bool>()> reload;  // re-read the config
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handlers handlers);
  ~HttpServer();

  // Binds the listening socket; returns the port (useful with port 0).
  Result<int> Bind();
  // Serves until Stop(); blocking.
  void Serve();
  void Stop();

 private:
  void Routes();
  ServerOptions options_;
  Handlers handlers_;
  BasicAuth auth_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace yfe::http
