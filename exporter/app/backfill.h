// `--backfill.since=90d --backfill.output=FILE`: the one-shot run that gives a new install
// months of run history (docs/backfill.md). It finds the watched pipelines as live
// collection does (configuration, discovery filters, sharding), pages through each one's
// ListPipelineRuns back to `since` through the normal rate-limited transport, streams the
// OpenMetrics text (backfill/backfill.h) and, when every pipeline was read, writes the
// ledger's starting point into collect.state_dir so that live collection continues the
// counters from the backfill's last sample. Progress goes to stderr. Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "backfill/backfill.h"
#include "collector/collector.h"
#include "config/flags.h"
#include "flowapi/client.h"

namespace yfe::app {

// Runs the backfill; returns the exit code (0, or 1 with the reason on stderr).
int RunBackfill(const config::Flags& flags, const char* env_token);

// One pipeline's runs back to `since` (blocking): ListPipelineRuns page by page, newest
// first, up to the first page whose runs all started and finished before `since`, the last
// page the paging headers announce, or a page that brings no run not seen before (a server
// repeating itself). With job_history, then the detail of every counted run (GetPipelineRun;
// a run gone, 404, has none). The error names the pipeline and the page or run.
Result<backfill::PipelineRuns> ReadPipelineRuns(flowapi::Api& api, const collector::Target& target,
                                                int64_t since_ms, std::chrono::nanoseconds timeout,
                                                bool job_history = false);

// The file of chunk n (from 1) of --backfill.chunk: FILE.0001.om for FILE.om (or FILE).
std::string ChunkPath(const std::string& output, int64_t n);

// One progress line: pipelines done/total, runs read, run details read, ETA (pure, for tests).
std::string ProgressLine(size_t done, size_t total, int64_t runs, double elapsed_seconds,
                         int64_t details = 0);

}  // namespace yfe::app
