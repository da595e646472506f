// Executor: what the engine thread runs each step on. ModelRunner is the executor of one rank in this
// process; GroupExecutor (group.h) ships the step to every rank of a tensor/pipeline-parallel group,
// here and on other nodes, and returns the output of the rank that samples.
//
// submit() starts a step and returns its output's future; outputs arrive in submission order. Up to
// max_in_flight() steps may be outstanding: a pipeline of P stages works on P steps at once (each
// over different requests), so no stage idles while the others run.
#pragma once

#include <future>
#include <memory>
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
  // Whether submit() returns while the step runs (elsewhere), so the engine may launch the next step
  // before it post-processes the last one.
  virtual bool overlaps() const { return false; }
  // Whether a chunk may take its token from the previous step's device draw (SeqChunk::token_from),
  // so the engine can schedule step N+1 before step N's tokens are back (async scheduling).
  virtual bool runs_ahead() const { return false; }
};

// One rank's ModelRunner on a thread of its own: submit() returns at once, so the engine thread
// prepares the next step (and detokenizes the last) while this one runs. The chunks' spans must stay
// valid until the step's output is back (the engine's in-flight contract).
class AsyncExecutor final : public Executor {
 public:
  explicit AsyncExecutor(Executor& inner);
  ~AsyncExecutor() override;
  StepOutput run(std::span<const SeqChunk> chunks) override;
  std::future<StepOutput> submit(std::span<const SeqChunk> chunks) override;
  bool overlaps() const override { return true; }
  bool runs_ahead() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
