#pragma once
// SHA-256 (FIPS 180-4) of a byte string, as 64 lower-case hex digits. Keys
// are hashed with it before they are stored; a key is 192 random bits, so a
// plain hash (no salt, no stretching) is enough to make the file useless to
// whoever reads it.
#include <string>
#include <string_view>

namespace shoppulse::auth {

std::string sha256_hex(std::string_view bytes);

}  // namespace shoppulse::auth
