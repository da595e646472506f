#include "runtime/executor.h"

#include "runtime/model_runner.h"

namespace strata {

std::future<StepOutput> Executor::submit(std::span<const SeqChunk> chunks) {
  std::promise<StepOutput> p;
  p.set_value(run(chunks));
  return p.get_future();
}

}  // namespace strata
