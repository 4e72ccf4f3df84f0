#pragma once
// WebSocket subscriptions to windows: a client that shows only some windows
// sends {"type":"subscribe","windows":["1m","1h"]} and from then on gets
// each snapshot with only those windows under "windows" (the top-level 5m
// fields stay, as every client reads them). Plain text handling, no Beast
// and no JSON library: the snapshot is the api module's rendering, whose
// "windows" object is its last member. Thread: pure functions, any thread.
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "shoppulse/core/result.hpp"

namespace shoppulse::http {

// The windows a snapshot carries, in its order; bit i of a mask is window i.
inline constexpr std::array<std::string_view, 5> kSubscribableWindows{"1m", "5m", "15m", "1h", "24h"};
inline constexpr unsigned kAllWindows = (1u << kSubscribableWindows.size()) - 1;

// The mask a subscribe message asks for (windows in the duration vocabulary
// of the API: "1d" is "24h", "60m" is "1h"; an empty list means all
// windows), or invalid_argument naming what is wrong: not JSON of that
// shape, another message type, an unknown window or member.
Result<unsigned> parse_subscription(std::string_view text);

// The message a client gets for a message it sent that was refused:
// {"type":"error","error":"bad_message","detail":...}.
std::string refusal_message(const Error& error);

// The snapshot with only the windows of mask under "windows"; the message
// unchanged when mask is kAllWindows or it has no "windows" object.
std::string select_windows(std::string_view message, unsigned mask);

}  // namespace shoppulse::http
