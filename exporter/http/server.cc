#include "http/server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

#include "http/gzip.h"
#include "metrics/exposition.h"
#include "util/escape.h"
#include "util/log.h"

namespace yfe::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kChunk = 64 * 1024;  // bytes of a streamed body handed to the kernel at once

int TlsVersion(const std::string& v) {
  if (v == "TLS10") return TLS1_VERSION;
  if (v == "TLS11") return TLS1_1_VERSION;
  if (v == "TLS13") return TLS1_3_VERSION;
  return TLS1_2_VERSION;
}

int AcceptAnyCert(int, X509_STORE_CTX*) { return 1; }

// Configures an OpenSSL server context from the web config.
Status SetupTls(SSL_CTX& ctx, const TlsConfig& tls) {
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle connections give their read and write buffers back.
  SSL_CTX_set_mode(&ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_min_proto_version(&ctx, TlsVersion(tls.min_version)) != 1 ||
      (!tls.max_version.empty() &&
       SSL_CTX_set_max_proto_version(&ctx, TlsVersion(tls.max_version)) != 1)) {
    return Error("cannot set the TLS version range");
  }
  if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert_file.c_str()) != 1) {
    return Error("cannot load tls_server_config.cert_file " + tls.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    return Error("cannot load tls_server_config.key_file " + tls.key_file +
                 " (or it does not match the certificate)");
  }
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return Error("cannot load tls_server_config.client_ca_file " + tls.client_ca_file);
    }
    SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(tls.client_ca_file.c_str()));
  }
  // With SSL_VERIFY_PEER and no session id context, OpenSSL refuses every resumption
  // with a fatal internal_error alert (audit finding 6). Sessions are only resumed by this
  // server, under this configuration.
  static const unsigned char kSessionContext[] = "yunxiao-flow-exporter";
  SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof kSessionContext - 1);
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
  return Ok();
}

std::string HtmlEscape(const std::string& s) {
  static constexpr EscapeTable kHtml =
      MakeEscapeTable({{'<', "&lt;"}, {'>', "&gt;"}, {'&', "&amp;"}, {'"', "&quot;"}});
  std::string out;
  AppendEscaped(out, s, kHtml);
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string HttpDate() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

// At most one log line per `every` for a recurring condition (refused connections, accept
// errors, dropped connections), with the number of occurrences since the last line.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::seconds every) : every_(every) {}
  // Returns the count to report, or 0 when this occurrence is not logged.
  uint64_t Hit() {
    std::lock_guard lock(mu_);
    ++count_;
    auto now = SteadyClock::now();
    if (last_ != SteadyClock::time_point{} && now - last_ < every_) return 0;
    last_ = now;
    uint64_t n = count_;
    count_ = 0;
    return n;
  }

 private:
  std::mutex mu_;
  std::chrono::seconds every_;
  SteadyClock::time_point last_{};
  uint64_t count_ = 0;
};

// What a handler needs of a request; everything else is parsed and dropped.
struct Request {
  bhttp::verb method = bhttp::verb::unknown;
  std::string target;
  int version = 11;
  std::string accept_encoding;
  std::string authorization;
  int authorization_count = 0;
  bool keep_alive = true;
  SteadyClock::time_point arrived{};  // when the request was complete
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;                    // small bodies
  std::unique_ptr<BodyReader> reader;  // /metrics: streamed, never copied whole
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;
};

