#include "shoppulse/config/schema.hpp"

#include <functional>
#include <stdexcept>
#include <utility>

#include "value_text.hpp"

namespace shoppulse::config {
namespace {

Error bad_value(std::string_view key, const std::string& problem) {
  return make_error(Errc::invalid_argument, std::string(key) + ": " + problem, std::string(key));
}

// Scalars may be written quoted ("10"); the quotes are not part of the value.
template <class T, class Parse>
Result<void> store_scalar(std::string_view key, std::string_view value, T* field, const Parse& parse) {
  auto unquoted = text::unquote(value);
  if (!unquoted.value) return bad_value(key, unquoted.problem);
  auto parsed = parse(*unquoted.value);
  if (!parsed.value) return bad_value(key, parsed.problem);
  *field = *parsed.value;
  return {};
}

template <class T>
void check_range(const std::string& key, T min, T max) {
  if (min > max) throw std::invalid_argument("config key " + key + ": min is greater than max");
}

}  // namespace

void Schema::add(Key key) {
  if (key.name.empty()) throw std::invalid_argument("config key with an empty name");
  if (index_.count(key.name) != 0) throw std::invalid_argument("config key " + key.name + " registered twice");
  key.default_text = key.get();
  index_.emplace(key.name, keys_.size());
  keys_.push_back(std::move(key));
}

void Schema::add_int(std::string key, std::int64_t* field, std::string unit, std::string doc, std::int64_t min,
                     std::int64_t max) {
  check_range(key, min, max);
  std::string name = key;
  add(Key{std::move(key), std::move(unit), std::move(doc), {},
          [name, field, min, max](std::string_view v) {
            return store_scalar<std::int64_t>(name, v, field,
                                              [&](std::string_view s) { return text::parse_int(s, min, max); });
          },
          [field] { return std::to_string(*field); }});
}

namespace {
// The setter and getter of an unsigned key of any width: parsed as uint64
// within [min, max] (which fit T), then stored as T.
template <class T>
std::pair<std::function<Result<void>(std::string_view)>, std::function<std::string()>> unsigned_accessors(
    std::string name, T* field, T min, T max) {
  auto set = [name = std::move(name), field, min, max](std::string_view v) {
    return store_scalar<T>(name, v, field, [&](std::string_view s) {
      auto parsed = text::parse_uint(s, min, max);
      text::Parsed<T> out;
      out.problem = std::move(parsed.problem);
      if (parsed.value) out.value = static_cast<T>(*parsed.value);
      return out;
    });
  };
  return {std::move(set), [field] { return std::to_string(*field); }};
}
}  // namespace

void Schema::add_uint(std::string key, std::uint64_t* field, std::string unit, std::string doc, std::uint64_t min,
                      std::uint64_t max) {
  check_range(key, min, max);
  auto [set, get] = unsigned_accessors(key, field, min, max);
  add(Key{std::move(key), std::move(unit), std::move(doc), {}, std::move(set), std::move(get)});
}

void Schema::add_size(std::string key, std::size_t* field, std::string unit, std::string doc, std::size_t min,
                      std::size_t max) {
  check_range(key, min, max);
  auto [set, get] = unsigned_accessors(key, field, min, max);
  add(Key{std::move(key), std::move(unit), std::move(doc), {}, std::move(set), std::move(get)});
}

void Schema::add_port(std::string key, std::uint16_t* field, std::string doc) {
  auto [set, get] = unsigned_accessors<std::uint16_t>(key, field, 0, 65535);
  add(Key{std::move(key), "", std::move(doc), {}, std::move(set), std::move(get)});
}

void Schema::add_unsigned(std::string key, unsigned* field, std::string unit, std::string doc, unsigned min,
                          unsigned max) {
  check_range(key, min, max);
  auto [set, get] = unsigned_accessors(key, field, min, max);
  add(Key{std::move(key), std::move(unit), std::move(doc), {}, std::move(set), std::move(get)});
}

void Schema::add_double(std::string key, double* field, std::string unit, std::string doc, double min, double max) {
  check_range(key, min, max);
  std::string name = key;
  add(Key{std::move(key), std::move(unit), std::move(doc), {},
          [name, field, min, max](std::string_view v) {
            return store_scalar<double>(name, v, field,
                                        [&](std::string_view s) { return text::parse_double(s, min, max); });
          },
          [field] { return text::render_double(*field); }});
}

void Schema::add_bool(std::string key, bool* field, std::string doc) {
  std::string name = key;
  add(Key{std::move(key), "", std::move(doc), {},
          [name, field](std::string_view v) {
            return store_scalar<bool>(name, v, field, [](std::string_view s) { return text::parse_bool(s); });
          },
          [field] { return std::string(*field ? "true" : "false"); }});
}

void Schema::add_string(std::string key, std::string* field, std::string doc) {
  std::string name = key;
  add(Key{std::move(key), "", std::move(doc), {},
          [name, field](std::string_view v) -> Result<void> {
            auto unquoted = text::unquote(v);
            if (!unquoted.value) return bad_value(name, unquoted.problem);
            *field = std::move(*unquoted.value);
            return {};
          },
          [field] { return text::quote_if_needed(*field, false); }});
}

void Schema::add_choice(std::string key, std::string* field, std::vector<std::string> choices, std::string doc) {
  if (choices.empty()) throw std::invalid_argument("config key " + key + ": no choices");
  std::string name = key;
  add(Key{std::move(key), "", std::move(doc), {},
          [name, field, choices](std::string_view v) -> Result<void> {
            auto unquoted = text::unquote(v);
            if (!unquoted.value) return bad_value(name, unquoted.problem);
            std::string wanted = text::lower(*unquoted.value);
            for (const std::string& choice : choices) {
              if (text::lower(choice) == wanted) {
                *field = choice;
                return {};
              }
            }
            std::string allowed;
            for (const std::string& choice : choices) {
              if (!allowed.empty()) allowed += ", ";
              allowed += choice;
            }
            return bad_value(name, text::show(v) + " is not one of: " + allowed);
          },
          [field] { return text::quote_if_needed(*field, false); }});
}

void Schema::add_list(std::string key, std::vector<std::string>* field, std::string doc) {
  std::string name = key;
  add(Key{std::move(key), "", std::move(doc), {},
          [name, field](std::string_view v) -> Result<void> {
            auto parsed = text::parse_list(v);
            if (!parsed.value) return bad_value(name, parsed.problem);
            *field = std::move(*parsed.value);
            return {};
          },
          [field] { return text::render_list(*field); }});
}

void Schema::add_weights(std::string key, std::vector<std::pair<std::string, double>>* field, std::string doc) {
  std::string name = key;
  add(Key{std::move(key), "", std::move(doc), {},
          [name, field](std::string_view v) -> Result<void> {
            auto parsed = text::parse_weights(v);
            if (!parsed.value) return bad_value(name, parsed.problem);
            *field = std::move(*parsed.value);
            return {};
          },
          [field] { return text::render_weights(*field); }});
}

void Schema::add_duration_ms(std::string key, std::int64_t* field, std::string doc, std::int64_t min) {
  std::string name = key;
  add(Key{std::move(key), "ms", std::move(doc), {},
          [name, field, min](std::string_view v) {
            return store_scalar<std::int64_t>(name, v, field,
                                              [&](std::string_view s) { return text::parse_duration_ms(s, min); });
          },
          [field] { return text::render_duration_ms(*field); }});
}

bool Schema::has(std::string_view key) const { return index_.find(key) != index_.end(); }

Result<void> Schema::set(std::string_view key, std::string_view value) {
  auto it = index_.find(key);
  if (it == index_.end()) return bad_value(key, "unknown key");
  return keys_[it->second].set(value);
}

std::string Schema::get(std::string_view key) const {
  auto it = index_.find(key);
  if (it == index_.end()) return {};
  return keys_[it->second].get();
}

std::vector<std::string> Schema::keys() const {
  std::vector<std::string> out;
  out.reserve(keys_.size());
  for (const Key& key : keys_) out.push_back(key.name);
  return out;
}

std::string Schema::render_reference() const {
  std::string out =
      "# shoppulse configuration reference.\n"
      "# Every key with its meaning, unit and default. Lines are `key = value`; '#' starts a comment;\n"
      "# double-quote values containing '#' or ','. Durations take ms, s, m, h or d (bare numbers are ms).\n"
      "# Unknown keys are errors.\n";
  // Groups in order of first registration; keys keep registration order within a group.
  std::vector<std::string> groups;
  auto group_of = [](const std::string& name) { return name.substr(0, name.find('.')); };
  for (const Key& key : keys_) {
    std::string group = group_of(key.name);
    bool seen = false;
    for (const std::string& g : groups) seen = seen || g == group;
    if (!seen) groups.push_back(group);
  }
  for (const std::string& group : groups) {
    out += "\n# [" + group + "]\n";
    for (const Key& key : keys_) {
      if (group_of(key.name) != group) continue;
      out += "\n# " + key.doc + " (";
      if (!key.unit.empty()) out += "unit: " + key.unit + ", ";
      out += "default: " + (key.default_text.empty() ? std::string("empty") : key.default_text) + ")\n";
      out += key.name + " = " + key.default_text + "\n";
    }
  }
  return out;
}

}  // namespace shoppulse::config
