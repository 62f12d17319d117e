#include "sim_server.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "rng.h"

namespace yfe::sim {
namespace {

constexpr const char* kJson = "application/json";
constexpr int kSlowBodyPieces = 8;
constexpr std::chrono::milliseconds kSlowBodyInterval(500);

Rng& ThreadRng() {
  static std::atomic<uint64_t> counter{0};
  thread_local Rng rng(Hash(std::random_device{}(), counter.fetch_add(1)));
  return rng;
}

bool Chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return ThreadRng().Uniform() < p;
}

void Log(const std::string& line) { std::fprintf(stderr, "flow-simulator: %s\n", line.c_str()); }

void SetError(httplib::Response& res, int status, std::string_view code, std::string_view message,
              const std::string& request_id) {
  res.status = status;
  res.set_content(RenderError(code, message, request_id), kJson);
}

void SetJson(httplib::Response& res, std::string body) {
  res.status = 200;
  res.set_content(std::move(body), kJson);
}

struct Paging {
  int64_t page = 1;
  int64_t per_page = kPerPageDefault;
};

// page is 1-based; perPage defaults to 10 and is clamped to 30 (or the server's smaller
// max_per_page).
bool ParsePaging(const httplib::Request& req, int max_per_page, Paging* p, std::string* error) {
  if (req.has_param("page")) {
    std::optional<int64_t> v = ParseInt64(req.get_param_value("page"));
    if (!v || *v < 1 || *v > 1000000000) {
      *error = "page must be a positive integer";
      return false;
    }
    p->page = *v;
  }
  if (req.has_param("perPage")) {
    std::optional<int64_t> v = ParseInt64(req.get_param_value("perPage"));
    if (!v || *v < 1) {
      *error = "perPage must be a positive integer";
      return false;
    }
    p->per_page = std::min<int64_t>(*v, kPerPageMax);
  }
  p->per_page = std::min<int64_t>(p->per_page, std::max(1, max_per_page));
  return true;
}

void SetPageHeaders(httplib::Response& res, const Paging& p, int64_t total) {
  const int64_t pages = (total + p.per_page - 1) / p.per_page;
  res.set_header("x-page", std::to_string(p.page));
  res.set_header("x-per-page", std::to_string(p.per_page));
  res.set_header("x-prev-page", p.page > 1 ? std::to_string(p.page - 1) : "");
  res.set_header("x-next-page", p.page < pages ? std::to_string(p.page + 1) : "");
  res.set_header("x-total", std::to_string(total));
  res.set_header("x-total-pages", std::to_string(pages));
}

bool OptionalIntParam(const httplib::Request& req, const char* name, std::optional<int64_t>* out) {
  if (!req.has_param(name)) return true;
  *out = ParseInt64(req.get_param_value(name));
  return out->has_value();
}

// The body's optional "status" into *status (left as is when absent); false when it is
// present but not a non-empty string.
bool OptionalStatus(const rapidjson::Document& doc, std::string* status) {
  if (!doc.HasMember("status")) return true;
  if (!doc["status"].IsString() || doc["status"].GetStringLength() == 0) return false;
  *status = doc["status"].GetString();
  return true;
}

// Empty or whitespace body counts as {}.
bool ParseBodyObject(const std::string& body, rapidjson::Document* doc) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    doc->SetObject();
    return true;
  }
  doc->Parse(body.c_str(), body.size());
  return !doc->HasParseError() && doc->IsObject();
}

