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
#include <optional>
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

std::string UtcStamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string Errno(int e) { return std::strerror(e); }

bool GetHistogram(const std::vector<std::string_view>& f, size_t at, double& sum, double& count,
                  std::vector<double>& counts) {
  size_t k = 0;
  if (f.size() < at + 3 || !GetValue(f[at], sum) || !GetValue(f[at + 1], count) ||
      !GetCount(f[at + 2], k) || f.size() != at + 3 + k) {
    return false;
  }
  for (size_t j = 0; j < k; ++j) {
    double c = 0;
    if (!GetValue(f[at + 3 + j], c)) return false;
    counts.push_back(c);
  }
  return true;
}

// A pipeline's delivery records, from its "delivery" line (in f) on; "" or what is wrong.
std::string ParseDelivery(Reader& r, std::vector<std::string_view>& f, DeliveryLedger& d) {
  size_t n[5] = {};
  if (f.size() != 8 || !GetInt(f[1], d.failing_since_ms) || !GetInt(f[2], d.last_end_ms)) {
    return "bad delivery line";
  }
  for (size_t i = 0; i < 5; ++i) {
    if (!GetCount(f[3 + i], n[i])) return "bad delivery line";
  }
  for (size_t i = 0; i < n[0]; ++i) {
    DeliveryLedger::Key key;
    double v = 0;
    if (!r.Line(f) || f.size() != 4 || f[0] != "dc" || !GetString(f[1], key.first) ||
        !GetString(f[2], key.second) || !GetValue(f[3], v) ||
        !d.deployments.emplace(key, v).second) {
      return "bad deployment counter";
    }
  }
  for (auto [hs, count, tag] : {std::tuple{&d.lead_times, n[1], "dl"}, {&d.restores, n[2], "dr"}}) {
    for (size_t i = 0; i < count; ++i) {
      std::string env;
      DeliveryLedger::Histogram h;
      if (!r.Line(f) || f[0] != tag || f.size() < 2 || !GetString(f[1], env) ||
          !GetHistogram(f, 2, h.sum, h.count, h.counts) || !hs->emplace(env, h).second) {
        return "bad delivery histogram";
      }
    }
  }
  for (size_t i = 0; i < n[3]; ++i) {
    int64_t run_id = 0;
    DeliveryLedger::Deploy dep;
    if (!r.Line(f) || f.size() != 4 || f[0] != "dd" || !GetInt(f[1], run_id) ||
        !GetString(f[2], dep.status) || !GetFlag(f[3], dep.lead_done) ||
        !d.deploys.emplace(run_id, dep).second) {
      return "bad deployment run";
    }
  }
  for (size_t i = 0; i < n[4]; ++i) {
    DeliveryLedger::Finish p;
    if (!r.Line(f) || f.size() != 5 || f[0] != "dp" || !GetInt(f[1], p.run_id) ||
        !GetInt(f[2], p.start_ms) || !GetInt(f[3], p.end_ms) || !GetString(f[4], p.status)) {
      return "bad pending finish";
    }
    d.pending.push_back(std::move(p));
  }
  return "";
}

}  // namespace

namespace {

// The file's text, one pipeline at a time (so that it can be written from the history's
// own state under its lock, without a copy).
class LedgerWriter {
 public:
  explicit LedgerWriter(const std::vector<double>& buckets, size_t pipelines_hint = 0) {
    out_.reserve(64 + pipelines_hint * 2048);
    out_ += kMagic;
    out_ += "\nversion";
    PutInt(out_, LedgerStore::kVersion);
    out_ += "\nbuckets";
    PutInt(out_, static_cast<int64_t>(buckets.size()));
    for (double b : buckets) PutDouble(out_, b);
    out_ += '\n';
  }

  void Add(const std::string& id, const RunLedger& l) {
    std::string& out = out_;
    ++pipelines_;
    out += "pipeline";
    PutString(out, id);
    PutInt(out, l.baselined ? 1 : 0);
    PutInt(out, l.watermark);
    PutInt(out, static_cast<int64_t>(l.tracked.size()));
    PutInt(out, static_cast<int64_t>(l.seen.size()));
    PutInt(out, static_cast<int64_t>(l.runs.size()));
    PutInt(out, static_cast<int64_t>(l.resumed.size()));
    PutInt(out, static_cast<int64_t>(l.durations.size()));
    out += '\n';
    for (const auto& [run_id, t] : l.tracked) {
      out += 't';
      PutInt(out, run_id);
      PutInt(out, t.since_ms);
      PutString(out, t.status);
      out += '\n';
    }
    for (const auto& [run_id, s] : l.seen) {
      out += 's';
      PutInt(out, run_id);
      PutInt(out, s.end_ms);
      PutString(out, s.status);
      PutString(out, s.trigger);
      PutInt(out, s.finished ? 1 : 0);
      PutInt(out, s.counted ? 1 : 0);
      PutInt(out, s.by_id ? 1 : 0);
      out += '\n';
    }
    for (const auto* counters : {&l.runs, &l.resumed}) {
      for (const auto& [key, n] : *counters) {
        out += counters == &l.runs ? 'r' : 'm';
        PutString(out, key.first);
        PutString(out, key.second);
        PutDouble(out, n);
        out += '\n';
      }
    }
    for (const auto& [status, h] : l.durations) {
      out += 'h';
      PutString(out, status);
      PutDouble(out, h.sum);
      PutDouble(out, h.count);
      PutInt(out, static_cast<int64_t>(h.counts.size()));
      for (double c : h.counts) PutDouble(out, c);
      out += '\n';
    }
    if (!l.delivery.empty()) AddDelivery(l.delivery);
  }

