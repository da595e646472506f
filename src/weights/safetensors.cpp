#include "weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

namespace strata {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // as the safetensors format itself limits it

Result<SafetensorsFile::Entry> parse_entry(const std::string& name, const json& j, size_t data_size) {
  auto err = [&](const std::string& what) { return make_error("tensor '{}': {}", name, what); };
  if (!j.is_object()) return err("header entry is not an object");
  if (!j.contains("dtype") || !j["dtype"].is_string()) return err("missing 'dtype'");
  auto dtype = dtype_from_safetensors(j["dtype"].get<std::string>());
  if (!dtype) return err("unsupported dtype '" + j["dtype"].get<std::string>() + "'");
  if (!j.contains("shape") || !j["shape"].is_array()) return err("missing 'shape'");
  Shape shape;
  for (const auto& d : j["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) return err("shape has a non-integer or negative dim");
    shape.push_back(d.get<int64_t>());
  }
  if (!j.contains("data_offsets") || !j["data_offsets"].is_array() || j["data_offsets"].size() != 2 ||
      !j["data_offsets"][0].is_number_unsigned() || !j["data_offsets"][1].is_number_unsigned())
    return err("missing or malformed 'data_offsets'");
  size_t begin = j["data_offsets"][0].get<size_t>(), end = j["data_offsets"][1].get<size_t>();
  if (end < begin) return err("data_offsets end < begin");
  if (end > data_size)
    return err(fmt::format("data_offsets [{}, {}] past the end of the data ({} bytes): file truncated?", begin,
                           end, data_size));
  size_t expect = static_cast<size_t>(shape_numel(shape)) * dtype_size(*dtype);
  if (end - begin != expect)
    return err(fmt::format("{} bytes for shape {} of {} ({} expected)", end - begin, shape_str(shape),
                           dtype_name(*dtype), expect));
  return SafetensorsFile::Entry{*dtype, std::move(shape), begin, end};
}
}  // namespace

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  auto fail = [&](const std::string& what) { return Error(path + ": " + what); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return fail(fmt::format("file is {} bytes, too short for a safetensors header", size));
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return fail(std::string("mmap failed: ") + std::strerror(errno));
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(map);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);  // little-endian on every platform strata targets
  if (header_len > kMaxHeaderBytes) return fail(fmt::format("header length {} is implausible", header_len));
  if (header_len > size - 8)
    return fail(fmt::format("header length {} exceeds the file size {}: file truncated?", header_len, size));
  json header = json::parse(bytes + 8, bytes + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return fail("header is not a valid JSON object");
  f->data_ = bytes + 8 + header_len;
  size_t data_size = size - 8 - header_len;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return fail("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) f->metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    auto e = parse_entry(it.key(), *it, data_size);
    if (!e.ok()) return fail(e.error().message());
    if (e->end > e->begin) ranges.emplace_back(e->begin, e->end);
    f->entries_.emplace(it.key(), std::move(e).value());
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) return fail("tensor data ranges overlap");
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, map_size_);
}

TensorView SafetensorsFile::view(const std::string& name) const {
  auto it = entries_.find(name);
  STRATA_CHECK(it != entries_.end(), "no tensor {} in {}", name, path_);
  const Entry& e = it->second;
  return TensorView{const_cast<uint8_t*>(data_ + e.begin), e.dtype, e.shape};
}

Result<WeightStore> WeightStore::open_dir(const std::string& dir) {
  std::vector<std::string> files;
  fs::path index = fs::path(dir) / "model.safetensors.index.json";
  std::map<std::string, std::string> expected;  // tensor -> file, from the index
  if (fs::exists(index)) {
    std::ifstream in(index);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return Error(index.string() + ": not a valid index (needs a 'weight_map' object)");
    std::set<std::string> uniq;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it->is_string()) return Error(index.string() + ": weight_map['" + it.key() + "'] is not a string");
      expected[it.key()] = it->get<std::string>();
      uniq.insert(it->get<std::string>());
    }
    for (const auto& f : uniq) {
      if (f.find('/') != std::string::npos)
        return Error(index.string() + ": shard name '" + f + "' must be a file in the directory");
      files.push_back((fs::path(dir) / f).string());
    }
  } else if (fs::exists(fs::path(dir) / "model.safetensors")) {
    files.push_back((fs::path(dir) / "model.safetensors").string());
  } else {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
    if (ec) return Error(dir + ": cannot list directory: " + ec.message());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) return Error(dir + ": no *.safetensors weights found (and no model.safetensors.index.json)");
  WeightStore store;
  store.dir_ = dir;
  for (const auto& path : files) {
    if (!fs::exists(path)) return Error(path + ": shard listed in model.safetensors.index.json is missing");
    STRATA_TRY(auto f, SafetensorsFile::open(path));
    for (const auto& [name, e] : f->entries()) {
      if (store.where_.count(name)) return Error(path + ": tensor '" + name + "' also appears in another shard");
      store.where_[name] = f.get();
    }
    store.files_.push_back(std::move(f));
  }
  for (const auto& [name, file] : expected) {
    auto it = store.where_.find(name);
    if (it == store.where_.end() || fs::path(it->second->path()).filename() != file)
      return Error(index.string() + ": tensor '" + name + "' is not in " + file);
  }
  return store;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : where_) out.push_back(n);
  return out;
}

Result<TensorView> WeightStore::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    return make_error("{}: tensor '{}' not found in the checkpoint ({} safetensors files)", dir_, name, files_.size());
  return it->second->view(name);
}

const std::string& WeightStore::file_of(const std::string& name) const { return where_.at(name)->path(); }

}  // namespace strata
