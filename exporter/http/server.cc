#include "http/server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "http/gzip.h"
#include "http/thread_pool.h"
#include "metrics/exposition.h"
#include "util/log.h"

namespace yfe::http {
namespace {

int TlsVersion(const std::string& v) {
  if (v == "TLS10") return TLS1_VERSION;
  if (v == "TLS11") return TLS1_1_VERSION;
  if (v == "TLS13") return TLS1_3_VERSION;
  return TLS1_2_VERSION;
}

int AcceptAnyCert(int, X509_STORE_CTX*) { return 1; }

// Configures an OpenSSL server context from the web config; false on any failure.
bool SetupTls(SSL_CTX& ctx, const TlsConfig& tls, std::string& error) {
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(&ctx, TlsVersion(tls.min_version)) != 1 ||
      (!tls.max_version.empty() &&
       SSL_CTX_set_max_proto_version(&ctx, TlsVersion(tls.max_version)) != 1)) {
    error = "cannot set the TLS version range";
    return false;
  }
  if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert_file.c_str()) != 1) {
    error = "cannot load tls_server_config.cert_file " + tls.cert_file;
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    error = "cannot load tls_server_config.key_file " + tls.key_file +
            " (or it does not match the certificate)";
    return false;
  }
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      error = "cannot load tls_server_config.client_ca_file " + tls.client_ca_file;
      return false;
    }
    SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(tls.client_ca_file.c_str()));
  }
  const std::string& t = tls.client_auth_type;
  if (t == "RequestClientCert") {
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, AcceptAnyCert);
  } else if (t == "RequireAnyClientCert") {
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptAnyCert);
  } else if (t == "VerifyClientCertIfGiven") {
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  } else if (t == "RequireAndVerifyClientCert") {
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_NONE, nullptr);
  }
  return true;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

HttpServer::HttpServer(ServerOptions options, Handlers handlers)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      auth_(options_.web.basic_auth_users) {}

HttpServer::~HttpServer() { Stop(); }

