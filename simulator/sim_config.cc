#include "sim_config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "route.h"

namespace yfe::sim {
namespace {

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  std::string copy(s);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool ParseIntIn(std::string_view s, int64_t lo, int64_t hi, int64_t* out) {
  bool negative = !s.empty() && s[0] == '-';
  std::optional<int64_t> v = ParseInt64(negative ? s.substr(1) : s);
  if (!v) return false;
  const int64_t value = negative ? -*v : *v;
  if (value < lo || value > hi) return false;
  *out = value;
  return true;
}

bool ParseProbability(std::string_view s, double* out) {
  double v = 0;
  if (!ParseDouble(s, &v) || v < 0 || v > 1) return false;
  *out = v;
  return true;
}

bool ParseListen(std::string_view s, std::string* host, int* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view h = s.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int64_t p = 0;
  if (!ParseIntIn(s.substr(colon + 1), 0, 65535, &p)) return false;
  *host = h.empty() ? "0.0.0.0" : std::string(h);
  *port = static_cast<int>(p);
  return true;
}

}  // namespace

std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return std::nullopt;
  double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t num_start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == num_start) return std::nullopt;
    double value = 0;
    if (!ParseDouble(text.substr(num_start, i - num_start), &value)) return std::nullopt;
    const size_t unit_start = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return std::nullopt;
    }
    total_ns += value * scale;
  }
  if (total_ns > 9e18) return std::nullopt;
  return std::chrono::nanoseconds(std::llround(total_ns));
}

std::string Usage() {
  return R"(usage: flow-simulator [--name=value ...]

Simulates the Alibaba Cloud Yunxiao Flow OpenAPI for yunxiao-flow-exporter tests.

  --web.listen-address=127.0.0.1:9848  address to listen on (port 0: any free port)
  --token=TOKEN             required x-yunxiao-token (default $SIM_TOKEN, else sim-token)
  --organization-id=sim-org organization id of the central path form
  --pipelines=12 --stages=5 --jobs-per-stage=4 --seed=1
  --run-duration=10m        mean run length (Go-style durations: 0, 50ms, 2s, 1m30s)
  --run-gap=5m              mean idle time between runs
  --history=0               every pipeline created this long before the start of today
                            (0: 3-28 days, at most a few thousand runs)
  --fail-ratio=0.2          probability that a run fails
  --clock=real | frozen:<epoch_seconds>
  --threads=64              HTTP worker threads
  --list-style=today|2025   ListPipelines items {pipelineId,pipelineName,createAccountId,
                            createTime} or the 2025 {id,name,groupId,...nulls}
                            (docs = today, real = 2025: older names)
  --never-run=0             the last N pipelines never ran (latest run: 404, empty, null,
                            {} in turn)
  --max-per-page=30         items per list page at most, whatever perPage asks
  --paging-headers=true     send x-page/x-total-pages/... (false: none)
  --latency=0 --latency-jitter=0   delay added to every API request (+- jitter)
  --fault-5xx=0 --fault-429=0 --retry-after=1 --fault-malformed=0
  --fault-oversized=0 --fault-slow-body=0 --fault-reset=0  (probabilities 0..1)
  --help
)";
}

