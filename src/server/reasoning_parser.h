// DeepSeek-R1 reasoning parser (--reasoning-parser deepseek_r1), as vLLM's: the text up to "</think>"
// is reasoning_content (a leading "<think>" dropped: newer R1 templates open it in the prompt), the
// rest is content; with no "</think>" at all, everything is reasoning. Streaming holds back a
// partial tag so "</thi" never leaks into either field.
#pragma once

#include <string>

namespace strata {

class ReasoningParser {
 public:
  struct Delta {
    std::string reasoning;
    std::string content;
  };
  Delta push(const std::string& text);
  Delta finish();  // releases whatever was held back

 private:
  std::string buf_;
  bool started_ = false;  // past the optional leading "<think>"
  bool in_reasoning_ = true;
};

}  // namespace strata