Result<int> HttpServer::Bind() {
  if (options_.web.tls) {
    std::string error;
    const TlsConfig tls = *options_.web.tls;
    auto server = std::make_unique<httplib::SSLServer>(
        [&](SSL_CTX& ctx) { return SetupTls(ctx, tls, error); });
    if (!server->is_valid()) {
      return Error("TLS setup failed: " + (error.empty() ? "invalid configuration" : error));
    }
    server_ = std::move(server);
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  const size_t min_threads = std::max(1, options_.min_threads);
  const size_t max_threads = std::max(1, options_.max_threads);
  server_->new_task_queue = [min_threads, max_threads] {
    return new ElasticThreadPool(min_threads, max_threads);
  };
  server_->set_keep_alive_max_count(100);
  server_->set_keep_alive_timeout(options_.keep_alive_seconds);
  server_->set_read_timeout(options_.read_timeout_seconds, 0);
  server_->set_write_timeout(30, 0);
  server_->set_payload_max_length(64 * 1024);
  // httplib writes a response's head and body separately: with Nagle's algorithm and the
  // client's delayed ACK, every request after the first on a keep-alive connection (what
  // Prometheus uses) would wait about 40 ms.
  server_->set_tcp_nodelay(true);
  Routes();
  // httplib listens with a backlog of 5: a burst of connections (several Prometheus
  // servers, a load test) would see dropped SYNs and one-second retransmits. Keep the
  // listening socket to raise the backlog after bind; no SO_REUSEPORT, so a second exporter
  // on the same port fails loudly.
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  std::string host = options_.host.empty() ? "0.0.0.0" : options_.host;
  int port = options_.port;
  if (port == 0) {
    port = server_->bind_to_any_port(host);
    if (port <= 0) return Error("cannot listen on " + host + ":0");
  } else if (!server_->bind_to_port(host, port)) {
    return Error("cannot listen on " + host + ":" + std::to_string(port) +
                 " (in use, or not allowed)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, 1024);
  return port;
}

void HttpServer::Serve() {
  if (server_) server_->listen_after_bind();
}

void HttpServer::Stop() {
  if (server_) server_->stop();
}

void HttpServer::Routes() {
  auto& s = *server_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Byte ranges are ignored: httplib would build one copy of the body per range, so an
    // 8 KB "Range: bytes=0-,0-,..." would ask for thousands of copies of /metrics. The
    // Request is httplib's own non-const object, handed to us as const.
    const_cast<httplib::Request&>(req).ranges.clear();
    for (const auto& [k, v] : options_.web.headers) res.set_header(k, v);
    if (auth_.enabled() && !auth_.Check(req.get_header_value("Authorization"))) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"yunxiao-flow-exporter\"");
      res.set_content("Unauthorized\n", "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.Get(options_.telemetry_path, [this](const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<const Body> body;
    try {
      body = handlers_.metrics();
    } catch (const std::exception& e) {
      logging::Error("scrape failed", {{"err", e.what()}});
      res.status = 500;
      res.set_content("scrape failed\n", "text/plain; charset=utf-8");
      return;
    }
    if (!body) {
      // No configuration is running (e.g. between two during a reload). An empty 200 would
      // make Prometheus mark every series stale; a failed scrape does not.
      res.status = 503;
      res.set_content("no configuration loaded\n", "text/plain; charset=utf-8");
      return;
    }
    // Handed over as a provider, which httplib neither copies nor compresses again.
    std::shared_ptr<BodyReader> reader;
    if (AcceptsGzip(req.get_header_value("Accept-Encoding"))) {
      reader = body->Open(Encoding::kGzip);
      if (reader) res.set_header("Content-Encoding", "gzip");
    }
    if (!reader) reader = body->Open(Encoding::kIdentity);
    res.set_content_provider(reader->Size(), std::string(metrics::kContentType),
                             [reader](size_t offset, size_t length, httplib::DataSink& sink) {
                               char buf[64 * 1024];
                               while (length > 0) {
                                 size_t n = reader->Read(offset, buf, std::min(length, sizeof buf));
                                 if (n == 0) return false;
                                 if (!sink.write(buf, n)) return false;
                                 offset += n;
                                 length -= n;
                               }
                               return true;
                             });
  });
  s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    const std::string path = HtmlEscape(options_.telemetry_path);
    res.set_content(
        "<!DOCTYPE html>\n<html><head><title>Yunxiao Flow Exporter</title></head>"
        "<body><h1>Yunxiao Flow Exporter</h1><p>Version " +
            HtmlEscape(options_.version) + "</p><ul><li><a href=\"" + path + "\">" + path +
            "</a></li><li><a href=\"/-/healthy\">/-/healthy</a></li>"
            "<li><a href=\"/-/ready\">/-/ready</a></li></ul></body></html>\n",
        "text/html; charset=utf-8");
  });
  s.Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("Healthy\n", "text/plain; charset=utf-8");
  });
  s.Get("/-/ready", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = handlers_.ready && handlers_.ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "Ready\n" : "Not ready\n", "text/plain; charset=utf-8");
  });
  // A content-reader route: httplib 0.11 would otherwise wait for a body until the read
  // timeout (then answer 400) when a POST has neither Content-Length nor chunked encoding,
  // which is what `curl -X POST .../-/reload` sends. A body that is announced is read and
  // dropped (payload_max_length applies), so the connection stays in sync.
  auto reload = [this](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& content) {
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      if (!content([](const char*, size_t) { return true; })) {
        if (res.status == -1) res.status = 400;
        return;
      }
    }
    if (!handlers_.reload) {
      res.status = 404;
      return;
    }
    auto r = handlers_.reload();
    res.status = r.ok() ? 200 : 500;
    res.set_content(r.ok() ? "config reloaded\n" : "reload failed: " + r.error() + "\n",
                    "text/plain; charset=utf-8");
  };
  s.Post("/-/reload", reload);
  s.Put("/-/reload", reload);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(res.status == 404 ? "Not Found\n" : "Error\n", "text/plain; charset=utf-8");
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("internal error\n", "text/plain; charset=utf-8");
  });
}

}  // namespace yfe::http
