#include "collector/ledger_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>
#include <tuple>

#include "config/config.h"
#include "support/test_support.h"

namespace yfe::collector {
namespace {

namespace fs = std::filesystem;
using yfe::testing::ReadFile;
using yfe::testing::TempDir;

LedgerSnapshot Sample() {
  LedgerSnapshot s;
  s.buckets = {0.5, 10, 30, 1e6};
  RunLedger a;
  a.baselined = true;
  a.watermark = 9'007'199'254'740'993;  // beyond a double's exact integers
  a.tracked[41] = {1700000000123, "RUNNING"};
  a.tracked[42] = {1700000000456, "WAITING"};
  a.seen[40] = {1700000001000, "SUCCESS", "manual", true, true, false};
  a.seen[39] = {0, "RUNNING", "", false, false, true};
  a.runs[{"SUCCESS", "manual"}] = 12345678901;
  a.runs[{"FAIL", "webhook"}] = 0;
  a.resumed[{"FAIL", "manual"}] = 3;
  a.durations["SUCCESS"] = {{1, 0, 7, 2}, 1234.0625, 10};
  s.job_buckets = {5, 60};
  a.pending_details[43] = {1700000000999, 1700000002000, 3};
  a.job_runs[{{"构建 stage", "job-0", "Maven build"}, "SUCCESS"}] = 7;
  a.job_runs[{{"构建 stage", "job-1", "%x\n"}, "FAIL"}] = 1;
  a.job_durations[{"构建 stage", "job-0", "Maven build"}] = {{2, 5}, 301.5, 7};
  a.job_durations[{"构建 stage", "job-1", "%x\n"}] = {{0, 0}, 0, 0};
  a.stage_durations["构建 stage"] = {{0, 7}, 700.25, 7};
  a.jobs_skipped["cap"] = 2;
  s.pipelines["12345"] = a;
  RunLedger b;  // odd strings: empty, spaces, percent signs, newlines, UTF-8
  b.baselined = true;
  b.watermark = 0;
  b.runs[{"", "a b%c\nd"}] = 1;
  b.resumed[{"失败", "=x"}] = 2;
  b.seen[1] = {5, " ", "%41", true, false, true};
  s.pipelines["pipe line%\n"] = b;
  return s;
}

void ExpectEqual(const LedgerSnapshot& x, const LedgerSnapshot& y) {
  EXPECT_EQ(x.buckets, y.buckets);
  EXPECT_EQ(x.job_buckets, y.job_buckets);
  ASSERT_EQ(x.pipelines.size(), y.pipelines.size());
  for (const auto& [id, a] : x.pipelines) {
    ASSERT_TRUE(y.pipelines.contains(id)) << id;
    const RunLedger& b = y.pipelines.at(id);
    EXPECT_EQ(a.baselined, b.baselined);
    EXPECT_EQ(a.watermark, b.watermark);
    ASSERT_EQ(a.tracked.size(), b.tracked.size());
    for (const auto& [run, t] : a.tracked) {
      EXPECT_EQ(t.since_ms, b.tracked.at(run).since_ms);
      EXPECT_EQ(t.status, b.tracked.at(run).status);
    }
    ASSERT_EQ(a.seen.size(), b.seen.size());
    for (const auto& [run, s] : a.seen) {
      const auto& o = b.seen.at(run);
      EXPECT_EQ(s.end_ms, o.end_ms);
      EXPECT_EQ(s.status, o.status);
      EXPECT_EQ(s.trigger, o.trigger);
      EXPECT_EQ(s.finished, o.finished);
      EXPECT_EQ(s.counted, o.counted);
      EXPECT_EQ(s.by_id, o.by_id);
    }
    EXPECT_EQ(a.runs, b.runs);
    EXPECT_EQ(a.job_runs, b.job_runs);
    EXPECT_EQ(a.jobs_skipped, b.jobs_skipped);
    ASSERT_EQ(a.pending_details.size(), b.pending_details.size());
    for (const auto& [run, p] : a.pending_details) {
      const auto& o = b.pending_details.at(run);
      EXPECT_EQ(std::tie(p.after_ms, p.end_ms, p.attempts),
                std::tie(o.after_ms, o.end_ms, o.attempts));
    }
    for (const auto* m : {&a.stage_durations}) {
      const auto& o = m == &a.stage_durations ? b.stage_durations : b.stage_durations;
      ASSERT_EQ(m->size(), o.size());
      for (const auto& [k, h] : *m) {
        EXPECT_EQ(h.counts, o.at(k).counts);
        EXPECT_EQ(h.sum, o.at(k).sum);
        EXPECT_EQ(h.count, o.at(k).count);
      }
    }
    ASSERT_EQ(a.job_durations.size(), b.job_durations.size());
    for (const auto& [k, h] : a.job_durations) {
      EXPECT_EQ(h.counts, b.job_durations.at(k).counts);
      EXPECT_EQ(h.sum, b.job_durations.at(k).sum);
      EXPECT_EQ(h.count, b.job_durations.at(k).count);
    }
    EXPECT_EQ(a.resumed, b.resumed);
    ASSERT_EQ(a.durations.size(), b.durations.size());
    for (const auto& [status, h] : a.durations) {
      const auto& o = b.durations.at(status);
      EXPECT_EQ(h.counts, o.counts);
      EXPECT_EQ(h.sum, o.sum);
      EXPECT_EQ(h.count, o.count);
    }
  }
}

std::vector<std::string> AsideFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(std::string(LedgerStore::kFileName) + ".corrupt-")) {
      out.push_back(name);
    }
  }
  return out;
}

