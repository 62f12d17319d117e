// scrape_bench: measures the exporter against the simulator on 127.0.0.1 and prints
// figures (see docs/performance.md). Not a test: it asserts nothing, it measures.
//
//   build/bench/scrape_bench --pipelines=1000 --latency-ms=50 --concurrency=16
//
// Scenarios: cold scrape (wall time vs the latency bound ceil(N/C)·L), warm scrapes
// (median/p99, timed with a client that does not decode: what the exporter sends), the
// same bytes from a static server and from curl in the same run, CPU per scrape, exposition
// bytes, peak RSS with K concurrent scrapers, API requests under 4 concurrent scrapers,
// behaviour under 429s, and (--prometheus-seconds) a real Prometheus scraping the exporter.
//
// YFE_EXPORTER_BIN=<path> in the environment runs another build of the exporter (e.g. the
// one before a change) under the same benchmark.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/prometheus.h"

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
  int conc_scrapers = 8;       // concurrent gzip scrapers for the peak RSS figure
  int conc_seconds = 30;       // 0: skip
  int prometheus_seconds = 0;  // > 0: a real Prometheus scrapes for this long
  int prometheus_interval = 15;
  int compare_scrapes = 20;     // static server, curl and the decoding client
  std::string save_exposition;  // write the identity exposition here
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

// A GET that does not decode the body: times what the exporter sends.
struct Raw {
  int status = 0;
  std::string body;
  bool gzip = false;
};

Raw RawGet(int port, bool gzip, const std::string& path = "/metrics") {
  httplib::Client c("127.0.0.1", port);
  c.set_decompress(false);
  c.set_read_timeout(300, 0);
  httplib::Headers h;
  h.emplace("Accept-Encoding", gzip ? "gzip" : "identity");
  Raw out;
  if (auto r = c.Get(path, h)) {
    out.status = r->status;
    out.body = std::move(r->body);
    out.gzip = r->get_header_value("Content-Encoding") == "gzip";
  }
  return out;
}

// Median seconds of `n` runs of curl (an independent client) fetching the URL.
double CurlMedian(int port, bool gzip, int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    std::string out;
    std::string cmd = std::string("curl -s -o /dev/null -w '%{time_total}' ") +
                      (gzip ? "-H 'Accept-Encoding: gzip' " : "") +
                      "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    if (RunCommand(cmd, &out) != 0) return -1;
    t.push_back(std::atof(out.c_str()));
  }
  std::sort(t.begin(), t.end());
  return t.empty() ? -1 : t[t.size() / 2];
}

