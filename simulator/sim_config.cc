#include "sim_config.h"

#include <cmath>
#include <cstdlib>
#include <span>
#include <string>

#include "route.h"
#include "util/duration.h"
#include "util/result.h"

namespace yfe::sim {
namespace {

// What the value is not, completing "flag --name: ...".
Error Bad(std::string_view needs, std::string_view v) {
  return Error("needs " + std::string(needs) + ", got \"" + std::string(v) + "\"");
}

Status Int(std::string_view v, int64_t lo, int64_t hi, int64_t& out) {
  const bool negative = !v.empty() && v[0] == '-';
  const std::optional<int64_t> n = ParseInt64(negative ? v.substr(1) : v);
  const int64_t value = n ? (negative ? -*n : *n) : 0;
  if (!n || value < lo || value > hi) {
    return Bad("a whole number from " + std::to_string(lo) + " to " + std::to_string(hi), v);
  }
  out = value;
  return Ok();
}

template <typename T>
Status IntTo(std::string_view v, int64_t lo, int64_t hi, T& out) {
  int64_t n = 0;
  YFE_RETURN_IF_ERROR(Int(v, lo, hi, n));
  out = static_cast<T>(n);
  return Ok();
}

Status Probability(std::string_view v, double& out) {
  const std::string copy(v);
  char* end = nullptr;
  const double p = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(p >= 0 && p <= 1)) {
    return Bad("a probability from 0 to 1", v);
  }
  out = p;
  return Ok();
}

// A Go-style duration in [min, max].
Result<std::chrono::nanoseconds> Duration(std::string_view v, std::chrono::nanoseconds min,
                                          std::chrono::nanoseconds max) {
  YFE_ASSIGN_OR_RETURN(const std::chrono::nanoseconds d, ParseDuration(v));
  if (d < min || d > max) {
    return Bad("a duration from " + FormatDuration(min) + " to " + FormatDuration(max), v);
  }
  return d;
}

Status Milliseconds(std::string_view v, std::chrono::nanoseconds min, int64_t& out_ms) {
  YFE_ASSIGN_OR_RETURN(const auto d, Duration(v, min, std::chrono::hours(24 * 365 * 100)));
  out_ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return Ok();
}

Status Microseconds(std::string_view v, std::chrono::microseconds& out) {
  YFE_ASSIGN_OR_RETURN(const auto d, Duration(v, {}, std::chrono::hours(1)));
  out = std::chrono::duration_cast<std::chrono::microseconds>(d);
  return Ok();
}

Status Listen(std::string_view v, SimConfig& c) {
  const size_t colon = v.rfind(':');
  if (colon == std::string_view::npos) return Bad("host:port or :port", v);
  std::string_view h = v.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  YFE_RETURN_IF_ERROR(IntTo(v.substr(colon + 1), 0, 65535, c.listen_port));
  c.listen_host = h.empty() ? "0.0.0.0" : std::string(h);
  return Ok();
}

Status Clock(std::string_view v, SimConfig& c) {
  if (v == "real") {
    c.frozen_clock_ms.reset();
    return Ok();
  }
  int64_t seconds = 0;
  if (!v.starts_with("frozen:") || !Int(v.substr(7), 0, 100000000000LL, seconds).ok()) {
    return Bad("real or frozen:<epoch_seconds>", v);
  }
  c.frozen_clock_ms = seconds * 1000;
  return Ok();
}

Status Style(std::string_view v, SimConfig& c) {
  if (v == "today" || v == "docs") {
    c.list_style = ListStyle::kToday;
  } else if (v == "2025" || v == "real") {
    c.list_style = ListStyle::k2025;
  } else {
    return Bad("today or 2025", v);
  }
  return Ok();
}

struct SimFlag {
  std::string_view name;  // without the dashes
  std::string_view help;  // --help's line, with the default
  Status (*set)(SimConfig&, std::string_view);
};

using C = SimConfig&;
using V = std::string_view;

// The flags, in --help's order: one row each. A table, hence long.
constexpr SimFlag kFlags[] = {
    {"web.listen-address", "=127.0.0.1:9848  address to listen on (port 0: any free port)",
     [](C c, V v) { return Listen(v, c); }},
    {"token", "=TOKEN  required x-yunxiao-token (default $SIM_TOKEN, else sim-token)",
     [](C c, V v) -> Status {
       if (v.empty()) return Bad("a token", v);
       c.token = std::string(v);
       return Ok();
     }},
    {"organization-id", "=sim-org  organization id of the central path form",
     [](C c, V v) -> Status {
       if (v.empty() || v.find('/') != V::npos) return Bad("an id without /", v);
       c.world.organization_id = std::string(v);
       return Ok();
     }},
    {"pipelines", "=12", [](C c, V v) { return IntTo(v, 0, 100000, c.world.pipelines); }},
    {"stages", "=5", [](C c, V v) { return IntTo(v, 1, kMaxStages, c.world.stages); }},
    {"jobs-per-stage", "=4",
     [](C c, V v) { return IntTo(v, 1, kMaxJobsPerStage, c.world.jobs_per_stage); }},
    {"seed", "=1", [](C c, V v) { return IntTo(v, 0, INT64_MAX, c.world.seed); }},
    {"run-duration", "=10m  mean run length (Go-style durations: 0, 50ms, 2s, 1m30s)",
     [](C c, V v) {
       return Milliseconds(v, std::chrono::milliseconds(100), c.world.run_duration_ms);
     }},
    {"run-gap", "=5m  mean idle time between runs",
     [](C c, V v) { return Milliseconds(v, {}, c.world.run_gap_ms); }},
    {"history",
     "=0  every pipeline created this long before the start of today\n"
     "(0: 3-28 days, at most a few thousand runs)",
     [](C c, V v) { return Milliseconds(v, {}, c.world.history_ms); }},
    {"fail-ratio", "=0.2  probability that a run fails",
     [](C c, V v) { return Probability(v, c.world.fail_ratio); }},
    {"clock", "=real | frozen:<epoch_seconds>", [](C c, V v) { return Clock(v, c); }},
    {"threads", "=64  HTTP worker threads", [](C c, V v) { return IntTo(v, 1, 4096, c.threads); }},
    {"list-style",
     "=today|2025  ListPipelines items {pipelineId,pipelineName,createAccountId,\n"
     "createTime} or the 2025 {id,name,groupId,...nulls} (docs = today, real = 2025)",
     [](C c, V v) { return Style(v, c); }},
    {"never-run", "=0  the last N pipelines never ran (latest run: 404, empty, null, {} in turn)",
     [](C c, V v) { return IntTo(v, 0, 100000, c.world.never_run); }},
    {"max-per-page", "=30  items per list page at most, whatever perPage asks",
     [](C c, V v) { return IntTo(v, 1, 30, c.max_per_page); }},
    {"paging-headers", "=true  send x-page/x-total-pages/... (false: none)",
     [](C c, V v) -> Status {
       if (v != "true" && v != "false") return Bad("true or false", v);
       c.paging_headers = v == "true";
       return Ok();
     }},
    {"latency", "=0  delay added to every API request",
     [](C c, V v) { return Microseconds(v, c.faults.latency); }},
    {"latency-jitter", "=0  +- jitter around --latency",
     [](C c, V v) { return Microseconds(v, c.faults.latency_jitter); }},
    {"fault-5xx", "=0  probability per API request (so are the fault-* below)",
     [](C c, V v) { return Probability(v, c.faults.status5xx); }},
    {"fault-429", "=0", [](C c, V v) { return Probability(v, c.faults.status429); }},
    {"retry-after", "=1  Retry-After seconds on 429 (0: no header)",
     [](C c, V v) { return IntTo(v, 0, 86400, c.faults.retry_after_seconds); }},
    {"fault-malformed", "=0", [](C c, V v) { return Probability(v, c.faults.malformed); }},
    {"fault-oversized", "=0", [](C c, V v) { return Probability(v, c.faults.oversized); }},
    {"fault-slow-body", "=0", [](C c, V v) { return Probability(v, c.faults.slow_body); }},
    {"fault-reset", "=0", [](C c, V v) { return Probability(v, c.faults.reset); }},
};

const SimFlag* Find(std::string_view name) {
  for (const SimFlag& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace

std::string Usage() {
  std::string usage =
      "usage: flow-simulator [--name=value ...]\n\n"
      "Simulates the Alibaba Cloud Yunxiao Flow OpenAPI for yunxiao-flow-exporter tests.\n\n";
  for (const SimFlag& f : kFlags) {
    usage += "  --" + std::string(f.name);
    for (char ch : f.help) usage += ch == '\n' ? std::string("\n      ") : std::string(1, ch);
    usage += "\n";
  }
  return usage + "  --help\n";
}

bool ParseArgs(int argc, const char* const* argv, const char* env_token, SimConfig* config,
               bool* help, std::vector<std::string>* errors) {
  SimConfig c;
  *help = false;
  errors->clear();
  if (env_token != nullptr && *env_token != '\0') c.token = env_token;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return true;
    }
    const size_t eq = arg.find('=');
    if (!arg.starts_with("--") || eq == std::string_view::npos) {
      errors->push_back("expected --name=value, got \"" + std::string(arg) + "\"");
      continue;
    }
    const std::string name(arg.substr(2, eq - 2));
    const SimFlag* flag = Find(name);
    if (flag == nullptr) {
      errors->push_back("unknown flag --" + name + " (see --help)");
    } else if (Status set = flag->set(c, arg.substr(eq + 1)); !set.ok()) {
      errors->push_back("flag --" + name + ": " + set.error());
    }
  }
  if (!errors->empty()) return false;
  *config = c;
  return true;
}

}  // namespace yfe::sim
