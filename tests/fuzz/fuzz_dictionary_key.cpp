// The event log's dictionary keys and runs (store_keys.hpp). First byte
// even: a key (its length from the next byte) and a value as read from disk;
// a key that decodes names kind, first and last ids in order, and a value
// that reads hands over exactly the ids the key holds, each name found again
// by id. First byte odd: names to store as a run; reading the run back gives
// the same names, by walk and by id.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "store_keys.hpp"

using namespace shoppulse;
using namespace shoppulse::eventlog;

namespace {

struct Named {
  Id id;
  std::string name;
};

std::vector<Named> read_all(const DictionaryKey& key, std::string_view value, bool& ok) {
  std::vector<Named> out;
  auto each = for_each_dictionary_entry(key, value, [&](Id id, std::string_view name) {
    out.push_back({id, std::string(name)});
  });
  ok = static_cast<bool>(each);
  return out;
}

void check_read(const DictionaryKey& key, std::string_view value, const std::vector<Named>& named) {
  FUZZ_CHECK(named.size() == std::uint64_t{key.last} - key.first + 1);
  for (std::size_t i = 0; i < named.size(); ++i) {
    FUZZ_CHECK(named[i].id == key.first + i);
    if (!key.run) continue;
    auto found = dictionary_name_in_run(key, value, named[i].id);
    FUZZ_CHECK(found);
    FUZZ_CHECK(*found == named[i].name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  if ((in.byte() & 1) == 0) {
    const std::string key_bytes = in.text(12);
    const std::string_view value = in.rest();
    auto key = decode_dictionary_key(key_bytes);
    if (!key) {
      FUZZ_CHECK(key.error().code == Errc::corrupt);
      return 0;
    }
    FUZZ_CHECK(key_bytes.size() == (key->run ? 9u : 5u));
    FUZZ_CHECK(key->first <= key->last);
    FUZZ_CHECK(key->run || key->first == key->last);
    FUZZ_CHECK(static_cast<std::uint8_t>(key->kind) < kIdKindCount);
    // The key reads back from its parts.
    const std::string again =
        key->run ? dictionary_run_key(key->kind, key->first, key->last) : dictionary_key(key->kind, key->first);
    FUZZ_CHECK(again == key_bytes);
    FUZZ_CHECK(dictionary_key_at_or_before(key->kind, key->first) >= key_bytes);
    bool ok = false;
    const std::vector<Named> named = read_all(*key, value, ok);
    if (ok) check_read(*key, value, named);
    return 0;
  }
  // A run of names from the input, stored and read back.
  const auto kind = static_cast<IdKind>(in.byte() % kIdKindCount);
  const Id first = in.integer<Id>() % (Id{1} << 31) + 1;
  std::vector<std::string> names;
  ByteWriter writer;
  while (!in.empty() && names.size() < 512) {
    // Lengths past one varint byte now and then.
    std::string name = in.text(255);
    if ((in.byte() & 15) == 0 && names.size() < 4) name.append(std::string(in.in_range(100, 20000), 'x'));
    writer.bytes(name);
    names.push_back(std::move(name));
  }
  if (names.empty()) return 0;
  const std::string_view value = writer.view();
  const Id last = static_cast<Id>(first + names.size() - 1);
  auto key = decode_dictionary_key(dictionary_run_key(kind, first, last));
  FUZZ_CHECK(key);
  FUZZ_CHECK(key->run && key->kind == kind && key->first == first && key->last == last);
  bool ok = false;
  const std::vector<Named> named = read_all(*key, value, ok);
  FUZZ_CHECK(ok);
  check_read(*key, value, named);
  for (std::size_t i = 0; i < names.size(); ++i) FUZZ_CHECK(named[i].name == names[i]);
  // One id more or fewer than the names is refused.
  DictionaryKey longer = *key;
  ++longer.last;
  read_all(longer, value, ok);
  FUZZ_CHECK(!ok);
  if (names.size() > 1) {
    DictionaryKey shorter = *key;
    --shorter.last;
    read_all(shorter, value, ok);
    FUZZ_CHECK(!ok);
  }
  return 0;
}
