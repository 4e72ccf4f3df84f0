#pragma once
// Command line of every benchmark: `--quick` for the tiny smoke run, and
// `--name=value` to override one parameter. Each parameter is declared where
// it is read, with its full-run and quick-run defaults, so the benchmark's
// source is the list of its knobs. Unknown options are reported by finish().
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace shoppulse::bench {

class Options {
 public:
  Options(int argc, char** argv);

  bool quick() const noexcept { return quick_; }

  // The value of --name=value, else full (or quick under --quick).
  std::int64_t integer(std::string_view name, std::int64_t full, std::int64_t quick);
  double number(std::string_view name, double full, double quick);

  // Exits with status 2 naming any option no call above asked for.
  void finish() const;

 private:
  std::string program_;
  bool quick_ = false;
  std::map<std::string, std::string, std::less<>> values_;
  std::set<std::string, std::less<>> used_;
};

}  // namespace shoppulse::bench