Response Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// Beast's request parser with our limits, keeping only the fields we use. Beast parses the
// request line and then each complete field as it arrives (its header_limit bounds only
// what is buffered at once); the connection counts the header bytes, this the fields.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  enum class Reject { kNone, kLineTooLong, kTooManyHeaders };

  RequestParser(const Limits& limits, Request& out) : limits_(limits), out_(out) {
    header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    body_limit(limits.max_body);
    eager(false);  // put() stops at the end of the header: header bytes are counted alone
  }
  Reject reject() const { return reject_; }
  bool got_request_line() const { return got_line_; }

 private:
  void on_request_impl(bhttp::verb method, beast::string_view, beast::string_view target,
                       int version, error_code& ec) override {
    if (target.size() > limits_.max_request_line) {
      reject_ = Reject::kLineTooLong;
      ec = bhttp::error::bad_target;
      return;
    }
    got_line_ = true;
    out_.method = method;
    out_.target.assign(target.data(), target.size());
    out_.version = version;
  }
  void on_response_impl(int, beast::string_view, int, error_code& ec) override {
    ec = bhttp::error::bad_method;
  }
  void on_field_impl(bhttp::field name, beast::string_view, beast::string_view value,
                     error_code& ec) override {
    if (++fields_ > limits_.max_headers) {
      reject_ = Reject::kTooManyHeaders;
      ec = bhttp::error::header_limit;
      return;
    }
    if (name == bhttp::field::accept_encoding) {
      if (!out_.accept_encoding.empty()) out_.accept_encoding += ", ";
      out_.accept_encoding.append(value.data(), value.size());
    } else if (name == bhttp::field::authorization) {
      // Two Authorization headers are ambiguous: such a request is not authenticated.
      if (out_.authorization_count++ == 0) out_.authorization.assign(value.data(), value.size());
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  const Limits& limits_;
  Request& out_;
  size_t fields_ = 0;
  bool got_line_ = false;
  Reject reject_ = Reject::kNone;
};

// Counts /metrics handlers in flight; a request waits until its deadline for a slot.
class InFlight {
 public:
  explicit InFlight(int max) : max_(std::max(1, max)) {}
  bool Acquire(SteadyClock::time_point deadline) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return running_ < max_; })) return false;
    ++running_;
    return true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      --running_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int max_;
  int running_ = 0;
};

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  virtual ~ConnectionBase() = default;
  // Closes the connection from any thread (posted onto its strand).
  virtual void Shutdown() = 0;
};

}  // namespace

struct HttpServer::Impl {
  Impl(ServerOptions o, Handlers h)
      : options(std::move(o)),
        handlers(std::move(h)),
        auth(options.web.basic_auth_users),
        in_flight(options.limits.max_requests_in_flight) {}

  ServerOptions options;
  Handlers handlers;
  BasicAuth auth;
  InFlight in_flight;
  std::atomic<int> connections{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;                   // guards live
  std::set<ConnectionBase*> live;  // open connections, for Stop()
  LogLimiter refused_log{std::chrono::seconds(10)};
  LogLimiter accept_log{std::chrono::seconds(10)};
  LogLimiter dropped_log{std::chrono::seconds(10)};
  std::optional<asio::ssl::context> ssl;
  // Declared after what connections use, so that it is destroyed (with the handlers it
  // still holds) first.
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> accept_strand{ioc.get_executor()};
  tcp::acceptor acceptor{accept_strand};
  asio::steady_timer accept_retry{accept_strand};
  asio::steady_timer stop_timer{accept_strand};
  std::unique_ptr<asio::thread_pool> workers;  // destroyed first

  void Accept();
  void OnAccept(error_code ec, tcp::socket socket);
  void RetryAccept(const char* why);
  void StopNow();
  Response Handle(const Request& req);
  Response Metrics(const Request& req);
  // Runs `fn` on a worker thread, then `done(response)` on the connection's strand.
  template <class Done>
  void Dispatch(Request req, asio::any_io_executor strand, Done done);
};

namespace {

// One connection, plain or TLS. Every handler runs on the connection's strand; a worker
// thread only computes a Response and posts it back.
template <class Stream>
class Connection final : public ConnectionBase {
 public:
  Connection(HttpServer::Impl& server, tcp::socket socket)
      : server_(server),
        stream_(MakeStream(server, std::move(socket))),
        timer_(stream_.get_executor()),
        in_(server.options.limits.max_header_bytes + 16 * 1024) {
    {
      std::lock_guard lock(server_.mu);
      server_.live.insert(this);
    }
    server_.connections++;
  }
  ~Connection() override {
    {
      std::lock_guard lock(server_.mu);
      server_.live.erase(this);
    }
    server_.connections--;
  }

