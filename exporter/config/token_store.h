// TokenStore: holds the API token and re-reads api.token_file when it changes (Kubernetes
// rotates mounted secrets by swapping the file), checking at most once a second.
// Every token value it holds is registered with the logger's redaction. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "config/config.h"

namespace yfe::config {

class TokenStore {
 public:
  explicit TokenStore(TokenSource source, std::string token_file = "");
  std::string Get();

 private:
  std::mutex mu_;
  std::string token_;
  std::string file_;
  std::chrono::steady_clock::time_point next_check_{};
  std::string file_stamp_;  // mtime + size + inode of the last read
};

}  // namespace yfe::config
