// DeliveryLedger: what the delivery view (collector/delivery.h) knows about one pipeline,
// as plain data. It lives in the pipeline's RunLedger, so LedgerStore saves it in the same
// commit as the run watermark: a deployment is counted once, right across restarts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace yfe::collector {

struct DeliveryLedger {
  struct Histogram {
    std::vector<double> counts;  // per bucket (kDeliveryBuckets), not cumulative
    double sum = 0;
    double count = 0;
  };
  // A deployment run counted in `deployments`: later finishes of the same run (after a
  // resume) are not counted again.
  struct Deploy {
    std::string status;      // the outcome it was counted with
    bool lead_done = false;  // its lead time is observed (at its first SUCCESS)
  };
  // A counted finish not yet applied to the failure streak: a poll shows runs newest
  // first, the streak needs them in the order they ended (applied at the end of the poll).
  struct Finish {
    int64_t run_id = 0;
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    std::string status;
  };
  // A counted finish of a pipeline whose deployments end with a stage (delivery's
  // `stage:`): decided when its detail (GetPipelineRun) shows that stage.
  struct Awaiting {
    int64_t start_ms = 0;  // the run's createTime (from the run list)
    int64_t attempts = 0;  // details fetched or failed without a decision
  };
  using Key = std::pair<std::string, std::string>;  // (environment, status)

  std::map<Key, double> deployments;            // deployments_total
  std::map<std::string, Histogram> lead_times;  // environment -> lead time histogram
  std::map<std::string, Histogram> restores;    // environment ("" if none) -> histogram
  std::map<int64_t, Deploy> deploys;            // run id -> (at most kMaxDeploys)
  std::vector<Finish> pending;                  // at most kMaxPending
  std::map<int64_t, Awaiting> awaiting;         // run id -> (at most kMaxAwaiting)
  int64_t failing_since_ms = 0;  // end of the first failed finish of the streak; 0: green
  int64_t last_end_ms = 0;       // the latest end applied to the streak

  bool empty() const {
    return deployments.empty() && lead_times.empty() && restores.empty() && deploys.empty() &&
           pending.empty() && awaiting.empty() && failing_since_ms == 0 && last_end_ms == 0;
  }
};

}  // namespace yfe::collector
