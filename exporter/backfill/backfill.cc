#include "backfill/backfill.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "metrics/catalog.h"
#include "metrics/exposition.h"
#include "metrics/translate.h"
#include "model/status.h"

namespace yfe::backfill {

namespace {

constexpr size_t kFlushBytes = 64 * 1024;

std::string TriggerOf(const model::RunSummary& run) {
  return std::string(model::TriggerModeName(run.trigger_mode));
}

// When a finish happened: its end, or its start when the API gave no end.
int64_t FinishTime(const model::RunSummary& run) {
  return run.end_ms > 0 ? run.end_ms : run.start_ms;
}

const metrics::MetricDef& FamilyDef(size_t family) {
  static const std::array<const metrics::MetricDef*, kFamilies> defs = {
      &metrics::kRunsTotal, &metrics::kRunsResumedTotal, &metrics::kRunDurationHistogram};
  return *defs.at(family);
}

// The same observation as RunHistory::CountFinish (collector/history.cc).
void CountInto(collector::RunLedger& l, const std::vector<double>& buckets,
               const model::RunSummary& run) {
  l.runs[{run.status, TriggerOf(run)}] += 1;
  if (run.start_ms > 0 && run.end_ms >= run.start_ms) {
    const double seconds = static_cast<double>(run.end_ms - run.start_ms) / 1000.0;
    auto& h = l.durations[run.status];
    if (h.counts.size() != buckets.size()) h.counts.assign(buckets.size(), 0);
    auto it = std::lower_bound(buckets.begin(), buckets.end(), seconds);
    if (it != buckets.end()) h.counts[static_cast<size_t>(it - buckets.begin())] += 1;
    h.sum += seconds;
    h.count += 1;
  }
}

// The counted runs, oldest finish first.
std::vector<const model::RunSummary*> CountedRuns(const PipelineRuns& p, const Options& o) {
  std::vector<const model::RunSummary*> out;
  for (const auto& r : p.runs) {
    if (Counts(r, o.since_ms, p.cutoff_ms)) out.push_back(&r);
  }
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    return std::make_pair(FinishTime(*a), a->id) < std::make_pair(FinishTime(*b), b->id);
  });
  return out;
}

// Counters and histograms of every counted finish, with live collection's baseline zeros
// (runs_total for SUCCESS, FAIL, CANCELED and runs_resumed_total for FAIL per trigger mode
// seen, the SUCCESS and FAIL histograms) when the pipeline has runs.
collector::RunLedger Totals(const PipelineRuns& p, const Options& o) {
  collector::RunLedger l;
  l.baselined = true;
  for (const auto& r : p.runs) {
    const std::string trigger = TriggerOf(r);
    for (const char* status : {"SUCCESS", "FAIL", "CANCELED"}) l.runs[{status, trigger}] += 0;
    l.resumed[{"FAIL", trigger}] += 0;
  }
  if (!p.runs.empty()) {
    for (const char* status : {"SUCCESS", "FAIL"}) {
      l.durations[status].counts.assign(o.buckets.size(), 0);
    }
  }
  for (const auto* r : CountedRuns(p, o)) CountInto(l, o.buckets, *r);
  return l;
}

void AppendTimestamp(std::string& out, int64_t ms) {
  out.pop_back();  // the '\n' AppendSample ended the line with
  out += ' ';
  out += std::to_string(ms / 1000);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
  out += frac;
  out += '\n';
}

std::string SeriesPrefix(const PipelineRuns& p, const Options& o) {
  std::string prefix = metrics::PipelinePrefix({p.id, p.name});
  for (const auto& [name, value] : o.labels) {
    prefix += ',';
    prefix += name;
    prefix += "=\"";
    metrics::AppendEscapedLabelValue(prefix, value);
    prefix += '"';
  }
  return prefix;
}

struct RenderContext {
  const std::vector<int64_t>& times;
  const std::vector<const model::RunSummary*>& events;
  const std::string& prefix;
  const std::function<void(size_t, std::string&)>& flush;
  std::string text;

  void Flush(size_t family) {
    if (!text.empty()) flush(family, text);
    text.clear();
  }
};

void RenderCounters(RenderContext& c, size_t family, const collector::RunLedger& totals) {
  const auto& def = FamilyDef(family);
  const auto& keys = family == 0 ? totals.runs : totals.resumed;
  for (const auto& [key, total] : keys) {
    size_t j = 0;
    double n = 0;
    for (int64_t t : c.times) {
      for (; j < c.events.size() && FinishTime(*c.events[j]) <= t; ++j) {
        const auto& r = *c.events[j];
        if (family == 0 && r.status == key.first && TriggerOf(r) == key.second) n += 1;
      }
      metrics::AppendSample(c.text, def.name, c.prefix,
                            {{"status", key.first}, {"trigger_mode", key.second}}, n);
      AppendTimestamp(c.text, t);
      if (c.text.size() >= kFlushBytes) c.Flush(family);
    }
  }
  c.Flush(family);
}

