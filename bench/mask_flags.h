// Mask parameter flags, one definition for every command that takes case options
// (`run`, `mask`, `model`, `plan`): each flag is a MaskSpec JSON key (masks/README.md),
// and only the flags given reach the case, so a kind's own defaults hold otherwise.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/options.h"  // MaskParams

namespace cpb::bench {

struct MaskFlags {
  int64_t window = 0, global_tokens = 0, prefix = 0, question = 0, answers = 0, block = 0, topk = 0,
          max_doc = 0;
  double prefix_fraction = 0, keep = 0, long_share = 0;
  std::string doclen;
  bool per_head = false;
  std::vector<std::pair<std::string, CLI::Option*>> options;

  void add(CLI::App& app) {
    options = {
        {"window", app.add_option("--window", window, "sliding windows: window size in tokens")},
        {"global_tokens", app.add_option("--global-tokens", global_tokens,
                                         "global_sliding kinds: number of global (sink) tokens")},
        {"prefix", app.add_option("--prefix", prefix, "prefix_lm_causal: prefix length")},
        {"prefix_fraction", app.add_option("--prefix-fraction", prefix_fraction,
                                           "prefix_lm_document: prefix share of each document")},
        {"question", app.add_option("--question", question, "shared_question: question length")},
        {"answers", app.add_option("--answers", answers, "shared_question: number of answers")},
        {"block", app.add_option("--block", block, "block kinds: block size in tokens")},
        {"keep", app.add_option("--keep", keep, "block_sparse: kept fraction of blocks (0, 1]")},
        {"topk", app.add_option("--topk", topk, "block_sparse_topk: key blocks per block row")},
        {"doclen", app.add_option("--doclen", doclen,
                                  "document kinds: histogram name (see `cpbench list`) or file")},
        {"long_share",
         app.add_option("--long-share", long_share, "*_long kinds: share of tokens in long docs")},
        {"max_doc", app.add_option("--max-doc", max_doc,
                                   "document kinds: cap on document length in tokens (longer "
                                   "ones are cut into pieces)")},
        {"per_head", app.add_flag("--per-head", per_head,
                                  "block_sparse_topk: one draw per KV head (masks/README.md)")},
    };
  }

  MaskParams params() const {
    MaskParams p;
    for (const auto& [key, opt] : options) {
      if (opt->count() == 0) continue;
      if (key == "window") p.values[key] = window;
      if (key == "global_tokens") p.values[key] = global_tokens;
      if (key == "prefix") p.values[key] = prefix;
      if (key == "prefix_fraction") p.values[key] = prefix_fraction;
      if (key == "question") p.values[key] = question;
      if (key == "answers") p.values[key] = answers;
      if (key == "block") p.values[key] = block;
      if (key == "keep") p.values[key] = keep;
      if (key == "topk") p.values[key] = topk;
      if (key == "doclen") p.values[key] = doclen;
      if (key == "long_share") p.values[key] = long_share;
      if (key == "max_doc") p.values[key] = max_doc;
      if (key == "per_head") p.values[key] = per_head;
    }
    return p;
  }
};

}  // namespace cpb::bench