  void Start() {
    Guarded([&] {
      Arm(server_.options.limits.header_timeout);
      if constexpr (kTls) {
        stream_.async_handshake(asio::ssl::stream_base::server, [self = Self()](error_code ec) {
          self->Guarded([&] {
            if (ec || self->closed_) return self->Close();
            self->ReadRequest(/*first=*/true);
          });
        });
      } else {
        ReadRequest(/*first=*/true);
      }
    });
  }

  void Shutdown() override {
    auto self = std::static_pointer_cast<Connection>(weak_from_this().lock());
    if (!self) return;
    asio::post(stream_.get_executor(), [self] { self->Close(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  static Stream MakeStream(HttpServer::Impl& server, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server.ssl);
    } else {
      return socket;
    }
  }

  std::shared_ptr<Connection> Self() {
    return std::static_pointer_cast<Connection>(shared_from_this());
  }
  auto& Socket() { return stream_.lowest_layer(); }

  // Runs a step; anything it throws (bad_alloc, system_error) closes this connection only.
  template <class F>
  void Guarded(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      if (uint64_t n = server_.dropped_log.Hit()) {
        logging::Warn("http: connection dropped after an error",
                      {{"err", e.what()}, {"count", std::to_string(n)}});
      }
      Close();
    }
  }

  // Closes the connection when `d` passes, unless re-armed or disarmed first.
  void Arm(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    timer_.async_wait([self = Self(), gen = ++timer_gen_](error_code ec) {
      if (!ec && gen == self->timer_gen_) self->Close();
    });
  }
  void Disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
    Disarm();
    reader_.reset();
    // The buffers stay until the connection dies: an operation still pending when the
    // socket closed is completed (aborted) after this, and may name them.
  }

  void ReadRequest(bool first) {
    if (closed_ || server_.stopping) return Close();
    req_ = Request();
    parser_.emplace(server_.options.limits, req_);
    header_bytes_ = 0;
    line_bytes_ = 0;
    fresh_ = !first;  // a keep-alive connection may idle until its first byte
    if (!first) Arm(server_.options.limits.idle_timeout);
    if (in_.size() > 0) return Parse();  // a pipelined request
    ReadSome();
  }

  void ReadSome() {
    const size_t room = in_.max_size() - in_.size();
    if (room == 0) return Reject(431);
    const size_t want = std::min(room, std::max<size_t>(4096, in_.size()));
    stream_.async_read_some(in_.prepare(want), [self = Self()](error_code ec, size_t n) {
      self->Guarded([&] {
        if (self->closed_) return;
        if (ec) return self->Close();
        self->in_.commit(n);
        if (self->fresh_ && n > 0) {
          self->fresh_ = false;
          self->Arm(self->server_.options.limits.header_timeout);
        }
        self->Parse();
      });
    });
  }

