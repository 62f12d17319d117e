#include "config/token_store.h"

#include <sys/stat.h>

#include "util/log.h"

namespace yfe::config {
namespace {

std::string Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_ino);
}

}  // namespace

TokenStore::TokenStore(TokenSource source, std::string token_file, const Clock& clock)
    : clock_(clock), token_(std::move(source.token)), file_(std::move(token_file)) {
  logging::RegisterSecret(token_);
  if (!file_.empty()) {
    file_stamp_ = Stamp(file_);
    next_check_ = clock_.Now() + std::chrono::seconds(1);
  }
}

std::string TokenStore::Get() {
  std::lock_guard lock(mu_);
  if (file_.empty()) return token_;
  auto now = clock_.Now();
  if (now < next_check_) return token_;
  next_check_ = now + std::chrono::seconds(1);
  std::string stamp = Stamp(file_);
  if (stamp.empty() || stamp == file_stamp_) return token_;
  auto read = ReadTokenFile(file_);
  if (!read.ok()) {
    logging::Warn("token file changed but cannot be used; keeping the previous token",
                  {{"file", file_}, {"err", read.error()}});
    return token_;
  }
  const std::string& fresh = *read;
  file_stamp_ = stamp;
  if (fresh != token_) {
    logging::RegisterSecret(fresh);
    token_ = fresh;
    logging::Info("token file changed; using the new token", {{"file", file_}});
  }
  return token_;
}

}  // namespace yfe::config