  // The pipeline's delivery records, after its own: a "delivery" line with the counts, then
  // dc (deployments), dl (lead time), dr (restore), dd (deployment runs), dp (pending).
  void AddDelivery(const DeliveryLedger& d) {
    std::string& out = out_;
    out += "delivery";
    PutInt(out, d.failing_since_ms);
    PutInt(out, d.last_end_ms);
    for (size_t n : {d.deployments.size(), d.lead_times.size(), d.restores.size(), d.deploys.size(),
                     d.pending.size()}) {
      PutInt(out, static_cast<int64_t>(n));
    }
    out += '\n';
    for (const auto& [key, n] : d.deployments) {
      out += "dc";
      PutString(out, key.first);
      PutString(out, key.second);
      PutDouble(out, n);
      out += '\n';
    }
    for (const auto* hs : {&d.lead_times, &d.restores}) {
      for (const auto& [env, h] : *hs) {
        out += hs == &d.lead_times ? "dl" : "dr";
        PutString(out, env);
        PutDouble(out, h.sum);
        PutDouble(out, h.count);
        PutInt(out, static_cast<int64_t>(h.counts.size()));
        for (double c : h.counts) PutDouble(out, c);
        out += '\n';
      }
    }
    for (const auto& [run_id, dep] : d.deploys) {
      out += "dd";
      PutInt(out, run_id);
      PutString(out, dep.status);
      PutInt(out, dep.lead_done ? 1 : 0);
      out += '\n';
    }
    for (const auto& f : d.pending) {
      out += "dp";
      PutInt(out, f.run_id);
      PutInt(out, f.start_ms);
      PutInt(out, f.end_ms);
      PutString(out, f.status);
      out += '\n';
    }
  }

