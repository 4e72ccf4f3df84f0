#include "common/options.hpp"

#include <cstdio>
#include <cstdlib>

namespace shoppulse::bench {

Options::Options(int argc, char** argv) : program_(argc > 0 ? argv[0] : "bench") {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--quick") {
      quick_ = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::printf("usage: %s [--quick] [--name=value ...]\n"
                  "Parameters and their defaults are printed at the start of every run.\n",
                  program_.c_str());
      std::exit(0);
    }
    const auto eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos) {
      std::fprintf(stderr, "%s: expected --quick or --name=value, got '%s'\n", program_.c_str(), argv[i]);
      std::exit(2);
    }
    values_[std::string(arg.substr(2, eq - 2))] = std::string(arg.substr(eq + 1));
  }
}

std::int64_t Options::integer(std::string_view name, std::int64_t full, std::int64_t quick) {
  used_.emplace(name);
  auto it = values_.find(name);
  if (it == values_.end()) return quick_ ? quick : full;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') {
    std::fprintf(stderr, "%s: --%s wants an integer, got '%s'\n", program_.c_str(), it->first.c_str(),
                 it->second.c_str());
    std::exit(2);
  }
  return v;
}

double Options::number(std::string_view name, double full, double quick) {
  used_.emplace(name);
  auto it = values_.find(name);
  if (it == values_.end()) return quick_ ? quick : full;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str() || *end != '\0') {
    std::fprintf(stderr, "%s: --%s wants a number, got '%s'\n", program_.c_str(), it->first.c_str(),
                 it->second.c_str());
    std::exit(2);
  }
  return v;
}

void Options::finish() const {
  bool bad = false;
  for (const auto& [name, value] : values_) {
    if (!used_.contains(name)) {
      std::fprintf(stderr, "%s: unknown option --%s\n", program_.c_str(), name.c_str());
      bad = true;
    }
  }
  if (bad) std::exit(2);
}

}  // namespace shoppulse::bench