TEST(LedgerStore, SerializeRoundTripsExactly) {
  const LedgerSnapshot s = Sample();
  const std::string text = SerializeLedger(s);
  auto back = ParseLedger(text);
  ASSERT_TRUE(back.ok()) << back.error();
  ExpectEqual(s, *back);
  EXPECT_EQ(SerializeLedger(*back), text);
  // An empty ledger too.
  auto empty = ParseLedger(SerializeLedger({}));
  ASSERT_TRUE(empty.ok()) << empty.error();
  EXPECT_TRUE(empty->pipelines.empty());
}

TEST(LedgerStore, SaveAndLoadThroughTheDirectory) {
  TempDir dir;
  auto store = LedgerStore::Open(dir.path() + "/state/nested");  // created
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_TRUE((*store)->Load().pipelines.empty());  // no file yet
  ASSERT_TRUE((*store)->Save(Sample()));
  EXPECT_FALSE(fs::exists((*store)->path() + ".tmp"));
  struct stat st {};
  ASSERT_EQ(stat((*store)->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LedgerStore::Open(dir.path() + "/state/nested");
  ASSERT_TRUE(again.ok());
  ExpectEqual(Sample(), (*again)->Load());
  EXPECT_TRUE(AsideFiles((*again)->dir()).empty());
}

TEST(LedgerStore, EveryTruncationIsRejected) {
  const std::string text = SerializeLedger(Sample());
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_FALSE(ParseLedger(std::string_view(text).substr(0, n)).ok()) << "length " << n;
  }
}

TEST(LedgerStore, EveryChangedByteIsRejected) {
  const std::string text = SerializeLedger(Sample());
  for (size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    EXPECT_FALSE(ParseLedger(bad).ok()) << "byte " << i;
  }
}

// A file whose checksum matches but whose content is not valid is still refused (a bug in a
// writer, or a file written by hand).
TEST(LedgerStore, WellSummedButInvalidContentIsRejected) {
  const std::string text = SerializeLedger(Sample());
  const std::string body = text.substr(0, text.rfind("crc32 "));
  auto summed = [](const std::string& b) {
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08lx",
                  crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(b.data()),
                        static_cast<uInt>(b.size())));
    return b + "crc32 " + crc + "\n";
  };
  ASSERT_TRUE(ParseLedger(summed(body)).ok());  // the helper sums like the store
  std::string negative = body;
  negative.replace(negative.find(" 12345678901\n"), 13, " -12345678901\n");
  std::string nan = body;
  nan.replace(nan.find(" 12345678901\n"), 13, " nan\n");
  std::string buckets = body;  // a histogram with fewer buckets than it says
  buckets.replace(buckets.find(" 4 1 0 7 2\n"), 11, " 4 1 0 7\n");
  std::string count = body;  // one pipeline less than the end line says
  count.replace(count.find("end 2\n"), 6, "end 3\n");
  for (const std::string& b : {negative, nan, buckets, count, body + "extra\n"}) {
    EXPECT_FALSE(ParseLedger(summed(b)).ok()) << b;
  }
}

std::string Summed(const std::string& b) {
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08lx",
                crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(b.data()),
                      static_cast<uInt>(b.size())));
  return b + "crc32 " + crc + "\n";
}

