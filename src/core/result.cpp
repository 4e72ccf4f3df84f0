#include "shoppulse/core/result.hpp"

namespace shoppulse {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::method_not_allowed: return "method_not_allowed";
    case Errc::payload_too_large: return "payload_too_large";
    case Errc::unsupported_media: return "unsupported_media_type";
    case Errc::overloaded: return "overloaded";
    case Errc::unavailable: return "unavailable";
    case Errc::no_space: return "no_space";
    case Errc::io_error: return "io_error";
    case Errc::corrupt: return "corrupt";
    case Errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace shoppulse
