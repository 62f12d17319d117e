// Helpers for tests that run real processes over real HTTP on 127.0.0.1.
//
//   TempDir dir;
//   Process sim({YFE_SIMULATOR_BIN, "--web.listen-address=127.0.0.1:0"});
//   int port = sim.WaitForPort("listening on 127.0.0.1:");
//   HttpResult r = HttpGet("127.0.0.1", port, "/-/healthy");
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

// Where the sources and the binaries under test are: the build directory's generated
// test_paths.cc (tests/CMakeLists.txt) holds them, so that no other test file depends on the
// build directory and a compiler cache shares them between checkouts and builds.
namespace yfe::testing::paths {
const char* SourceDir();
// The exporter the integration tests start: this build's, or YFE_EXPORTER_BIN from the
// environment (the sanitizer test presets run these tests against their build's exporter;
// the benchmarks compare two builds).
const char* ExporterBin();
const char* SimulatorBin();
// Whether the exporter under test runs under ASan or TSan (slower: some bounds relax): this
// test binary is sanitized, or YFE_EXPORTER_SANITIZER in the environment names a sanitizer.
bool ExporterIsSanitized();
}  // namespace yfe::testing::paths
#define YFE_SOURCE_DIR (::yfe::testing::paths::SourceDir())
#define YFE_EXPORTER_BIN (::yfe::testing::paths::ExporterBin())
#define YFE_SIMULATOR_BIN (::yfe::testing::paths::SimulatorBin())
#define YFE_EXPORTER_SANITIZED (::yfe::testing::paths::ExporterIsSanitized())

namespace yfe::testing {

// A directory removed (recursively) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A child process with stdout and stderr captured to files. Killed (SIGTERM, then SIGKILL)
// when the object dies.
class Process {
 public:
  explicit Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  std::string Stdout() const;
  std::string Stderr() const;
  // Waits until the output (stdout + stderr) contains `marker` (or `or_marker`, when given)
  // followed by a port number.
  int WaitForPort(const std::string& marker,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20),
                  const std::string& or_marker = "");
  bool WaitForOutput(const std::string& text,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends a signal and waits for exit; returns the exit status (or -signal).
  int Stop(int signal = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void Signal(int signal);
  bool Running();
  int Wait(std::chrono::milliseconds timeout);  // exit code, -signal, or -1000 on timeout

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string out_path_, err_path_;
  std::string dir_;
};

struct HttpResult {
  int status = 0;  // 0: no response
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;
};

HttpResult HttpGet(const std::string& host, int port, const std::string& path,
                   const std::map<std::string, std::string>& headers = {});
HttpResult HttpPost(const std::string& host, int port, const std::string& path,
                    const std::string& body,
                    const std::map<std::string, std::string>& headers = {});
HttpResult HttpPut(const std::string& host, int port, const std::string& path,
                   const std::string& body);

// Polls `check` until it is true or the timeout passes.
bool Eventually(const std::function<bool()>& check,
                std::chrono::milliseconds timeout = std::chrono::seconds(15),
                std::chrono::milliseconds every = std::chrono::milliseconds(50));

std::string ReadFile(const std::string& path);
std::string Fixture(const std::string& relative);  // tests/fixtures/<relative>

// Lines of an exposition that start with `name` followed by '{' or ' '.
std::vector<std::string> Samples(const std::string& exposition, const std::string& name);
// The value of the sample whose line contains every given fragment; NaN if none.
double Value(const std::string& exposition, const std::string& name,
             const std::vector<std::string>& fragments = {});

// The sum of the samples whose line contains every fragment (0 if none).
double Sum(const std::string& exposition, const std::string& name,
           const std::vector<std::string>& fragments = {});

// The pipeline_id label values of a metric's samples.
std::set<std::string> PipelineIdsIn(const std::string& exposition, const std::string& metric);

// A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot report
// the ephemeral port they got).
int FreePort();

// Runs a command line through /bin/sh, returns exit code; output captured into *output.
int RunCommand(const std::string& command, std::string* output);

// Strict gunzip: zlib checks the header, the CRC-32 and the length in the trailer, and
// that nothing follows the member. "<error N>" when any of that fails.
std::string Gunzip(const std::string& in);

}  // namespace yfe::testing
