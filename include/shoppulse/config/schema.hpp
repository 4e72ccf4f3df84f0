#pragma once
// Configuration keys: one registry binding every dotted key ("generator.seed")
// to a field of a module's config struct, with its unit, default and meaning.
// The same registry parses the config file, environment overrides and --set,
// and renders the commented reference file. Unknown keys and bad values are
// errors naming the key.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoppulse/core/result.hpp"

namespace shoppulse::config {

class Schema {
 public:
  // Each add_* binds key to *field; the field's current value is the default.
  // doc: one sentence; unit: "ms", "events/s", "bytes", "" for none.
  void add_int(std::string key, std::int64_t* field, std::string unit, std::string doc,
               std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX);
  void add_uint(std::string key, std::uint64_t* field, std::string unit, std::string doc,
                std::uint64_t min = 0, std::uint64_t max = UINT64_MAX);
  void add_size(std::string key, std::size_t* field, std::string unit, std::string doc,
                std::size_t min = 0, std::size_t max = SIZE_MAX);
  void add_port(std::string key, std::uint16_t* field, std::string doc);
  void add_unsigned(std::string key, unsigned* field, std::string unit, std::string doc, unsigned min = 0,
                    unsigned max = UINT32_MAX);
  void add_double(std::string key, double* field, std::string unit, std::string doc, double min = -1e300,
                  double max = 1e300);
  void add_bool(std::string key, bool* field, std::string doc);
  void add_string(std::string key, std::string* field, std::string doc);
  // One of choices (case-insensitive on input, stored as given in choices).
  void add_choice(std::string key, std::string* field, std::vector<std::string> choices, std::string doc);
  // Comma-separated list: "mobile, desktop" or ["mobile", "desktop"].
  void add_list(std::string key, std::vector<std::string>* field, std::string doc);
  // name:weight pairs: "view:0.6, click:0.25"; weights >= 0.
  void add_weights(std::string key, std::vector<std::pair<std::string, double>>* field, std::string doc);
  // Durations: "5s", "250ms", "1h", or a bare number of milliseconds.
  void add_duration_ms(std::string key, std::int64_t* field, std::string doc, std::int64_t min = 0);

  bool has(std::string_view key) const;
  // Parses and stores value into the bound field. invalid_argument with
  // field = key when the key is unknown or the value is bad.
  Result<void> set(std::string_view key, std::string_view value);
  // Current value rendered as it would be written in the file.
  std::string get(std::string_view key) const;
  std::vector<std::string> keys() const;  // in registration order

  // The reference file: every key with its doc, unit and default, grouped by
  // the prefix before the first dot.
  std::string render_reference() const;

 private:
  struct Key {
    std::string name, unit, doc, default_text;
    std::function<Result<void>(std::string_view)> set;
    std::function<std::string()> get;
  };
  void add(Key key);
  std::vector<Key> keys_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// Parses "key = value" lines; '#' starts a comment; blank lines ignored;
// values may be double-quoted. Errors name file, line and key.
Result<void> load_file(Schema& schema, const std::string& path);
Result<void> load_text(Schema& schema, std::string_view text, std::string_view origin);

// Applies environment variables: each (VAR, key) pair whose VAR is set.
// Errors name the variable and the key.
Result<void> apply_environment(Schema& schema, const std::vector<std::pair<std::string, std::string>>& mapping,
                               const std::function<const char*(const char*)>& getenv_fn);

}  // namespace shoppulse::config