// A file written before job history (version 1: no job_buckets line, no jobs blocks) is
// read as it is, with no job history, and not moved aside.
TEST(LedgerStore, VersionOneFileIsStillRead) {
  LedgerSnapshot v1 = Sample();
  v1.job_buckets.clear();
  for (auto& [id, l] : v1.pipelines) {
    l.pending_details.clear();
    l.job_runs.clear();
    l.job_durations.clear();
    l.stage_durations.clear();
    l.jobs_skipped.clear();
  }
  std::string body = SerializeLedger(v1);
  body = body.substr(0, body.rfind("crc32 "));
  body.replace(body.find("version 3\n"), 10, "version 1\n");
  body.erase(body.find("job_buckets 0\n"), 14);
  auto r = ParseLedger(Summed(body));
  ASSERT_TRUE(r.ok()) << r.error();
  ExpectEqual(v1, *r);
  // A jobs block is not part of version 1.
  std::string with_jobs = body;
  with_jobs.insert(with_jobs.find("end 2\n"), "jobs 1\nx =cap 1\n");
  EXPECT_FALSE(ParseLedger(Summed(with_jobs)).ok());
  TempDir dir;
  dir.Write(LedgerStore::kFileName, Summed(body));
  auto store = LedgerStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  ExpectEqual(v1, (*store)->Load());
  EXPECT_TRUE(AsideFiles(dir.path()).empty());
}

TEST(LedgerStore, ForeignVersionIsNamed) {
  std::string text = SerializeLedger(Sample());
  text.replace(text.find("version 3\n"), 10, "version 7\n");
  auto r = ParseLedger(text);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("version 7"), std::string::npos) << r.error();
}

TEST(LedgerStore, WrongChecksumIsNamed) {
  std::string text = SerializeLedger(Sample());
  const size_t at = text.rfind("crc32 ") + 6;
  text[at] = text[at] == '0' ? '1' : '0';
  auto r = ParseLedger(text);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("checksum"), std::string::npos) << r.error();
}

// Corrupt, truncated, foreign-version and wrong-checksum files: moved aside with a warning,
// an empty ledger (a fresh baseline), never a crash; the next save writes a good file.
TEST(LedgerStore, UnusableFilesAreMovedAside) {
  const std::string good = SerializeLedger(Sample());
  std::string version = good;
  version.replace(version.find("version 3\n"), 10, "version 4\n");
  std::string checksum = good;
  checksum[checksum.size() - 2] = checksum[checksum.size() - 2] == 'a' ? 'b' : 'a';
  std::string corrupt = good;
  corrupt[good.size() / 2] = '\x01';
  for (const std::string& content : {good.substr(0, good.size() / 3), version, checksum, corrupt,
                                     std::string("garbage"), std::string()}) {
    TempDir dir;
    auto store = LedgerStore::Open(dir.path());
    ASSERT_TRUE(store.ok());
    dir.Write(LedgerStore::kFileName, content);
    ::testing::internal::CaptureStderr();
    LedgerSnapshot loaded = (*store)->Load();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(loaded.pipelines.empty());
    EXPECT_NE(log.find("cannot be used"), std::string::npos) << log;
    EXPECT_NE(log.find((*store)->path()), std::string::npos) << log;
    EXPECT_FALSE(fs::exists((*store)->path()));
    auto aside = AsideFiles(dir.path());
    ASSERT_EQ(aside.size(), 1u);
    EXPECT_EQ(ReadFile(dir.path() + "/" + aside[0]), content);  // kept for a look
    ASSERT_TRUE((*store)->Save(Sample()));
    ExpectEqual(Sample(), (*store)->Load());
  }
}

TEST(LedgerStore, UnwritableDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const std::string file = dir.Write("not-a-dir", "x");
  auto r = LedgerStore::Open(file + "/state");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find(file + "/state"), std::string::npos) << r.error();
  auto f = LedgerStore::Open(file);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().find(file), std::string::npos) << f.error();
  if (geteuid() != 0) {  // root writes anywhere: the mode test means nothing then
    const std::string ro = dir.path() + "/ro";
    fs::create_directory(ro);
    chmod(ro.c_str(), 0500);
    auto m = LedgerStore::Open(ro);
    EXPECT_FALSE(m.ok());
    chmod(ro.c_str(), 0700);
  }
}

TEST(LedgerStore, FailedSaveKeepsThePreviousCommit) {
  TempDir dir;
  auto store = LedgerStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Save(Sample()));
  // The temporary file's name taken by a directory: the write fails, the old file stays.
  fs::create_directory((*store)->path() + ".tmp");
  LedgerSnapshot other;
  other.pipelines["x"].baselined = true;
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE((*store)->Save(other));
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("cannot write the state file"),
            std::string::npos);
  ExpectEqual(Sample(), (*store)->Load());
}

