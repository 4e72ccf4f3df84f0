#include "json_tree.hpp"

#include "shoppulse/core/json_text.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace shoppulse::cluster::json {
namespace {

Value convert(simdjson::dom::element e) {
  Value v;
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      v.kind = Value::object;
      simdjson::dom::object object;
      if (e.get(object) != simdjson::SUCCESS) break;
      for (auto field : object) v.o.emplace_back(std::string(field.key), convert(field.value));
      break;
    }
    case simdjson::dom::element_type::ARRAY: {
      v.kind = Value::array;
      simdjson::dom::array array;
      if (e.get(array) != simdjson::SUCCESS) break;
      for (auto x : array) v.a.push_back(convert(x));
      break;
    }
    case simdjson::dom::element_type::INT64:
      v.kind = Value::integer;
      v.i = e.get_int64().value_unsafe();
      break;
    case simdjson::dom::element_type::UINT64:
      v.kind = Value::integer;
      v.i = static_cast<std::int64_t>(e.get_uint64().value_unsafe());
      break;
    case simdjson::dom::element_type::DOUBLE:
      v.kind = Value::number;
      v.d = e.get_double().value_unsafe();
      break;
    case simdjson::dom::element_type::STRING:
      v.kind = Value::string;
      v.s = std::string(e.get_string().value_unsafe());
      break;
    case simdjson::dom::element_type::BOOL:
      v.kind = Value::boolean;
      v.b = e.get_bool().value_unsafe();
      break;
    case simdjson::dom::element_type::NULL_VALUE: break;
  }
  return v;
}

void write(std::string& out, const Value& v) {
  switch (v.kind) {
    case Value::null: out += "null"; break;
    case Value::boolean: out += v.b ? "true" : "false"; break;
    case Value::integer: out += std::to_string(v.i); break;
    case Value::number: {
      char buf[64];
      if (v.money) {
        const bool neg = v.i < 0;
        const std::uint64_t a = neg ? 0 - static_cast<std::uint64_t>(v.i) : static_cast<std::uint64_t>(v.i);
        std::snprintf(buf, sizeof buf, "%s%llu.%02llu", neg ? "-" : "", static_cast<unsigned long long>(a / 100),
                      static_cast<unsigned long long>(a % 100));
        out += buf;
      } else if (!std::isfinite(v.d)) {
        out += "null";
      } else {
        auto r = std::to_chars(buf, buf + sizeof buf, v.d);
        out.append(buf, r.ptr);
      }
      break;
    }
    case Value::string:
      out += '"';
      append_escaped(out, v.s);
      out += '"';
      break;
    case Value::array:
      out += '[';
      for (std::size_t i = 0; i < v.a.size(); ++i) {
        if (i) out += ',';
        write(out, v.a[i]);
      }
      out += ']';
      break;
    case Value::object:
      out += '{';
      for (std::size_t i = 0; i < v.o.size(); ++i) {
        if (i) out += ',';
        out += '"';
        append_escaped(out, v.o[i].first);
        out += "\":";
        write(out, v.o[i].second);
      }
      out += '}';
      break;
  }
}

}  // namespace

Result<Value> parse(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root); err)
    return make_error(Errc::invalid_argument, std::string("a member's answer is not JSON: ") +
                                                  simdjson::error_message(err));
  return convert(root);
}

std::string serialize(const Value& v) {
  std::string out;
  write(out, v);
  return out;
}

void append_escaped(std::string& out, std::string_view text) { append_json_escaped(out, text); }

}  // namespace shoppulse::cluster::json