  std::string Finish() && {
    out_ += "end";
    PutInt(out_, static_cast<int64_t>(pipelines_));
    out_ += '\n';
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
  LedgerWriter w(snapshot.buckets, snapshot.pipelines.size());
  for (const auto& [id, l] : snapshot.pipelines) w.Add(id, l);
  return std::move(w).Finish();
}

Result<LedgerSnapshot> ParseLedger(std::string_view text) {
  // The checksum first: it covers everything before its own line.
  if (text.empty()) return Error("the file is empty");
  const size_t crc_at = text.rfind("crc32 ");
  if (crc_at == std::string_view::npos || (crc_at > 0 && text[crc_at - 1] != '\n')) {
    return Error("truncated: no checksum line");
  }
  {
    std::string_view crc_line = text.substr(crc_at + 6);
    if (crc_line.size() != 9 || crc_line.back() != '\n') return Error("truncated checksum line");
    char want[16];
    std::snprintf(want, sizeof want, "%08x", Crc(text.substr(0, crc_at)));
    if (crc_line.substr(0, 8) != want) {
      // A file of another version may be laid out differently: say so rather than "corrupt".
      Reader r(text);
      std::vector<std::string_view> f;
      int64_t v = 0;
      if (r.Line(f) && f.size() == 1 && f[0] == kMagic && r.Line(f) && f.size() == 2 &&
          f[0] == "version" && GetInt(f[1], v) &&
          (v < LedgerStore::kOldestVersion || v > LedgerStore::kVersion)) {
        return Error("format version " + std::string(f[1]) +
                     ", this exporter reads versions 1 to " +
                     std::to_string(LedgerStore::kVersion));
      }
      return Error("checksum mismatch (the file was changed or partly written)");
    }
  }
  Reader r(text.substr(0, crc_at));
  std::vector<std::string_view> f;
  auto bad = [&](const std::string& what) {
    return Error("line " + std::to_string(r.line()) + ": " + what);
  };
  if (!r.Line(f) || f.size() != 1 || f[0] != kMagic) return bad("not a run ledger file");
  int64_t version = 0;
  if (!r.Line(f) || f.size() != 2 || f[0] != "version" || !GetInt(f[1], version)) {
    return bad("no format version");
  }
  if (version < LedgerStore::kOldestVersion || version > LedgerStore::kVersion) {
    return Error("format version " + std::to_string(version) +
                 ", this exporter reads versions 1 to " + std::to_string(LedgerStore::kVersion));
  }
  RunLedger* last = nullptr;  // the pipeline the delivery records that follow belong to
  LedgerSnapshot snap;
  size_t n = 0;
  if (!r.Line(f) || f.size() < 2 || f[0] != "buckets" || !GetCount(f[1], n) || f.size() != 2 + n) {
    return bad("bad buckets line");
  }
  for (size_t i = 0; i < n; ++i) {
    double b = 0;
    if (!GetValue(f[2 + i], b)) return bad("bad bucket");
    snap.buckets.push_back(b);
  }
  while (true) {
    if (!r.Line(f)) return bad("truncated: no end line");
    if (f[0] == "end") {
      size_t pipelines = 0;
      if (f.size() != 2 || !GetCount(f[1], pipelines) || pipelines != snap.pipelines.size()) {
        return bad("bad end line");
      }
      if (r.Line(f)) return bad("text after the end line");
      return snap;
    }
    if (f[0] == "delivery") {
      if (!last || version < 2 || !last->delivery.empty()) return bad("misplaced delivery line");
      if (std::string e = ParseDelivery(r, f, last->delivery); !e.empty()) return bad(e);
      continue;
    }
    size_t nt = 0, ns = 0, nr = 0, nm = 0, nh = 0;
    std::string id;
    RunLedger l;
    if (f.size() != 9 || f[0] != "pipeline" || !GetString(f[1], id) || id.empty() ||
        !GetFlag(f[2], l.baselined) || !GetInt(f[3], l.watermark) || !GetCount(f[4], nt) ||
        !GetCount(f[5], ns) || !GetCount(f[6], nr) || !GetCount(f[7], nm) || !GetCount(f[8], nh)) {
      return bad("bad pipeline line");
    }
    if (snap.pipelines.contains(id)) return bad("pipeline " + id + " twice");
    for (size_t i = 0; i < nt; ++i) {
      int64_t run_id = 0;
      RunLedger::Tracked t;
      if (!r.Line(f) || f.size() != 4 || f[0] != "t" || !GetInt(f[1], run_id) ||
          !GetInt(f[2], t.since_ms) || !GetString(f[3], t.status) ||
          !l.tracked.emplace(run_id, t).second) {
        return bad("bad tracked run");
      }
    }
    for (size_t i = 0; i < ns; ++i) {
      int64_t run_id = 0;
      RunLedger::Seen s;
      if (!r.Line(f) || f.size() != 8 || f[0] != "s" || !GetInt(f[1], run_id) ||
          !GetInt(f[2], s.end_ms) || !GetString(f[3], s.status) || !GetString(f[4], s.trigger) ||
          !GetFlag(f[5], s.finished) || !GetFlag(f[6], s.counted) || !GetFlag(f[7], s.by_id) ||
          !l.seen.emplace(run_id, s).second) {
        return bad("bad remembered run");
      }
    }
    for (auto [counters, count, tag] : {std::tuple{&l.runs, nr, "r"}, {&l.resumed, nm, "m"}}) {
      for (size_t i = 0; i < count; ++i) {
        RunLedger::Key key;
        double v = 0;
        if (!r.Line(f) || f.size() != 4 || f[0] != tag || !GetString(f[1], key.first) ||
            !GetString(f[2], key.second) || !GetValue(f[3], v) ||
            !counters->emplace(key, v).second) {
          return bad("bad counter");
        }
      }
    }
    for (size_t i = 0; i < nh; ++i) {
      std::string status;
      RunLedger::Histogram h;
      size_t k = 0;
      if (!r.Line(f) || f.size() < 5 || f[0] != "h" || !GetString(f[1], status) ||
          !GetValue(f[2], h.sum) || !GetValue(f[3], h.count) || !GetCount(f[4], k) ||
          f.size() != 5 + k) {
        return bad("bad histogram");
      }
      for (size_t j = 0; j < k; ++j) {
        double c = 0;
        if (!GetValue(f[5 + j], c)) return bad("bad histogram bucket");
        h.counts.push_back(c);
      }
      if (!l.durations.emplace(status, std::move(h)).second) return bad("histogram twice");
    }
    last = &snap.pipelines.emplace(std::move(id), std::move(l)).first->second;
  }
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
  std::lock_guard lock(mu_);
  std::optional<LedgerWriter> w;
  history.VisitLedgers(
      [&](const std::vector<double>& buckets, size_t pipelines) { w.emplace(buckets, pipelines); },
      [&](const std::string& id, const RunLedger& l) { w->Add(id, l); });
  return WriteLocked(std::move(*w).Finish());
}

}  // namespace yfe::collector
