// Tokenizer: text <-> token ids, loaded from a Hugging Face model directory exactly as the
// `tokenizers` library does it.
//
// encode: split out added/special tokens (lstrip/rstrip/normalized/single_word flags) → normalize the
// remaining text (NFC, Sequence, ...) → pre-tokenize (Split with PCRE2 regexes, ByteLevel, Sequence) →
// BPE over each piece (merge ranks, ignore_merges) → post-process (TemplateProcessing adds BOS).
// decode: ids → token strings → decoders (ByteLevel) → text, optionally skipping special tokens.
// IncrementalDetokenizer turns a growing id sequence into text deltas that never split a UTF-8 char.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads <dir>/tokenizer.json and, if present, <dir>/tokenizer_config.json. Errors name the file
  // and the unsupported or malformed field.
  static Result<std::unique_ptr<Tokenizer>> from_dir(const std::string& dir);
  // The built-in byte-level tokenizer of the built-in default model: ids 0..255 are raw bytes,
  // 256 = "<s>" (BOS, added on encode), 257 = "</s>" (EOS).
  static std::unique_ptr<Tokenizer> byte_level();

  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const = 0;
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const = 0;

  // Number of ids (model vocab entries + added tokens): max id + 1.
  virtual int32_t vocab_size() const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // The token's string as in the vocabulary (e.g. "Ġthe"); empty for an unknown id.
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // From tokenizer_config.json (bos_token / eos_token), when set.
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
};

// Streaming detokenization: feed ids one at a time, get the new text. Text is only emitted once it
// is complete UTF-8 and stable (decoding prefix+new ids and subtracting what was already emitted, as
// vLLM does), so a multi-byte character split across tokens is never emitted broken.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids,
                         bool skip_special_tokens = true);
  // Appends one generated id; returns the text that became final (possibly empty).
  std::string push(int32_t id);
  // At the end of the stream: returns the text still held back (an incomplete character decodes as
  // U+FFFD), so that text() then equals the decode of all generated ids.
  std::string flush();
  // Everything emitted so far.
  const std::string& text() const { return text_; }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // start of the window decoded for context
  size_t read_offset_ = 0;    // ids before this have been emitted
  std::string text_;
};

}  // namespace strata
