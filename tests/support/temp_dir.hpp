#pragma once
// A fresh directory under the system temp dir per test, removed with its
// contents afterwards, named after the test binary's module (`prefix`), the
// process and a counter, so tests running at once never share one.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace shoppulse::test_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "shoppulse-test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;  // best effort: a leftover scratch dir is harmless
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace shoppulse::test_support
