#include "testutil.h"

#include <cstdlib>

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace strata::test {

std::string testdata_dir() {
  const char* env = std::getenv("STRATA_TESTDATA_DIR");  // e.g. a copy carried to the GPU machine
  return env && *env ? env : STRATA_TESTDATA_DIR;
}

std::string test_device() {
  const char* env = std::getenv("STRATA_TEST_DEVICE");
  return env && *env ? env : "cpu";
}
std::string fixtures_dir() { return STRATA_FIXTURES_DIR; }
bool testdata_available() { return fs::is_directory(testdata_dir() + "/hf-tokenizers"); }

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  fs::path p = fs::temp_directory_path() /
               ("strata-test-" + std::to_string(getpid()) + "-" + tag + "-" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void gunzip_file(const std::string& src_gz, const std::string& dst) {
  gzFile in = gzopen(src_gz.c_str(), "rb");
  if (!in) throw std::runtime_error("cannot open " + src_gz);
  std::ofstream out(dst, std::ios::binary | std::ios::trunc);
  char buf[1 << 16];
  int n;
  while ((n = gzread(in, buf, sizeof(buf))) > 0) out.write(buf, n);
  gzclose(in);
  if (n < 0) throw std::runtime_error("corrupt gzip " + src_gz);
}

std::string hf_tokenizer_dir(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::string> made;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = made.find(name); it != made.end()) return it->second;
  std::string src = testdata_dir() + "/hf-tokenizers/" + name;
  std::string dir = make_temp_dir("tok-" + name);
  gunzip_file(src + "/tokenizer.json.gz", dir + "/tokenizer.json");
  fs::copy_file(src + "/tokenizer_config.json", dir + "/tokenizer_config.json");
  made[name] = dir;
  return dir;
}

std::string fixture_model_dir(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::string> made;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = made.find(name); it != made.end()) return it->second;
  }
  std::string src = fixtures_dir() + "/models/" + name;
  auto golden = nlohmann::json::parse(read_file(src + "/golden.json"));
  std::string tok = golden.at("tokenizer").get<std::string>();  // "hf-tokenizers/<name>"
  std::string tok_dir = hf_tokenizer_dir(tok.substr(tok.find('/') + 1));
  std::string dir = make_temp_dir("model-" + name);
  for (const auto& e : fs::directory_iterator(src)) fs::create_symlink(e.path(), fs::path(dir) / e.path().filename());
  fs::create_symlink(tok_dir + "/tokenizer.json", dir + "/tokenizer.json");
  fs::create_symlink(tok_dir + "/tokenizer_config.json", dir + "/tokenizer_config.json");
  std::lock_guard<std::mutex> lock(mu);
  made[name] = dir;
  return dir;
}

}  // namespace strata::test
