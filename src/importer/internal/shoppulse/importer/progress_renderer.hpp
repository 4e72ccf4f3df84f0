#pragma once
// Renders ImportProgress for a human on a stream (stderr).
//
// On a terminal: one line redrawn in place — bar, percent, bytes, events,
// rate and ETA. Otherwise (a file, CI logs): a plain line per call, at most
// one every plain_interval_s, plus the final one.
// Threading: one thread at a time (the importing thread).
#include <cstdio>
#include <string>

#include "shoppulse/importer/importer.hpp"

namespace shoppulse {

class ProgressRenderer {
 public:
  // tty: whether `out` is a terminal (see stream_is_terminal).
  ProgressRenderer(std::FILE* out, bool tty, double plain_interval_s = 5.0);

  void operator()(const ImportProgress& p);

  // The text one call would print, without the leading '\r' or newline.
  static std::string format_line(const ImportProgress& p, bool with_bar, std::size_t bar_width = 30);

 private:
  std::FILE* out_;
  bool tty_;
  double plain_interval_s_;
  double last_plain_s_ = -1e9;
};

bool stream_is_terminal(std::FILE* stream) noexcept;

}  // namespace shoppulse