  void Parse() {
    const Limits& limits = server_.options.limits;
    while (in_.size() > 0 && !parser_->is_done()) {
      error_code ec;
      const bool in_header = !parser_->is_header_done();
      const bool in_line = !parser_->got_request_line();
      if (in_line && !RequestLineFits()) return Reject(414);
      const size_t used = parser_->put(in_.data(), ec);
      if (in_header) {
        // The request line is limited on its own (414); what follows up to the end of the
        // header counts against max_header_bytes.
        const size_t line = in_line && parser_->got_request_line() ? line_bytes_ : 0;
        header_bytes_ += used - std::min(used, line);
        if (header_bytes_ > limits.max_header_bytes + 2) return Reject(431);  // + final CRLF
      }
      in_.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return Fail(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return Dispatch();
    if (!parser_->is_header_done()) {
      if (parser_->got_request_line() && header_bytes_ + in_.size() > limits.max_header_bytes + 2) {
        return Reject(431);
      }
    }
    ReadSome();
  }

  // Whether what has arrived of the request line can still be a line within the limit;
  // remembers the line's length once it is complete.
  bool RequestLineFits() {
    const auto data = in_.data();
    const char* p = static_cast<const char*>(data.data());
    const size_t limit = server_.options.limits.max_request_line + 2;  // + CRLF
    const size_t look = std::min(data.size(), limit);
    if (const void* eol = std::memchr(p, '\n', look)) {
      line_bytes_ = static_cast<size_t>(static_cast<const char*>(eol) - p) + 1;
      return true;
    }
    return data.size() <= limit;
  }

  void Fail(error_code ec) {
    using R = RequestParser::Reject;
    if (parser_->reject() == R::kLineTooLong) return Reject(414);
    if (parser_->reject() == R::kTooManyHeaders || ec == bhttp::error::header_limit) {
      return Reject(431);
    }
    if (ec == bhttp::error::body_limit) return Reject(413);
    Reject(400);
  }

  // An error answer; the connection closes after it.
  void Reject(int status) {
    Response r = Text(status, std::string(Reason(status)) + "\n");
    r.close = true;
    Respond(std::move(r), /*head_only=*/false);
  }

  void Dispatch() {
    // The handler may take a while (a cold /metrics waits for the API): only a safety net,
    // should its answer never come back (no memory to post it).
    Arm(std::chrono::minutes(5));
    req_.keep_alive = parser_->keep_alive();
    req_.arrived = SteadyClock::now();
    const bool head = req_.method == bhttp::verb::head;
    server_.Dispatch(req_, stream_.get_executor(), [self = Self(), head](Response r) {
      self->Guarded([&] { self->Respond(std::move(r), head); });
    });
  }

  void Respond(Response r, bool head_only) {
    if (closed_) return;
    close_after_ = r.close || !req_.keep_alive || server_.stopping;
    const uint64_t size = r.reader ? r.reader->Size() : r.body.size();
    std::string& h = head_;
    h.clear();
    h += "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
    for (const auto& [k, v] : server_.options.web.headers) h += k + ": " + v + "\r\n";
    for (const auto& [k, v] : r.headers) h += k + ": " + v + "\r\n";
    h += "Content-Type: " + r.content_type + "\r\n";
    h += "Content-Length: " + std::to_string(size) + "\r\n";
    h += "Date: " + HttpDate() + "\r\n";
    if (close_after_) {
      h += "Connection: close\r\n";
    } else if (req_.version < 11) {
      h += "Connection: keep-alive\r\n";
    }
    h += "\r\n";
    if (!head_only && !r.reader) h += r.body;
    if (!head_only && r.reader && size > 0) {
      reader_ = std::move(r.reader);
      size_ = size;
      sent_ = 0;
    }
    Arm(server_.options.limits.write_timeout);
    asio::async_write(stream_, asio::buffer(head_), [self = Self()](error_code ec, size_t) {
      self->Guarded([&] {
        if (self->closed_) return;
        if (ec) return self->Close();
        self->head_.clear();
        self->head_.shrink_to_fit();
        self->SendChunk();
      });
    });
  }

  void SendChunk() {
    if (!reader_ || sent_ >= size_) return Done();
    if (chunk_.empty()) chunk_.resize(kChunk);
    const size_t n = reader_->Read(sent_, chunk_.data(),
                                   static_cast<size_t>(std::min<uint64_t>(kChunk, size_ - sent_)));
    if (n == 0) return Close();  // shorter than announced: the client sees a short body
    Arm(server_.options.limits.write_timeout);
    asio::async_write(stream_, asio::buffer(chunk_.data(), n),
                      [self = Self(), n](error_code ec, size_t) {
                        self->Guarded([&] {
                          if (self->closed_) return;
                          if (ec) return self->Close();
                          self->sent_ += n;
                          self->SendChunk();
                        });
                      });
  }

  void Done() {
    reader_.reset();
    std::vector<char>().swap(chunk_);
    if (in_.capacity() > 16 * 1024 && in_.size() == 0) in_.shrink_to_fit();
    if (close_after_) return Linger();
    ReadRequest(/*first=*/false);
  }

  // After an answer that ends the connection: stop sending, and read (and drop) what the
  // client still sends for a moment, so that closing does not reset the connection before
  // the client has read the answer. Plain connections only; TLS ones just close.
  void Linger() {
    if constexpr (kTls) {
      Close();
    } else {
      error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_send, ignored);
      in_.clear();
      Arm(std::chrono::seconds(1));
      Drain();
    }
  }
  void Drain() {
    in_.clear();
    stream_.async_read_some(in_.prepare(4096), [self = Self()](error_code ec, size_t) {
      self->Guarded([&] {
        if (self->closed_) return;
        if (ec) return self->Close();
        self->Drain();
      });
    });
  }

  HttpServer::Impl& server_;
  Stream stream_;
  asio::steady_timer timer_;
  unsigned timer_gen_ = 0;
  beast::flat_buffer in_;
  Request req_;
  std::optional<RequestParser> parser_;
  std::string head_;
  std::unique_ptr<BodyReader> reader_;
  std::vector<char> chunk_;
  uint64_t size_ = 0, sent_ = 0;
  size_t header_bytes_ = 0, line_bytes_ = 0;
  bool closed_ = false, close_after_ = false, fresh_ = false;
};

using PlainConnection = Connection<tcp::socket>;
using TlsConnection = Connection<asio::ssl::stream<tcp::socket>>;

}  // namespace

template <class Done>
void HttpServer::Impl::Dispatch(Request req, asio::any_io_executor strand, Done done) {
  asio::post(*workers, [this, req = std::move(req), strand, done = std::move(done)]() mutable {
    Response r;
    try {
      r = Handle(req);
    } catch (const std::exception& e) {
      logging::Error("http: handler failed", {{"err", e.what()}});
      r = Text(500, "internal error\n");
      r.close = true;
    }
    try {
      asio::post(strand, [r = std::make_shared<Response>(std::move(r)), done]() mutable {
        done(std::move(*r));
      });
    } catch (const std::exception& e) {
      // Out of memory: the connection is closed when its handlers are dropped.
      logging::Error("http: cannot hand back a response", {{"err", e.what()}});
    }
  });
}

Response HttpServer::Impl::Handle(const Request& req) {
  if (auth.enabled() && (req.authorization_count != 1 || !auth.Check(req.authorization))) {
    Response r = Text(401, "Unauthorized\n");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"yunxiao-flow-exporter\"");
    r.close = true;  // whatever the client sent after its request is not read as a request
    return r;
  }
  const std::string_view target = req.target;
  const std::string_view path = target.substr(0, target.find('?'));
  const bool get = req.method == bhttp::verb::get || req.method == bhttp::verb::head;
  if (path == "/-/reload") {
    if (req.method != bhttp::verb::post && req.method != bhttp::verb::put) {
      Response r = Text(405, "This endpoint requires a POST or PUT request.\n");
      r.headers.emplace_back("Allow", "POST, PUT");
      return r;
    }
    if (!options.enable_lifecycle || !handlers.reload) {
      return Text(403, "Lifecycle API is not enabled.\n");
    }
    auto result = handlers.reload();
    return result.ok() ? Text(200, "config reloaded\n")
                       : Text(500, "reload failed: " + result.error() + "\n");
  }
  if (!get) return Text(404, "Not Found\n");
  if (path == options.telemetry_path) return Metrics(req);
  if (path == "/") {
    const std::string p = HtmlEscape(options.telemetry_path);
    Response r = Text(200,
                      "<!DOCTYPE html>\n<html><head><title>Yunxiao Flow Exporter</title></head>"
                      "<body><h1>Yunxiao Flow Exporter</h1><p>Version " +
                          HtmlEscape(options.version) + "</p><ul><li><a href=\"" + p + "\">" + p +
                          "</a></li><li><a href=\"/-/healthy\">/-/healthy</a></li>"
                          "<li><a href=\"/-/ready\">/-/ready</a></li></ul></body></html>\n");
    r.content_type = "text/html; charset=utf-8";
    return r;
  }
  if (path == "/-/healthy") return Text(200, "Healthy\n");
  if (path == "/-/ready") {
    const std::string why = handlers.not_ready ? handlers.not_ready() : "no configuration";
    return why.empty() ? Text(200, "Ready\n") : Text(503, "Not ready: " + why + "\n");
  }
  return Text(404, "Not Found\n");
}

Response HttpServer::Impl::Metrics(const Request& req) {
  if (!in_flight.Acquire(req.arrived + options.limits.in_flight_wait)) {
    Response r = Text(503, "too many scrapes in flight, try again\n");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  std::shared_ptr<const Body> body;
  try {
    body = handlers.metrics ? handlers.metrics() : nullptr;
  } catch (const std::exception& e) {
    in_flight.Release();
    logging::Error("scrape failed", {{"err", e.what()}});
    return Text(500, "scrape failed\n");
  }
  in_flight.Release();
  if (!body) {
    // No configuration is running (e.g. between two during a reload). An empty 200 would
    // make Prometheus mark every series stale; a failed scrape does not.
    return Text(503, "no configuration loaded\n");
  }
  Response r;
  r.content_type = std::string(metrics::kContentType);
  r.headers.emplace_back("Vary", "Accept-Encoding");
  // Compression is ours only: gzip of our own bytes, identity for anything else (br...).
  if (AcceptsGzip(req.accept_encoding)) {
    r.reader = body->Open(Encoding::kGzip);
    if (r.reader) r.headers.emplace_back("Content-Encoding", "gzip");
  }
  if (!r.reader) r.reader = body->Open(Encoding::kIdentity);
  if (!r.reader) return Text(500, "scrape failed\n");
  return r;
}

void HttpServer::Impl::Accept() {
  try {
    acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
      try {
        OnAccept(ec, std::move(socket));
      } catch (const std::exception& e) {
        RetryAccept(e.what());
      }
    });
  } catch (const std::exception& e) {
    RetryAccept(e.what());
  }
}

