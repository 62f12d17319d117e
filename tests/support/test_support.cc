#include "support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace yfe::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "yfe-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  path_ = made ? made : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (path_ != "/tmp") std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Fixture(const std::string& relative) {
  return ReadFile(std::string(YFE_SOURCE_DIR) + "/tests/fixtures/" + relative);
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "yfe-proc-XXXXXX").string();
  dir_ = mkdtemp(tmpl.data()) ? tmpl : "/tmp";
  out_path_ = dir_ + "/stdout";
  err_path_ = dir_ + "/stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (env.contains(key) || key == "YUNXIAO_TOKEN") continue;  // tests choose the token
    env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // Children start with default signal handling and an empty mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data()) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
}

Process::~Process() {
  if (pid_ > 0 && !exited_) {
    Stop(SIGTERM, std::chrono::seconds(5));
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
    }
  }
  std::error_code ec;
  if (dir_ != "/tmp") std::filesystem::remove_all(dir_, ec);
}

std::string Process::Stdout() const { return ReadFile(out_path_); }
std::string Process::Stderr() const { return ReadFile(err_path_); }

bool Process::Running() {
  if (pid_ <= 0 || exited_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) {
    exited_ = true;
    return false;
  }
  return true;
}

int Process::Wait(std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > end) return -1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
  return -999;
}

void Process::Signal(int signal) {
  if (pid_ > 0 && !exited_) kill(pid_, signal);
}

int Process::Stop(int signal, std::chrono::milliseconds timeout) {
  Signal(signal);
  return Wait(timeout);
}

int Process::WaitForPort(const std::string& marker, std::chrono::milliseconds timeout) {
  std::regex re(std::regex_replace(marker, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                "(\\d+)");
  int port = 0;
  Eventually(
      [&] {
        std::smatch m;
        std::string all = Stdout() + Stderr();
        if (std::regex_search(all, m, re)) {
          port = std::stoi(m[1]);
          return true;
        }
        return !Running();
      },
      timeout);
  return port;
}

bool Process::WaitForOutput(const std::string& text, std::chrono::milliseconds timeout) {
  return Eventually([&] { return (Stdout() + Stderr()).find(text) != std::string::npos; }, timeout);
}

namespace {

HttpResult Convert(const httplib::Result& r) {
  HttpResult out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers[k] = v;
  return out;
}

httplib::Headers ToHeaders(const std::map<std::string, std::string>& h) {
  httplib::Headers out;
  for (const auto& [k, v] : h) out.emplace(k, v);
  return out;
}

}  // namespace

HttpResult HttpGet(const std::string& host, int port, const std::string& path,
                   const std::map<std::string, std::string>& headers) {
  httplib::Client c(host, port);
  c.set_read_timeout(60, 0);
  c.set_connection_timeout(5, 0);
  return Convert(c.Get(path, ToHeaders(headers)));
}

HttpResult HttpPost(const std::string& host, int port, const std::string& path,
                    const std::string& body, const std::map<std::string, std::string>& headers) {
  httplib::Client c(host, port);
  c.set_read_timeout(60, 0);
  return Convert(c.Post(path, ToHeaders(headers), body, "application/json"));
}

HttpResult HttpPut(const std::string& host, int port, const std::string& path,
                   const std::string& body) {
  httplib::Client c(host, port);
  c.set_read_timeout(60, 0);
  return Convert(c.Put(path, body, "application/json"));
}

bool Eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(every);
  }
}

std::vector<std::string> Samples(const std::string& exposition, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > name.size() && line.starts_with(name) &&
        (line[name.size()] == '{' || line[name.size()] == ' ')) {
      out.push_back(line);
    }
  }
  return out;
}

double Value(const std::string& exposition, const std::string& name,
             const std::vector<std::string>& fragments) {
  for (const auto& line : Samples(exposition, name)) {
    bool all = true;
    for (const auto& f : fragments) all &= line.find(f) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nan("");
}

double Sum(const std::string& exposition, const std::string& name,
           const std::vector<std::string>& fragments) {
  double sum = 0;
  for (const auto& line : Samples(exposition, name)) {
    bool all = true;
    for (const auto& f : fragments) all &= line.find(f) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

std::set<std::string> PipelineIdsIn(const std::string& exposition, const std::string& metric) {
  std::set<std::string> ids;
  std::regex re("pipeline_id=\"([^\"]+)\"");
  for (const auto& line : Samples(exposition, metric)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) ids.insert(m[1]);
  }
  return ids;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

int RunCommand(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  std::string out;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return "<error init>";
  std::string out;
  char buf[1 << 14];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  const bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  return whole ? out : "<error " + std::to_string(rc) + ">";
}

}  // namespace yfe::testing
