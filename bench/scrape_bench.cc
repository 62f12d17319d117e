// scrape_bench: measures the exporter against the simulator on 127.0.0.1 and prints
// figures (see docs/performance.md). Not a test: it asserts nothing, it measures.
//
//   build/bench/scrape_bench --pipelines=1000 --latency-ms=50 --concurrency=16
//
// Scenarios: cold scrape (wall time vs the latency bound ceil(N/C)·L), warm scrapes
// (median/p99), CPU per scrape, exposition bytes, peak RSS, API requests under 4
// concurrent scrapers, and behaviour under 429s.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

using namespace yfe::testing;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int pipelines = 1000;
  int latency_ms = 50;
  int concurrency = 16;
  int warm_scrapes = 200;
  int soak_seconds = 60;
  int cache_ttl_seconds = 30;
  int scrapers = 4;
  int throttle_seconds = 10;
  bool sparse = true;
  bool gzip = false;
  bool skip_soak = false;
  bool skip_throttle = false;
  int extra_cost_seconds = 0;  // > 0: measure discovery + history requests per minute
};

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) stime = std::stol(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long StatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - 1);
  return v[i];
}

int IntFlag(const std::string& arg, const std::string& name, int current) {
  std::string prefix = "--" + name + "=";
  return arg.rfind(prefix, 0) == 0 ? std::stoi(arg.substr(prefix.size())) : current;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    o.pipelines = IntFlag(a, "pipelines", o.pipelines);
    o.latency_ms = IntFlag(a, "latency-ms", o.latency_ms);
    o.concurrency = IntFlag(a, "concurrency", o.concurrency);
    o.warm_scrapes = IntFlag(a, "warm-scrapes", o.warm_scrapes);
    o.soak_seconds = IntFlag(a, "soak-seconds", o.soak_seconds);
    o.throttle_seconds = IntFlag(a, "throttle-seconds", o.throttle_seconds);
    o.extra_cost_seconds = IntFlag(a, "extra-cost-seconds", o.extra_cost_seconds);
    if (a == "--full-status") o.sparse = false;
    if (a == "--gzip") o.gzip = true;
    if (a == "--skip-soak") o.skip_soak = true;
    if (a == "--skip-throttle") o.skip_throttle = true;
  }
  const double bound =
      std::ceil(static_cast<double>(o.pipelines) / o.concurrency) * o.latency_ms / 1000.0;
  std::printf(
      "# scrape_bench: N=%d pipelines (5 stages x 4 jobs), L=%d ms, C=%d, %s status, "
      "%ld cores\n",
      o.pipelines, o.latency_ms, o.concurrency, o.sparse ? "sparse" : "full",
      sysconf(_SC_NPROCESSORS_ONLN));

  Simulator sim({"--pipelines=" + std::to_string(o.pipelines), "--stages=5", "--jobs-per-stage=4",
                 "--clock=frozen:1795000000", "--latency=" + std::to_string(o.latency_ms) + "ms",
                 "--threads=64"});
  auto ids = sim.PipelineIds();
  if (ids.size() != static_cast<size_t>(o.pipelines)) {
    std::fprintf(stderr, "simulator has %zu pipelines\n", ids.size());
    return 1;
  }
  // Names configured: a cold scrape is exactly one GetLatestPipelineRun per pipeline.
  std::string config = "api:\n  endpoint: " + sim.Endpoint() +
                       "\n  edition: central\n  organization_id: sim-org\n"
                       "  max_concurrency: " +
                       std::to_string(o.concurrency) +
                       "\n  max_requests_per_second: 100000\n  rate_limit_burst: 100\n"
                       "  timeout: 30s\ncollect:\n  cache_ttl: " +
                       std::to_string(o.cache_ttl_seconds) + "s\n  scrape_deadline: 120s\n" +
                       "  sparse_status: " + (o.sparse ? "true" : "false") + "\npipelines:\n";
  for (const auto& id : ids) config += "  - id: \"" + id + "\"\n    name: p-" + id + "\n";
  // Not warm: the first scrape arrives while the start-up fetch runs and shares it.
  Exporter exp(config, {}, {{"YUNXIAO_TOKEN", kSimToken}}, /*warm=*/false);
  if (!exp.started()) {
    std::fprintf(stderr, "exporter did not start\n%s", exp.process().Stderr().c_str());
    return 1;
  }
  const pid_t pid = exp.process().pid();
  std::map<std::string, std::string> headers;
  if (o.gzip) headers["Accept-Encoding"] = "gzip";

  // 1. Cold scrape.
  double cpu0 = CpuSeconds(pid);
  auto t0 = Clock::now();
  auto cold = HttpGet("127.0.0.1", exp.port(), "/metrics", headers);
  double cold_s = Seconds(Clock::now() - t0);
  double cold_cpu = CpuSeconds(pid) - cpu0;
  long ok = std::lround(Sum(cold.body, "yunxiao_flow_fetch_success"));
  std::printf("cold_scrape_seconds %.3f\nlatency_bound_seconds %.3f\ncold_ratio %.3f\n", cold_s,
              bound, cold_s / bound);
  std::printf("cold_fetch_success %ld/%d\ncold_api_requests %ld\n", ok, o.pipelines,
              sim.ApiRequests());
  exp.process().WaitForOutput("msg=\"first fetch done\"", std::chrono::seconds(60));
  std::smatch m;
  std::string log = exp.process().Stderr();
  if (std::regex_search(log, m,
                        std::regex("first fetch done\" pipelines=\\d+ seconds=([0-9.]+)"))) {
    std::printf("startup_fetch_seconds %s\n", m[1].str().c_str());
  }
  std::printf("cold_cpu_seconds %.3f\nexposition_bytes %zu\nexposition_samples %zu\n", cold_cpu,
              cold.body.size(),
              static_cast<size_t>(std::count(cold.body.begin(), cold.body.end(), '\n')));

  // 2. Warm scrapes.
  std::vector<double> warm;
  cpu0 = CpuSeconds(pid);
  for (int i = 0; i < o.warm_scrapes; ++i) {
    auto s = Clock::now();
    auto r = HttpGet("127.0.0.1", exp.port(), "/metrics", headers);
    warm.push_back(Seconds(Clock::now() - s));
    if (r.status != 200) std::fprintf(stderr, "warm scrape failed: %d\n", r.status);
  }
  double warm_cpu = (CpuSeconds(pid) - cpu0) / o.warm_scrapes;
  std::printf("warm_scrape_median_ms %.2f\nwarm_scrape_p99_ms %.2f\nwarm_cpu_seconds %.4f\n",
              1000 * Percentile(warm, 0.5), 1000 * Percentile(warm, 0.99), warm_cpu);
  std::printf("rss_kb %ld\npeak_rss_kb %ld\n", StatusKb(pid, "VmRSS"), StatusKb(pid, "VmHWM"));
  std::fflush(stdout);

  // 5. Four scrapers for soak_seconds: requests vs the lower bound N·ceil(T/ttl).
  if (!o.skip_soak) {
    sim.Control("POST", "/-/sim/stats/reset");
    // Start from an empty cache window: wait for the current entries to expire.
    std::this_thread::sleep_for(std::chrono::seconds(o.cache_ttl_seconds));
    sim.Control("POST", "/-/sim/stats/reset");
    std::atomic<bool> stop{false};
    std::atomic<long> scrapes{0};
    std::vector<std::thread> threads;
    auto end = Clock::now() + std::chrono::seconds(o.soak_seconds);
    for (int s = 0; s < o.scrapers; ++s) {
      threads.emplace_back([&] {
        while (Clock::now() < end) {
          HttpGet("127.0.0.1", exp.port(), "/metrics");
          ++scrapes;
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
      });
    }
    for (auto& t : threads) t.join();
    long requests = sim.ApiRequests();
    long lower =
        static_cast<long>(o.pipelines) *
        static_cast<long>(std::ceil(static_cast<double>(o.soak_seconds) / o.cache_ttl_seconds));
    std::printf(
        "soak_seconds %d\nsoak_scrapers %d\nsoak_scrapes %ld\nsoak_api_requests %ld\n"
        "soak_lower_bound %ld\nsoak_ratio %.3f\n",
        o.soak_seconds, o.scrapers, scrapes.load(), requests, lower,
        static_cast<double>(requests) / lower);
    std::printf("rss_after_soak_kb %ld\npeak_rss_kb %ld\n", StatusKb(pid, "VmRSS"),
                StatusKb(pid, "VmHWM"));
    std::fflush(stdout);
  }

  // 6. 429 for half the requests during throttle_seconds.
  if (!o.skip_throttle) {
    std::string throttled = config;
    // A fresh exporter with a short cache and the default-like deadline.
    throttled.replace(throttled.find("scrape_deadline: 120s"), 21, "scrape_deadline: 9s");
    throttled.replace(throttled.find("cache_ttl: "), 14, "cache_ttl: 1s");
    Exporter t(throttled);
    HttpGet("127.0.0.1", t.port(), "/metrics");  // warm the connections
    sim.Control("POST", "/-/sim/stats/reset");
    auto before = Clock::now();
    long calm_requests = 0;
    while (Clock::now() - before < std::chrono::seconds(o.throttle_seconds)) {
      HttpGet("127.0.0.1", t.port(), "/metrics");
    }
    calm_requests = sim.ApiRequests();
    sim.Control("POST", "/-/sim/faults",
                "{\"status429\":0.5,\"retryAfterSeconds\":1,\"forSeconds\":" +
                    std::to_string(o.throttle_seconds) + "}");
    sim.Control("POST", "/-/sim/stats/reset");
    double worst = 0;
    auto start = Clock::now();
    std::string last;
    while (Clock::now() - start < std::chrono::seconds(o.throttle_seconds)) {
      auto s = Clock::now();
      last = HttpGet("127.0.0.1", t.port(), "/metrics").body;
      worst = std::max(worst, Seconds(Clock::now() - s));
    }
    long throttled_requests = sim.ApiRequests();
    std::printf(
        "throttle_seconds %d\nrequests_per_second_calm %.1f\n"
        "requests_per_second_throttled %.1f\nthrottled_worst_scrape_seconds %.3f\n"
        "throttled_rate_limited_total %.0f\n",
        o.throttle_seconds, static_cast<double>(calm_requests) / o.throttle_seconds,
        static_cast<double>(throttled_requests) / o.throttle_seconds, worst,
        Value(last, "yunxiao_flow_api_rate_limited_total"));
  }
  // Issue 6: what discovery (refresh 1m) and run history (every 1m) add, per minute.
  if (o.extra_cost_seconds > 0) {
    std::string extra = "api:\n  endpoint: " + sim.Endpoint() +
                        "\n  edition: central\n  organization_id: sim-org\n"
                        "  max_concurrency: " +
                        std::to_string(o.concurrency) +
                        "\n  max_requests_per_second: 100000\n  rate_limit_burst: 100\n"
                        "collect:\n  cache_ttl: 1h\n  history: true\n  history_interval: 1m\n"
                        "discovery:\n  refresh_interval: 1m\n";
    Exporter d(extra);  // waits for discovery and the start-up fetch
    std::this_thread::sleep_for(std::chrono::seconds(5));  // let the baseline poll finish
    sim.Control("POST", "/-/sim/stats/reset");
    std::this_thread::sleep_for(std::chrono::seconds(o.extra_cost_seconds));
    double minutes = o.extra_cost_seconds / 60.0;
    std::printf(
        "extra_cost_window_seconds %d\ndiscovery_requests_per_minute %.1f\n"
        "history_requests_per_minute %.1f\nlatest_run_requests_per_minute %.1f\n",
        o.extra_cost_seconds, sim.ApiRequests("listPipelines") / minutes,
        sim.ApiRequests("listPipelineRuns") / minutes,
        sim.ApiRequests("latestPipelineRun") / minutes);
  }
  std::printf("peak_rss_kb_final %ld\n", StatusKb(pid, "VmHWM"));
  return 0;
}
