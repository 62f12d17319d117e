#include "backfill/backfill.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "collector/job_history.h"
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
      &metrics::kRunsTotal,
      &metrics::kRunsResumedTotal,
      &metrics::kRunDurationHistogram,
      &metrics::kJobRunsTotal,
      &metrics::kJobRunDurationHistogram,
      &metrics::kStageRunDurationHistogram,
      &metrics::kJobHistoryRunsSkipped};
  return *defs.at(family);
}

// The same observation as RunHistory::CountFinish (collector/history.cc).
void CountInto(collector::RunLedger& l, const std::vector<double>& buckets,
               const model::RunSummary& run) {
  l.runs[{run.status, TriggerOf(run)}] += 1;
  if (run.start_ms > 0 && run.end_ms >= run.start_ms) {
    const double seconds = static_cast<double>(run.end_ms - run.start_ms) / 1000.0;
    collector::jobs::Observe(l.durations[run.status], buckets, seconds);
  }
}

// One counted finish, as live collection counts it: the run (RunHistory::CountFinish) and,
// with job history, the jobs of its detail (RunHistory::ObserveDetail: jobs::CountDetail).
void Apply(collector::RunLedger& l, const PipelineRuns& p, const Options& o,
           const model::RunSummary& run) {
  CountInto(l, o.buckets, run);
  if (!o.job_history) return;
  auto d = p.details.find(run.id);
  if (d == p.details.end() || !model::IsFinished(d->second.status)) {
    l.jobs_skipped[std::string(collector::jobs::kSkippedDetail)] += 1;
    return;
  }
  if (!collector::jobs::CountDetail(l, d->second, {0, run.end_ms, 0}, o.job_buckets)) {
    l.jobs_skipped[std::string(collector::jobs::kSkippedCap)] += 1;
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

// Live collection's baseline zeros (runs_total for SUCCESS, FAIL, CANCELED and
// runs_resumed_total for FAIL per trigger mode seen, the SUCCESS and FAIL histograms) when
// the pipeline has runs.
collector::RunLedger Baseline(const PipelineRuns& p, const Options& o) {
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
  return l;
}

// Counters and histograms of every counted finish, from the baseline.
collector::RunLedger Totals(const PipelineRuns& p, const Options& o) {
  collector::RunLedger l = Baseline(p, o);
  for (const auto* r : CountedRuns(p, o)) Apply(l, p, o, *r);
  return l;
}

void AppendTimestamp(std::string& out, int64_t ms) {
  out += std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
    out += frac;
  }
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

constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();

template <typename Map, typename Key>
double ValueIn(const Map& m, const Key& k) {
  auto it = m.find(k);
  return it == m.end() ? kAbsent : it->second;
}

// A histogram's lines: a _bucket per bucket, +Inf, _count, _sum.
void HistogramValues(const collector::RunLedger::Histogram* h, size_t buckets,
                     std::vector<double>& out) {
  if (h == nullptr) {
    out.insert(out.end(), buckets + 3, kAbsent);
    return;
  }
  double cumulative = 0;
  for (size_t i = 0; i < buckets; ++i) {
    cumulative += i < h->counts.size() ? h->counts[i] : 0;
    out.push_back(cumulative);
  }
  out.insert(out.end(), {h->count, h->count, h->sum});
}

template <typename Map, typename Key>
void HistogramValuesIn(const Map& m, const Key& k, size_t buckets, std::vector<double>& out) {
  auto it = m.find(k);
  HistogramValues(it == m.end() ? nullptr : &it->second, buckets, out);
}

// The values in `l` of the series of `shape` (NaN: not in `l`), in the order of SeriesOf.
void ValuesOf(const collector::RunLedger& shape, const collector::RunLedger& l, const Options& o,
              std::vector<double>& out) {
  out.clear();
  for (const auto& [k, unused] : shape.runs) out.push_back(ValueIn(l.runs, k));
  for (const auto& [k, unused] : shape.resumed) out.push_back(ValueIn(l.resumed, k));
  for (const auto& [k, unused] : shape.durations) {
    HistogramValuesIn(l.durations, k, o.buckets.size(), out);
  }
  for (const auto& [k, unused] : shape.job_runs) out.push_back(ValueIn(l.job_runs, k));
  for (const auto& [k, unused] : shape.job_durations) {
    HistogramValuesIn(l.job_durations, k, o.job_buckets.size(), out);
  }
  for (const auto& [k, unused] : shape.stage_durations) {
    HistogramValuesIn(l.stage_durations, k, o.job_buckets.size(), out);
  }
  for (const auto& [k, unused] : shape.jobs_skipped) out.push_back(ValueIn(l.jobs_skipped, k));
}

struct Series {
  size_t family;
  std::string text;  // `name{labels} `
};

void AddSeries(std::vector<Series>& out, size_t family, std::string text) {
  // metrics::AppendSample wrote `name{labels} 0\n`: the value goes after the space.
  text.resize(text.size() - 2);
  out.push_back({family, std::move(text)});
}

void AddHistogram(std::vector<Series>& out, size_t family, const std::string& prefix,
                  const std::vector<double>& buckets) {
  const std::string base(FamilyDef(family).name);
  for (size_t i = 0; i <= buckets.size(); ++i) {
    std::string le;
    if (i < buckets.size()) {
      metrics::AppendValue(le, buckets[i]);
    } else {
      le = "+Inf";
    }
    std::string line;
    metrics::AppendSample(line, base + "_bucket", prefix, {{"le", le}}, 0);
    AddSeries(out, family, std::move(line));
  }
  for (const char* suffix : {"_count", "_sum"}) {
    std::string line;
    metrics::AppendSample(line, base + suffix, prefix, {}, 0);
    AddSeries(out, family, std::move(line));
  }
}

// The series of `shape` with their text, in the order of ValuesOf (the labels as live
// collection writes them: RunHistory::Render, jobs::Text).
std::vector<Series> SeriesOf(const collector::RunLedger& shape, const std::string& prefix,
                             const Options& o) {
  std::vector<Series> out;
  auto sample = [&](size_t family, std::initializer_list<metrics::Label> labels) {
    std::string line;
    metrics::AppendSample(line, FamilyDef(family).name, prefix, labels, 0);
    AddSeries(out, family, std::move(line));
  };
  for (size_t family : {0, 1}) {
    for (const auto& [k, unused] : family == 0 ? shape.runs : shape.resumed) {
      sample(family, {{"status", k.first}, {"trigger_mode", k.second}});
    }
  }
  for (const auto& [status, unused] : shape.durations) {
    AddHistogram(out, 2, metrics::ExtendPrefix(prefix, {{"status", status}}), o.buckets);
  }
  for (const auto& [k, unused] : shape.job_runs) {
    const auto& [stage, sign, name] = k.first;
    sample(3,
           {{"stage_name", stage}, {"job_sign", sign}, {"job_name", name}, {"status", k.second}});
  }
  for (const auto& [id, unused] : shape.job_durations) {
    const auto& [stage, sign, name] = id;
    AddHistogram(out, 4,
                 metrics::ExtendPrefix(
                     prefix, {{"stage_name", stage}, {"job_sign", sign}, {"job_name", name}}),
                 o.job_buckets);
  }
  for (const auto& [stage, unused] : shape.stage_durations) {
    AddHistogram(out, 5, metrics::ExtendPrefix(prefix, {{"stage_name", stage}}), o.job_buckets);
  }
  for (const auto& [reason, unused] : shape.jobs_skipped) sample(6, {{"reason", reason}});
  return out;
}

// Every series' value at every sample time in `window` (NaN before it exists), and the
// index of the first sample time at which each exists. Values are kept once per change.
struct Timeline {
  std::vector<size_t> times;                // indexes into the sample times, in the window
  std::vector<size_t> rows;                 // per window time, its row of values
  std::vector<std::vector<double>> values;  // per row, per series
  std::vector<size_t> first;                // per series
};

// How many series a ledger has (series are only ever added).
size_t KeyCount(const collector::RunLedger& l) {
  return l.runs.size() + l.resumed.size() + l.durations.size() + l.job_runs.size() +
         l.job_durations.size() + l.stage_durations.size() + l.jobs_skipped.size();
}

Timeline Replay(const PipelineRuns& p, const Options& o, const collector::RunLedger& shape,
                const std::vector<int64_t>& times, Window window, size_t series) {
  Timeline tl;
  tl.first.assign(series, times.size());
  const auto events = CountedRuns(p, o);
  collector::RunLedger l = Baseline(p, o);
  std::vector<double> now;
  size_t keys = std::numeric_limits<size_t>::max();  // when `now` was last computed
  bool stale = true;                                 // `now` lags behind `l`
  bool in_rows = false;                              // `now` is the last row
  for (size_t i = 0, j = 0; i < times.size(); ++i) {
    for (; j < events.size() && FinishTime(*events[j]) <= times[i]; ++j, stale = true) {
      Apply(l, p, o, *events[j]);
    }
    const bool in_window = times[i] >= window.from_ms && times[i] < window.to_ms;
    // Values are needed in the window; before it, only when a series first appears.
    if (stale && (in_window || KeyCount(l) != keys)) {
      ValuesOf(shape, l, o, now);
      keys = KeyCount(l);
      stale = in_rows = false;
      for (size_t s = 0; s < series; ++s) {
        if (tl.first[s] == times.size() && !std::isnan(now[s])) tl.first[s] = i;
      }
    }
    if (in_window) {
      if (!in_rows) tl.values.push_back(now);
      in_rows = true;
      tl.times.push_back(i);
      tl.rows.push_back(tl.values.size() - 1);
    }
  }
  return tl;
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

Window ChunkWindow(int64_t k, int64_t chunk_ms) { return {k * chunk_ms, (k + 1) * chunk_ms}; }

namespace {

constexpr std::string_view kMagic = "yfe-backfill-runs 1\n";

void PutInt(std::string& out, int64_t v) {
  char b[8];
  std::memcpy(b, &v, sizeof b);
  out.append(b, sizeof b);
}

void PutString(std::string& out, std::string_view v) {
  PutInt(out, static_cast<int64_t>(v.size()));
  out += v;
}

// Reads what PutInt and PutString wrote; any read past the end sets `bad`.
struct Reader {
  std::string_view in;
  bool bad = false;
  int64_t Int() {
    if (in.size() < 8) return bad = true, 0;
    int64_t v;
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(8);
    return v;
  }
  std::string String() {
    const int64_t n = Int();
    if (bad || n < 0 || static_cast<uint64_t>(n) > in.size()) return bad = true, std::string();
    std::string v(in.substr(0, static_cast<size_t>(n)));
    in.remove_prefix(static_cast<size_t>(n));
    return v;
  }
  // A count of items of at least `min_bytes` each (bounded by the bytes left).
  size_t Count(size_t min_bytes) {
    const int64_t n = Int();
    if (bad || n < 0 || static_cast<uint64_t>(n) > in.size() / min_bytes) return bad = true, 0;
    return static_cast<size_t>(n);
  }
};

void PutStages(std::string& out, const std::vector<model::Stage>& stages) {
  PutInt(out, static_cast<int64_t>(stages.size()));
  for (const auto& st : stages) {
    PutString(out, st.name);
    PutString(out, st.status);
    PutInt(out, st.start_ms);
    PutInt(out, st.end_ms);
    PutInt(out, static_cast<int64_t>(st.jobs.size()));
    for (const auto& j : st.jobs) {
      for (const auto* v : {&j.sign, &j.name, &j.status}) PutString(out, *v);
      PutInt(out, j.start_ms);
      PutInt(out, j.end_ms);
    }
  }
}

std::vector<model::Stage> GetStages(Reader& r) {
  std::vector<model::Stage> stages(r.Count(40));
  for (auto& st : stages) {
    st.name = r.String();
    st.status = r.String();
    st.start_ms = r.Int();
    st.end_ms = r.Int();
    st.jobs.resize(r.Count(40));
    for (auto& j : st.jobs) {
      for (auto* v : {&j.sign, &j.name, &j.status}) *v = r.String();
      j.start_ms = r.Int();
      j.end_ms = r.Int();
    }
  }
  return stages;
}

}  // namespace

std::string Encode(const PipelineRuns& p) {
  std::string out(kMagic);
  PutString(out, p.id);
  PutString(out, p.name);
  PutInt(out, p.cutoff_ms);
  PutInt(out, static_cast<int64_t>(p.runs.size()));
  for (const auto& r : p.runs) {
    PutInt(out, r.id);
    PutString(out, r.status);
    PutInt(out, r.trigger_mode ? 1 : 0);
    PutInt(out, r.trigger_mode.value_or(0));
    PutInt(out, r.start_ms);
    PutInt(out, r.end_ms);
  }
  PutInt(out, static_cast<int64_t>(p.details.size()));
  for (const auto& [id, d] : p.details) {
    PutInt(out, id);
    PutString(out, d.status);
    PutStages(out, d.stages);
  }
  return out;
}

Result<PipelineRuns> Decode(std::string_view bytes) {
  if (bytes.substr(0, kMagic.size()) != kMagic) return Error("not backfill runs");
  Reader r{bytes.substr(kMagic.size())};
  PipelineRuns p;
  p.id = r.String();
  p.name = r.String();
  p.cutoff_ms = r.Int();
  p.runs.resize(r.Count(48));
  for (auto& run : p.runs) {
    run.id = r.Int();
    run.status = r.String();
    const bool has_trigger = r.Int() != 0;
    const int64_t trigger = r.Int();
    if (has_trigger) run.trigger_mode = trigger;
    run.start_ms = r.Int();
    run.end_ms = r.Int();
  }
  for (size_t n = r.Count(24); n > 0 && !r.bad; --n) {
    model::PipelineRun& d = p.details[r.Int()];
    d.status = r.String();
    d.stages = GetStages(r);
  }
  if (r.bad || !r.in.empty()) return Error("truncated or damaged backfill runs");
  return p;
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
            const std::function<void(size_t family, std::string& text)>& flush, Window window) {
  const collector::RunLedger shape = Totals(p, o);
  const std::vector<int64_t> times = SampleTimes(p, o);
  const std::vector<Series> series = SeriesOf(shape, SeriesPrefix(p, o), o);
  const Timeline tl = Replay(p, o, shape, times, window, series.size());
  std::array<std::string, kFamilies> text;
  for (size_t s = 0; s < series.size(); ++s) {
    std::string& out = text[series[s].family];
    // From the time before the series first exists: a 0 there.
    const size_t from = tl.first[s] == 0 ? 0 : tl.first[s] - 1;
    for (size_t w = 0; w < tl.times.size(); ++w) {
      if (tl.times[w] < from) continue;
      const double v = tl.values[tl.rows[w]][s];
      out += series[s].text;
      metrics::AppendValue(out, std::isnan(v) ? 0 : v);
      out += ' ';
      AppendTimestamp(out, times[tl.times[w]]);
      out += '\n';
      if (out.size() >= kFlushBytes) flush(series[s].family, out);
    }
  }
  for (size_t f = 0; f < kFamilies; ++f) {
    if (!text[f].empty()) flush(f, text[f]);
  }
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
  family_bytes_.assign(kFamilies, 0);
  return true;
}

Result<size_t> OpenMetricsWriter::Add(const PipelineRuns& p, Window window) {
  size_t lines = 0;
  bool failed = false;
  Render(
      p, options_,
      [&](size_t family, std::string& text) {
        lines += static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
        bytes_ += static_cast<int64_t>(text.size());
        family_bytes_[family] += static_cast<int64_t>(text.size());
        failed = failed || std::fwrite(text.data(), 1, text.size(), files_[family]) != text.size();
        text.clear();
      },
      window);
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
    if (family_bytes_[f] == 0) continue;  // no samples: no family
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
