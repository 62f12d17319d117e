// HttpServer: the exporter's HTTP surface. /metrics (the telemetry path), a landing page
// at /, /-/healthy, /-/ready and POST /-/reload; 404 for everything else. Plain HTTP or
// TLS (with optional client certificates) and basic auth, per the exporter-toolkit web
// config. Built on cpp-httplib with OpenSSL, not on civetweb, whose TLS crashes with
// OpenSSL 3 on Debian bookworm.
//
// Thread-safe: handlers run on a bounded pool of worker threads.
#pragma once

#include <functional>
#include <memory>
#include <string>

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
  int worker_threads = 16;
};

struct Handlers {
  std::function<std::string()> metrics;      // exposition text; must not throw
  std::function<bool()> ready;               // config loaded (and first discovery done)
  std::function<Result<bool>()> reload;      // re-read the config
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