// Accepting failed (out of descriptors or memory): try again shortly rather than spin.
void HttpServer::Impl::RetryAccept(const char* why) {
  if (uint64_t n = accept_log.Hit()) {
    logging::Warn("http: accept failed", {{"err", why}, {"count", std::to_string(n)}});
  }
  try {
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](error_code e) {
      if (!e && !stopping) Accept();
    });
  } catch (const std::exception& e) {
    logging::Error("http: cannot accept connections any more", {{"err", e.what()}});
  }
}

void HttpServer::Impl::OnAccept(error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of file descriptors (or memory): try again shortly rather than spin.
    return RetryAccept(ec.message().c_str());
  }
  if (connections.load() >= options.limits.max_connections) {
    error_code ignored;
    socket.close(ignored);
    if (uint64_t n = refused_log.Hit()) {
      logging::Warn("http: connection limit reached, closing new connections",
                    {{"max_connections", std::to_string(options.limits.max_connections)},
                     {"count", std::to_string(n)}});
    }
    return Accept();
  }
  try {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (ssl) {
      auto c = std::make_shared<TlsConnection>(*this, std::move(socket));
      c->Start();
    } else {
      auto c = std::make_shared<PlainConnection>(*this, std::move(socket));
      c->Start();
    }
  } catch (const std::exception& e) {
    if (uint64_t n = dropped_log.Hit()) {
      logging::Warn("http: cannot serve a new connection",
                    {{"err", e.what()}, {"count", std::to_string(n)}});
    }
  }
  Accept();
}

