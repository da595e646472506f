#include "tokenizer/decoder.h"

#include "tokenizer/json_fields.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace strata {
namespace {

using json_fields::json;

std::vector<char32_t> code_points(const std::string& s) {
  std::vector<char32_t> cps;
  size_t i = 0;
  while (i < s.size()) cps.push_back(unicode::next_code_point(s, i));
  return cps;
}

class ByteLevelDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      const size_t mark = bytes.size();
      size_t i = 0;
      bool all_mapped = true;
      while (i < t.size()) {
        const int b = unicode::unicode_to_byte(unicode::next_code_point(t, i));
        if (b < 0) {
          all_mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!all_mapped) {  // a token outside the byte alphabet is taken as it is
        bytes.resize(mark);
        bytes += t;
      }
    }
    return {unicode::to_valid_utf8(bytes)};
  }
};

// Runs of "<0xXX>" tokens become the UTF-8 text they spell, or one U+FFFD per byte when invalid.
class ByteFallbackDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending.size(); ++k)
          out.push_back(unicode::to_utf8(unicode::kReplacementChar));
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex(t[3], t[4]);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }

 private:
  static int parse_hex(char hi, char lo) {
    auto digit = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int h = digit(hi), l = digit(lo);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of one character from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::vector<char32_t> cps = code_points(t);
      size_t begin = 0, end = cps.size();
      for (size_t k = 0; k < start_ && k < cps.size() && cps[k] == content_; ++k) begin = k + 1;
      for (size_t k = 0; k < stop_ && k < cps.size(); ++k) {
        const size_t index = cps.size() - k - 1;
        if (cps[index] != content_) break;
        end = index;
      }
      std::string s;
      for (size_t k = begin; k < end; ++k) unicode::append_utf8(s, cps[k]);
      t = std::move(s);
    }
    return tokens;
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<RegexMatch> matches;
    for (auto& t : tokens) {
      matches.clear();
      pattern_->find_all(t, matches);
      if (matches.empty()) continue;
      std::string s;
      size_t prev = 0;
      for (const auto& m : matches) {
        s.append(t, prev, m.start - prev);
        s += content_;
        prev = m.end;
      }
      s.append(t, prev, std::string::npos);
      t = std::move(s);
    }
    return tokens;
  }

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

// The replacement character becomes a space, except in the first token when a prefix space was added.
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool strip_first)
      : replacement_(replacement), strip_first_(strip_first) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string s;
      for (char32_t c : code_points(tokens[k])) {
        if (c != replacement_) {
          unicode::append_utf8(s, c);
        } else if (!(k == 0 && strip_first_)) {
          s += ' ';
        }
      }
      tokens[k] = std::move(s);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool strip_first_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& p : parts_) tokens = p->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

Result<char32_t> char_field(const json& j, const char* key, const std::string& where) {
  STRATA_TRY(std::string s, json_fields::string_field(j, key, where));
  std::vector<char32_t> cps = code_points(unicode::to_valid_utf8(s));
  if (cps.size() != 1) return make_error("{}.{} must be a single character, got '{}'", where, key, s);
  return cps[0];
}

Result<size_t> count_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number_unsigned())
    return make_error("{}.{} must be a count", where, key);
  return j[key].get<size_t>();
}

}  // namespace

Result<std::unique_ptr<Decoder>> Decoder::from_json(const json& j, const std::string& where) {
  STRATA_TRY(std::string type, json_fields::type_field(j, where));
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") {
    STRATA_TRY(char32_t content, char_field(j, "content", where));
    STRATA_TRY(size_t start, count_field(j, "start", where));
    STRATA_TRY(size_t stop, count_field(j, "stop", where));
    return std::unique_ptr<Decoder>(new StripDecoder(content, start, stop));
  }
  if (type == "Replace") {
    STRATA_TRY(auto pattern, json_fields::pattern_field(j, "pattern", where));
    STRATA_TRY(std::string content, json_fields::string_field(j, "content", where));
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(pattern), std::move(content)));
  }
  if (type == "Metaspace") {
    STRATA_TRY(char32_t replacement, char_field(j, "replacement", where));
    std::string scheme = "always";
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) scheme = j["prepend_scheme"];
    STRATA_TRY(bool add_prefix_space, json_fields::bool_field(j, "add_prefix_space", where, true));
    if (!add_prefix_space) scheme = "never";
    return std::unique_ptr<Decoder>(new MetaspaceDecoder(replacement, scheme != "never"));
  }
  if (type == "Sequence") {
    const std::string field = where + ".decoders";
    if (!j.contains("decoders") || !j["decoders"].is_array()) return make_error("{} must be a list", field);
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < j["decoders"].size(); ++i) {
      STRATA_TRY(auto part, from_json(j["decoders"][i], fmt::format("{}[{}]", field, i)));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(parts)));
  }
  return json_fields::unsupported(where, type,
                                  "ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence");
}

}  // namespace strata