void RenderHistograms(RenderContext& c, const collector::RunLedger& totals, const Options& o) {
  const std::string base(metrics::kRunDurationHistogram.name);
  const std::string bucket = base + "_bucket", count = base + "_count", sum = base + "_sum";
  std::vector<std::string> les(o.buckets.size());
  for (size_t i = 0; i < o.buckets.size(); ++i) metrics::AppendValue(les[i], o.buckets[i]);
  for (const auto& [status, unused] : totals.durations) {
    const std::string p = metrics::ExtendPrefix(c.prefix, {{"status", status}});
    collector::RunLedger l;  // this status's histogram so far
    size_t j = 0;
    for (int64_t t : c.times) {
      for (; j < c.events.size() && FinishTime(*c.events[j]) <= t; ++j) {
        if (c.events[j]->status == status) CountInto(l, o.buckets, *c.events[j]);
      }
      collector::RunLedger::Histogram h = l.durations[status];
      if (h.counts.size() != les.size()) h.counts.assign(les.size(), 0);
      double cumulative = 0;
      for (size_t i = 0; i < les.size(); ++i) {
        cumulative += h.counts[i];
        metrics::AppendSample(c.text, bucket, p, {{"le", les[i]}}, cumulative);
        AppendTimestamp(c.text, t);
      }
      metrics::AppendSample(c.text, bucket, p, {{"le", "+Inf"}}, h.count);
      AppendTimestamp(c.text, t);
      metrics::AppendSample(c.text, count, p, {}, h.count);
      AppendTimestamp(c.text, t);
      metrics::AppendSample(c.text, sum, p, {}, h.sum);
      AppendTimestamp(c.text, t);
      if (c.text.size() >= kFlushBytes) c.Flush(2);
    }
  }
  c.Flush(2);
}

std::string Errno(int e) { return std::strerror(e); }

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ParseLabels(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    bool valid = eq != std::string::npos && !name.empty() && name.rfind("__", 0) != 0 &&
                 !(name[0] >= '0' && name[0] <= '9');
    for (char c : name) {
      valid = valid && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_');
    }
    if (!valid) {
      return Error("flag --backfill.labels: \"" + item + "\" is not name=value (a label name)");
    }
    for (const char* taken : {"pipeline_id", "pipeline_name", "status", "trigger_mode", "le"}) {
      if (name == taken) {
        return Error("flag --backfill.labels: " + name + " is a label of the exporter's own");
      }
    }
    for (const auto& [seen, v] : out) {
      if (seen == name) return Error("flag --backfill.labels: " + name + " is given twice");
    }
    out.emplace_back(name, item.substr(eq + 1));
  }
  return out;
}

bool Counts(const model::RunSummary& run, int64_t since_ms, int64_t cutoff_ms) {
  if (!model::IsFinished(run.status)) return false;
  const int64_t t = FinishTime(run);
  return t > 0 && t > since_ms && t <= cutoff_ms;
}

std::vector<int64_t> SampleTimes(const PipelineRuns& p, const Options& o) {
  std::optional<int64_t> first;
  for (const auto& r : p.runs) {
    if (!Counts(r, o.since_ms, p.cutoff_ms)) continue;
    first = first ? std::min(*first, FinishTime(r)) : FinishTime(r);
  }
  std::vector<int64_t> out;
  const int64_t step = std::max<int64_t>(1, o.step_ms);
  // From the step before the first finish, so that the first sample shows 0.
  for (int64_t t = first ? (*first - 1) / step * step : p.cutoff_ms; t < p.cutoff_ms; t += step) {
    out.push_back(t);
  }
  out.push_back(p.cutoff_ms);
  return out;
}

collector::RunLedger StartingPoint(const PipelineRuns& p, const Options& o) {
  collector::RunLedger l = Totals(p, o);
  std::vector<const model::RunSummary*> unfinished;
  std::vector<const model::RunSummary*> finished;
  for (const auto& r : p.runs) {
    l.watermark = std::max(l.watermark, r.id);
    const bool done = model::IsFinished(r.status) && FinishTime(r) <= p.cutoff_ms;
    (done ? finished : unfinished).push_back(&r);
  }
  // Tracked as if seen unfinished since it started (or since `since`), the longest waiting
  // given up first when there are too many, as live collection does.
  auto since_of = [&](const model::RunSummary* r) { return std::max(r->start_ms, o.since_ms); };
  std::sort(unfinished.begin(), unfinished.end(),
            [&](const auto* a, const auto* b) { return since_of(a) > since_of(b); });
  for (size_t i = 0; i < unfinished.size(); ++i) {
    const auto& r = *unfinished[i];
    if (i < collector::RunHistory::kMaxTracked) {
      l.tracked[r.id] = {since_of(&r), r.status};
    } else {
      l.seen[r.id] = {0, r.status, "", false, false, false};
    }
  }
  // The newest page of finishes is remembered, as after a poll, so that a resume is noticed.
  std::sort(finished.begin(), finished.end(),
            [](const auto* a, const auto* b) { return a->id > b->id; });
  for (size_t i = 0;
       i < finished.size() && i < static_cast<size_t>(collector::RunHistory::kPerPage); ++i) {
    const auto& r = *finished[i];
    l.seen[r.id] = {r.end_ms, r.status, TriggerOf(r), true, Counts(r, o.since_ms, p.cutoff_ms),
                    false};
  }
  return l;
}

