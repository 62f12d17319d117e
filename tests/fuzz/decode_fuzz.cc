// libFuzzer target: API body → decode → translate → exposition text. Any crash, sanitizer
// report or invalid exposition line is a finding.
//   scripts/fuzz.sh 60     (builds with clang and runs for 60 s)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "metrics/exposition.h"
#include "metrics/translate.h"
#include "model/decode.h"
#include "support/exposition_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto run = yfe::model::DecodePipelineRun(body);
  (void)yfe::model::DecodePipelineList(body);
  (void)yfe::model::DecodeApiError(body);
  if (!run.ok()) return 0;
  for (bool sparse : {true, false}) {
    yfe::metrics::RenderOptions options;
    options.sparse_status = sparse;
    auto fragments = yfe::metrics::RenderRun({"1", "p\"\\\n"}, *run, options);
    std::string text;
    for (size_t f = 0; f < fragments.text.size(); ++f) {
      if (fragments.text[f].empty()) continue;
      yfe::metrics::AppendHeader(text, yfe::metrics::kPipelineMetrics[f]);
      text += fragments.text[f];
    }
    std::string problem = yfe::testing::CheckExposition(text);
    if (!problem.empty()) {
      fprintf(stderr, "invalid exposition: %s\n", problem.c_str());
      abort();
    }
  }
  return 0;
}
