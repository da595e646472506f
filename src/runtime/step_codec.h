// The control plane's messages: a step (the chunks every rank runs) and a step's output (what the
// output rank returns to the engine), as bytes. A decoded step owns its token ids and block tables,
// so ranks keep running it while the engine already changes its requests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model_runner.h"

namespace strata {

struct OwnedStep {
  std::vector<std::vector<int32_t>> tokens, tables, prompt_ids, output_ids;
  std::vector<SeqChunk> chunks;  // spans into tokens / tables
};

std::string encode_step(std::span<const SeqChunk> chunks);
OwnedStep decode_step(std::string_view bytes);
std::string encode_output(const StepOutput& out);
StepOutput decode_output(std::string_view bytes);

}  // namespace strata