std::string FamilyHeader(size_t family) {
  const auto& def = FamilyDef(family);
  std::string name(def.name);
  const bool counter = def.type == metrics::Type::kCounter;
  if (counter && name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0) {
    name.resize(name.size() - 6);
  }
  std::string out = "# TYPE " + name + (counter ? " counter\n" : " histogram\n");
  if (name.size() > 8 && name.compare(name.size() - 8, 8, "_seconds") == 0) {
    out += "# UNIT " + name + " seconds\n";
  }
  out += "# HELP " + name + ' ';
  for (char c : def.help) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  out += '\n';
  return out;
}

void Render(const PipelineRuns& p, const Options& o,
            const std::function<void(size_t family, std::string& text)>& flush) {
  const collector::RunLedger totals = Totals(p, o);
  const std::vector<int64_t> times = SampleTimes(p, o);
  const std::vector<const model::RunSummary*> events = CountedRuns(p, o);
  const std::string prefix = SeriesPrefix(p, o);
  RenderContext c{times, events, prefix, flush, {}};
  RenderCounters(c, 0, totals);
  RenderCounters(c, 1, totals);
  RenderHistograms(c, totals, o);
}

// ---- OpenMetricsWriter ----

OpenMetricsWriter::OpenMetricsWriter(Options options, std::string path)
    : options_(std::move(options)), path_(std::move(path)) {}

OpenMetricsWriter::~OpenMetricsWriter() {
  if (!finished_) Remove();
}

void OpenMetricsWriter::Remove() {
  for (FILE* f : files_) {
    if (f) std::fclose(f);
  }
  files_.clear();
  for (const auto& part : parts_) std::remove(part.c_str());
  std::remove((path_ + ".tmp").c_str());
}

Result<bool> OpenMetricsWriter::Open() {
  for (size_t f = 0; f < kFamilies; ++f) {
    parts_.push_back(path_ + ".part" + std::to_string(f));
    FILE* file = std::fopen(parts_.back().c_str(), "w+");
    if (!file) return Error("cannot write " + parts_.back() + ": " + Errno(errno));
    files_.push_back(file);
  }
  return true;
}

Result<size_t> OpenMetricsWriter::Add(const PipelineRuns& p) {
  size_t lines = 0;
  bool failed = false;
  Render(p, options_, [&](size_t family, std::string& text) {
    lines += static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
    bytes_ += static_cast<int64_t>(text.size());
    failed = failed || std::fwrite(text.data(), 1, text.size(), files_[family]) != text.size();
    text.clear();
  });
  if (failed) return Error("cannot write " + path_ + ".part*: " + Errno(errno));
  return lines;
}

Result<bool> OpenMetricsWriter::Finish() {
  const std::string tmp = path_ + ".tmp";
  FILE* out = std::fopen(tmp.c_str(), "w");
  if (!out) return Error("cannot write " + tmp + ": " + Errno(errno));
  bool ok = true;
  std::vector<char> buf(1 << 20);
  for (size_t f = 0; f < kFamilies && ok; ++f) {
    const std::string header = FamilyHeader(f);
    ok = std::fwrite(header.data(), 1, header.size(), out) == header.size() &&
         std::fflush(files_[f]) == 0 && std::fseek(files_[f], 0, SEEK_SET) == 0;
    for (size_t n; ok && (n = std::fread(buf.data(), 1, buf.size(), files_[f])) > 0;) {
      ok = std::fwrite(buf.data(), 1, n, out) == n;
    }
    ok = ok && !std::ferror(files_[f]);
  }
  ok = ok && std::fputs("# EOF\n", out) >= 0 && std::fflush(out) == 0 && ::fsync(fileno(out)) == 0;
  const int err = errno;
  ok = std::fclose(out) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Error("cannot write " + path_ + ": " + Errno(ok ? errno : err));
  }
  finished_ = true;
  for (FILE* f : files_) std::fclose(f);
  files_.clear();
  for (const auto& part : parts_) std::remove(part.c_str());
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  if (int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return true;
}

}  // namespace yfe::backfill
