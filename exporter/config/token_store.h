// TokenStore: holds the API token and re-reads api.token_file when it changes (Kubernetes
// rotates mounted secrets by swapping the file), checking at most once a second.
// Every token value it holds is registered with the logger's redaction. Thread-safe.
// The clock is injectable so tests can step past the once-a-second check.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "config/config.h"
#include "util/clock.h"

namespace yfe::config {

class TokenStore {
 public:
  explicit TokenStore(TokenSource source, std::string token_file = "",
                      const Clock& clock = SystemClock::Instance());
  std::string Get();

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::string token_;
  std::string file_;
  Clock::Steady next_check_{};
  std::string file_stamp_;  // mtime + size + inode of the last read
};

}  // namespace yfe::config
