#include "world.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <numeric>
#include <tuple>
#include <utility>

#include "rng.h"

namespace yfe::sim {

// One run, planned independently of the instant it is looked at. All times
// are epoch milliseconds.
struct JobPlan {
  int64_t start = 0;
  int64_t end = 0;
};

struct StagePlan {
  int64_t start = 0;
  int64_t end = 0;
  int64_t wait_end = 0;  // manual approval window is [start, wait_end)
  int critical_job = 0;  // the job that ends with the stage
  std::vector<JobPlan> jobs;
};

struct RunPlan {
  int64_t run_id = 0;
  int64_t start = 0;
  int64_t natural_end = 0;  // end of the last stage
  int64_t end = 0;          // when the run actually finishes
  int trigger_mode = 1;
  std::string creator;
  std::string outcome;     // final status
  int terminal_stage = 0;  // stage the outcome applies to
  int fail_job = -1;
  bool hold_running = false;  // "start" override: never finishes
  std::string hold_status;    // run status while held (empty: RUNNING)
  // Finishes before a resume, oldest first, with the stages and jobs each ran.
  struct EarlierFinish {
    int64_t end = 0;
    std::string outcome;
    std::vector<StageView> stages;
  };
  std::vector<EarlierFinish> earlier_finishes;
  int64_t attempt_after = 0;  // the end of the finish this attempt resumed from (0: none)
  std::vector<StagePlan> stages;

  void Shift(int64_t delta) {
    start += delta;
    natural_end += delta;
    end += delta;
    for (StagePlan& s : stages) {
      s.start += delta;
      s.end += delta;
      s.wait_end += delta;
      for (JobPlan& j : s.jobs) {
        j.start += delta;
        j.end += delta;
      }
    }
  }
};

namespace {

constexpr int64_t kOpenSegment = std::numeric_limits<int64_t>::max();
constexpr int64_t kHourMs = 3600LL * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

constexpr const char* kAsciiNames[] = {
    "backend-build",    "release-api",        "frontend-web",   "payment-gateway",
    "order-service",    "user-center",        "mobile-android", "mobile-ios",
    "data-etl-nightly", "search-indexer",     "auth-service",   "infra-terraform",
    "docs-site",        "nightly-regression", "canary-deploy",  "config-center",
    "mq-consumer",      "report-service",     "admin-console",  "api-gateway-release",
};
constexpr const char* kChineseNames[] = {
    "前端构建",   "后端服务发布", "测试环境部署", "生产环境发布", "数据同步任务",
    "移动端打包", "支付网关构建", "订单中心发布", "运维巡检",     "每日回归测试",
};
constexpr const char* kGroupNames[] = {"backend", "frontend", "移动端", "基础设施"};
constexpr const char* kEnvNames[] = {"日常环境", "预发环境", "生产环境"};
constexpr const char* kStageNames[] = {"代码扫描",     "Java 构建", "单元测试", "镜像构建",
                                       "部署测试环境", "集成测试",  "生产部署", "Smoke test"};
constexpr const char* kJobNames[] = {
    "Java 代码扫描",   "Maven 构建", "Node.js 构建", "单元测试",    "Docker 镜像构建", "主机部署",
    "Kubernetes 发布", "执行命令",   "Go 构建",      "Python 测试", "上传制品",        "钉钉通知",
    "Sonar 扫描",      "依赖检查",   "Helm 部署",    "接口测试",
};
constexpr const char* kBranches[] = {"master", "main", "develop", "release/2.x"};
const Tag kTags[] = {{101, "java"},    {102, "nodejs"},  {103, "核心业务"},
                     {104, "nightly"}, {105, "release"}, {106, "go"}};
constexpr const char* kApprovalJobName = "人工卡点";

template <typename T, size_t N>
constexpr int64_t Count(const T (&)[N]) {
  return static_cast<int64_t>(N);
}

std::vector<int> Permutation(int n, uint64_t seed) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  Rng rng(seed);
  for (int i = n - 1; i > 0; --i) {
    std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>(rng.Below(i + 1))]);
  }
  return v;
}

// `digits` hex digits drawn from a hash stream seeded with `seed`.
std::string Hex(uint64_t seed, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  Rng rng(seed);
  uint64_t word = 0;
  for (int i = 0; i < digits; ++i) {
    if (i % 16 == 0) word = rng.Next();
    s.push_back(kDigits[word & 0xf]);
    word >>= 4;
  }
  return s;
}