bool ParseArgs(int argc, const char* const* argv, const char* env_token, SimConfig* config,
               bool* help, std::string* error) {
  SimConfig c;
  *help = false;
  if (env_token != nullptr && *env_token != '\0') c.token = env_token;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return true;
    }
    const size_t eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos) {
      *error = "expected --name=value, got: " + std::string(arg);
      return false;
    }
    const std::string_view name = arg.substr(2, eq - 2);
    const std::string_view value = arg.substr(eq + 1);
    int64_t n = 0;
    bool ok = true;
    auto duration_ms = [&](int64_t* out_ms, int64_t min_ms) {
      std::optional<std::chrono::nanoseconds> d = ParseDuration(value);
      if (!d) return false;
      *out_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
      return *out_ms >= min_ms;
    };
    auto duration_us = [&](std::chrono::microseconds* out) {
      std::optional<std::chrono::nanoseconds> d = ParseDuration(value);
      if (!d || *d > std::chrono::hours(1)) return false;
      *out = std::chrono::duration_cast<std::chrono::microseconds>(*d);
      return true;
    };
    if (name == "web.listen-address") {
      ok = ParseListen(value, &c.listen_host, &c.listen_port);
    } else if (name == "token") {
      c.token = std::string(value);
      ok = !value.empty();
    } else if (name == "organization-id") {
      c.world.organization_id = std::string(value);
      ok = !value.empty() && value.find('/') == std::string_view::npos;
    } else if (name == "pipelines") {
      ok = ParseIntIn(value, 0, 100000, &n);
      c.world.pipelines = static_cast<int>(n);
    } else if (name == "stages") {
      ok = ParseIntIn(value, 1, kMaxStages, &n);
      c.world.stages = static_cast<int>(n);
    } else if (name == "jobs-per-stage") {
      ok = ParseIntIn(value, 1, kMaxJobsPerStage, &n);
      c.world.jobs_per_stage = static_cast<int>(n);
    } else if (name == "seed") {
      ok = ParseIntIn(value, 0, INT64_MAX, &n);
      c.world.seed = static_cast<uint64_t>(n);
    } else if (name == "run-duration") {
      ok = duration_ms(&c.world.run_duration_ms, 100);
    } else if (name == "run-gap") {
      ok = duration_ms(&c.world.run_gap_ms, 0);
    } else if (name == "history") {
      ok = duration_ms(&c.world.history_ms, 0);
    } else if (name == "fail-ratio") {
      ok = ParseProbability(value, &c.world.fail_ratio);
    } else if (name == "clock") {
      if (value == "real") {
        c.frozen_clock_ms.reset();
      } else if (value.starts_with("frozen:")) {
        ok = ParseIntIn(value.substr(7), 0, 100000000000LL, &n);
        c.frozen_clock_ms = n * 1000;
      } else {
        ok = false;
      }
    } else if (name == "threads") {
      ok = ParseIntIn(value, 1, 4096, &n);
      c.threads = static_cast<int>(n);
    } else if (name == "list-style") {
      if (value == "today" || value == "docs") {
        c.list_style = ListStyle::kToday;
      } else if (value == "2025" || value == "real") {
        c.list_style = ListStyle::k2025;
      } else {
        ok = false;
      }
    } else if (name == "never-run") {
      ok = ParseIntIn(value, 0, 100000, &n);
      c.world.never_run = static_cast<int>(n);
    } else if (name == "max-per-page") {
      ok = ParseIntIn(value, 1, 30, &n);
      c.max_per_page = static_cast<int>(n);
    } else if (name == "paging-headers") {
      ok = value == "true" || value == "false";
      c.paging_headers = value == "true";
    } else if (name == "latency") {
      ok = duration_us(&c.faults.latency);
    } else if (name == "latency-jitter") {
      ok = duration_us(&c.faults.latency_jitter);
    } else if (name == "fault-5xx") {
      ok = ParseProbability(value, &c.faults.status5xx);
    } else if (name == "fault-429") {
      ok = ParseProbability(value, &c.faults.status429);
    } else if (name == "retry-after") {
      ok = ParseIntIn(value, 0, 86400, &n);
      c.faults.retry_after_seconds = static_cast<int>(n);
    } else if (name == "fault-malformed") {
      ok = ParseProbability(value, &c.faults.malformed);
    } else if (name == "fault-oversized") {
      ok = ParseProbability(value, &c.faults.oversized);
    } else if (name == "fault-slow-body") {
      ok = ParseProbability(value, &c.faults.slow_body);
    } else if (name == "fault-reset") {
      ok = ParseProbability(value, &c.faults.reset);
    } else {
      *error = "unknown flag: --" + std::string(name);
      return false;
    }
    if (!ok) {
      *error = "bad value for --" + std::string(name) + ": " + std::string(value);
      return false;
    }
  }
  *config = c;
  return true;
}

}  // namespace yfe::sim