// Resets VmHWM so that the next reading is the peak from now on.
void ResetPeak(pid_t pid) { std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5"; }

size_t SampleLines(const std::string& text, const std::string& needle = "") {
  size_t n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (needle.empty() || line.find(needle) != std::string::npos) ++n;
  }
  return n;
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
    o.cache_ttl_seconds = IntFlag(a, "cache-ttl-seconds", o.cache_ttl_seconds);
    o.conc_scrapers = IntFlag(a, "conc-scrapers", o.conc_scrapers);
    o.conc_seconds = IntFlag(a, "conc-seconds", o.conc_seconds);
    o.prometheus_seconds = IntFlag(a, "prometheus-seconds", o.prometheus_seconds);
    o.prometheus_interval = IntFlag(a, "prometheus-interval", o.prometheus_interval);
    o.compare_scrapes = IntFlag(a, "compare-scrapes", o.compare_scrapes);
    if (a.rfind("--save-exposition=", 0) == 0) o.save_exposition = a.substr(18);
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

  Simulator sim({.pipelines = o.pipelines,
                 .frozen = true,
                 .flags = {"--stages=5", "--jobs-per-stage=4",
                           "--latency=" + std::to_string(o.latency_ms) + "ms", "--threads=64"}});
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
  Exporter exp(config, {.warm = false});
  if (!exp.started()) {
    std::fprintf(stderr, "exporter did not start\n%s", exp.process().Stderr().c_str());
    return 1;
  }
  const pid_t pid = exp.process().pid();

  // 1. Cold scrape, timed like the warm ones: without decoding (what the exporter sends);
  // the body is decoded afterwards for the checks below.
  double cpu0 = CpuSeconds(pid);
  auto t0 = Clock::now();
  Raw cold_raw = RawGet(exp.port(), o.gzip);
  double cold_s = Seconds(Clock::now() - t0);
  double cold_cpu = CpuSeconds(pid) - cpu0;
  const std::string cold_text = cold_raw.gzip ? Gunzip(cold_raw.body) : cold_raw.body;
  std::map<std::string, std::string> headers;
  if (o.gzip) headers["Accept-Encoding"] = "gzip";
  long ok = std::lround(Sum(cold_text, "yunxiao_flow_fetch_success"));
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
              cold_text.size(),
              static_cast<size_t>(std::count(cold_text.begin(), cold_text.end(), '\n')));

  if (!o.save_exposition.empty()) std::ofstream(o.save_exposition) << cold_text;

  // 2. Warm scrapes, timed without decoding: what the exporter sends.
  std::vector<double> warm;
  Raw last;
  if (bound >= o.cache_ttl_seconds) {
    std::printf("# warning: a full fetch (%.0f s) outlasts cache_ttl (%d s): no scrape is warm\n",
                bound, o.cache_ttl_seconds);
  }
  sim.Control("POST", "/-/sim/stats/reset");
  cpu0 = CpuSeconds(pid);
  for (int i = 0; i < o.warm_scrapes; ++i) {
    auto s = Clock::now();
    last = RawGet(exp.port(), o.gzip);
    warm.push_back(Seconds(Clock::now() - s));
    if (last.status != 200) std::fprintf(stderr, "warm scrape failed: %d\n", last.status);
  }
  double warm_cpu = (CpuSeconds(pid) - cpu0) / o.warm_scrapes;
  std::printf("warm_api_requests %ld\n", sim.ApiRequests());  // 0: the scrapes were warm
  const double warm_median = Percentile(warm, 0.5);
  std::printf("warm_scrape_median_ms %.2f\nwarm_scrape_p99_ms %.2f\nwarm_cpu_seconds %.4f\n",
              1000 * warm_median, 1000 * Percentile(warm, 0.99), warm_cpu);
  std::printf("warm_body_bytes %zu\nwarm_body_gzip %d\nwarm_ms_per_text_mb %.3f\n",
              last.body.size(), last.gzip ? 1 : 0,
              1000 * warm_median / (static_cast<double>(cold_text.size()) / 1e6));
  if (o.gzip) {
    auto d0 = Clock::now();
    std::string text = Gunzip(last.body);
    std::printf("client_gunzip_ms %.2f\ngzip_ratio %.2f\ngunzip_ok %d\n",
                1000 * Seconds(Clock::now() - d0),
                static_cast<double>(text.size()) / static_cast<double>(last.body.size()),
                !text.empty() && SampleLines(text) == SampleLines(cold_text) ? 1 : 0);
  }
  std::printf("rss_kb %ld\npeak_rss_kb %ld\n", StatusKb(pid, "VmRSS"), StatusKb(pid, "VmHWM"));
  std::fflush(stdout);

  // 3. The same bytes from a static server, and the same URL from curl and from the
  // decoding client the earlier benchmark used, in the same run.
  if (o.compare_scrapes > 0) {
    httplib::Server fixed;
    const std::string bytes = last.body;
    const bool gz = last.gzip;
    fixed.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
      if (gz) res.set_header("Content-Encoding", "gzip");
      // A provider, as the exporter does: httplib would gzip a text body (again) itself.
      res.set_content_provider(bytes.size(), "text/plain; version=0.0.4; charset=utf-8",
                               [&](size_t offset, size_t length, httplib::DataSink& sink) {
                                 return sink.write(bytes.data() + offset,
                                                   std::min<size_t>(length, 1 << 20));
                               });
    });
    int fixed_port = fixed.bind_to_any_port("127.0.0.1");
    std::thread serve([&] { fixed.listen_after_bind(); });
    std::vector<double> st;
    for (int i = 0; i < o.compare_scrapes; ++i) {
      auto s = Clock::now();
      auto r = RawGet(fixed_port, o.gzip);
      st.push_back(Seconds(Clock::now() - s));
      if (r.body.size() != bytes.size()) std::fprintf(stderr, "static server: short body\n");
    }
    fixed.stop();
    serve.join();
    const double st_median = Percentile(st, 0.5);
    std::printf("static_server_median_ms %.2f\nwarm_over_static %.2f\n", 1000 * st_median,
                warm_median / st_median);
    const int n = std::max(3, o.compare_scrapes / 4);
    std::printf("curl_median_ms %.2f\n", 1000 * CurlMedian(exp.port(), o.gzip, n));
    std::vector<double> dec;
    for (int i = 0; i < n; ++i) {
      auto s = Clock::now();
      HttpGet("127.0.0.1", exp.port(), "/metrics", headers);
      dec.push_back(Seconds(Clock::now() - s));
    }
    std::printf("decoding_client_median_ms %.2f\n", 1000 * Percentile(dec, 0.5));
    std::fflush(stdout);
  }

  // 4. K concurrent gzip scrapers: peak RSS and CPU per scrape.
  if (o.conc_seconds > 0 && o.conc_scrapers > 0) {
    ResetPeak(pid);
    std::atomic<long> scrapes{0}, failed{0};
    std::vector<std::thread> threads;
    std::mutex mu;
    std::vector<double> times;
    cpu0 = CpuSeconds(pid);
    auto end = Clock::now() + std::chrono::seconds(o.conc_seconds);
    for (int s = 0; s < o.conc_scrapers; ++s) {
      threads.emplace_back([&] {
        while (Clock::now() < end) {
          auto t = Clock::now();
          auto r = RawGet(exp.port(), true);
          double took = Seconds(Clock::now() - t);
          ++scrapes;
          if (r.status != 200) ++failed;
          std::lock_guard lock(mu);
          times.push_back(took);
        }
      });
    }
    for (auto& t : threads) t.join();
    std::printf(
        "conc_scrapers %d\nconc_seconds %d\nconc_scrapes %ld\nconc_failed %ld\n"
        "conc_median_ms %.2f\nconc_cpu_per_scrape %.4f\nconc_peak_rss_kb %ld\n",
        o.conc_scrapers, o.conc_seconds, scrapes.load(), failed.load(),
        1000 * Percentile(times, 0.5),
        (CpuSeconds(pid) - cpu0) / static_cast<double>(std::max(1L, scrapes.load())),
        StatusKb(pid, "VmHWM"));
    std::fflush(stdout);
  }

  // A real Prometheus scraping every prometheus_interval for prometheus_seconds.
  if (o.prometheus_seconds > 0) {
    const std::string interval = std::to_string(o.prometheus_interval) + "s";
    const std::string timeout = std::to_string(std::min(o.prometheus_interval, 10)) + "s";
    ResetPeak(pid);
    cpu0 = CpuSeconds(pid);
    PrometheusServer prom(exp.port(), interval, timeout);
    if (!prom.Ready()) {
      std::fprintf(stderr, "prometheus did not start\n%s", prom.process().Stderr().c_str());
      return 1;
    }
    auto start = Clock::now();
    long max_rss = 0;
    while (Clock::now() - start < std::chrono::seconds(o.prometheus_seconds)) {
      max_rss = std::max(max_rss, StatusKb(pid, "VmRSS"));
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    const double cpu = CpuSeconds(pid) - cpu0;
    const std::string job = "{job=\"yunxiao-flow-exporter\"}";
    const std::string range = "[" + std::to_string(o.prometheus_seconds) + "s]";
    const double scrapes = prom.Scalar("count_over_time(up" + job + range + ")");
    // What the exporter serves now, counted by an independent reader.
    auto now = RawGet(exp.port(), false);
    std::printf(
        "prom_seconds %d\nprom_interval_seconds %d\nprom_scrapes %.0f\nprom_up_min %.0f\n"
        "prom_scrape_duration_last_s %.4f\nprom_scrape_duration_avg_s %.4f\n"
        "prom_scrape_duration_max_s %.4f\nprom_scrape_samples_scraped %.0f\n"
        "prom_scrape_body_size_bytes %.0f\nprom_series_pipeline %.0f\n"
        "exposition_samples_now %zu\nexposition_pipeline_samples_now %zu\n"
        "prom_exporter_cpu_seconds %.3f\nprom_exporter_cpu_per_scrape %.4f\n"
        "prom_exporter_rss_max_kb %ld\nprom_exporter_peak_rss_kb %ld\n",
        o.prometheus_seconds, o.prometheus_interval, scrapes,
        prom.Scalar("min_over_time(up" + job + range + ")"),
        prom.Scalar("scrape_duration_seconds" + job),
        prom.Scalar("avg_over_time(scrape_duration_seconds" + job + range + ")"),
        prom.Scalar("max_over_time(scrape_duration_seconds" + job + range + ")"),
        prom.Scalar("scrape_samples_scraped" + job), prom.Scalar("scrape_body_size_bytes" + job),
        prom.Scalar("count({job=\"yunxiao-flow-exporter\",pipeline_id!=\"\"})"),
        SampleLines(now.body), SampleLines(now.body, "pipeline_id=\""), cpu,
        scrapes > 0 ? cpu / scrapes : 0.0, max_rss, StatusKb(pid, "VmHWM"));
    std::fflush(stdout);
  }

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
  // The background cost: what discovery (refresh 1m) and run history (every 1m) add, per minute.
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