int PickTriggerMode(double u) {
  // code commit is the most common trigger, another pipeline the rarest.
  if (u < 0.45) return 3;
  if (u < 0.70) return 1;
  if (u < 0.85) return 2;
  if (u < 0.95) return 6;
  return 5;
}

int64_t SignedMulDiv(int64_t value, double fraction) {
  return static_cast<int64_t>(std::floor(static_cast<double>(value) * fraction));
}

}  // namespace

SimClock::SimClock(std::optional<int64_t> frozen_ms)
    : frozen_(frozen_ms.has_value()), frozen_ms_(frozen_ms.value_or(0)) {}

int64_t SimClock::NowMs() const {
  if (frozen_) return frozen_ms_.load(std::memory_order_relaxed);
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool SimClock::Advance(int64_t delta_ms) {
  if (!frozen_) return false;
  frozen_ms_.fetch_add(delta_ms, std::memory_order_relaxed);
  return true;
}

bool SimClock::Set(int64_t ms) {
  if (!frozen_) return false;
  frozen_ms_.store(ms, std::memory_order_relaxed);
  return true;
}

World::World(WorldOptions options, SimClock* clock) : options_(std::move(options)), clock_(clock) {
  // Anchor the world at the start of the current day: with a real clock, a
  // restart on the same day reproduces the same pipelines and run history.
  const int64_t now = clock_->NowMs();
  anchor_ms_ = now - ((now % kDayMs) + kDayMs) % kDayMs;

  const uint64_t seed = options_.seed;
  for (int i = 0; i < 6; ++i) {
    accounts_.push_back(
        std::to_string(1000000000ULL + Hash(seed, HashString("account"), i) % 8999999999ULL));
  }
  ascii_order_ = Permutation(static_cast<int>(Count(kAsciiNames)), Hash(seed, HashString("ascii")));
  chinese_order_ =
      Permutation(static_cast<int>(Count(kChineseNames)), Hash(seed, HashString("chinese")));
  for (int g = 0; g < 4; ++g) {
    groups_.push_back(PipelineGroup{g + 1, kGroupNames[g],
                                    anchor_ms_ - 400 * kDayMs + g * 9 * kDayMs +
                                        static_cast<int64_t>(Hash(seed, HashString("group"), g) %
                                                             static_cast<uint64_t>(kDayMs))});
  }
  for (int i = 0; i < options_.pipelines; ++i) {
    const int ordinal = next_ordinal_++;
    PipelineState st;
    st.info = MakePipeline(ordinal, anchor_ms_);
    if (!st.info->never_run) st.segments.push_back(Segment{1, kOpenSegment, 0, nullptr});
    pipelines_.emplace(st.info->id, std::move(st));
  }
}

World::~World() = default;

int64_t World::Period() const { return options_.run_duration_ms + options_.run_gap_ms; }

PipelinePtr World::MakePipeline(int ordinal, int64_t anchor_ms) const {
  const uint64_t seed = options_.seed;
  auto p = std::make_shared<PipelineInfo>();
  p->id = kPipelineIdBase + ordinal;
  p->ordinal = ordinal;
  const uint64_t h = Hash(seed, p->id);
  Rng rng(Hash(seed, p->id, HashString("pipeline")));

  // Every fourth pipeline gets a Chinese name; names are unique (a suffix is
  // added once a pool is exhausted).
  if (ordinal % 4 == 2) {
    const int64_t idx = (ordinal - 2) / 4;
    const int64_t n = Count(kChineseNames);
    p->name = kChineseNames[chinese_order_[static_cast<size_t>(idx % n)]];
    if (idx / n > 0) p->name += "-" + std::to_string(idx / n + 1);
    p->repo_slug = "service-" + std::to_string(ordinal);
  } else {
    const int64_t idx = (ordinal - 1) - (ordinal + 2) / 4;
    const int64_t n = Count(kAsciiNames);
    p->name = kAsciiNames[ascii_order_[static_cast<size_t>(idx % n)]];
    if (idx / n > 0) p->name += "-" + std::to_string(idx / n + 1);
    p->repo_slug = p->name;
  }

  p->group_id = 1 + static_cast<int64_t>((static_cast<uint64_t>(ordinal - 1) + seed) % 4);
  if (ordinal % 5 == 0) p->group_id = 0;  // ungrouped: the 2025 list shape says groupId 0
  p->group_name = p->group_id > 0 ? kGroupNames[p->group_id - 1] : "";
  const int first_never_run = options_.pipelines - options_.never_run + 1;
  if (ordinal >= first_never_run && ordinal <= options_.pipelines) {
    p->never_run = true;
    p->no_run_style = static_cast<NoRunStyle>((ordinal - first_never_run) % 4);
  }
  p->env_id = static_cast<int>(rng.Below(3));
  p->env_name = kEnvNames[p->env_id];
  const int64_t tag_count = rng.Below(3);
  const int64_t first_tag = rng.Below(Count(kTags));
  for (int64_t t = 0; t < tag_count; ++t) {
    p->tags.push_back(kTags[(first_tag + t) % Count(kTags)]);
  }
  const auto account_count = static_cast<int64_t>(accounts_.size());
  p->creator_account_id = accounts_[static_cast<size_t>(rng.Below(account_count))];
  p->modifier_account_id = accounts_[static_cast<size_t>(rng.Below(account_count))];
  p->config_id = 2000000 + ordinal * 37 + rng.Below(30);
  p->branch = kBranches[rng.Below(Count(kBranches))];
  const std::string group_slug = p->group_id == 3   ? "mobile"
                                 : p->group_id == 4 ? "infra"
                                 : p->group_id == 0 ? "default"
                                                    : p->group_name;
  p->repo_label = group_slug + "/" + p->repo_slug;
  const std::string repo_path = "codeup.aliyun.com/" + options_.organization_id + "/" + group_slug +
                                "/" + p->repo_slug + ".git";
  p->repo_url =
      ordinal == 3 ? "https://deploy:SIM-SECRET-PASSWORD@" + repo_path : "https://" + repo_path;
  p->source_sign = Hex(Hash(seed, p->id, HashString("sign")), 20);
  p->webhook = "https://flow-openapi.aliyun.com/scm/webhook/" + Hex(Hash(seed, p->id, 7), 24);
  p->secret_value = "SIM-SECRET-" + Hex(Hash(seed, p->id, HashString("secret")), 16);
  p->credential_id = 200 + rng.Below(800);
  p->service_connection_id = 10 + rng.Below(90);

  const int ns = options_.stages;
  const int nj = options_.jobs_per_stage;
  const int64_t name_offset = rng.Below(Count(kJobNames));
  for (int s = 0; s < ns; ++s) {
    std::string stage_name = kStageNames[s % Count(kStageNames)];
    if (s >= Count(kStageNames)) stage_name += " " + std::to_string(s / Count(kStageNames) + 1);
    p->stage_names.push_back(stage_name);
    std::vector<std::string> jobs;
    for (int j = 0; j < nj; ++j) {
      jobs.push_back(kJobNames[(name_offset + s * nj + j) % Count(kJobNames)]);
    }
    p->job_names.push_back(std::move(jobs));
  }
  // About a third of the pipelines have a manual approval stage.
  if (ns >= 2 && h % 3 == 0) {
    p->manual_stage = 1 + static_cast<int>(rng.Below(ns - 1));
    p->manual_kind = rng.Below(2) == 0 ? "WAITING" : "SWITCH_MANUAL";
    p->job_names[static_cast<size_t>(p->manual_stage)][0] = kApprovalJobName;
  }

  // History: created 3..28 days before the anchor, but at most a few thousand
  // runs ago so that run ids stay realistic for any --run-duration.
  const int64_t period = Period();
  const int64_t days = (3 + static_cast<int64_t>(h % 26)) * kDayMs + rng.Below(kDayMs);
  const int64_t max_runs = 300 + rng.Below(2700);
  int64_t age = std::min(days, max_runs * period);
  age = std::max(age, 2 * period + 1);
  if (options_.history_ms > 0) age = std::max(options_.history_ms, 2 * period + 1);
  p->create_time = anchor_ms - age;
  p->update_time = p->create_time + rng.Below(std::max<int64_t>(1, age / 2));
  p->schedule_base_ms = p->create_time + rng.Below(period);
  return p;
}

World::Slot World::DrawSlot(const PipelineInfo& p, int64_t k) const {
  Rng rng(Hash(options_.seed, p.id, k, HashString("slot")));
  const int64_t period = Period();
  const int64_t min_gap =
      options_.run_gap_ms > 0 ? std::max<int64_t>(1, options_.run_gap_ms / 4) : 1;
  const int64_t max_duration = std::max<int64_t>(1, period - min_gap);
  const double mean = static_cast<double>(options_.run_duration_ms);
  int64_t duration = std::llround(mean * (0.5 + rng.Uniform()));
  duration = std::clamp<int64_t>(duration, 1, max_duration);
  const int64_t slack = std::max<int64_t>(0, period - min_gap - duration);
  const int64_t jitter = slack > 0 ? SignedMulDiv(slack, rng.Uniform()) : 0;
  return Slot{p.schedule_base_ms + k * period + jitter, duration};
}

int64_t World::LatestSlot(const PipelineInfo& p, int64_t now) const {
  if (now < p.schedule_base_ms) return -1;
  int64_t k = (now - p.schedule_base_ms) / Period();
  while (k >= 0 && DrawSlot(p, k).start > now) --k;
  return k;
}

RunPlan World::MakePlan(const PipelineInfo& p, uint64_t key, int64_t run_id, int64_t start,
                        int64_t duration, const std::string* forced_outcome) const {
  Rng rng(Hash(options_.seed, p.id, key, HashString("plan")));
  RunPlan r;
  r.run_id = run_id;
  r.start = start;
  r.natural_end = start + duration;
  r.trigger_mode = PickTriggerMode(rng.Uniform());
  r.creator = accounts_[static_cast<size_t>(rng.Below(static_cast<int64_t>(accounts_.size())))];

  const int ns = options_.stages;
  const int nj = options_.jobs_per_stage;
  const int64_t queue = std::min<int64_t>(2000, duration / 50);
  std::vector<double> weights(static_cast<size_t>(ns));
  double total_weight = 0;
  for (double& w : weights) {
    w = 0.5 + rng.Uniform();
    total_weight += w;
  }
  const int64_t body = duration - queue;
  double acc = 0;
  int64_t prev = start + queue;
  for (int s = 0; s < ns; ++s) {
    acc += weights[static_cast<size_t>(s)];
    const int64_t boundary =
        s == ns - 1 ? r.natural_end : start + queue + SignedMulDiv(body, acc / total_weight);
    StagePlan sp;
    sp.start = prev;
    sp.end = std::max(prev, boundary);
    sp.wait_end = sp.start;
    const bool manual = s == p.manual_stage;
    if (manual) {
      sp.wait_end =
          nj > 1 ? sp.start + SignedMulDiv(sp.end - sp.start, 0.2 + 0.4 * rng.Uniform()) : sp.end;
    }
    sp.critical_job = manual && nj > 1 ? 1 + static_cast<int>(rng.Below(nj - 1))
                                       : static_cast<int>(rng.Below(nj));
    for (int j = 0; j < nj; ++j) {
      JobPlan jp;
      const double frac = 0.35 + 0.65 * rng.Uniform();
      if (manual && j == 0) {
        jp.start = sp.start;
        jp.end = sp.wait_end;
      } else {
        const int64_t from = sp.wait_end;
        const int64_t len = sp.end - from;
        jp.start = from + std::min<int64_t>(500LL * j, len / 10);
        jp.end = j == sp.critical_job ? sp.end : jp.start + SignedMulDiv(sp.end - jp.start, frac);
      }
      sp.jobs.push_back(jp);
    }
    prev = sp.end;
    r.stages.push_back(std::move(sp));
  }

  const double u_fail = rng.Uniform();
  const double u_cancel = rng.Uniform();
  const int pick = static_cast<int>(rng.Below(ns));
  if (forced_outcome != nullptr) {
    r.outcome = *forced_outcome;
  } else if (u_fail < options_.fail_ratio) {
    r.outcome = "FAIL";
  } else if (u_cancel < 0.04) {
    r.outcome = "CANCELED";
  } else {
    r.outcome = "SUCCESS";
  }
  if (r.outcome == "FAIL") {
    r.terminal_stage = pick;
    r.fail_job = r.stages[static_cast<size_t>(pick)].critical_job;
    r.end = r.stages[static_cast<size_t>(pick)].end;
  } else if (r.outcome == "CANCELED") {
    const StagePlan& sp = r.stages[static_cast<size_t>(pick)];
    r.terminal_stage = pick;
    r.end = sp.start + (sp.end - sp.start) / 2;
  } else {
    r.terminal_stage = ns - 1;
    r.end = r.natural_end;
  }
  return r;
}

namespace {

using StageList = std::vector<StageView>;

// The stages and jobs of a finished run's view that this attempt ran to a final status.
StageList AttemptStages(const RunView& v, const RunPlan& plan) {
  auto ran = [&](const std::string& status, int64_t start) {
    return (status == "SUCCESS" || status == "FAIL" || status == "CANCELED") &&
           start > plan.attempt_after;
  };
  StageList out;
  for (const StageView& s : v.stages) {
    StageView kept = s;
    kept.jobs.clear();
    for (const JobView& j : s.jobs) {
      if (ran(j.status, j.start_time)) kept.jobs.push_back(j);
    }
    // (A job runs only in a stage that runs: a stage that did not keeps none.)
    if (ran(s.status, s.start_time)) out.push_back(std::move(kept));
  }
  return out;
}

}  // namespace

RunView World::Evaluate(const PipelineInfo& p, const RunPlan& r, int64_t now, bool detail) const {
  RunView v;
  v.run_id = r.run_id;
  v.pipeline_id = p.id;
  v.trigger_mode = r.trigger_mode;
  v.start_time = r.start;
  v.creator_account_id = r.creator;
  const bool finished = !r.hold_running && now >= r.end;
  int64_t cut = finished ? r.end : now;
  if (r.hold_running) cut = std::min(now, r.natural_end - 1);
  int64_t update = r.start;
  std::string status = "RUNNING";
  const int nj = options_.jobs_per_stage;

  for (size_t s = 0; s < r.stages.size(); ++s) {
    const StagePlan& sp = r.stages[s];
    StageView sv;
    const int si = static_cast<int>(s);
    if (detail) {
      const int group_split = (static_cast<int>(r.stages.size()) + 1) / 2;
      const int g = si < group_split ? 0 : 1;
      const int within = g == 0 ? si : si - group_split;
      sv.index = "Group" + std::to_string(g) + "-Stage" + std::to_string(within);
      sv.name = p.stage_names[s];
    }
    const bool not_started = (finished && si > r.terminal_stage) || sp.start > cut;
    const bool terminal_here = finished && si == r.terminal_stage;
    const bool waiting = !finished && si == p.manual_stage && cut < sp.wait_end;
    if (not_started) {
      sv.status = "INIT";
    } else {
      update = std::max(update, sp.start);
      sv.start_time = sp.start;
      if (terminal_here) {
        sv.status = r.outcome;
        sv.end_time = r.end;
      } else if (sp.end <= cut) {
        sv.status = "SUCCESS";
        sv.end_time = sp.end;
        update = std::max(update, sp.end);
      } else {
        sv.status = waiting ? p.manual_kind : "RUNNING";
        sv.end_time = sv.start_time;
        if (waiting && p.manual_kind == "WAITING") status = "WAITING";
        if (r.hold_running && !r.hold_status.empty()) sv.status = status = r.hold_status;
      }
    }
    if (!detail) continue;
    for (int j = 0; j < nj; ++j) {
      const JobPlan& jp = sp.jobs[static_cast<size_t>(j)];
      JobView jv;
      // Per-run instance id: unique per (pipeline, run, stage, job).
      jv.id = static_cast<int64_t>(p.ordinal) * 10000000000LL + r.run_id * 1000 +
              si * kMaxJobsPerStage + j;
      jv.sign = "job-" + std::to_string(s) + "-" + std::to_string(j);
      jv.name = p.job_names[s][static_cast<size_t>(j)];
      if (not_started || jp.start > cut) {
        jv.status = "INIT";
      } else if (jp.end <= cut) {
        jv.status = terminal_here && r.outcome == "FAIL" && j == r.fail_job ? "FAIL" : "SUCCESS";
        jv.start_time = jp.start;
        jv.end_time = jp.end;
      } else if (finished) {
        jv.status = "CANCELED";
        jv.start_time = jp.start;
        jv.end_time = cut;
      } else {
        jv.status = waiting && j == 0 ? p.manual_kind : "RUNNING";
        jv.start_time = jp.start;
        jv.end_time = jp.start;
      }
      sv.jobs.push_back(std::move(jv));
    }
    v.stages.push_back(std::move(sv));
  }
  // Job start/end events also move updateTime.
  if (!finished) {
    for (const StagePlan& sp : r.stages) {
      for (const JobPlan& jp : sp.jobs) {
        if (jp.start <= cut) update = std::max(update, jp.start);
        if (jp.end <= cut) update = std::max(update, jp.end);
      }
    }
  }

  v.finished = finished;
  if (finished) {
    v.status = r.outcome;
    v.end_time = r.end;
    v.update_time = r.end;
  } else {
    v.status = r.hold_running && !r.hold_status.empty() ? r.hold_status : status;
    v.end_time = r.start;
    v.update_time = update;
  }
  return v;
}

int64_t World::LatestId(const PipelineState& st, int64_t now) const {
  if (st.segments.empty()) return 0;
  const Segment& last = st.segments.back();
  if (last.fixed) return last.first_id;
  if (last.last_id != kOpenSegment) return last.last_id;
  const int64_t k = LatestSlot(*st.info, now);
  if (k < last.k0) return last.first_id - 1;
  return last.first_id + (k - last.k0);
}

std::optional<RunPlan> World::PlanForId(const PipelineState& st, int64_t run_id,
                                        int64_t now) const {
  if (run_id < 1 || run_id > LatestId(st, now)) return std::nullopt;
  for (auto it = st.segments.rbegin(); it != st.segments.rend(); ++it) {
    if (run_id < it->first_id) continue;
    if (it->fixed) {
      if (run_id != it->first_id) return std::nullopt;
      return *it->fixed;
    }
    if (it->last_id != kOpenSegment && run_id > it->last_id) return std::nullopt;
    const int64_t k = it->k0 + (run_id - it->first_id);
    const Slot slot = DrawSlot(*st.info, k);
    if (slot.start > now) return std::nullopt;
    return MakePlan(*st.info, static_cast<uint64_t>(k), run_id, slot.start, slot.duration, nullptr);
  }
  return std::nullopt;
}

std::vector<PipelinePtr> World::Pipelines() const {
  std::shared_lock lock(mu_);
  std::vector<PipelinePtr> out;
  out.reserve(pipelines_.size());
  for (const auto& [id, st] : pipelines_) out.push_back(st.info);
  return out;
}

PipelinePtr World::FindPipeline(int64_t id) const {
  std::shared_lock lock(mu_);
  auto it = pipelines_.find(id);
  return it == pipelines_.end() ? nullptr : it->second.info;
}

std::optional<RunView> World::LatestRun(int64_t pipeline_id, int64_t now) const {
  std::shared_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return std::nullopt;
  const int64_t id = LatestId(it->second, now);
  std::optional<RunPlan> plan = PlanForId(it->second, id, now);
  if (!plan) return std::nullopt;
  return Evaluate(*it->second.info, *plan, now, true);
}

std::optional<RunView> World::Run(int64_t pipeline_id, int64_t run_id, int64_t now) const {
  std::shared_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return std::nullopt;
  std::optional<RunPlan> plan = PlanForId(it->second, run_id, now);
  if (!plan) return std::nullopt;
  return Evaluate(*it->second.info, *plan, now, true);
}

std::optional<RunPage> World::ListRuns(int64_t pipeline_id, int64_t page, int64_t per_page,
                                       int64_t now) const {
  std::shared_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return std::nullopt;
  const PipelineState& st = it->second;
  const int64_t latest = LatestId(st, now);
  const int64_t skip = (page - 1) * per_page;
  RunPage out;
  out.total = latest;
  for (int64_t id = latest - skip; id >= 1 && id > latest - skip - per_page; --id) {
    std::optional<RunPlan> plan = PlanForId(st, id, now);
    if (plan) out.items.push_back(Evaluate(*st.info, *plan, now, false));
  }
  return out;
}

std::optional<RawLatest> World::RawLatestFor(int64_t pipeline_id) const {
  std::shared_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return std::nullopt;
  return it->second.raw_latest;
}

// Ends the open schedule segment at the latest run so far; returns the latest
// run id (0 when there is none).
int64_t World::CloseSchedule(PipelineState& st, int64_t now) {
  const int64_t latest = LatestId(st, now);
  if (!st.segments.empty()) {
    Segment& last = st.segments.back();
    if (!last.fixed && last.last_id == kOpenSegment) {
      if (latest < last.first_id) {
        st.segments.pop_back();
      } else {
        last.last_id = latest;
      }
    }
  }
  return latest;
}

bool World::AddOverrideRun(int64_t pipeline_id, std::string_view tag, const std::string& status,
                           bool running, const std::string& hold_status) {
  std::unique_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return false;
  PipelineState& st = it->second;
  const int64_t now = clock_->NowMs();
  const int64_t id = CloseSchedule(st, now) + 1;
  const uint64_t key = Hash(HashString(tag), static_cast<uint64_t>(id), static_cast<uint64_t>(now));
  const Slot slot = DrawSlot(*st.info, static_cast<int64_t>(key % 1000000));
  // A finished run ends now; a running one starts now and is held before its end.
  RunPlan plan =
      MakePlan(*st.info, key, id, running ? now : now - slot.duration, slot.duration, &status);
  if (running) {
    plan.hold_running = true;
    plan.hold_status = hold_status;
  } else {
    plan.Shift(now - plan.end);
  }
  st.segments.push_back(Segment{id, id, 0, std::make_shared<RunPlan>(std::move(plan))});
  return true;
}

bool World::FinishLatest(int64_t pipeline_id, const std::string& status) {
  return AddOverrideRun(pipeline_id, "finish", status, /*running=*/false);
}

bool World::StartRun(int64_t pipeline_id) {
  return AddOverrideRun(pipeline_id, "start", "SUCCESS", /*running=*/true);
}

bool World::HoldRun(int64_t pipeline_id, const std::string& status) {
  return AddOverrideRun(pipeline_id, "hold", "SUCCESS", /*running=*/true, status);
}

RunControl World::ResumeRun(int64_t pipeline_id, int64_t run_id, const std::string& status,
                            int64_t duration_ms) {
  std::unique_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return RunControl::kNoPipeline;
  PipelineState& st = it->second;
  const int64_t now = clock_->NowMs();
  std::optional<RunPlan> found = PlanForId(st, run_id, now);
  if (!found) return RunControl::kNoRun;
  RunPlan plan = std::move(*found);
  const bool finished = !plan.hold_running && now >= plan.end;
  if (!finished && !plan.hold_running) return RunControl::kNotFinished;

  // The stages from the one that ended the run (or holds it) run again from now.
  const int ns = static_cast<int>(plan.stages.size());
  int from = ns - 1;
  if (finished) {
    plan.earlier_finishes.push_back(
        {plan.end, plan.outcome, AttemptStages(Evaluate(*st.info, plan, plan.end, true), plan)});
    plan.attempt_after = plan.end;
    from = std::min(plan.terminal_stage, ns - 1);
  } else {
    const int64_t cut = std::min(now, plan.natural_end - 1);
    for (int s = 0; s < ns; ++s) {
      if (plan.stages[static_cast<size_t>(s)].end > cut) {
        from = s;
        break;
      }
    }
  }
  const int64_t d = std::max<int64_t>(1, duration_ms);
  const int64_t n = ns - from;
  for (int s = from; s < ns; ++s) {
    StagePlan& sp = plan.stages[static_cast<size_t>(s)];
    sp.start = now + d * (s - from) / n;
    sp.end = now + d * (s - from + 1) / n;
    sp.wait_end = sp.start;
    for (size_t j = 0; j < sp.jobs.size(); ++j) {
      sp.jobs[j].start = sp.start;
      sp.jobs[j].end =
          static_cast<int>(j) == sp.critical_job ? sp.end : sp.start + (sp.end - sp.start) / 2;
    }
  }
  plan.natural_end = now + d;
  plan.hold_running = false;
  plan.hold_status.clear();
  plan.outcome = status;
  plan.terminal_stage = ns - 1;
  plan.fail_job = status == "FAIL" ? plan.stages.back().critical_job : -1;
  const StagePlan& last = plan.stages.back();
  plan.end = status == "CANCELED" ? last.start + (last.end - last.start) / 2 : plan.natural_end;

  // The run becomes a fixed segment of its own (a scheduled one is split out).
  auto fixed = std::make_shared<RunPlan>(std::move(plan));
  for (size_t i = st.segments.size(); i-- > 0;) {
    Segment& seg = st.segments[i];
    if (run_id < seg.first_id) continue;
    if (seg.fixed) {
      seg.fixed = fixed;
      return RunControl::kOk;
    }
    std::vector<Segment> parts;
    if (run_id > seg.first_id) parts.push_back(Segment{seg.first_id, run_id - 1, seg.k0, nullptr});
    parts.push_back(Segment{run_id, run_id, 0, fixed});
    if (seg.last_id == kOpenSegment || run_id < seg.last_id) {
      parts.push_back(
          Segment{run_id + 1, seg.last_id, seg.k0 + (run_id + 1 - seg.first_id), nullptr});
    }
    st.segments.erase(st.segments.begin() + static_cast<std::ptrdiff_t>(i));
    st.segments.insert(st.segments.begin() + static_cast<std::ptrdiff_t>(i), parts.begin(),
                       parts.end());
    return RunControl::kOk;
  }
  return RunControl::kNoRun;
}

std::optional<std::vector<FinishEvent>> World::Finishes(int64_t pipeline_id, int64_t since_ms,
                                                        bool with_jobs) const {
  std::shared_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return std::nullopt;
  const PipelineState& st = it->second;
  const int64_t now = clock_->NowMs();
  std::vector<FinishEvent> out;
  auto add = [&](const RunPlan& plan) {
    for (const RunPlan::EarlierFinish& e : plan.earlier_finishes) {
      if (e.end > since_ms && e.end <= now) {
        out.push_back(
            {plan.run_id, e.outcome, e.end, true, plan.start, with_jobs ? e.stages : StageList{}});
      }
    }
    if (!plan.hold_running && plan.end > since_ms && plan.end <= now) {
      out.push_back({plan.run_id, plan.outcome, plan.end, false, plan.start,
                     with_jobs ? AttemptStages(Evaluate(*st.info, plan, plan.end, true), plan)
                               : StageList{}});
    }
  };
  const int64_t latest = LatestId(st, now);
  for (const Segment& seg : st.segments) {
    if (seg.fixed) {
      if (seg.first_id <= latest) add(*seg.fixed);
      continue;
    }
    // A schedule's runs end in id order: walk down from its newest until one ended before.
    const int64_t top = std::min(seg.last_id, latest);
    for (int64_t id = top; id >= seg.first_id; --id) {
      const int64_t k = seg.k0 + (id - seg.first_id);
      const Slot slot = DrawSlot(*st.info, k);
      if (slot.start > now) continue;
      RunPlan plan =
          MakePlan(*st.info, static_cast<uint64_t>(k), id, slot.start, slot.duration, nullptr);
      if (plan.end <= since_ms) break;
      add(plan);
    }
  }
  std::sort(out.begin(), out.end(), [](const FinishEvent& a, const FinishEvent& b) {
    return std::tie(a.end_time, a.run_id) < std::tie(b.end_time, b.run_id);
  });
  return out;
}

bool World::ClearOverride(int64_t pipeline_id) {
  std::unique_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return false;
  PipelineState& st = it->second;
  if (st.segments.empty() || !st.segments.back().fixed) return true;  // nothing to clear
  const int64_t now = clock_->NowMs();
  // Held runs may finish now; the schedule resumes with the next slot.
  for (Segment& seg : st.segments) {
    if (seg.fixed && seg.fixed->hold_running) {
      auto copy = std::make_shared<RunPlan>(*seg.fixed);
      copy->hold_running = false;
      seg.fixed = std::move(copy);
    }
  }
  const int64_t next_id = st.segments.back().first_id + 1;
  st.segments.push_back(Segment{next_id, kOpenSegment, LatestSlot(*st.info, now) + 1, nullptr});
  return true;
}

bool World::SetRawLatest(int64_t pipeline_id, RawLatest raw) {
  std::unique_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return false;
  it->second.raw_latest = std::move(raw);
  return true;
}

bool World::ClearRawLatest(int64_t pipeline_id) {
  std::unique_lock lock(mu_);
  auto it = pipelines_.find(pipeline_id);
  if (it == pipelines_.end()) return false;
  it->second.raw_latest.reset();
  return true;
}

std::vector<int64_t> World::AddPipelines(int count) {
  std::unique_lock lock(mu_);
  const int64_t now = clock_->NowMs();
  std::vector<int64_t> ids;
  for (int i = 0; i < count; ++i) {
    PipelineState st;
    st.info = MakePipeline(next_ordinal_++, now);
    st.segments.push_back(Segment{1, kOpenSegment, 0, nullptr});
    ids.push_back(st.info->id);
    pipelines_.emplace(st.info->id, std::move(st));
  }
  return ids;
}

std::vector<int64_t> World::RemovePipelines(const std::vector<int64_t>& ids) {
  std::unique_lock lock(mu_);
  std::vector<int64_t> removed;
  for (int64_t id : ids) {
    if (pipelines_.erase(id) > 0) removed.push_back(id);
  }
  return removed;
}

std::vector<PipelineTruth> World::Truth() const {
  std::shared_lock lock(mu_);
  const int64_t now = clock_->NowMs();
  std::vector<PipelineTruth> out;
  for (const auto& [id, st] : pipelines_) {
    PipelineTruth t;
    t.id = id;
    t.name = st.info->name;
    t.group_id = st.info->group_id;
    t.latest_run_id = LatestId(st, now);
    if (std::optional<RunPlan> plan = PlanForId(st, t.latest_run_id, now)) {
      t.status = Evaluate(*st.info, *plan, now, false).status;
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace yfe::sim
