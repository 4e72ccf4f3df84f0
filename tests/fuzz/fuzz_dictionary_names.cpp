// The in-memory dictionary (InternTable) with names of any bytes: decimal
// ones are kept as numbers, all others as bytes. The first byte picks how
// many 9-digit names are interned first (0-1020, so the tables grow while
// the fuzzer's names go in); the rest is names, each after a length byte.
// Every name reads back byte for byte by its id and is found again; a name
// interned twice keeps its id; distinct names get distinct, dense ids; a
// table restored from (id, name) pairs answers the same.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "shoppulse/core/dictionary.hpp"

using namespace shoppulse;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::size_t prefill = std::size_t{in.byte()} * 4;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < prefill; ++i) names.push_back(std::to_string(100'000'000 + i * 7919));
  while (!in.empty() && names.size() < prefill + 512) names.push_back(in.text(40));

  InternTable table;
  std::map<std::string, Id> ids;  // the oracle: first id of each distinct name
  for (const std::string& name : names) {
    const auto [id, created] = table.intern(name);
    const auto known = ids.find(name);
    if (known == ids.end()) {
      FUZZ_CHECK(created);
      FUZZ_CHECK(id == Id(ids.size() + 1));
      ids.emplace(name, id);
    } else {
      FUZZ_CHECK(!created);
      FUZZ_CHECK(id == known->second);
    }
  }
  FUZZ_CHECK(table.size() == ids.size());
  InternTable restored;
  for (const auto& [name, id] : ids) {
    FUZZ_CHECK(table.name(id) == name);
    FUZZ_CHECK(table.find(name) == id);
    FUZZ_CHECK(restored.restore(id, name));
  }
  for (const auto& [name, id] : ids) {
    FUZZ_CHECK(restored.name(id) == name);
    FUZZ_CHECK(restored.find(name) == id);
    FUZZ_CHECK(restored.intern(name) == std::make_pair(id, false));
  }
  return 0;
}
