#include "tokenizer/normalizer.h"

#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/nfc.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace strata {
namespace {

using json_fields::json;

class NfcNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override { return unicode::nfc(text); }
};

class NfdNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override { return unicode::nfd(text); }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& p : parts_) s = p->normalize(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// Prepends a string to non-empty text.
class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string_view text) const override {
    if (text.empty()) return std::string();
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

// Replaces every match of a pattern by a fixed string.
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string_view text) const override {
    std::vector<RegexMatch> matches;
    pattern_->find_all(text, matches);
    std::string out;
    out.reserve(text.size());
    size_t prev = 0;
    for (const auto& m : matches) {
      out.append(text.substr(prev, m.start - prev));
      out += content_;
      prev = m.end;
    }
    out.append(text.substr(prev));
    return out;
  }

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

// Strips White_Space on the left and/or right.
class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t next = begin;
        if (!unicode::is_white_space(unicode::next_code_point(text, next))) break;
        begin = next;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
        size_t i = start;
        if (!unicode::is_white_space(unicode::next_code_point(text, i))) break;
        end = start;
      }
    }
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

}  // namespace

Result<std::unique_ptr<Normalizer>> Normalizer::from_json(const json& j, const std::string& where) {
  STRATA_TRY(std::string type, json_fields::type_field(j, where));
  if (type == "NFC") return std::unique_ptr<Normalizer>(new NfcNormalizer());
  if (type == "NFD") return std::unique_ptr<Normalizer>(new NfdNormalizer());
  if (type == "Sequence") {
    const std::string field = where + ".normalizers";
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      return make_error("{} must be a list", field);
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < j["normalizers"].size(); ++i) {
      STRATA_TRY(auto part, from_json(j["normalizers"][i], fmt::format("{}[{}]", field, i)));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(parts)));
  }
  if (type == "Prepend") {
    STRATA_TRY(std::string prepend, json_fields::string_field(j, "prepend", where));
    return std::unique_ptr<Normalizer>(new PrependNormalizer(std::move(prepend)));
  }
  if (type == "Replace") {
    STRATA_TRY(auto pattern, json_fields::pattern_field(j, "pattern", where));
    STRATA_TRY(std::string content, json_fields::string_field(j, "content", where));
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(pattern), std::move(content)));
  }
  if (type == "Strip") {
    STRATA_TRY(bool left, json_fields::bool_field(j, "strip_left", where, false));
    STRATA_TRY(bool right, json_fields::bool_field(j, "strip_right", where, false));
    return std::unique_ptr<Normalizer>(new StripNormalizer(left, right));
  }
  return json_fields::unsupported(where, type, "NFC, NFD, Sequence, Prepend, Replace, Strip");
}

}  // namespace strata
