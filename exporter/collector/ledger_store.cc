#include "collector/ledger_store.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <tuple>
#include <vector>

#include "collector/delivery_ledger.h"
#include "util/log.h"

namespace yfe::collector {

namespace {

constexpr std::string_view kMagic = "yunxiao-flow-exporter-run-ledger";
// Far above any real ledger (about 1.8 MB per 1,000 pipelines): a bound on what is read.
constexpr size_t kMaxFileBytes = size_t{1} << 30;

// ---- Writing ----

// Strings are written as '=' followed by the bytes, with anything but [A-Za-z0-9._:/-]
// percent-encoded: never empty, never a space or a newline.
void PutString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += ' ';
  out += '=';
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '_' || c == ':' || c == '/' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

void PutInt(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out += ' ';
  out.append(buf, r.ptr);
}

void PutDouble(std::string& out, double v) {
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  out += ' ';
  out.append(buf, r.ptr);
}

void Put(std::string& out, std::string_view s) { PutString(out, s); }
void Put(std::string& out, int64_t v) { PutInt(out, v); }
void Put(std::string& out, size_t v) { PutInt(out, static_cast<int64_t>(v)); }
void Put(std::string& out, bool v) { PutInt(out, v ? 1 : 0); }
void Put(std::string& out, double v) { PutDouble(out, v); }

// One record line: its tag, then each field written by its type.
template <typename... T>
void PutLine(std::string& out, std::string_view tag, const T&... v) {
  out += tag;
  (Put(out, v), ...);
  out += '\n';
}

uint32_t Crc(std::string_view text) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed it in pieces.
  while (!text.empty()) {
    const size_t n = std::min<size_t>(text.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(n));
    text.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

// ---- Reading ----

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  // The next line split on single spaces; false at the end of the text.
  bool Line(std::vector<std::string_view>& fields) {
    fields.clear();
    if (text_.empty()) return false;
    size_t eol = text_.find('\n');
    if (eol == std::string_view::npos) return false;  // every line ends with '\n'
    std::string_view line = text_.substr(0, eol);
    text_.remove_prefix(eol + 1);
    ++line_;
    size_t start = 0;
    while (true) {
      size_t sp = line.find(' ', start);
      fields.push_back(line.substr(start, sp == std::string_view::npos ? sp : sp - start));
      if (sp == std::string_view::npos) break;
      start = sp + 1;
    }
    return true;
  }
  int line() const { return line_; }

 private:
  std::string_view text_;
  int line_ = 0;
};

bool GetInt(std::string_view s, int64_t& v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool GetCount(std::string_view s, size_t& v) {
  int64_t n = 0;
  if (!GetInt(s, n) || n < 0 || n > 100'000'000) return false;
  v = static_cast<size_t>(n);
  return true;
}

// Counters, sums and bucket counts: finite and not negative.
bool GetValue(std::string_view s, double& v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(v) && v >= 0;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool GetString(std::string_view s, std::string& v) {
  if (s.empty() || s[0] != '=') return false;
  v.clear();
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] != '%') {
      v += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return false;
    const int hi = Hex(s[i + 1]), lo = Hex(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    v += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool GetFlag(std::string_view s, bool& v) {
  if (s != "0" && s != "1") return false;
  v = s == "1";
  return true;
}

// Fields [from, end) as values, appended to out.
bool GetValues(const std::vector<std::string_view>& f, size_t from, std::vector<double>& out) {
  for (size_t i = from; i < f.size(); ++i) {
    double v = 0;
    if (!GetValue(f[i], v)) return false;
    out.push_back(v);
  }
  return true;
}

// f[at] is a count n followed by n values, the end of the line.
bool GetCountedValues(const std::vector<std::string_view>& f, size_t at, std::vector<double>& out) {
  size_t n = 0;
  if (f.size() <= at || !GetCount(f[at], n) || f.size() != at + 1 + n) return false;
  out.clear();
  for (size_t i = 0; i < n; ++i) {
    double v = 0;
    if (!GetValue(f[at + 1 + i], v)) return false;
    out.push_back(v);
  }
  return true;
}

bool Get(std::string_view s, int64_t& v) { return GetInt(s, v); }
bool Get(std::string_view s, size_t& v) { return GetCount(s, v); }
bool Get(std::string_view s, double& v) { return GetValue(s, v); }
bool Get(std::string_view s, std::string& v) { return GetString(s, v); }
bool Get(std::string_view s, bool& v) { return GetFlag(s, v); }

// Reads a record line written by PutLine: exactly this tag and one field per value.
template <typename... T>
bool GetLine(const std::vector<std::string_view>& f, std::string_view tag, T&... v) {
  if (f.size() != 1 + sizeof...(T) || f[0] != tag) return false;
  size_t i = 1;
  return (Get(f[i++], v) && ...);
}

// A histogram: sum count k c1..ck from f[at] to the end of the line.
bool GetHistogram(const std::vector<std::string_view>& f, size_t at, RunLedger::Histogram& h) {
  return f.size() > at + 2 && GetValue(f[at], h.sum) && GetValue(f[at + 1], h.count) &&
         GetCountedValues(f, at + 2, h.counts);
}

// The records of a "jobs" block (version 2); an error text, empty when all is well.
std::string ParseJobs(Reader& r, size_t records, RunLedger& l) {
  std::vector<std::string_view> f;
  for (size_t i = 0; i < records; ++i) {
    if (!r.Line(f)) return "truncated job history";
    const std::string_view tag = f[0];
    RunLedger::JobId id;
    auto job = [&] {
      return f.size() >= 4 && GetString(f[1], std::get<0>(id)) &&
             GetString(f[2], std::get<1>(id)) && GetString(f[3], std::get<2>(id));
    };
    std::string s;
    double v = 0;
    bool ok = false;
    if (tag == "p") {
      int64_t run_id = 0;
      RunLedger::PendingDetail p;
      ok = f.size() == 5 && GetInt(f[1], run_id) && GetInt(f[2], p.after_ms) &&
           GetInt(f[3], p.end_ms) && GetInt(f[4], p.attempts) &&
           l.pending_details.emplace(run_id, p).second;
    } else if (tag == "j") {
      ok = f.size() == 6 && job() && GetString(f[4], s) && GetValue(f[5], v) &&
           l.job_runs.emplace(std::pair{id, s}, v).second;
    } else if (tag == "J") {
      RunLedger::Histogram h;
      ok = job() && GetHistogram(f, 4, h) && l.job_durations.emplace(id, std::move(h)).second;
    } else if (tag == "S") {
      RunLedger::Histogram h;
      ok = f.size() > 2 && GetString(f[1], s) && GetHistogram(f, 2, h) &&
           l.stage_durations.emplace(s, std::move(h)).second;
    } else if (tag == "x") {
      ok = f.size() == 3 && GetString(f[1], s) && GetValue(f[2], v) &&
           l.jobs_skipped.emplace(s, v).second;
    }
    if (!ok) return "bad job history record";
  }
  return "";
}

// A delivery histogram: env sum count k c1..ck.
bool GetDeliveryHistogram(const std::vector<std::string_view>& f,
                          std::map<std::string, DeliveryLedger::Histogram>& into) {
  std::string env;
  DeliveryLedger::Histogram h;
  return f.size() > 4 && GetString(f[1], env) && GetValue(f[2], h.sum) && GetValue(f[3], h.count) &&
         GetCountedValues(f, 4, h.counts) && into.emplace(env, std::move(h)).second;
}

// One record of a "delivery" block (version 3).
bool GetDeliveryRecord(const std::vector<std::string_view>& f, DeliveryLedger& d) {
  const std::string_view tag = f[0];
  if (tag == "dc") {
    DeliveryLedger::Key key;
    double v = 0;
    return GetLine(f, "dc", key.first, key.second, v) && d.deployments.emplace(key, v).second;
  }
  if (tag == "dl") return GetDeliveryHistogram(f, d.lead_times);
  if (tag == "dr") return GetDeliveryHistogram(f, d.restores);
  if (tag == "dd") {
    int64_t run_id = 0;
    DeliveryLedger::Deploy dep;
    return GetLine(f, "dd", run_id, dep.status, dep.lead_done) &&
           d.deploys.emplace(run_id, dep).second;
  }
  if (tag == "dp") {
    DeliveryLedger::Finish p;
    if (!GetLine(f, "dp", p.run_id, p.start_ms, p.end_ms, p.status)) return false;
    d.pending.push_back(std::move(p));
    return true;
  }
  if (tag == "dw") {
    int64_t run_id = 0;
    DeliveryLedger::Awaiting a;
    return GetLine(f, "dw", run_id, a.start_ms, a.attempts) && d.awaiting.emplace(run_id, a).second;
  }
  return false;
}

// The records of a "delivery" block (version 3); an error text, empty when all is well.
std::string ParseDelivery(Reader& r, const std::vector<std::string_view>& head, DeliveryLedger& d) {
  size_t records = 0;
  if (!GetLine(head, "delivery", d.failing_since_ms, d.last_end_ms, records)) {
    return "bad delivery line";
  }
  std::vector<std::string_view> f;
  for (size_t i = 0; i < records; ++i) {
    if (!r.Line(f)) return "truncated delivery records";
    if (!GetDeliveryRecord(f, d)) return "bad delivery record";
  }
  return "";
}

std::string UtcStamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string Errno(int e) { return std::strerror(e); }

}  // namespace

namespace {

// The file's text, one pipeline at a time (so that it can be written from the history's
// shared ledgers, without a copy).
class LedgerWriter {
 public:
  LedgerWriter(const std::vector<double>& buckets, const std::vector<double>& job_buckets,
               size_t pipelines_hint = 0) {
    out_.reserve(64 + pipelines_hint * 2048);
    PutLine(out_, kMagic);
    PutLine(out_, "version", int64_t{LedgerStore::kVersion});
    out_ += "buckets";
    PutInt(out_, static_cast<int64_t>(buckets.size()));
    for (double b : buckets) PutDouble(out_, b);
    out_ += "\njob_buckets";  // version 2
    PutInt(out_, static_cast<int64_t>(job_buckets.size()));
    for (double b : job_buckets) PutDouble(out_, b);
    out_ += '\n';
  }

  void Add(const std::string& id, const RunLedger& l) {
    ++pipelines_;
    PutLine(out_, "pipeline", id, l.baselined, l.watermark, l.tracked.size(), l.seen.size(),
            l.runs.size(), l.resumed.size(), l.durations.size());
    for (const auto& [run_id, t] : l.tracked) PutLine(out_, "t", run_id, t.since_ms, t.status);
    for (const auto& [run_id, s] : l.seen) {
      PutLine(out_, "s", run_id, s.end_ms, s.status, s.trigger, s.finished, s.counted, s.by_id);
    }
    for (const auto& [key, n] : l.runs) PutLine(out_, "r", key.first, key.second, n);
    for (const auto& [key, n] : l.resumed) PutLine(out_, "m", key.first, key.second, n);
    for (const auto& [status, h] : l.durations) {
      out_ += 'h';
      PutString(out_, status);
      PutHistogram(h);
    }
    AddJobs(l);
    AddDelivery(l.delivery);
  }

  // Delivery (version 3): "delivery <failing_since> <last_end> <records>" then dc
  // (deployments), dl (lead time), dr (restore), dd (deployment runs), dp (finishes not yet
  // applied to the streak), dw (runs awaiting their detail), after the pipeline's others.
  void AddDelivery(const DeliveryLedger& d) {
    if (d.empty()) return;
    const size_t n = d.deployments.size() + d.lead_times.size() + d.restores.size() +
                     d.deploys.size() + d.pending.size() + d.awaiting.size();
    PutLine(out_, "delivery", d.failing_since_ms, d.last_end_ms, n);
    for (const auto& [key, v] : d.deployments) PutLine(out_, "dc", key.first, key.second, v);
    for (const auto* hs : {&d.lead_times, &d.restores}) {
      for (const auto& [env, h] : *hs) {
        out_ += hs == &d.lead_times ? "dl" : "dr";
        PutString(out_, env);
        PutHistogram(h);
      }
    }
    for (const auto& [run_id, dep] : d.deploys)
      PutLine(out_, "dd", run_id, dep.status, dep.lead_done);
    for (const auto& p : d.pending) PutLine(out_, "dp", p.run_id, p.start_ms, p.end_ms, p.status);
    for (const auto& [run_id, a] : d.awaiting) PutLine(out_, "dw", run_id, a.start_ms, a.attempts);
  }

  // Job history (version 2): "jobs <records>" then its records, after the pipeline's others.
  void AddJobs(const RunLedger& l) {
    std::string& out = out_;
    const size_t n = l.pending_details.size() + l.job_runs.size() + l.job_durations.size() +
                     l.stage_durations.size() + l.jobs_skipped.size();
    if (n == 0) return;
    out += "jobs";
    PutInt(out, static_cast<int64_t>(n));
    out += '\n';
    for (const auto& [run_id, p] : l.pending_details) {
      out += 'p';
      for (int64_t v : {run_id, p.after_ms, p.end_ms, p.attempts}) PutInt(out, v);
      out += '\n';
    }
    auto put_job = [&](char tag, const RunLedger::JobId& id) {
      out += tag;
      PutString(out, std::get<0>(id));
      PutString(out, std::get<1>(id));
      PutString(out, std::get<2>(id));
    };
    for (const auto& [key, v] : l.job_runs) {
      put_job('j', key.first);
      PutString(out, key.second);
      PutDouble(out, v);
      out += '\n';
    }
    for (const auto& [id, h] : l.job_durations) {
      put_job('J', id);
      PutHistogram(h);
    }
    for (const auto& [stage, h] : l.stage_durations) {
      out += 'S';
      PutString(out, stage);
      PutHistogram(h);
    }
    for (const auto& [reason, v] : l.jobs_skipped) {
      out += 'x';
      PutString(out, reason);
      PutDouble(out, v);
      out += '\n';
    }
  }

  // A histogram's sum, count and per-bucket counts: the run, job and stage durations'
  // RunLedger::Histogram and delivery's DeliveryLedger::Histogram alike.
  template <typename Histogram>
  void PutHistogram(const Histogram& h) {
    PutDouble(out_, h.sum);
    PutDouble(out_, h.count);
    PutInt(out_, static_cast<int64_t>(h.counts.size()));
    for (double c : h.counts) PutDouble(out_, c);
    out_ += '\n';
  }

  std::string Finish() && {
    PutLine(out_, "end", pipelines_);
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x", Crc(out_));
    out_ += "crc32 ";
    out_ += crc;
    out_ += '\n';
    return std::move(out_);
  }

 private:
  std::string out_;
  size_t pipelines_ = 0;
};

}  // namespace

std::string SerializeLedger(const LedgerSnapshot& snapshot) {
  LedgerWriter w(snapshot.buckets, snapshot.job_buckets, snapshot.pipelines.size());
  for (const auto& [id, l] : snapshot.pipelines) w.Add(id, l);
  return std::move(w).Finish();
}

namespace {

std::string VersionError(std::string_view version) {
  return "format version " + std::string(version) + ", this exporter reads versions 1 to " +
         std::to_string(LedgerStore::kVersion);
}

// The checksum line covers everything before it. Returns where it starts, or the error.
Result<size_t> CheckChecksum(std::string_view text) {
  if (text.empty()) return Error("the file is empty");
  const size_t crc_at = text.rfind("crc32 ");
  if (crc_at == std::string_view::npos || (crc_at > 0 && text[crc_at - 1] != '\n')) {
    return Error("truncated: no checksum line");
  }
  std::string_view crc_line = text.substr(crc_at + 6);
  if (crc_line.size() != 9 || crc_line.back() != '\n') return Error("truncated checksum line");
  char want[16];
  std::snprintf(want, sizeof want, "%08x", Crc(text.substr(0, crc_at)));
  if (crc_line.substr(0, 8) == want) return crc_at;
  // A file of another version may be laid out differently: say so rather than "corrupt".
  Reader r(text);
  std::vector<std::string_view> f;
  int64_t v = 0;
  if (r.Line(f) && f.size() == 1 && f[0] == kMagic && r.Line(f) && f.size() == 2 &&
      f[0] == "version" && GetInt(f[1], v) && (v < 1 || v > LedgerStore::kVersion)) {
    return Error(VersionError(f[1]));
  }
  return Error("checksum mismatch (the file was changed or partly written)");
}

// Reads the records of one ledger ('t', 's', 'r', 'm', 'h' lines, in that order) after
// its pipeline line. Returns the error text of the first bad line, empty when all are good.
class LedgerParser {
 public:
  explicit LedgerParser(Reader& r) : r_(r) {}

  // The magic and version lines; the version read, to be checked by the caller.
  std::string Header(int64_t& version) {
    if (!r_.Line(f_) || f_.size() != 1 || f_[0] != kMagic) return "not a run ledger file";
    if (!r_.Line(f_) || !GetLine(f_, "version", version)) return "no format version";
    return "";
  }

  std::string Buckets(LedgerSnapshot& snap) {
    size_t n = 0;
    if (!r_.Line(f_) || f_.size() < 2 || f_[0] != "buckets" || !GetCount(f_[1], n) ||
        f_.size() != 2 + n) {
      return "bad buckets line";
    }
    return GetValues(f_, 2, snap.buckets) ? "" : "bad bucket";
  }

  // Version 2 and later: the job history's buckets. Version 1 files have no job history:
  // read as such (job history starts from zero).
  std::string JobBuckets(LedgerSnapshot& snap, int64_t version) {
    if (version < 2) return "";
    if (!r_.Line(f_) || f_[0] != "job_buckets" || !GetCountedValues(f_, 1, snap.job_buckets)) {
      return "bad job_buckets line";
    }
    return "";
  }

  // The next pipeline's ledger into snap (or the job history of the one before it, from
  // version 2, or its delivery records, from version 3), or the end line (then *end is set).
  std::string Next(LedgerSnapshot& snap, int64_t version, bool* end) {
    if (!r_.Line(f_)) return "truncated: no end line";
    if (f_[0] == "jobs" && version >= 2) {
      size_t records = 0;
      if (last_ == nullptr || last_ == with_jobs_ || f_.size() != 2 || !GetCount(f_[1], records)) {
        return "bad jobs line";
      }
      with_jobs_ = last_;
      return ParseJobs(r_, records, *last_);
    }
    if (f_[0] == "delivery" && version >= 3) {
      if (last_ == nullptr || last_ == with_delivery_) return "bad delivery line";
      with_delivery_ = last_;
      return ParseDelivery(r_, f_, last_->delivery);
    }
    if (f_[0] == "end") {
      size_t pipelines = 0;
      if (!GetLine(f_, "end", pipelines) || pipelines != snap.pipelines.size()) {
        return "bad end line";
      }
      if (r_.Line(f_)) return "text after the end line";
      *end = true;
      return "";
    }
    std::string id;
    RunLedger l;
    size_t nt = 0, ns = 0, nr = 0, nm = 0, nh = 0;
    if (!GetLine(f_, "pipeline", id, l.baselined, l.watermark, nt, ns, nr, nm, nh) || id.empty()) {
      return "bad pipeline line";
    }
    if (snap.pipelines.contains(id)) return "pipeline " + id + " twice";
    std::string err = Records(l, nt, ns, nr, nm, nh);
    if (err.empty()) last_ = &snap.pipelines.emplace(std::move(id), std::move(l)).first->second;
    return err;
  }

 private:
  std::string Records(RunLedger& l, size_t nt, size_t ns, size_t nr, size_t nm, size_t nh) {
    for (size_t i = 0; i < nt; ++i) {
      int64_t run_id = 0;
      RunLedger::Tracked t;
      if (!r_.Line(f_) || !GetLine(f_, "t", run_id, t.since_ms, t.status) ||
          !l.tracked.emplace(run_id, t).second) {
        return "bad tracked run";
      }
    }
    for (size_t i = 0; i < ns; ++i) {
      int64_t run_id = 0;
      RunLedger::Seen s;
      if (!r_.Line(f_) ||
          !GetLine(f_, "s", run_id, s.end_ms, s.status, s.trigger, s.finished, s.counted,
                   s.by_id) ||
          !l.seen.emplace(run_id, s).second) {
        return "bad remembered run";
      }
    }
    for (auto [counters, count, tag] : {std::tuple{&l.runs, nr, "r"}, {&l.resumed, nm, "m"}}) {
      for (size_t i = 0; i < count; ++i) {
        RunLedger::Key key;
        double v = 0;
        if (!r_.Line(f_) || !GetLine(f_, tag, key.first, key.second, v) ||
            !counters->emplace(key, v).second) {
          return "bad counter";
        }
      }
    }
    for (size_t i = 0; i < nh; ++i) {
      std::string err = Histogram(l);
      if (!err.empty()) return err;
    }
    return "";
  }

  std::string Histogram(RunLedger& l) {
    std::string status;
    RunLedger::Histogram h;
    size_t k = 0;
    if (!r_.Line(f_) || f_.size() < 5 || f_[0] != "h" || !GetString(f_[1], status) ||
        !GetValue(f_[2], h.sum) || !GetValue(f_[3], h.count) || !GetCount(f_[4], k) ||
        f_.size() != 5 + k) {
      return "bad histogram";
    }
    if (!GetValues(f_, 5, h.counts)) return "bad histogram bucket";
    if (!l.durations.emplace(status, std::move(h)).second) return "histogram twice";
    return "";
  }

  Reader& r_;
  std::vector<std::string_view> f_;
  RunLedger* last_ = nullptr;                 // the pipeline the records read belong to
  const RunLedger* with_jobs_ = nullptr;      // the last one whose jobs block was read
  const RunLedger* with_delivery_ = nullptr;  // the last one whose delivery block was read
};

}  // namespace

Result<LedgerSnapshot> ParseLedger(std::string_view text) {
  auto crc_at = CheckChecksum(text);
  if (!crc_at.ok()) return Error(crc_at.error());
  Reader r(text.substr(0, *crc_at));
  LedgerParser parser(r);
  auto bad = [&](const std::string& what) {
    return Error("line " + std::to_string(r.line()) + ": " + what);
  };
  int64_t version = 0;
  if (std::string err = parser.Header(version); !err.empty()) return bad(err);
  if (version < 1 || version > LedgerStore::kVersion) {
    return Error(VersionError(std::to_string(version)));
  }
  LedgerSnapshot snap;
  if (std::string err = parser.Buckets(snap); !err.empty()) return bad(err);
  if (std::string err = parser.JobBuckets(snap, version); !err.empty()) return bad(err);
  for (bool end = false; !end;) {
    if (std::string err = parser.Next(snap, version, &end); !err.empty()) return bad(err);
  }
  return snap;
}

LedgerStore::LedgerStore(std::string dir)
    : dir_(std::move(dir)), path_((std::filesystem::path(dir_) / kFileName).string()) {}

Result<std::shared_ptr<LedgerStore>> LedgerStore::Open(const std::string& dir) {
  if (dir.empty()) return Error("collect.state_dir is empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error("collect.state_dir " + dir + " cannot be created: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    return Error("collect.state_dir " + dir + " is not a directory");
  }
  // Write a probe file: a read-only mount or missing permission shows now, not at the first
  // commit.
  const std::string probe =
      (std::filesystem::path(dir) / (".probe-" + std::to_string(getpid()))).string();
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error("collect.state_dir " + dir + " is not writable: " + Errno(errno));
  const bool wrote = ::write(fd, "x", 1) == 1;
  const int write_errno = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote) return Error("collect.state_dir " + dir + " is not writable: " + Errno(write_errno));
  return std::shared_ptr<LedgerStore>(new LedgerStore(dir));
}

LedgerSnapshot LedgerStore::Load() {
  std::lock_guard lock(mu_);
  std::string text;
  {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        logging::Info("run ledger: no state file yet; pipelines start with a baseline",
                      {{"path", path_}});
        return {};
      }
      logging::Warn("run ledger: cannot read the state file; starting with a fresh baseline",
                    {{"path", path_}, {"err", Errno(errno)}});
      return {};
    }
    char buf[1 << 16];
    while (text.size() <= kMaxFileBytes) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  }
  auto parsed = text.size() > kMaxFileBytes ? Result<LedgerSnapshot>(Error("larger than 1 GiB"))
                                            : ParseLedger(text);
  if (parsed.ok()) {
    logging::Info("run ledger: state restored",
                  {{"path", path_}, {"pipelines", std::to_string(parsed->pipelines.size())}});
    return std::move(*parsed);
  }
  const std::string aside = path_ + ".corrupt-" + UtcStamp();
  const bool moved = ::rename(path_.c_str(), aside.c_str()) == 0;
  logging::Warn(
      "run ledger: the state file cannot be used; it is moved aside and every pipeline "
      "starts with a fresh baseline (runs that finished while the exporter was down are not "
      "counted)",
      {{"path", path_},
       {"err", parsed.error()},
       {"moved_to", moved ? aside : "(cannot move it: " + Errno(errno) + ")"}});
  return {};
}

bool LedgerStore::WriteLocked(const std::string& text) {
  const std::string tmp = path_ + ".tmp";
  std::string err;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    err = "open " + tmp + ": " + Errno(errno);
  } else {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = "write " + tmp + ": " + Errno(errno);
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (err.empty() && ::fsync(fd) != 0) err = "fsync " + tmp + ": " + Errno(errno);
    if (::close(fd) != 0 && err.empty()) err = "close " + tmp + ": " + Errno(errno);
    if (err.empty() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
      err = "rename to " + path_ + ": " + Errno(errno);
    }
    if (err.empty()) {
      int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0 || ::fsync(dfd) != 0) err = "fsync " + dir_ + ": " + Errno(errno);
      if (dfd >= 0) ::close(dfd);
    }
    if (!err.empty()) ::unlink(tmp.c_str());
  }
  if (!err.empty()) {
    if (!last_failed_) {
      logging::Error(
          "run ledger: cannot write the state file; counters keep counting in memory but a "
          "restart now would go back to the last commit",
          {{"path", path_}, {"err", err}});
    }
    last_failed_ = true;
    return false;
  }
  if (last_failed_) logging::Info("run ledger: the state file is written again", {{"path", path_}});
  last_failed_ = false;
  return true;
}

bool LedgerStore::Save(const LedgerSnapshot& snapshot) {
  std::lock_guard lock(mu_);
  return WriteLocked(SerializeLedger(snapshot));
}

bool LedgerStore::Commit(const RunHistory& history) {
  std::lock_guard lock(mu_);  // commits one at a time: each takes the newest state
  RunHistory::SharedLedgers shared = history.Share();  // under the history's lock, no copy
  // Given back (under the history's lock) as soon as the text is made, also on a throw.
  struct GiveBack {
    const RunHistory& history;
    RunHistory::SharedLedgers& shared;
    ~GiveBack() { history.Unshare(shared); }
  };
  std::string text;
  {
    GiveBack give_back{history, shared};
    if (commit_hook_) commit_hook_();
    LedgerWriter w(shared.buckets, shared.job_buckets, shared.pipelines.size());
    for (const auto& [id, l] : shared.pipelines) w.Add(id, *l);
    text = std::move(w).Finish();
  }
  return WriteLocked(text);
}

void LedgerStore::SetCommitHookForTest(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  commit_hook_ = std::move(hook);
}

}  // namespace yfe::collector
