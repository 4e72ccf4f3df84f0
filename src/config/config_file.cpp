// The config file format and environment overrides, on top of Schema::set.
//
// Format: one `key = value` per line. A '#' at the start of a line, or one
// preceded by whitespace outside double quotes, starts a comment; so `a#b` is
// a value but `a # b` is `a` plus a comment. Blank lines are ignored. A key
// given twice is an error (the second would silently win otherwise).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "shoppulse/config/schema.hpp"
#include "value_text.hpp"

namespace shoppulse::config {
namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

// The line without its comment; quotes protect '#'.
std::string_view strip_comment(std::string_view line) {
  bool in_quotes = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_quotes) {
      if (c == '\\' && i + 1 < line.size()) {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '#' && (i == 0 || is_blank(line[i - 1]))) {
      return line.substr(0, i);
    }
  }
  return line;
}

Error at_line(std::string_view origin, long line, std::string key, const std::string& problem) {
  std::string detail = std::string(origin) + ":" + std::to_string(line) + ": " + problem;
  return make_error(Errc::invalid_argument, std::move(detail), std::move(key), line);
}

}  // namespace

Result<void> load_text(Schema& schema, std::string_view input, std::string_view origin) {
  if (input.substr(0, 3) == "\xEF\xBB\xBF") input.remove_prefix(3);  // UTF-8 byte order mark
  std::map<std::string, long, std::less<>> first_line;
  long line_no = 0;
  std::size_t pos = 0;
  while (pos < input.size()) {
    ++line_no;
    std::size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    std::string_view raw = input.substr(pos, end - pos);
    pos = end + 1;
    std::string_view line = text::trim(strip_comment(raw));
    if (line.empty()) continue;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return at_line(origin, line_no, {}, text::show(line) + " is not a `key = value` line");
    }
    std::string key(text::trim(line.substr(0, eq)));
    std::string_view value = text::trim(line.substr(eq + 1));
    if (key.empty()) return at_line(origin, line_no, {}, text::show(line) + " has no key before '='");
    if (auto it = first_line.find(key); it != first_line.end()) {
      return at_line(origin, line_no, key, key + ": set twice (first on line " + std::to_string(it->second) + ")");
    }
    first_line.emplace(key, line_no);
    auto stored = schema.set(key, value);
    if (!stored) return at_line(origin, line_no, key, stored.error().detail);
  }
  return {};
}

Result<void> load_file(Schema& schema, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(Errc::io_error, "cannot open config file " + path + ": " + std::strerror(errno), {});
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return make_error(Errc::io_error, "cannot read config file " + path, {});
  return load_text(schema, content.str(), path);
}

Result<void> apply_environment(Schema& schema, const std::vector<std::pair<std::string, std::string>>& mapping,
                               const std::function<const char*(const char*)>& getenv_fn) {
  for (const auto& [variable, key] : mapping) {
    const char* value = getenv_fn(variable.c_str());
    if (value == nullptr) continue;
    auto stored = schema.set(key, value);
    if (!stored) {
      return make_error(Errc::invalid_argument, "environment variable " + variable + ": " + stored.error().detail,
                        key);
    }
  }
  return {};
}

}  // namespace shoppulse::config
