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
// the current one when the API sent a value the exporter does not know. prefix holds the
// labels before def's last one, the status.
void AppendStatus(std::string& out, const MetricDef& def, const Prefix& prefix,
                  std::string_view status, bool sparse) {
  if (status.empty()) return;
  auto with_status = [&](std::string_view s, double v) { AppendSample(out, def, prefix, {s}, v); };
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
  AppendSample(f.text[kPipelineInfo], kPipelineMetrics[kPipelineInfo], PipelinePrefix(pipeline),
               {""}, 1);
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

namespace {

// One RenderRun call: the fragments so far and what was seen.
class RunRenderer {
 public:
  RunRenderer(PipelineLabels pipeline, const model::PipelineRun& run, const RenderOptions& options)
      : run_(run), options_(options), prefix_(PipelinePrefix(pipeline)) {}

  RunFragments Render() && {
    RunLevel();
    for (const auto& stage : run_.stages) {
      if (!options_.stages && !options_.jobs) break;
      if (!Stage(stage)) break;
    }
    if (dropped_warnings_ > 0) {
      f_.warnings.push_back(std::to_string(dropped_warnings_) + " more problems of the same kind");
    }
    return std::move(f_);
  }

 private:
  using Sizes = std::array<size_t, kRunMetricCount>;
  enum class Admit { kRender, kSkip, kStop };

  // Run-level information: it is never cut.
  void RunLevel() {
    auto& t = f_.text;
    const auto& defs = kPipelineMetrics;
    // The run status is always a full state set: alerting on "FAIL == 1" and on
    // "absent SUCCESS" both work.
    AppendStatus(t[kRunStatus], defs[kRunStatus], {prefix_, 0}, run_.status, /*sparse=*/false);
    if (run_.run_id) {
      AppendSample(t[kRunId], defs[kRunId], prefix_, {}, static_cast<double>(*run_.run_id));
    }
    AppendSample(t[kRunTriggerMode], defs[kRunTriggerMode], prefix_,
                 {model::TriggerModeName(run_.trigger_mode)}, 1);
    if (run_.create_ms > 0) {
      AppendSample(t[kRunStart], defs[kRunStart], prefix_, {}, Seconds(run_.create_ms));
    }
    if (int64_t end = RunEndMs(run_); end > 0 && run_.create_ms > 0 && end >= run_.create_ms) {
      AppendSample(t[kRunEnd], defs[kRunEnd], prefix_, {}, Seconds(end));
      AppendSample(t[kRunDuration], defs[kRunDuration], prefix_, {}, Seconds(end - run_.create_ms));
    }
    AppendSample(t[kPipelineInfo], defs[kPipelineInfo], prefix_, {run_.pipeline_type}, 1);
    std::set<std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>>
        seen_sources;
    for (const auto& s : run_.sources) {
      if (!seen_sources.emplace(s.name, s.type, s.repo, s.branch).second) continue;
      AppendSample(t[kSourceInfo], defs[kSourceInfo], prefix_, {s.name, s.type, s.repo, s.branch},
                   1);
    }
  }

  // A stage and its jobs; false when nothing more is rendered.
  bool Stage(const model::Stage& stage) {
    switch (Next(!seen_stages_.emplace(stage.index, stage.name).second, stages_rendered_,
                 options_.max_stages, Cut::kStages)) {
      case Admit::kSkip:
        Warn("duplicate stage " + stage.index + " (" + stage.name + ") dropped");
        return true;
      case Admit::kStop:
        return false;
      case Admit::kRender:
        break;
    }
    const Sizes before = CurrentSizes();
    auto& t = f_.text;
    const auto& defs = kPipelineMetrics;
    const Prefix p = ExtendPrefix(prefix_, defs[kStageStart], {stage.index, stage.name});
    if (options_.stages) {
      AppendStatus(t[kStageStatus], defs[kStageStatus], p, stage.status, options_.sparse_status);
      if (stage.start_ms > 0)
        AppendSample(t[kStageStart], defs[kStageStart], p, {}, Seconds(stage.start_ms));
      if (double d = DurationSeconds(stage.status, stage.start_ms, stage.end_ms); d >= 0) {
        AppendSample(t[kStageDuration], defs[kStageDuration], p, {}, d);
      }
    }
    if (!Fits(before)) return false;
    if (!options_.jobs) return true;
    size_t jobs_rendered = 0;
    for (const auto& job : stage.jobs) {
      switch (Next(!seen_jobs_.emplace(stage.index, stage.name, job.sign, job.name).second,
                   jobs_rendered, options_.max_jobs_per_stage, Cut::kJobsPerStage)) {
        case Admit::kSkip:
          Warn("duplicate job " + job.sign + " (" + job.name + ") in stage " + stage.index +
               " dropped");
          continue;
        case Admit::kStop:
          return true;
        case Admit::kRender:
          break;
      }
      if (!Job(p, job)) return false;
    }
    return true;
  }

  // One job's series; false when the byte budget ran out.
  bool Job(const Prefix& stage_prefix, const model::Job& job) {
    const Sizes before = CurrentSizes();
    auto& t = f_.text;
    const auto& defs = kPipelineMetrics;
    const Prefix p = ExtendPrefix(stage_prefix, defs[kJobStart], {job.sign, job.name});
    AppendStatus(t[kJobStatus], defs[kJobStatus], p, job.status, options_.sparse_status);
    if (job.start_ms > 0) AppendSample(t[kJobStart], defs[kJobStart], p, {}, Seconds(job.start_ms));
    if (double d = DurationSeconds(job.status, job.start_ms, job.end_ms); d >= 0) {
      AppendSample(t[kJobDuration], defs[kJobDuration], p, {}, d);
    }
    return Fits(before);
  }

  // Whether the next stage (or job) is rendered: a duplicate is skipped, and the cap (0:
  // none) stops the list.
  Admit Next(bool duplicate, size_t& rendered, size_t max, Cut cut) {
    if (duplicate) return Admit::kSkip;
    if (max > 0 && rendered == max) {
      f_.cut[static_cast<size_t>(cut)] = true;
      return Admit::kStop;
    }
    ++rendered;
    return Admit::kRender;
  }

  // The sizes of the texts before a stage or job is appended: if it does not fit the byte
  // budget, the texts are cut back to them, so no series is left half-written.
  Sizes CurrentSizes() const {
    Sizes s{};
    for (size_t i = 0; i < f_.text.size(); ++i) s[i] = f_.text[i].size();
    return s;
  }
  bool Fits(const Sizes& before) {
    if (options_.max_run_bytes == 0 || f_.Bytes() <= options_.max_run_bytes) return true;
    for (size_t i = 0; i < f_.text.size(); ++i) f_.text[i].resize(before[i]);
    f_.cut[static_cast<size_t>(Cut::kRunBytes)] = true;
    return false;
  }

  void Warn(std::string w) {
    if (f_.warnings.size() < RunFragments::kMaxWarnings) {
      f_.warnings.push_back(std::move(w));
    } else {
      ++dropped_warnings_;
    }
  }

  const model::PipelineRun& run_;
  const RenderOptions& options_;
  const std::string prefix_;
  RunFragments f_;
  size_t dropped_warnings_ = 0;
  size_t stages_rendered_ = 0;
  std::set<std::pair<std::string_view, std::string_view>> seen_stages_;
  std::set<std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>>
      seen_jobs_;
};

}  // namespace

RunFragments RenderRun(PipelineLabels pipeline, const model::PipelineRun& run,
                       const RenderOptions& options) {
  return RunRenderer(pipeline, run, options).Render();
}

}  // namespace yfe::metrics
