// LedgerStore: keeps the run history (every pipeline's RunLedger: watermark, tracked runs,
// remembered finishes, counters and histogram buckets) in one file under collect.state_dir,
// so that counters continue across restarts and crashes (docs/metrics.md, "Across restarts").
//
// Version 2 adds job history (collect.job_history: per pipeline a "jobs" block of
// additive records after the run records); version-1 files are read as having none.
// Version 3 adds the delivery view (delivery.deployments: per pipeline a "delivery" block
// after the others); version-1 and 2 files are read as having none.
//
// The file is written whole after each history poll: temporary file, fsync, rename over the
// old one, fsync of the directory. A crash at any moment leaves either the previous commit
// or the new one, and the counters and the watermark are always in the same commit. The
// file is text with a format version and a crc32 of its content; a file that is corrupt,
// truncated, of another version or with a wrong checksum is logged, renamed to
// <file>.corrupt-<UTC time> and ignored (the pipelines take a fresh baseline).
//
//   auto store = LedgerStore::Open(cfg.collect.state_dir);   // error: exit 1
//   history.Restore(store->Load());
//   ...  PollRunHistory(...); store->Commit(history);          // every history poll
//
// Thread-safe: commits are serialized, each takes its state under the store's lock so the
// file never goes back to an older state. The history's lock is held only while a commit
// takes its references to the ledgers (RunHistory::Share), never while it serializes or
// writes: scrapes do not wait for commits.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "collector/history.h"
#include "util/result.h"

namespace yfe::collector {

// The file's text for a snapshot, and back. ParseLedger fails (with the reason) on anything
// but a complete, well-formed file of this version with a matching checksum.
std::string SerializeLedger(const LedgerSnapshot& snapshot);
Result<LedgerSnapshot> ParseLedger(std::string_view text);

class LedgerStore {
 public:
  static constexpr int kVersion = 3;  // 2: job history, 3: delivery; 1 and 2 are read too
  static constexpr const char* kFileName = "run-ledger";

  // Creates dir if missing and checks that a file can be written in it. The error names
  // the path and the reason.
  static Result<std::shared_ptr<LedgerStore>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }

  // The stored snapshot; empty when there is no file. A file that cannot be used is moved
  // aside with a warning and an empty snapshot returned.
  LedgerSnapshot Load();
  // Writes the snapshot atomically; false (logged) when it could not be written.
  bool Save(const LedgerSnapshot& snapshot);
  // Saves the history's state at one instant: its ledgers are shared under its lock (no
  // copy, no serialization: RunHistory::Share), serialized and written outside it, so a
  // scrape never waits for a commit. Commits are serialized by the store's lock.
  bool Commit(const RunHistory& history);
  // For tests: called by each commit after it has taken the history's state, before it
  // serializes and writes it (a slow commit).
  void SetCommitHookForTest(std::function<void()> hook);

 private:
  explicit LedgerStore(std::string dir);
  bool WriteLocked(const std::string& text);

  const std::string dir_;
  const std::string path_;
  std::mutex mu_;  // one commit (or save, or load) at a time
  std::function<void()> commit_hook_;
  bool last_failed_ = false;  // log a failure once, and the recovery
};

}  // namespace yfe::collector
