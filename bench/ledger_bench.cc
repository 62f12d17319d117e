// ledger_bench: the run ledger's commit (collect.state_dir) against scrapes of the history
// families, at N pipelines × 20 jobs with job history and delivery (ledger format 3).
// Not a test: it asserts nothing, it measures (docs/performance.md, "Ledger commit").
//
//   build/bench/ledger_bench --pipelines=1000 --commits=20 --dir=/var/tmp/ledger-bench
//
// Prints: (a) the commit's duration (serialize + write + fsync + rename), its parts (the
// copy of the ledgers, the serialization alone); (b) while commits run back to back, the
// worst and p99 wait of a trivial call that takes the history's lock (what a scrape waits
// before it can render) and, apart, the worst and p99 render of the history families,
// each next to the same figure without commits; (c) a render after a poll of every
// pipeline in which one pipeline counted a new finish (what the first scrape after a
// history poll pays), with the size and a hash of the text (same hash: same bytes), and
// the deflate of that text that the collector does on every scrape.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "collector/history.h"
#include "collector/ledger_store.h"
#include "http/gzip_segments.h"

using namespace yfe::collector;
using Steady = std::chrono::steady_clock;

namespace {

struct Options {
  int pipelines = 1000;
  int commits = 20;
  std::string dir = "/var/tmp/yfe-ledger-bench";
};

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A pipeline as the ledger holds it after weeks of polls: 30 remembered runs, 2 tracked,
// 9 run counters, 2 duration histograms; 5 stages × 4 jobs seen with two statuses each;
// delivery: 2 deployment counters, lead time and restore histograms, 30 deployment runs.
RunLedger Pipeline(int p) {
  RunLedger l;
  l.baselined = true;
  l.watermark = 5000;
  for (int i = 0; i < 30; ++i) {
    l.seen[4971 + i] = {1764600000000 + i, "SUCCESS", "webhook", true, true, false};
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  l.tracked[5001] = {now_ms, "RUNNING", 0};
  l.tracked[5002] = {now_ms, "WAITING", 0};
  for (const char* st : {"SUCCESS", "FAIL", "CANCELED"}) {
    for (const char* t : {"manual", "webhook", "scheduled"}) l.runs[{st, t}] = 1234 + p;
  }
  l.resumed[{"FAIL", "webhook"}] = 3;
  for (const char* st : {"SUCCESS", "FAIL"}) {
    l.durations[st] = {std::vector<double>(11, 100), 123456.5, 1100};
  }
  for (int st = 0; st < 5; ++st) {
    const std::string stage = "stage " + std::to_string(st);
    l.stage_durations[stage] = {std::vector<double>(10, 100), 123456.5, 1000};
    for (int j = 0; j < 4; ++j) {
      const RunLedger::JobId id{stage, "job-" + std::to_string(st) + "-" + std::to_string(j),
                                "Maven 构建 " + std::to_string(j)};
      l.job_runs[{id, "SUCCESS"}] = 1000 + p;
      l.job_runs[{id, "FAIL"}] = 12;
      l.job_durations[id] = {std::vector<double>(10, 100), 123456.5, 1012};
    }
  }
  DeliveryLedger& d = l.delivery;
  d.deployments[{"production", "SUCCESS"}] = 200 + p;
  d.deployments[{"production", "FAIL"}] = 7;
  d.lead_times["production"] = {std::vector<double>(14, 20), 98765.5, 200};
  d.restores["production"] = {std::vector<double>(14, 1), 4321.5, 7};
  for (int i = 0; i < 30; ++i) d.deploys[4971 + i] = {"SUCCESS", true};
  d.last_end_ms = 1764600000000;
  return l;
}

// p-th percentile (0..100) of the samples, in ms.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100 * static_cast<double>(v.size())))];
}

// Until stop: with render, renders of the history families (20 ms apart), else a trivial
// call that takes the history's lock (every millisecond); each timed, in ms. Each render
// into a new string, as a scrape does (its pages are first touched then).
std::vector<double> Probe(const RunHistory& h,
                          const std::vector<std::pair<std::string, std::string>>& named,
                          bool render, const std::atomic<bool>& stop) {
  std::vector<double> ms;
  while (!stop) {
    auto t0 = Steady::now();
    if (render) {
      std::string out;
      h.Render(out, named);
    } else {
      (void)h.TrackedIds(named.front().first);
    }
    ms.push_back(Ms(Steady::now() - t0));
    std::this_thread::sleep_for(std::chrono::milliseconds(render ? 20 : 1));
  }
  return ms;
}

void Print(const char* what, const std::vector<double>& v) {
  std::printf("  %-34s n=%-5zu median %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what, v.size(),
              Percentile(v, 50), Percentile(v, 99), v.empty() ? 0 : Percentile(v, 100));
}

// FNV-1a of the text: equal before and after a change of the render code means same bytes.
uint64_t Fnv(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// (c): each round, a poll of every pipeline (nothing new) in which pipeline `round` counts
// a new finish, then one render, timed; then a render with nothing polled since.
void PollThenRender(RunHistory& h, const std::vector<std::pair<std::string, std::string>>& named) {
  std::vector<double> after_poll, unchanged;
  std::string out;
  for (int round = 0; round < 5; ++round) {
    for (const auto& [id, name] : named) {
      if (&id == &named[static_cast<size_t>(round)].first) {
        yfe::model::RunSummary run{6000 + round, "SUCCESS", 1, 1764600000000, 1764600060000};
        h.Observe(id, 1, {run});
      }
      h.FinishPoll(id, false);
    }
    for (auto* v : {&after_poll, &unchanged}) {
      out = std::string();  // a new string, as a scrape
      auto t0 = Steady::now();
      h.Render(out, named);
      v->push_back(Ms(Steady::now() - t0));
    }
  }
  std::printf("render after a poll (one pipeline changed): %zu bytes, fnv %016llx\n", out.size(),
              static_cast<unsigned long long>(Fnv(out)));
  std::printf("  pipeline texts rendered so far: %zu\n", h.TextsRendered());
  Print("first render after the poll", after_poll);
  Print("next render (nothing polled)", unchanged);
  // What a scrape does next with it: the collector compresses its tail (level 1) each time.
  std::vector<double> deflate;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Steady::now();
    (void)yfe::http::DeflateSegment(out, 1, true);
    deflate.push_back(Ms(Steady::now() - t0));
  }
  Print("its deflate (level 1, as the tail)", deflate);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      const std::string f = std::string(flag) + "=";
      return a.rfind(f, 0) == 0 ? argv[i] + f.size() : nullptr;
    };
    if (const char* v = value("--pipelines"))
      o.pipelines = std::atoi(v);
    else if (const char* v = value("--commits"))
      o.commits = std::atoi(v);
    else if (const char* v = value("--dir"))
      o.dir = v;
    else {
      std::fprintf(stderr, "usage: ledger_bench [--pipelines=N] [--commits=N] [--dir=PATH]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const std::vector<double> buckets = {10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
  const std::vector<double> job_buckets = {5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600};
  LedgerSnapshot s;
  s.buckets = buckets;
  s.job_buckets = job_buckets;
  std::vector<std::pair<std::string, std::string>> named;
  for (int p = 0; p < o.pipelines; ++p) {
    const std::string id = std::to_string(100000 + p);
    s.pipelines[id] = Pipeline(p);
    named.emplace_back(id, "pipeline " + id);
  }
  RunHistory history(buckets);
  history.SetJobHistory(true, job_buckets);
  history.Restore(s);
  for (const auto& [id, name] : named) history.FinishPoll(id, false);  // shown, as after a poll

  std::filesystem::create_directories(o.dir);
  auto store = LedgerStore::Open(o.dir);
  if (!store.ok()) {
    std::fprintf(stderr, "ledger_bench: %s\n", store.error().c_str());
    return 1;
  }
  std::printf("ledger_bench: %d pipelines x 20 jobs, job history + delivery, dir %s\n", o.pipelines,
              o.dir.c_str());

  // The parts, one at a time.
  std::vector<double> copy_ms, text_ms;
  size_t bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Steady::now();
    LedgerSnapshot snap = history.Snapshot();
    auto t1 = Steady::now();
    bytes = SerializeLedger(snap).size();
    auto t2 = Steady::now();
    copy_ms.push_back(Ms(t1 - t0));
    text_ms.push_back(Ms(t2 - t1));
  }
  std::printf("ledger: %zu bytes\n", bytes);
  Print("copy of the ledgers (Snapshot)", copy_ms);
  Print("serialization alone", text_ms);

  // Each probe alone for 3 s, then while commits run back to back.
  for (bool render : {false, true}) {
    std::vector<double> commit_ms;
    const char* what = render ? "render of the history families" : "history lock wait";
    std::atomic<bool> stop{false};
    std::vector<double> idle, busy;
    std::thread t([&] { idle = Probe(history, named, render, stop); });
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop = true;
    t.join();
    stop = false;
    std::thread u([&] { busy = Probe(history, named, render, stop); });
    for (int i = 0; i < o.commits; ++i) {
      auto t0 = Steady::now();
      if (!(*store)->Commit(history)) std::fprintf(stderr, "ledger_bench: a commit failed\n");
      commit_ms.push_back(Ms(Steady::now() - t0));
    }
    stop = true;
    u.join();
    std::printf("%s:\n", what);
    Print("without commits", idle);
    Print("during commits", busy);
    Print(render ? "commit (waits for renders)" : "commit (whole)", commit_ms);
    if (render) std::printf("  pipeline texts rendered so far: %zu\n", history.TextsRendered());
  }
  std::filesystem::remove_all(o.dir);
  PollThenRender(history, named);
  return 0;
}