// Config validation (and so --config.check) refuses a state_dir that cannot be written.
TEST(LedgerStore, ConfigCheckRefusesAnUnwritableStateDir) {
  TempDir dir;
  const std::string file = dir.Write("not-a-dir", "x");
  EXPECT_EQ(config::CheckStateDir(dir.path()), "");
  EXPECT_EQ(config::CheckStateDir(dir.path() + "/new/state"), "");  // created at start
  EXPECT_NE(config::CheckStateDir(file).find(file), std::string::npos);
  EXPECT_NE(config::CheckStateDir(file + "/state").find(file + "/state"), std::string::npos);
  const std::string base =
      "api:\n  endpoint: http://127.0.0.1:1\n  edition: region\npipelines: [\"1\"]\n"
      "collect:\n  history: true\n  state_dir: ";
  auto ok = config::LoadConfigFile(dir.Write("ok.yaml", base + dir.path() + "/state\n"));
  EXPECT_TRUE(ok.ok()) << (ok.errors.empty() ? "" : ok.errors[0]);
  EXPECT_EQ(ok.config.collect.state_dir, dir.path() + "/state");
  EXPECT_FALSE(fs::exists(dir.path() + "/state"));  // checking creates nothing
  auto bad = config::LoadConfigFile(dir.Write("bad.yaml", base + file + "/state\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.errors[0].find("collect.state_dir"), std::string::npos) << bad.errors[0];
  EXPECT_NE(bad.errors[0].find(file + "/state"), std::string::npos) << bad.errors[0];
  // Without history it does nothing: said so.
  auto idle = config::ParseConfig(
      "api:\n  endpoint: http://127.0.0.1:1\n  edition: region\npipelines: [\"1\"]\n"
      "collect:\n  state_dir: /tmp/x\n",
      "c.yaml");
  ASSERT_EQ(idle.warnings.size(), 1u);
  EXPECT_NE(idle.warnings[0].find("collect.history"), std::string::npos);
}

// Commits from two threads (two configurations during a reload) while scrapes render and a
// reload changes the buckets: every file written is complete and readable.
TEST(LedgerStore, ConcurrentCommitsRendersAndReloads) {
  LedgerSnapshot s = Sample();
  s.buckets = {60};
  for (auto& [id, l] : s.pipelines) l.durations.clear();
  RunHistory history({60});
  history.Restore(s);
  TempDir dir;
  auto store = LedgerStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 40; ++i) failed += (*store)->Commit(history) ? 0 : 1;
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 40; ++i) {
      std::string out;
      history.Render(out, {{"12345", "a"}});
      history.SetBuckets(i % 2 ? std::vector<double>{60} : std::vector<double>{30, 60});
      history.Retain({"12345", "pipe line%\n"});
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ((*store)->Load().pipelines.size(), 2u);
  EXPECT_TRUE(AsideFiles(dir.path()).empty());
}

// The cost of a commit at 1,000 pipelines (docs/scaling.md): a pipeline with 30 remembered
// runs, 2 tracked, 9 counters and two 11-bucket histograms.
// Job history's share of the ledger: 1,000 pipelines of 5 stages × 4 jobs, each job seen
// with two statuses, 10-bucket histograms (docs/scaling.md).
TEST(LedgerStore, JobHistoryOfAThousandPipelinesFitsTheLedger) {
  LedgerSnapshot s;
  s.buckets = {60};
  s.job_buckets = {5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600};
  for (int p = 0; p < 1000; ++p) {
    RunLedger& l = s.pipelines[std::to_string(100000 + p)];
    l.baselined = true;
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
  }
  TempDir dir;
  auto store = LedgerStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*store)->Save(s));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  const auto bytes = fs::file_size((*store)->path());
  std::printf("job history of 1000 pipelines: commit %lld ms, %llu bytes\n",
              static_cast<long long>(ms), static_cast<unsigned long long>(bytes));
  EXPECT_LT(bytes, 16u << 20);
  // The time is a figure to read (bench/ measures it), not a bound: a timed test flakes.
  ExpectEqual(s, (*store)->Load());
}