void HttpServer::Impl::StopNow() {
  error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  std::vector<std::shared_ptr<ConnectionBase>> open;
  {
    std::lock_guard lock(mu);
    for (ConnectionBase* c : live) {
      if (auto p = c->weak_from_this().lock()) open.push_back(std::move(p));
    }
  }
  for (auto& c : open) c->Shutdown();
  open.clear();
  // Give the connections' strands a moment to run their close, then stop the loop whatever
  // is left (a handler still running on a worker is waited for by Serve()).
  stop_timer.expires_after(std::chrono::milliseconds(200));
  stop_timer.async_wait([this](error_code) { ioc.stop(); });
}

HttpServer::HttpServer(ServerOptions options, Handlers handlers)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers))) {}

HttpServer::~HttpServer() {
  Stop();
  if (impl_->workers) {
    impl_->workers->stop();
    impl_->workers->join();
  }
}

int HttpServer::Connections() const { return impl_->connections.load(); }

Result<int> HttpServer::Bind() {
  Impl& s = *impl_;
  Limits& l = s.options.limits;
  l.max_connections = std::max(1, l.max_connections);
  l.max_requests_in_flight = std::max(1, l.max_requests_in_flight);
  l.io_threads = std::max(1, l.io_threads);
  if (l.worker_threads <= 0) l.worker_threads = l.max_requests_in_flight + 4;
  if (s.options.web.tls) {
    try {
      s.ssl.emplace(asio::ssl::context::tls_server);
    } catch (const std::exception& e) {
      return Error(std::string("TLS setup failed: ") + e.what());
    }
    if (Status tls = SetupTls(*s.ssl->native_handle(), *s.options.web.tls); !tls.ok()) {
      s.ssl.reset();
      return Error("TLS setup failed: " + tls.error());
    }
  }
  const std::string host = s.options.host.empty() ? "0.0.0.0" : s.options.host;
  error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    // A host name: resolve it (once, at start).
    tcp::resolver resolver(s.ioc);
    auto found = resolver.resolve(host, std::to_string(s.options.port), ec);
    if (ec || found.empty()) return Error("cannot resolve listen host " + host);
    address = found.begin()->endpoint().address();
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(s.options.port));
  const std::string where = host + ":" + std::to_string(s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (ec) return Error("cannot listen on " + where + " (" + ec.message() + ")");
  // No SO_REUSEPORT, so a second exporter on the same port fails loudly. A deep backlog:
  // a burst of connections (several Prometheus servers, a load test) is not met with
  // dropped SYNs and one-second retransmits.
  s.acceptor.listen(1024, ec);
  if (ec) return Error("cannot listen on " + where + " (" + ec.message() + ")");
  try {
    s.workers = std::make_unique<asio::thread_pool>(static_cast<size_t>(l.worker_threads));
  } catch (const std::exception& e) {
    return Error(std::string("cannot start the HTTP worker threads: ") + e.what());
  }
  return static_cast<int>(s.acceptor.local_endpoint().port());
}

void HttpServer::Serve() {
  Impl& s = *impl_;
  if (s.stopping || !s.acceptor.is_open()) return;
  asio::post(s.accept_strand, [&s] { s.Accept(); });
  auto run = [&s] {
    while (true) {
      try {
        s.ioc.run();
        return;
      } catch (const std::exception& e) {
        logging::Error("http: I/O loop error", {{"err", e.what()}});
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < s.options.limits.io_threads; ++i) {
    try {
      threads.emplace_back(run);
    } catch (const std::system_error& e) {
      logging::Warn("http: cannot start an I/O thread", {{"err", e.what()}});
      break;
    }
  }
  run();
  for (auto& t : threads) t.join();
  // Handlers still running on workers (a scrape, a reload) end on their own; the app has
  // been told to stop. Responses they post back are dropped with the loop.
  if (s.workers) {
    s.workers->stop();
    s.workers->join();
  }
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  // Before Serve(): it returns at once. During: the loop closes everything, then stops.
  asio::post(s.accept_strand, [&s] { s.StopNow(); });
}

}  // namespace yfe::http
