// Output processing of one sequence on the engine thread: incremental detokenization and stop
// strings (matched across token boundaries in the detokenized text). While stop strings are set and
// not included in the output, the last (longest stop − 1) bytes are held back so a stop string that
// is still forming is never streamed; they are released when the sequence ends otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "engine/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace strata {

class SequenceText {
 public:
  SequenceText(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids, const SamplingParams& params);

  struct Delta {
    std::string text;                        // newly final text
    std::optional<std::string> stop_string;  // set when a stop string matched: the sequence ends
  };
  // Adds a generated token. `last` = no more tokens will follow (flush held-back text);
  // `check_stops` = false while min_tokens is not reached.
  Delta append(int32_t token, bool last, bool check_stops = true);
  // The sequence ended on a stop token that is not part of the output: release held-back text.
  Delta finish() { return Delta{take(text_.size()), std::nullopt}; }
  const std::string& text() const { return text_; }

 private:
  std::string take(size_t upto);

  IncrementalDetokenizer detok_;
  const SamplingParams& params_;
  size_t max_stop_ = 0;
  std::string text_;     // everything decoded so far (cut at a stop string)
  size_t emitted_ = 0;   // bytes of text_ already returned
};

}  // namespace strata
