#pragma once
// A small JSON tree that keeps the order of object keys, for merging
// members' answers field by field and writing them back in the same shape.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoppulse/core/result.hpp"

namespace shoppulse::cluster::json {

struct Value {
  enum Kind { null, boolean, integer, number, string, array, object };
  Kind kind = null;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  bool money = false;  // a number of two decimals (written "12.50")
  std::string s;
  std::vector<Value> a;
  std::vector<std::pair<std::string, Value>> o;

  Value* find(std::string_view key) {
    for (auto& [k, v] : o)
      if (k == key) return &v;
    return nullptr;
  }
  const Value* find(std::string_view key) const {
    for (const auto& [k, v] : o)
      if (k == key) return &v;
    return nullptr;
  }
  static Value of_bool(bool x) {
    Value v;
    v.kind = boolean;
    v.b = x;
    return v;
  }
  static Value of_int(std::int64_t x) {
    Value v;
    v.kind = integer;
    v.i = x;
    return v;
  }
  static Value of_double(double x) {
    Value v;
    v.kind = number;
    v.d = x;
    return v;
  }
  // An amount in minor units, written with two decimals.
  static Value of_money(std::int64_t minor) {
    Value v;
    v.kind = number;
    v.d = double(minor) / 100.0;
    v.i = minor;
    v.money = true;
    return v;
  }
  static Value of_string(std::string x) {
    Value v;
    v.kind = string;
    v.s = std::move(x);
    return v;
  }
};

Result<Value> parse(std::string_view text);
std::string serialize(const Value& v);
void append_escaped(std::string& out, std::string_view text);

}  // namespace shoppulse::cluster::json