TEST(LedgerStore, CommitOfAThousandPipelinesIsSmall) {
  LedgerSnapshot s;
  s.buckets = {10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
  for (int p = 0; p < 1000; ++p) {
    RunLedger& l = s.pipelines[std::to_string(100000 + p)];
    l.baselined = true;
    l.watermark = 5000;
    for (int i = 0; i < 30; ++i) {
      l.seen[4971 + i] = {1764600000000 + i, "SUCCESS", "webhook", true, true, false};
    }
    l.tracked[5001] = {1764600000000, "RUNNING"};
    l.tracked[5002] = {1764600000000, "WAITING"};
    for (const char* st : {"SUCCESS", "FAIL", "CANCELED"}) {
      for (const char* t : {"manual", "webhook", "scheduled"}) l.runs[{st, t}] = 1234 + p;
    }
    l.resumed[{"FAIL", "webhook"}] = 3;
    for (const char* st : {"SUCCESS", "FAIL"}) {
      l.durations[st] = {std::vector<double>(11, 100), 123456.5, 1100};
    }
  }
  TempDir dir;
  auto store = LedgerStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  const auto start = std::chrono::steady_clock::now();
  const int kCommits = 5;
  for (int i = 0; i < kCommits; ++i) ASSERT_TRUE((*store)->Save(s));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count() /
                  kCommits;
  const auto bytes = fs::file_size((*store)->path());
  std::printf("commit of 1000 pipelines: %lld ms, %llu bytes\n", static_cast<long long>(ms),
              static_cast<unsigned long long>(bytes));
  EXPECT_LT(bytes, 8u << 20);
  // The time is a figure to read (docs/scaling.md, bench/ledger_bench), not a bound: a timed
  // test flakes.
  // A commit from the history itself: its ledgers shared under its lock, serialized and
  // written outside it.
  RunHistory history(s.buckets);
  history.Restore(s);
  const auto history_start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*store)->Commit(history));
  std::printf("commit from the history of 1000 pipelines: %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - history_start)
                                         .count()));
  ExpectEqual(s, (*store)->Load());
  // The serialization alone (outside the history's lock since the ledgers are shared).
  const auto text_start = std::chrono::steady_clock::now();
  EXPECT_GT(SerializeLedger(s).size(), 0u);
  std::printf("serialization of 1000 pipelines: %lld us\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - text_start)
                                         .count()));
  const auto load_start = std::chrono::steady_clock::now();
  EXPECT_EQ((*store)->Load().pipelines.size(), 1000u);
  std::printf("load of 1000 pipelines: %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - load_start)
                                         .count()));
}

}  // namespace
}  // namespace yfe::collector

namespace yfe::collector {
namespace {

model::RunSummary Finished(int64_t id) {
  model::RunSummary r;
  r.id = id;
  r.status = "SUCCESS";
  r.trigger_mode = 1;
  r.start_ms = 1700000000000 + id * 1000;
  r.end_ms = r.start_ms + 500;
  return r;
}

double Successes(const RunLedger& l) {
  double n = 0;
  for (const auto& [key, v] : l.runs) n += key.first == "SUCCESS" ? v : 0;
  return n;
}

// A scrape (render of the history families) and a poll that arrive while a commit is
// under way (made slow by the hook) do not wait for it; the commit writes the state as it
// was when it began (counters and watermark together), the next one the poll's.
TEST(LedgerStore, ScrapesAndPollsDoNotWaitForACommit) {
  RunHistory history({60});
  history.Observe("p", 1, {});
  history.FinishPoll("p");  // the baseline
  history.Observe("p", 1, {Finished(1)});
  history.FinishPoll("p");
  ASSERT_EQ(history.LedgerOf("p").watermark, 1);
  TempDir dir;
  auto store = LedgerStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  bool rendered = false, polled = false;
  std::future<std::string> render;
  std::future<void> poll;
  (*store)->SetCommitHookForTest([&] {
    render = std::async(std::launch::async, [&] {
      std::string out;
      history.Render(out, {{"p", "web"}});
      return out;
    });
    rendered = render.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    poll = std::async(std::launch::async, [&] {
      history.Observe("p", 1, {Finished(2), Finished(1)});
      history.FinishPoll("p");
    });
    polled = poll.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  });
  ASSERT_TRUE((*store)->Commit(history));
  EXPECT_TRUE(rendered) << "a render waited for the commit";
  EXPECT_TRUE(polled) << "a poll waited for the commit";
  EXPECT_NE(render.get().find("_runs_total"), std::string::npos);
  poll.get();
  EXPECT_EQ(Successes(history.LedgerOf("p")), 2);  // the poll went on in memory
  const RunLedger first = (*store)->Load().pipelines.at("p");
  EXPECT_EQ(Successes(first), 1);  // as it was when the commit began
  EXPECT_EQ(first.watermark, 1);
  (*store)->SetCommitHookForTest(nullptr);
  ASSERT_TRUE((*store)->Commit(history));
  const RunLedger second = (*store)->Load().pipelines.at("p");
  EXPECT_EQ(Successes(second), 2);
  EXPECT_EQ(second.watermark, 2);
}

}  // namespace
}  // namespace yfe::collector
