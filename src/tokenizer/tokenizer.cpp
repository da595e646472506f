#include "tokenizer/tokenizer.h"

#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"

namespace strata {

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_dir(const std::string& dir) {
  STRATA_TRY(auto tokenizer, HfTokenizer::load(dir));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

std::unique_ptr<Tokenizer> Tokenizer::byte_level() {
  return std::make_unique<ByteTokenizer>();
}

}  // namespace strata
