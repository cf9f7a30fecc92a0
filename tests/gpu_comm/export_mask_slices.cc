// export_mask_slices: writes cpbench masks as slices (masks/mask.h) in the cases
// format scripts/torch_baseline.py reads, so the PyTorch anchors run on exactly
// the masks cpbench times (document kinds included: sampled here, not re-coded).
// Usage: export_mask_slices SEQ HEADS_Q HEADS_KV HEAD_DIM DTYPE PASS SPEC_JSON...
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "masks/mask_spec.h"

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr,
                 "usage: %s SEQ HEADS_Q HEADS_KV HEAD_DIM DTYPE PASS SPEC_JSON...\n"
                 "e.g. %s 16384 64 8 128 bf16 fwd '{\"kind\":\"causal\"}'\n",
                 argv[0], argv[0]);
    return 2;
  }
  try {
    const int64_t seq = std::stoll(argv[1]);
    nlohmann::json out = {{"cases", nlohmann::json::array()}};
    for (int i = 7; i < argc; ++i) {
      cpb::MaskSpec spec = nlohmann::json::parse(argv[i]).get<cpb::MaskSpec>();
      cpb::Mask mask = cpb::make_mask(spec, seq);
      nlohmann::json slices = nlohmann::json::array();
      for (const cpb::MaskSlice& s : mask.slices)
        slices.push_back({{"q_begin", s.q_begin},
                          {"q_end", s.q_end},
                          {"k_begin", s.k_begin},
                          {"k_end", s.k_end},
                          {"diag_lo", s.diag_lo},
                          {"diag_hi", s.diag_hi}});
      out["cases"].push_back(
          {{"params",
            {{"mask", spec},
             {"seq", seq},
             {"heads_q", std::stoll(argv[2])},
             {"heads_kv", std::stoll(argv[3])},
             {"head_dim", std::stoll(argv[4])},
             {"dtype", argv[5]},
             {"pass", argv[6]}}},
           {"mask_slices", {{"seq_q", mask.seq_q}, {"seq_k", mask.seq_k}, {"slices", slices}}},
           {"area", mask.area()}});
    }
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export_mask_slices: %s\n", e.what());
    return 2;
  }
  return 0;
}
