// Helpers shared by the unit tests: where the shared testdata and the committed fixtures live,
// gunzip of the testdata's tokenizer.json.gz, and assembling a model directory from a fixture.
#pragma once

#include <string>

namespace strata::test {

// ../shared/testdata beside the checkout (absolute), or $STRATA_TESTDATA_DIR.
std::string testdata_dir();
// The device model-level tests run on: $STRATA_TEST_DEVICE (tests/gpu/run.sh sets cuda), else cpu.
std::string test_device();
// tests/fixtures in the checkout (absolute).
std::string fixtures_dir();
// A fresh empty directory under the build tree's temp area, unique per call.
std::string make_temp_dir(const std::string& tag);
// Decompresses a .gz file into dst (overwrites).
void gunzip_file(const std::string& src_gz, const std::string& dst);
// A directory holding tokenizer.json (gunzipped) and tokenizer_config.json of testdata
// hf-tokenizers/<name>; made once per process and reused.
std::string hf_tokenizer_dir(const std::string& name);
// A complete model directory: the fixture's files (tests/fixtures/models/<name>) plus the tokenizer
// named in its golden.json; made once per process and reused.
std::string fixture_model_dir(const std::string& name);
std::string read_file(const std::string& path);

}  // namespace strata::test

// Skips the current test when ../shared/testdata is absent.
#define STRATA_REQUIRE_TESTDATA()                                                              \
  do {                                                                                         \
    if (!::strata::test::testdata_available())                                                 \
      GTEST_SKIP() << "../shared/testdata not found at " << ::strata::test::testdata_dir();   \
  } while (0)

namespace strata::test {
bool testdata_available();
}
