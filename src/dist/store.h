// Rendezvous store: a small key-value service on the leader that every process of the group reaches
// over TCP. It carries what ranks must agree on before the data plane exists: the configuration,
// each rank's data-plane address, NCCL unique ids, readiness. Keys are written once (set) and read
// by anyone (get blocks until the key exists or the timeout passes).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace strata {

class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::string& value) = 0;
  // The value of key once some process has set it; an error naming the key after `timeout`.
  virtual Result<std::string> get(const std::string& key, std::chrono::milliseconds timeout) = 0;
  // Atomically adds delta to the integer stored at key (absent = 0) and returns the new value.
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
};

}  // namespace strata
