#include "tokenizer/post_processor.h"

#include "tokenizer/json_fields.h"

namespace strata {
namespace {

using json_fields::json;

// Ids before and after the sequence; covers TemplateProcessing's single template and the
// Bert/Roberta processors (cls ... sep).
class AffixProcessor final : public PostProcessor {
 public:
  AffixProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

class NoOpProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// TemplateProcessing: "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, ...] with
// "special_tokens": {"<s>": {"ids": [1], ...}}.
Result<std::unique_ptr<PostProcessor>> template_processing(const json& j, const std::string& where) {
  const std::string single_field = where + ".single";
  if (!j.contains("single") || !j["single"].is_array()) return make_error("{} must be a list", single_field);
  const json* specials =
      j.contains("special_tokens") && j["special_tokens"].is_object() ? &j["special_tokens"] : nullptr;
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < j["single"].size(); ++i) {
    const json& piece = j["single"][i];
    const std::string field = fmt::format("{}[{}]", single_field, i);
    if (piece.contains("Sequence")) {
      STRATA_TRY(std::string id, json_fields::string_field(piece["Sequence"], "id", field + ".Sequence"));
      if (id != "A")
        return make_error("{}: the single template may only use sequence A, got '{}'", field, id);
      if (seen_sequence) return make_error("{}: sequence A appears twice", field);
      seen_sequence = true;
      continue;
    }
    if (!piece.contains("SpecialToken")) return make_error("{} must be a SpecialToken or a Sequence", field);
    STRATA_TRY(std::string name,
               json_fields::string_field(piece["SpecialToken"], "id", field + ".SpecialToken"));
    if (!specials || !specials->contains(name) || !(*specials)[name].contains("ids") ||
        !(*specials)[name]["ids"].is_array()) {
      return make_error("{}.special_tokens['{}'].ids is missing", where, name);
    }
    for (const json& id : (*specials)[name]["ids"]) {
      if (!id.is_number_integer())
        return make_error("{}.special_tokens['{}'].ids must hold integers", where, name);
      (seen_sequence ? suffix : prefix).push_back(id.get<int32_t>());
    }
  }
  if (!seen_sequence) return make_error("{} has no Sequence A", single_field);
  return std::unique_ptr<PostProcessor>(new AffixProcessor(std::move(prefix), std::move(suffix)));
}

// BertProcessing / RobertaProcessing: "cls": ["[CLS]", 101], "sep": ["[SEP]", 102].
Result<int32_t> token_pair_id(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2 || !j[key][1].is_number_integer()) {
    return make_error("{}.{} must be [token, id]", where, key);
  }
  return j[key][1].get<int32_t>();
}

}  // namespace

std::unique_ptr<PostProcessor> PostProcessor::bos_eos(std::vector<int32_t> prefix,
                                                      std::vector<int32_t> suffix) {
  return std::make_unique<AffixProcessor>(std::move(prefix), std::move(suffix));
}

Result<std::unique_ptr<PostProcessor>> PostProcessor::from_json(const json& j, const std::string& where) {
  STRATA_TRY(std::string type, json_fields::type_field(j, where));
  if (type == "TemplateProcessing") return template_processing(j, where);
  if (type == "ByteLevel") return std::unique_ptr<PostProcessor>(new NoOpProcessor());
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    STRATA_TRY(int32_t cls, token_pair_id(j, "cls", where));
    STRATA_TRY(int32_t sep, token_pair_id(j, "sep", where));
    return std::unique_ptr<PostProcessor>(new AffixProcessor({cls}, {sep}));
  }
  if (type == "Sequence") {
    const std::string field = where + ".processors";
    if (!j.contains("processors") || !j["processors"].is_array())
      return make_error("{} must be a list", field);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < j["processors"].size(); ++i) {
      STRATA_TRY(auto part, from_json(j["processors"][i], fmt::format("{}[{}]", field, i)));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<PostProcessor>(new SequenceProcessor(std::move(parts)));
  }
  return json_fields::unsupported(
      where, type, "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence");
}

}  // namespace strata
