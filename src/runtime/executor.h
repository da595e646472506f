// Executor: what the engine thread runs each step on. ModelRunner is the executor of one rank in this
// process; GroupExecutor (group.h) ships the step to every rank of a tensor/pipeline-parallel group,
// here and on other nodes, and returns the output of the rank that samples.
#pragma once

#include <span>

namespace strata {

struct SeqChunk;
struct StepOutput;

class Executor {
 public:
  virtual ~Executor() = default;
  virtual StepOutput run(std::span<const SeqChunk> chunks) = 0;
};

}  // namespace strata