// Ground truth of job history: "stages":[{name, status, startTime, endTime, jobs:[{jobSign,
// name, status, startTime, endTime}]}] of one finish.
void WriteFinishStages(rapidjson::Writer<rapidjson::StringBuffer>& w,
                       const std::vector<StageView>& stages) {
  auto str = [&](const char* key, const std::string& v) {
    w.Key(key);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  };
  auto times = [&](int64_t start, int64_t end) {
    w.Key("startTime");
    w.Int64(start);
    w.Key("endTime");
    w.Int64(end);
  };
  w.Key("stages");
  w.StartArray();
  for (const StageView& s : stages) {
    w.StartObject();
    str("name", s.name);
    str("status", s.status);
    times(s.start_time, s.end_time);
    w.Key("jobs");
    w.StartArray();
    for (const JobView& j : s.jobs) {
      w.StartObject();
      str("jobSign", j.sign);
      str("name", j.name);
      str("status", j.status);
      times(j.start_time, j.end_time);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

std::string JsonOk(const char* key, int64_t value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key(key);
  w.Int64(value);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// A valid JSON body padded to about kOversizedPadding bytes, produced lazily.
struct OversizedBody {
  std::string head;
  std::string tail;
  size_t padding = kOversizedPadding;
  char pad = ' ';

  explicit OversizedBody(const std::string& body) {
    if (!body.empty() && body[0] == '{') {
      head = "{\"simPadding\":\"";
      pad = 'x';
      tail = (body.size() > 1 && body[1] == '}') ? "\"" + body.substr(1) : "\"," + body.substr(1);
    } else {
      head = body.empty() ? "" : body.substr(0, 1);
      tail = body.empty() ? "" : body.substr(1);
    }
  }
  size_t Total() const { return head.size() + padding + tail.size(); }

  std::string Chunk(size_t pos, size_t max) const {
    std::string out;
    const size_t end = std::min(Total(), pos + max);
    while (pos < end) {
      size_t n = 0;
      if (pos < head.size()) {
        n = std::min(head.size() - pos, end - pos);
        out.append(head, pos, n);
      } else if (pos < head.size() + padding) {
        n = std::min(head.size() + padding - pos, end - pos);
        out.append(n, pad);
      } else {
        const size_t tp = pos - head.size() - padding;
        n = std::min(tail.size() - tp, end - pos);
        out.append(tail, tp, n);
      }
      pos += n;
    }
    return out;
  }
};

}  // namespace

SimServer::SimServer(World* world, ServerOptions options)
    : world_(world), options_(std::move(options)), faults_(options_.faults) {
  const size_t threads = static_cast<size_t>(std::max(1, options_.threads));
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_keep_alive_max_count(1000000);
  server_.set_tcp_nodelay(true);
  // SO_REUSEADDR only (httplib's default adds SO_REUSEPORT, which would let
  // two simulators share a port); remember the socket to raise its backlog.
  server_.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = sock;
  });

  // API requests of every method go through HandleApi; GET/HEAD skip routing.
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if ((req.method == "GET" || req.method == "HEAD") && req.path.starts_with("/oapi/")) {
      HandleApi(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto api = [this](const httplib::Request& req, httplib::Response& res) { HandleApi(req, res); };
  server_.Post(R"(/oapi/.*)", api);
  server_.Put(R"(/oapi/.*)", api);
  server_.Patch(R"(/oapi/.*)", api);
  server_.Delete(R"(/oapi/.*)", api);
  server_.Options(R"(/oapi/.*)", api);

  // Unmatched non-API paths get a JSON 404 body too.
  server_.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (req.path.starts_with("/oapi/") || !res.body.empty()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        res.set_content(RenderError(res.status == 404 ? "NotFound" : "Error",
                                    res.status == 404 ? "Not Found" : "Request failed", ""),
                        kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  RegisterControlRoutes();
}

SimServer::~SimServer() { Stop(); }

int SimServer::Start(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = server_.bind_to_any_port(host);
    if (bound <= 0) return -1;
  } else if (!server_.bind_to_port(host, port)) {
    return -1;
  }
  // httplib listens with a backlog of 5: a burst of new connections would see
  // dropped SYNs and one-second retransmits. Listening again raises it.
  if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
  running_ = true;
  thread_ = std::thread([this] {
    try {
      if (!server_.listen_after_bind()) Log("listen failed");
    } catch (const std::exception& e) {
      Log(std::string("server thread error: ") + e.what());
    } catch (...) {
      Log("server thread error");
    }
    running_ = false;
  });
  // Wait until the accept loop runs so that Stop() cannot miss it.
  while (!server_.is_running() && running_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return running_.load() ? bound : -1;
}

void SimServer::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

bool SimServer::InterruptibleSleep(std::chrono::microseconds d) {
  std::unique_lock lock(stop_mu_);
  if (d.count() <= 0) return !stopping_;
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

std::string SimServer::NewRequestId(const httplib::Request& req, int64_t now) {
  // With a frozen clock the id is a function of the request, so responses
  // stay byte-identical between runs.
  const uint64_t salt = world_->clock().IsFrozen() ? HashString(req.method + " " + req.target)
                                                   : request_counter_.fetch_add(1);
  return RequestIdFromHash(Hash(world_->options().seed, salt, static_cast<uint64_t>(now)));
}

void SimServer::HandleApi(const httplib::Request& req, httplib::Response& res) {
  InFlight in_flight(stats_);
  Route route = ParseApiPath(req.path, world_->options().organization_id);
  if (req.method != "GET" && req.method != "HEAD") route = Route{};
  const FaultSettings f = faults_.Current();

  std::chrono::microseconds delay = f.latency;
  if (f.latency_jitter.count() > 0) {
    const double u = ThreadRng().Uniform() * 2 - 1;
    delay += std::chrono::microseconds(
        static_cast<int64_t>(u * static_cast<double>(f.latency_jitter.count())));
  }
  if (!InterruptibleSleep(std::max(delay, std::chrono::microseconds(0)))) {
    SetError(res, 503, "ServiceUnavailable", "simulator is shutting down", "");
    stats_.Record(route.endpoint, res.status);
    return;
  }

  const int64_t now = world_->NowMs();
  const std::string request_id = NewRequestId(req, now);
  res.set_header("x-request-id", request_id);  // the gateway's, on every answer
  if (f.redirect) {
    res.set_redirect(kRedirectLocation, 302);
    res.set_content("<html><body>Redirecting to login</body></html>", "text/html");
  } else if (f.reject_token) {
    SetError(res, 401, "InvalidTokenError", "The token is invalid or has expired.", request_id);
  } else if (req.get_header_value("x-yunxiao-token") != options_.token) {
    SetError(res, 401, "Unauthorized", "Missing or invalid x-yunxiao-token.", request_id);
  } else if (f.expired_token) {
    SetError(res, 401, "ExpiredTokenError", "The token has expired.", request_id);
  } else if (route.wrong_organization && !f.organization_error.empty()) {
    if (f.organization_error == "not_found") {
      SetError(res, 404, "InvalidOrganization.NotFound", "The organization does not exist.",
               request_id);
    } else if (f.organization_error == "invalid_member") {
      SetError(res, 403, "Forbidden.InvalidOrganizationMember",
               "The user is not a valid member of the organization.", request_id);
    } else {
      SetError(res, 403, "Forbidden.InvalidUser.UserNotInCurrentOrganization",
               "The user is not in the current organization.", request_id);
    }
  } else if (std::find(f.deny_permissions.begin(), f.deny_permissions.end(),
                       PermissionOfEndpoint(EndpointName(route.endpoint))) !=
             f.deny_permissions.end()) {
    SetError(res, 403, "Forbidden", "The current user has no permission for this operation.",
             request_id);
  } else if (Chance(f.status429)) {
    SetError(res, 429, "TooManyRequests", "Too many requests, please retry later.", request_id);
    if (f.retry_after_seconds > 0) {
      res.set_header("Retry-After", std::to_string(f.retry_after_seconds));
    }
  } else if (Chance(f.status5xx)) {
    SetError(res, 500, "InternalServerError", "Internal server error.", request_id);
  } else if (Dispatch(route, req, now, request_id, res) && res.status == 200) {
    ApplyBodyFault(f, res);
  }
  stats_.Record(route.endpoint, res.status);
}

bool SimServer::Dispatch(const Route& route, const httplib::Request& req, int64_t now,
                         const std::string& request_id, httplib::Response& res) {
  if (route.endpoint == Endpoint::kUnknown) {
    SetError(res, 404, "NotFound", "Not Found", request_id);
    return false;
  }
  if (route.wrong_organization) {
    SetError(res, 404, "NotFound", "Organization not found.", request_id);
    return false;
  }
  const WorldOptions& wo = world_->options();
  std::string error;
  Paging paging;

  std::optional<int64_t> pipeline_id;
  if (!route.pipeline_id.empty()) {
    pipeline_id = ParseInt64(route.pipeline_id);
    if (!pipeline_id) {
      SetError(res, 400, "BadRequest", "Invalid pipelineId: " + route.pipeline_id, request_id);
      return false;
    }
  }
  const std::string pipeline_missing = "Pipeline not found: " + route.pipeline_id;

  switch (route.endpoint) {
    case Endpoint::kUser:
      SetJson(res, RenderUser(wo));
      return true;

    case Endpoint::kLatestPipelineRun: {
      if (std::optional<RawLatest> raw = world_->RawLatestFor(*pipeline_id)) {
        res.status = raw->status;
        res.set_content(raw->body, kJson);
        return false;  // served verbatim
      }
      PipelinePtr p = world_->FindPipeline(*pipeline_id);
      std::optional<RunView> run = p ? world_->LatestRun(*pipeline_id, now) : std::nullopt;
      if (p && !run && p->no_run_style != NoRunStyle::kNotFound) {
        // A pipeline that never ran, in one of the undocumented 2xx styles.
        res.status = 200;
        res.set_content(p->no_run_style == NoRunStyle::kEmpty  ? ""
                        : p->no_run_style == NoRunStyle::kNull ? "null"
                                                               : "{}",
                        kJson);
        return false;
      }
      if (!p || !run) {
        SetError(res, 404, "NotFound", p ? "Pipeline has no run." : pipeline_missing, request_id);
        return false;
      }
      SetJson(res, RenderRun(*p, *run, wo));
      return true;
    }

    case Endpoint::kGetPipelineRun: {
      const std::optional<int64_t> run_id = ParseInt64(route.run_id);
      if (!run_id) {
        SetError(res, 400, "BadRequest", "Invalid pipelineRunId: " + route.run_id, request_id);
        return false;
      }
      PipelinePtr p = world_->FindPipeline(*pipeline_id);
      std::optional<RunView> run = p ? world_->Run(*pipeline_id, *run_id, now) : std::nullopt;
      if (!p || !run) {
        SetError(res, 404, "NotFound", p ? "Pipeline run not found." : pipeline_missing,
                 request_id);
        return false;
      }
      SetJson(res, RenderRun(*p, *run, wo));
      return true;
    }

    case Endpoint::kListPipelineRuns: {
      if (!ParsePaging(req, options_.max_per_page, &paging, &error)) {
        SetError(res, 400, "BadRequest", error, request_id);
        return false;
      }
      std::optional<RunPage> page =
          world_->ListRuns(*pipeline_id, paging.page, paging.per_page, now);
      if (!page) {
        SetError(res, 404, "NotFound", pipeline_missing, request_id);
        return false;
      }
      if (options_.paging_headers) SetPageHeaders(res, paging, page->total);
      SetJson(res, RenderRunList(page->items));
      return true;
    }

    case Endpoint::kListPipelines: {
      if (!ParsePaging(req, options_.max_per_page, &paging, &error)) {
        SetError(res, 400, "BadRequest", error, request_id);
        return false;
      }
      std::vector<PipelinePtr> all = world_->Pipelines();
      const auto total = static_cast<int64_t>(all.size());
      const int64_t from = std::min(total, (paging.page - 1) * paging.per_page);
      const int64_t to = std::min(total, from + paging.per_page);
      std::vector<PipelinePtr> slice(all.begin() + from, all.begin() + to);
      if (options_.paging_headers) SetPageHeaders(res, paging, total);
      SetJson(res, RenderPipelineList(slice, options_.list_style));
      return true;
    }

    case Endpoint::kGetPipeline: {
      PipelinePtr p = world_->FindPipeline(*pipeline_id);
      if (!p) {
        SetError(res, 404, "NotFound", pipeline_missing, request_id);
        return false;
      }
      SetJson(res, RenderPipeline(*p, wo));
      return true;
    }

    case Endpoint::kListGroupPipelines: {
      if (!ParsePaging(req, options_.max_per_page, &paging, &error)) {
        SetError(res, 400, "BadRequest", error, request_id);
        return false;
      }
      std::optional<int64_t> group;
      if (!OptionalIntParam(req, "groupId", &group) || !group) {
        SetError(res, 400, "BadRequest", "groupId must be a pipeline group id", request_id);
        return false;
      }
      std::vector<PipelinePtr> members = world_->Pipelines();
      std::erase_if(members, [&](const PipelinePtr& p) { return p->group_id != *group; });
      if (*group == 0) members.clear();  // 0 is "no group", not a group
      const auto total = static_cast<int64_t>(members.size());
      const int64_t from = std::min(total, (paging.page - 1) * paging.per_page);
      const int64_t to = std::min(total, from + paging.per_page);
      if (options_.paging_headers) SetPageHeaders(res, paging, total);
      SetJson(res, RenderGroupPipelines({members.begin() + from, members.begin() + to}));
      return true;
    }

    case Endpoint::kListPipelineGroups: {
      if (!ParsePaging(req, options_.max_per_page, &paging, &error)) {
        SetError(res, 400, "BadRequest", error, request_id);
        return false;
      }
      std::vector<PipelineGroup> groups = world_->Groups();
      const auto total = static_cast<int64_t>(groups.size());
      const int64_t from = std::min(total, (paging.page - 1) * paging.per_page);
      const int64_t to = std::min(total, from + paging.per_page);
      if (options_.paging_headers) SetPageHeaders(res, paging, total);
      SetJson(res, RenderGroups({groups.begin() + from, groups.begin() + to}));
      return true;
    }

    case Endpoint::kUnknown:
      break;
  }
  SetError(res, 404, "NotFound", "Not Found", request_id);
  return false;
}

void SimServer::ApplyBodyFault(const FaultSettings& f, httplib::Response& res) {
  if (Chance(f.reset)) {
    // Announce the full length, send half, then drop the connection.
    auto body = std::make_shared<std::string>(std::move(res.body));
    res.body.clear();
    res.headers.erase("Content-Type");
    res.set_content_provider(
        body->size(), kJson, [body](size_t offset, size_t, httplib::DataSink& sink) {
          if (offset > 0) return false;
          return sink.write(body->data(), std::max<size_t>(1, body->size() / 2));
        });
    return;
  }
  if (Chance(f.oversized)) {
    auto big = std::make_shared<const OversizedBody>(res.body);
    res.body.clear();
    res.headers.erase("Content-Type");
    res.set_chunked_content_provider(kJson, [big](size_t offset, httplib::DataSink& sink) {
      if (offset >= big->Total()) {
        sink.done();
        return true;
      }
      const std::string chunk = big->Chunk(offset, 64 * 1024);
      return sink.write(chunk.data(), chunk.size());
    });
    return;
  }
  if (Chance(f.slow_body)) {
    auto body = std::make_shared<std::string>(std::move(res.body));
    res.body.clear();
    res.headers.erase("Content-Type");
    res.set_chunked_content_provider(kJson, [this, body](size_t offset, httplib::DataSink& sink) {
      if (offset >= body->size()) {
        sink.done();
        return true;
      }
      if (offset > 0 && !InterruptibleSleep(kSlowBodyInterval)) return false;
      const size_t piece = (body->size() + kSlowBodyPieces - 1) / kSlowBodyPieces;
      return sink.write(body->data() + offset, std::min(piece, body->size() - offset));
    });
    return;
  }
  if (Chance(f.malformed)) {
    res.body.resize(std::max<size_t>(1, res.body.size() / 2));
  }
}

void SimServer::RegisterControlRoutes() {
  using httplib::Request;
  using httplib::Response;
  auto bad_request = [](Response& res, const std::string& msg) {
    SetError(res, 400, "BadRequest", msg, "");
  };
  auto not_found = [](Response& res, const std::string& msg) {
    SetError(res, 404, "NotFound", msg, "");
  };
  // Reply with the current truth about one pipeline.
  auto pipeline_state = [this](Response& res, int64_t id) {
    for (const PipelineTruth& t : world_->Truth()) {
      if (t.id == id) {
        SetJson(res, RenderTruthItem(t));
        return;
      }
    }
    SetError(res, 404, "NotFound", "Pipeline not found.", "");
  };

  server_.Get("/-/healthy",
              [](const Request&, Response& res) { res.set_content("OK\n", "text/plain"); });
  server_.Get("/-/sim/stats",
              [this](const Request&, Response& res) { SetJson(res, stats_.RenderJson()); });
  server_.Post("/-/sim/stats/reset", [this](const Request&, Response& res) {
    stats_.Reset();
    SetJson(res, stats_.RenderJson());
  });
  server_.Get("/-/sim/faults",
              [this](const Request&, Response& res) { SetJson(res, faults_.RenderJson()); });
  server_.Post("/-/sim/faults", [this, bad_request](const Request& req, Response& res) {
    FaultSettings s;
    std::optional<double> for_seconds;
    std::string error;
    if (!ParseFaultSettings(req.body, faults_.startup(), &s, &for_seconds, &error)) {
      bad_request(res, error);
      return;
    }
    faults_.Replace(s, for_seconds);
    Log("faults replaced: " + faults_.RenderJson());
    SetJson(res, faults_.RenderJson());
  });

  server_.Post(R"(/-/sim/pipelines/(\d+)/finish)",
               [this, bad_request, not_found, pipeline_state](const Request& req, Response& res) {
                 const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                 rapidjson::Document doc;
                 if (!ParseBodyObject(req.body, &doc)) {
                   bad_request(res, "body must be a JSON object");
                   return;
                 }
                 std::string status = "SUCCESS";
                 if (!OptionalStatus(doc, &status)) {
                   bad_request(res, "status must be a non-empty string");
                   return;
                 }
                 if (!id || !world_->FinishLatest(*id, status)) {
                   not_found(res, "Pipeline not found.");
                   return;
                 }
                 Log("pipeline " + std::to_string(*id) + ": finished with " + status);
                 pipeline_state(res, *id);
               });
  server_.Post(R"(/-/sim/pipelines/(\d+)/start)",
               [this, not_found, pipeline_state](const Request& req, Response& res) {
                 const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                 if (!id || !world_->StartRun(*id)) {
                   not_found(res, "Pipeline not found.");
                   return;
                 }
                 Log("pipeline " + std::to_string(*id) + ": run started");
                 pipeline_state(res, *id);
               });
  // Runs stuck unfinished, resumed runs, and the ground truth of finishes (run history).
  server_.Post(R"(/-/sim/pipelines/(\d+)/hold)",
               [this, bad_request, not_found, pipeline_state](const Request& req, Response& res) {
                 const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                 rapidjson::Document doc;
                 if (!ParseBodyObject(req.body, &doc)) {
                   bad_request(res, "body must be a JSON object");
                   return;
                 }
                 std::string status = "WAITING";
                 if (!OptionalStatus(doc, &status)) {
                   bad_request(res, "status must be a non-empty string");
                   return;
                 }
                 if (!id || !world_->HoldRun(*id, status)) {
                   not_found(res, "Pipeline not found.");
                   return;
                 }
                 Log("pipeline " + std::to_string(*id) + ": run held at " + status);
                 pipeline_state(res, *id);
               });
  server_.Post(R"(/-/sim/pipelines/(\d+)/runs/(\d+)/resume)",
               [this, bad_request, not_found](const Request& req, Response& res) {
                 const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                 const std::optional<int64_t> run_id = ParseInt64(req.matches[2].str());
                 rapidjson::Document doc;
                 if (!ParseBodyObject(req.body, &doc)) {
                   bad_request(res, "body must be a JSON object");
                   return;
                 }
                 std::string status = "SUCCESS";
                 double seconds = 60;
                 if (!OptionalStatus(doc, &status)) {
                   bad_request(res, "status must be a non-empty string");
                   return;
                 }
                 if (doc.HasMember("seconds")) {
                   if (!doc["seconds"].IsNumber() || !(doc["seconds"].GetDouble() > 0) ||
                       doc["seconds"].GetDouble() > 1e8) {
                     bad_request(res, "seconds must be a positive number");
                     return;
                   }
                   seconds = doc["seconds"].GetDouble();
                 }
                 if (!id || !run_id) {
                   not_found(res, "Pipeline not found.");
                   return;
                 }
                 switch (world_->ResumeRun(*id, *run_id, status, std::llround(seconds * 1000))) {
                   case RunControl::kOk:
                     break;
                   case RunControl::kNoPipeline:
                     return not_found(res, "Pipeline not found.");
                   case RunControl::kNoRun:
                     return not_found(res, "Pipeline run not found.");
                   case RunControl::kNotFinished:
                     SetError(res, 409, "Conflict", "The run is running; nothing to resume.", "");
                     return;
                 }
                 Log("pipeline " + std::to_string(*id) + ": run " + std::to_string(*run_id) +
                     " resumed, finishing with " + status);
                 SetJson(res, JsonOk("runId", *run_id));
               });
  server_.Get(R"(/-/sim/pipelines/(\d+)/finishes)",
              [this, bad_request, not_found](const Request& req, Response& res) {
                const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                int64_t since = 0;
                if (req.has_param("since")) {
                  std::optional<int64_t> v = ParseInt64(req.get_param_value("since"));
                  if (!v) {
                    bad_request(res, "since must be epoch milliseconds");
                    return;
                  }
                  since = *v;
                }
                const bool with_jobs = req.has_param("jobs") && req.get_param_value("jobs") == "1";
                std::optional<std::vector<FinishEvent>> events =
                    id ? world_->Finishes(*id, since, with_jobs) : std::nullopt;
                if (!events) {
                  not_found(res, "Pipeline not found.");
                  return;
                }
                rapidjson::StringBuffer buf;
                rapidjson::Writer<rapidjson::StringBuffer> w(buf);
                w.StartArray();
                for (const FinishEvent& e : *events) {
                  w.StartObject();
                  w.Key("runId");
                  w.Int64(e.run_id);
                  w.Key("status");
                  w.String(e.status.c_str(), static_cast<rapidjson::SizeType>(e.status.size()));
                  w.Key("endTime");
                  w.Int64(e.end_time);
                  w.Key("superseded");
                  w.Bool(e.superseded);
                  w.Key("startTime");
                  w.Int64(e.start_time);
                  if (with_jobs) WriteFinishStages(w, e.stages);
                  w.EndObject();
                }
                w.EndArray();
                SetJson(res, std::string(buf.GetString(), buf.GetSize()));
              });
  server_.Delete(R"(/-/sim/pipelines/(\d+)/override)",
                 [this, not_found, pipeline_state](const Request& req, Response& res) {
                   const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                   if (!id || !world_->ClearOverride(*id)) {
                     not_found(res, "Pipeline not found.");
                     return;
                   }
                   Log("pipeline " + std::to_string(*id) + ": override cleared");
                   pipeline_state(res, *id);
                 });
  server_.Put(R"(/-/sim/pipelines/(\d+)/latest)",
              [this, bad_request, not_found](const Request& req, Response& res) {
                const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                RawLatest raw{req.body, 200};
                if (req.has_param("status")) {
                  const std::optional<int64_t> st = ParseInt64(req.get_param_value("status"));
                  if (!st || *st < 100 || *st > 599) {
                    bad_request(res, "status must be an HTTP status code");
                    return;
                  }
                  raw.status = static_cast<int>(*st);
                }
                const size_t size = raw.body.size();
                const int status = raw.status;
                if (!id || !world_->SetRawLatest(*id, std::move(raw))) {
                  not_found(res, "Pipeline not found.");
                  return;
                }
                Log("pipeline " + std::to_string(*id) + ": raw latestPipelineRun set (" +
                    std::to_string(size) + " bytes, status " + std::to_string(status) + ")");
                SetJson(res, JsonOk("bytes", static_cast<int64_t>(size)));
              });
  server_.Delete(R"(/-/sim/pipelines/(\d+)/latest)",
                 [this, not_found](const Request& req, Response& res) {
                   const std::optional<int64_t> id = ParseInt64(req.matches[1].str());
                   if (!id || !world_->ClearRawLatest(*id)) {
                     not_found(res, "Pipeline not found.");
                     return;
                   }
                   Log("pipeline " + std::to_string(*id) + ": raw latestPipelineRun cleared");
                   SetJson(res, JsonOk("id", *id));
                 });
  server_.Get("/-/sim/pipelines", [this](const Request&, Response& res) {
    SetJson(res, RenderTruth(world_->Truth()));
  });
  server_.Post("/-/sim/pipelines", [this, bad_request](const Request& req, Response& res) {
    rapidjson::Document doc;
    if (!ParseBodyObject(req.body, &doc)) {
      bad_request(res, "body must be a JSON object");
      return;
    }
    int add = 0;
    std::vector<int64_t> remove;
    for (rapidjson::SizeType i = 0; i < doc.MemberCount(); ++i) {
      const auto& member = doc.MemberBegin()[i];
      const std::string key(member.name.GetString(), member.name.GetStringLength());
      if (key == "add") {
        if (!member.value.IsInt() || member.value.GetInt() < 0 || member.value.GetInt() > 10000) {
          bad_request(res, "add must be an integer in [0, 10000]");
          return;
        }
        add = member.value.GetInt();
      } else if (key == "remove") {
        if (!member.value.IsArray()) {
          bad_request(res, "remove must be an array of pipeline ids");
          return;
        }
        for (const auto& v : member.value.GetArray()) {
          if (!v.IsInt64()) {
            bad_request(res, "remove must be an array of pipeline ids");
            return;
          }
          remove.push_back(v.GetInt64());
        }
      } else {
        bad_request(res, "unknown key: " + key);
        return;
      }
    }
    const std::vector<int64_t> removed = world_->RemovePipelines(remove);
    const std::vector<int64_t> added = world_->AddPipelines(add);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("added");
    w.StartArray();
    for (int64_t id : added) w.Int64(id);
    w.EndArray();
    w.Key("removed");
    w.StartArray();
    for (int64_t id : removed) w.Int64(id);
    w.EndArray();
    w.EndObject();
    Log("pipelines: added " + std::to_string(added.size()) + ", removed " +
        std::to_string(removed.size()));
    SetJson(res, std::string(buf.GetString(), buf.GetSize()));
  });
  auto clock_json = [this] {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    const int64_t now = world_->NowMs();
    w.StartObject();
    w.Key("frozen");
    w.Bool(world_->clock().IsFrozen());
    w.Key("nowMs");
    w.Int64(now);
    w.Key("now");
    w.Int64(now / 1000);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  };
  server_.Get("/-/sim/clock",
              [clock_json](const Request&, Response& res) { SetJson(res, clock_json()); });
  server_.Post("/-/sim/clock", [this, bad_request, clock_json](const Request& req, Response& res) {
    if (!world_->clock().IsFrozen()) {
      bad_request(res, "the clock is real; start with --clock=frozen:<epoch_seconds>");
      return;
    }
    rapidjson::Document doc;
    if (!ParseBodyObject(req.body, &doc)) {
      bad_request(res, "body must be a JSON object");
      return;
    }
    if (doc.HasMember("set")) {
      if (!doc["set"].IsNumber() || doc["set"].GetDouble() < 0 || doc["set"].GetDouble() > 1e11) {
        bad_request(res, "set must be epoch seconds");
        return;
      }
      world_->clock().Set(std::llround(doc["set"].GetDouble() * 1000));
    }
    if (doc.HasMember("advanceSeconds")) {
      if (!doc["advanceSeconds"].IsNumber() || std::abs(doc["advanceSeconds"].GetDouble()) > 1e10) {
        bad_request(res, "advanceSeconds must be a number");
        return;
      }
      world_->clock().Advance(std::llround(doc["advanceSeconds"].GetDouble() * 1000));
    }
    if (!doc.HasMember("set") && !doc.HasMember("advanceSeconds")) {
      bad_request(res, "expected advanceSeconds or set");
      return;
    }
    SetJson(res, clock_json());
  });
}

}  // namespace yfe::sim
