// Executor: what the engine thread runs each step on. ModelRunner is the executor of one rank in this
// process; GroupExecutor (group.h) ships the step to every rank of a tensor/pipeline-parallel group,
// here and on other nodes, and returns the output of the rank that samples.
//
// submit() starts a step and returns its output's future; outputs arrive in submission order. Up to
// max_in_flight() steps may be outstanding: a pipeline of P stages works on P steps at once (each
// over different requests), so no stage idles while the others run.
#pragma once

#include <future>
#include <span>

namespace strata {

struct SeqChunk;
struct StepOutput;

class Executor {
 public:
  virtual ~Executor() = default;
  virtual StepOutput run(std::span<const SeqChunk> chunks) = 0;
  // The default runs the step now (one at a time).
  virtual std::future<StepOutput> submit(std::span<const SeqChunk> chunks);
  virtual int max_in_flight() const { return 1; }
};

}  // namespace strata
