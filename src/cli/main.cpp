// strata: an LLM inference engine with an OpenAI-compatible server.
//   strata serve [MODEL] [--port 8000] ...            OpenAI-compatible server
//   strata generate [--model DIR] --prompt TEXT ...   offline generation
//   strata tokenize --model DIR TEXT                  print token ids
//   strata bench throughput [--model DIR] ...         offline throughput
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/logging.h"

int main(int argc, char** argv) {
  strata::init_logging("info");
  CLI::App app{"strata: LLM inference engine (OpenAI-compatible, vLLM-compatible flags)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "strata 0.1.0");
  auto serve = strata::cli::add_serve_command(app);
  auto generate = strata::cli::add_generate_command(app);
  auto tokenize = strata::cli::add_tokenize_command(app);
  auto bench = strata::cli::add_bench_command(app);
  // vLLM's two-letter short flags, which CLI11 cannot declare.
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {
    std::string a = argv[i];
    if (a == "-tp") a = "--tensor-parallel-size";
    else if (a == "-pp") a = "--pipeline-parallel-size";
    args.push_back(a);
  }
  try {
    app.parse(std::move(args));
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "strata: error: %s (see strata --help)\n", e.what());
    return 2;
  }
  if (app.got_subcommand("serve")) return serve();
  if (app.got_subcommand("generate")) return generate();
  if (app.got_subcommand("tokenize")) return tokenize();
  if (app.got_subcommand("bench")) return bench();
  return 2;
}
