// Safetensors checkpoints: one file (mmap'd, header validated) and a checkpoint directory
// (model.safetensors, or shards listed by model.safetensors.index.json, or every *.safetensors).
//
// Open validates everything that can be checked without reading tensor data: header length, JSON,
// dtypes, shapes, offsets inside the file, no overlaps. Tensor views borrow the mapping.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace strata {

class SafetensorsFile {
 public:
  struct Entry {
    DType dtype;
    Shape shape;
    size_t begin;  // byte offsets into the data section
    size_t end;
  };

  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return entries_.count(name) > 0; }
  // Borrowed view of a tensor's bytes (STRATA_CHECKs that the name exists).
  TensorView view(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory, by name.
class WeightStore {
 public:
  static Result<WeightStore> open_dir(const std::string& dir);
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  std::vector<std::string> names() const;
  // The tensor and the file it lives in; an error naming the tensor if absent.
  Result<TensorView> get(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
};

}  // namespace strata
