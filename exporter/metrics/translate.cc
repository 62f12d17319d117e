#include "metrics/translate.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "metrics/exposition.h"
#include "model/status.h"

namespace yfe::metrics {
namespace {

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// Duration of an item in seconds, or a negative number when it has none: unfinished,
// a time missing, or an end before the start.
double DurationSeconds(std::string_view status, int64_t start_ms, int64_t end_ms) {
  if (!model::IsFinished(status) || start_ms <= 0 || end_ms <= 0 || end_ms < start_ms) return -1;
  return Seconds(end_ms - start_ms);
}

// Writes a status as one series (sparse) or as a state set over the known statuses plus
// the current one when the API sent a value the exporter does not know.
void AppendStatus(std::string& out, const MetricDef& def, std::string_view prefix,
                  std::initializer_list<Label> labels, std::string_view status, bool sparse) {
  if (status.empty()) return;
  const std::string p = ExtendPrefix(prefix, labels);
  auto with_status = [&](std::string_view s, double v) {
    AppendSample(out, def.name, p, {{"status", s}}, v);
  };
  bool known = std::find(model::kKnownStatuses.begin(), model::kKnownStatuses.end(), status) !=
               model::kKnownStatuses.end();
  if (sparse) {
    with_status(status, 1);
    return;
  }
  for (std::string_view s : model::kKnownStatuses) with_status(s, s == status ? 1 : 0);
  if (!known) with_status(status, 1);
}

}  // namespace

size_t RunFragments::Bytes() const {
  size_t n = 0;
  for (const auto& t : text) n += t.size();
  return n;
}

std::string PipelinePrefix(PipelineLabels p) {
  return LabelPrefix({{"pipeline_id", p.id}, {"pipeline_name", p.name}});
}

RunFragments RenderNoRun(PipelineLabels pipeline) {
  RunFragments f;
  AppendSample(f.text[kPipelineInfo], kPipelineMetrics[kPipelineInfo].name,
               PipelinePrefix(pipeline), {{"pipeline_type", ""}}, 1);
  return f;
}

int64_t RunEndMs(const model::PipelineRun& run) {
  if (!model::IsFinished(run.status)) return 0;
  int64_t end = 0;
  for (const auto& stage : run.stages) {
    end = std::max(end, stage.end_ms);
    for (const auto& job : stage.jobs) end = std::max(end, job.end_ms);
  }
  return end > 0 ? end : run.update_ms;
}

RunFragments RenderRun(PipelineLabels pipeline, const model::PipelineRun& run,
                       const RenderOptions& options) {
  RunFragments f;
  const std::string prefix = PipelinePrefix(pipeline);
  auto& t = f.text;
  const auto& defs = kPipelineMetrics;

  // The run status is always a full state set: alerting on "FAIL == 1" and on
  // "absent SUCCESS" both work.
  AppendStatus(t[kRunStatus], defs[kRunStatus], prefix, {}, run.status, /*sparse=*/false);
  if (run.run_id) {
    AppendSample(t[kRunId], defs[kRunId].name, prefix, {}, static_cast<double>(*run.run_id));
  }
  AppendSample(t[kRunTriggerMode], defs[kRunTriggerMode].name, prefix,
               {{"trigger_mode", model::TriggerModeName(run.trigger_mode)}}, 1);
  if (run.create_ms > 0) {
    AppendSample(t[kRunStart], defs[kRunStart].name, prefix, {}, Seconds(run.create_ms));
  }
  if (int64_t end = RunEndMs(run); end > 0 && run.create_ms > 0 && end >= run.create_ms) {
    AppendSample(t[kRunEnd], defs[kRunEnd].name, prefix, {}, Seconds(end));
    AppendSample(t[kRunDuration], defs[kRunDuration].name, prefix, {},
                 Seconds(end - run.create_ms));
  }

  // Run-level information first: it is never cut.
  AppendSample(t[kPipelineInfo], defs[kPipelineInfo].name, prefix,
               {{"pipeline_type", run.pipeline_type}}, 1);
  std::set<std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>>
      seen_sources;
  for (const auto& s : run.sources) {
    if (!seen_sources.emplace(s.name, s.type, s.repo, s.branch).second) continue;
    AppendSample(
        t[kSourceInfo], defs[kSourceInfo].name, prefix,
        {{"source_name", s.name}, {"source_type", s.type}, {"repo", s.repo}, {"branch", s.branch}},
        1);
  }

  size_t dropped_warnings = 0;
  auto warn = [&](std::string w) {
    if (f.warnings.size() < RunFragments::kMaxWarnings) {
      f.warnings.push_back(std::move(w));
    } else {
      ++dropped_warnings;
    }
  };
  // The sizes of the texts before a stage or job is appended: if it does not fit the byte
  // budget, the texts are cut back to them, so no series is left half-written.
  using Sizes = std::array<size_t, kRunMetricCount>;
  auto sizes = [&t] {
    Sizes s{};
    for (size_t i = 0; i < t.size(); ++i) s[i] = t[i].size();
    return s;
  };
  auto fits = [&](const Sizes& before) {
    if (options.max_run_bytes == 0 || f.Bytes() <= options.max_run_bytes) return true;
    for (size_t i = 0; i < t.size(); ++i) t[i].resize(before[i]);
    f.cut[static_cast<size_t>(Cut::kRunBytes)] = true;
    return false;
  };

  std::set<std::pair<std::string_view, std::string_view>> seen_stages;
  std::set<std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>>
      seen_jobs;
  size_t stages_rendered = 0;
  for (const auto& stage : run.stages) {
    if (!options.stages && !options.jobs) break;
    if (!seen_stages.emplace(stage.index, stage.name).second) {
      warn("duplicate stage " + stage.index + " (" + stage.name + ") dropped");
      continue;
    }
    if (options.max_stages > 0 && stages_rendered == options.max_stages) {
      f.cut[static_cast<size_t>(Cut::kStages)] = true;
      break;
    }
    ++stages_rendered;
    const Sizes before_stage = sizes();
    if (options.stages) {
      std::initializer_list<Label> sl = {{"stage_index", stage.index}, {"stage_name", stage.name}};
      AppendStatus(t[kStageStatus], defs[kStageStatus], prefix, sl, stage.status,
                   options.sparse_status);
      if (stage.start_ms > 0) {
        AppendSample(t[kStageStart], defs[kStageStart].name, prefix, sl, Seconds(stage.start_ms));
      }
      if (double d = DurationSeconds(stage.status, stage.start_ms, stage.end_ms); d >= 0) {
        AppendSample(t[kStageDuration], defs[kStageDuration].name, prefix, sl, d);
      }
    }
    if (!fits(before_stage)) break;
    if (!options.jobs) continue;
    size_t jobs_rendered = 0;
    bool out_of_bytes = false;
    for (const auto& job : stage.jobs) {
      if (!seen_jobs.emplace(stage.index, stage.name, job.sign, job.name).second) {
        warn("duplicate job " + job.sign + " (" + job.name + ") in stage " + stage.index +
             " dropped");
        continue;
      }
      if (options.max_jobs_per_stage > 0 && jobs_rendered == options.max_jobs_per_stage) {
        f.cut[static_cast<size_t>(Cut::kJobsPerStage)] = true;
        break;
      }
      ++jobs_rendered;
      const Sizes before_job = sizes();
      std::initializer_list<Label> jl = {{"stage_index", stage.index},
                                         {"stage_name", stage.name},
                                         {"job_sign", job.sign},
                                         {"job_name", job.name}};
      AppendStatus(t[kJobStatus], defs[kJobStatus], prefix, jl, job.status, options.sparse_status);
      if (job.start_ms > 0) {
        AppendSample(t[kJobStart], defs[kJobStart].name, prefix, jl, Seconds(job.start_ms));
      }
      if (double d = DurationSeconds(job.status, job.start_ms, job.end_ms); d >= 0) {
        AppendSample(t[kJobDuration], defs[kJobDuration].name, prefix, jl, d);
      }
      if (!fits(before_job)) {
        out_of_bytes = true;
        break;
      }
    }
    if (out_of_bytes) break;
  }
  if (dropped_warnings > 0) {
    f.warnings.push_back(std::to_string(dropped_warnings) + " more problems of the same kind");
  }
  return f;
}

}  // namespace yfe::metrics
