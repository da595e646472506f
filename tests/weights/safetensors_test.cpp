// Safetensors reader: real fixture checkpoints (sharded with an index) and hand-made broken files.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "testutil.h"
#include "weights/safetensors.h"
#include "weights/weight_loader.h"

namespace strata {
namespace {
namespace fs = std::filesystem;

// Writes a safetensors file: 8-byte length, the header text, then `data_bytes` bytes of data.
std::string write_raw(const std::string& dir, const std::string& name, const std::string& header,
                      size_t data_bytes, std::optional<uint64_t> len_override = std::nullopt) {
  std::string path = dir + "/" + name;
  std::ofstream f(path, std::ios::binary);
  uint64_t len = len_override.value_or(header.size());
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header;
  std::vector<char> data(data_bytes);
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i * 7);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return path;
}

std::string error_of(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  return f.ok() ? std::string("<opened>") : f.error().message();
}

TEST(Safetensors, ReadsValidFile) {
  std::string dir = test::make_temp_dir("st");
  std::string p = write_raw(dir, "a.safetensors",
                            R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                            R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"__metadata__":{"format":"pt"}})",
                            32);
  auto f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->entries().size(), 2u);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  TensorView w = (*f)->view("w");
  EXPECT_EQ(w.shape, (Shape{2, 3}));
  EXPECT_EQ(w.dtype, DType::kF32);
  EXPECT_EQ(static_cast<const char*>(w.data)[1], 7);
}

TEST(Safetensors, RejectsBrokenFilesWithMessages) {
  std::string dir = test::make_temp_dir("st-bad");
  const std::string ok_header = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  struct Case {
    std::string name, header;
    size_t data;
    std::optional<uint64_t> len;
    std::string expect;
  } cases[] = {
      {"truncated_header.safetensors", ok_header, 0, ok_header.size() + 100, "exceeds the file size"},
      {"truncated_data.safetensors", ok_header, 10, std::nullopt, "past the end of the data"},
      {"not_json.safetensors", "{not json", 0, std::nullopt, "not a valid JSON object"},
      {"bad_dtype.safetensors", R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2, std::nullopt,
       "unsupported dtype 'Q4'"},
      {"size_mismatch.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24,
       std::nullopt, "20 bytes for shape [2, 3] of F32 (24 expected)"},
      {"overlap.safetensors",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, std::nullopt, "overlap"},
      {"huge_len.safetensors", ok_header, 24, uint64_t{1} << 60, "implausible"},
  };
  for (const auto& c : cases) {
    std::string p = write_raw(dir, c.name, c.header, c.data, c.len);
    std::string msg = error_of(p);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.name), std::string::npos) << "message must name the file: " << msg;
  }
  {
    std::ofstream(dir + "/tiny.safetensors") << "abc";
    EXPECT_NE(error_of(dir + "/tiny.safetensors").find("too short"), std::string::npos);
  }
  EXPECT_NE(error_of(dir + "/missing.safetensors").find("cannot open"), std::string::npos);
}

TEST(WeightStore, OpensShardedFixtureThroughIndex) {
  auto s = WeightStore::open_dir(test::fixtures_dir() + "/models/mistral");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(s->has("lm_head.weight"));
  EXPECT_TRUE(s->has("model.layers.2.mlp.down_proj.weight"));
  auto t = s->get("model.embed_tokens.weight");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape, (Shape{129280, 16}));
  EXPECT_FALSE(s->get("nope").ok());
}

TEST(WeightStore, MissingShardAndMissingWeights) {
  std::string dir = test::make_temp_dir("ws");
  EXPECT_NE(WeightStore::open_dir(dir).error().message().find("no *.safetensors"), std::string::npos);
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"weight_map":{"w":"model-00001-of-00002.safetensors"}})";
  auto r = WeightStore::open_dir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("model-00001-of-00002.safetensors"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("missing"), std::string::npos) << r.error().message();
}

TEST(WeightLoader, ShardsAgreeWithWholeTensor) {
  auto store = WeightStore::open_dir(test::fixtures_dir() + "/models/qwen2");
  ASSERT_TRUE(store.ok());
  WeightLoader l = WeightLoader::from_checkpoint(std::move(store).value());
  const std::string name = "model.layers.0.mlp.down_proj.weight";  // [16, 48]
  auto whole = l.load(name, {16, 48}, ShardDim::kNone, 0, 1);
  ASSERT_TRUE(whole.ok());
  for (int r = 0; r < 2; ++r) {
    auto cols = l.load(name, {16, 48}, ShardDim::kCols, r, 2);
    ASSERT_TRUE(cols.ok());
    EXPECT_EQ(cols->shape(), (Shape{16, 24}));
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 24; ++j) EXPECT_EQ(cols->data<float>()[i * 24 + j], whole->data<float>()[i * 48 + r * 24 + j]);
    auto rows = l.load(name, {16, 48}, ShardDim::kRows, r, 2);
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ(0, std::memcmp(rows->data<float>(), whole->data<float>() + r * 8 * 48, 8 * 48 * sizeof(float)));
  }
  auto wrong = l.load(name, {48, 16}, ShardDim::kNone, 0, 1);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("has shape [16, 48], expected [48, 16]"), std::string::npos)
      << wrong.error().message();
  EXPECT_NE(wrong.error().message().find("model-0000"), std::string::npos) << "names the shard file";
}

TEST(WeightLoader, DummyIsDeterministicAndShardConsistent) {
  WeightLoader a = WeightLoader::dummy(7), b = WeightLoader::dummy(7), c = WeightLoader::dummy(8);
  auto x = a.load("w", {8, 6}, ShardDim::kNone, 0, 1), y = b.load("w", {8, 6}, ShardDim::kNone, 0, 1);
  auto z = c.load("w", {8, 6}, ShardDim::kNone, 0, 1), part = a.load("w", {8, 6}, ShardDim::kCols, 1, 2);
  ASSERT_TRUE(x.ok() && y.ok() && z.ok() && part.ok());
  EXPECT_EQ(0, std::memcmp(x->data<float>(), y->data<float>(), 48 * 4));
  EXPECT_NE(0, std::memcmp(x->data<float>(), z->data<float>(), 48 * 4));
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(part->data<float>()[i * 3 + j], x->data<float>()[i * 6 + 3 + j]);
  float mn = 1, mx = -1;
  for (int i = 0; i < 48; ++i) mn = std::min(mn, x->data<float>()[i]), mx = std::max(mx, x->data<float>()[i]);
  EXPECT_LT(mn, 0);
  EXPECT_GT(mx, 0);
  EXPECT_LE(mx, 0.02f);
}

}  // namespace
}  // namespace strata
