#pragma once
// Line parsers for the CSV datasets, private to the importer. Each parses one
// line (without its newline and trailing '\r') into `out`, reusing its string
// buffers, and returns nullptr on success or a reason.
#include <string>
#include <string_view>

#include "shoppulse/core/event.hpp"

namespace shoppulse::importer_detail {

// user_id,item_id,category_id,behavior,timestamp
const char* parse_taobao_line(std::string_view line, RawEvent& out, std::string& detail);

struct Rees46Flags {
  bool zero_price = false;  // a purchase with a zero or empty price
};
// event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
const char* parse_rees46_line(std::string_view line, RawEvent& out, std::string& detail, Rees46Flags& flags);

bool is_rees46_header(std::string_view line) noexcept;

// 64-bit content hash of a line (FNV-1a folded through a final mix).
std::uint64_t line_hash(std::string_view line) noexcept;
// Writes a 14-character event id: prefix + 13 base-32 digits of hash.
void derived_event_id(char prefix, std::uint64_t hash, std::string& out);

}  // namespace shoppulse::importer_detail
