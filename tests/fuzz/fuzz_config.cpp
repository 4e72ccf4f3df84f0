// The config file parser (config::load_text) over a schema with one key of
// every value kind the registry supports. Properties: an accepted file
// leaves every value in its declared range; each value renders to text
// that parses back to the same value; the values written out as a file
// load into a fresh schema unchanged; the reference file (defaults) loads
// and changes nothing; a refused file names a key or a line.
#include <cstdint>

#include "fuzz_input.hpp"
#include "shoppulse/config/schema.hpp"

using namespace shoppulse;

namespace {

struct Values {
  std::int64_t i = 5;
  std::uint64_t u = 7;
  std::size_t sz = 1024;
  std::uint16_t port = 8000;
  unsigned un = 3;
  double d = 0.5;
  bool b = true;
  std::string s = "text";
  std::string choice = "info";
  std::vector<std::string> list{"mobile", "desktop"};
  std::vector<std::pair<std::string, double>> weights{{"view", 0.6}, {"click", 0.4}};
  std::int64_t duration = 1000;
};

void bind(config::Schema& s, Values& v) {
  s.add_int("a.int", &v.i, "", "a signed number", -1000, 1000);
  s.add_uint("a.uint", &v.u, "events", "an unsigned number", 1, 1u << 20);
  s.add_size("a.size", &v.sz, "bytes", "a size");
  s.add_port("b.port", &v.port, "a port");
  s.add_unsigned("b.unsigned", &v.un, "", "an unsigned int", 0, 64);
  s.add_double("b.double", &v.d, "", "a fraction", 0, 1);
  s.add_bool("c.bool", &v.b, "a switch");
  s.add_string("c.string", &v.s, "a string");
  s.add_choice("c.choice", &v.choice, {"debug", "info", "warning"}, "a choice");
  s.add_list("d.list", &v.list, "a list");
  s.add_weights("d.weights", &v.weights, "weights");
  s.add_duration_ms("d.duration", &v.duration, "a duration", 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Values v;
  config::Schema schema;
  bind(schema, v);
  auto loaded = config::load_text(schema, text, "fuzz.conf");
  if (!loaded) {
    FUZZ_CHECK(loaded.error().code == Errc::invalid_argument);
    FUZZ_CHECK(!loaded.error().field.empty() || loaded.error().line > 0 ||
               loaded.error().detail.find("fuzz.conf") != std::string::npos);
    return 0;
  }
  FUZZ_CHECK(v.i >= -1000 && v.i <= 1000);
  FUZZ_CHECK(v.u >= 1 && v.u <= (1u << 20));
  FUZZ_CHECK(v.un <= 64);
  FUZZ_CHECK(v.d >= 0 && v.d <= 1);
  FUZZ_CHECK(v.duration >= 1);
  FUZZ_CHECK(v.choice == "debug" || v.choice == "info" || v.choice == "warning");
  for (const auto& [name, w] : v.weights) FUZZ_CHECK(w >= 0);

  for (const std::string& key : schema.keys()) {
    const std::string rendered = schema.get(key);
    auto set = schema.set(key, rendered);
    FUZZ_CHECK(set.ok());
    FUZZ_CHECK(schema.get(key) == rendered);
  }

  // The values written out as a file load into a fresh schema unchanged.
  std::string file;
  for (const std::string& key : schema.keys()) file += key + " = " + schema.get(key) + "\n";
  Values fresh_values;
  config::Schema fresh;
  bind(fresh, fresh_values);
  auto reloaded = config::load_text(fresh, file, "written");
  FUZZ_CHECK(reloaded.ok());
  for (const std::string& key : schema.keys()) FUZZ_CHECK(fresh.get(key) == schema.get(key));

  // The reference file names every key with its default: loading it into a
  // fresh schema changes nothing.
  Values default_values;
  config::Schema defaults;
  bind(defaults, default_values);
  const std::vector<std::string> before = [&] {
    std::vector<std::string> out;
    for (const std::string& key : defaults.keys()) out.push_back(defaults.get(key));
    return out;
  }();
  FUZZ_CHECK(config::load_text(defaults, schema.render_reference(), "reference").ok());
  for (std::size_t i = 0; i < before.size(); ++i) FUZZ_CHECK(defaults.get(defaults.keys()[i]) == before[i]);
  return 0;
}
