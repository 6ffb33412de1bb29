// The fuzz_validator reproducers (tests/fuzz/regressions/fuzz_validator/) and its seed corpus
// replayed through the fuzz target's own checks, in the ASan+UBSan unit build, so a fixed
// bug stays fixed without a clang fuzz build. (tests/unit/xfr/fuzz_regressions_test.cpp
// replays the other targets' reproducers; the xfr layer cannot link the validator.) A failed
// check aborts the executable, as it does under libFuzzer.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/fuzz/fuzz_validator.cpp"  // NOLINT(bugprone-suspicious-include): the target itself

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

}  // namespace

TEST_CASE("fuzz_validator reproducers and seeds replay cleanly", "[dnssec][fuzz]") {
  const fs::path fuzz = fs::path(VNETDNS_SOURCE_DIR) / "tests" / "fuzz";
  std::size_t replayed = 0;
  for (const char* dir : {"regressions/fuzz_validator", "corpus/fuzz_validator"}) {
    for (const auto& p : files_in(fuzz / dir)) {
      INFO(p.string());
      std::ifstream in(p, std::ios::binary);
      const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                            std::istreambuf_iterator<char>());
      CHECK(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()) == 0);
      ++replayed;
    }
  }
  CHECK(replayed >= 2);
  CHECK_FALSE(files_in(fuzz / "regressions/fuzz_validator").empty());
}
