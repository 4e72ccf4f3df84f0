#pragma once
// Compact binary writing and bounds-checked reading for rollups and
// checkpoints of derived state: LEB128 varints, zigzag for signed values,
// floating point bit-exact (little-endian IEEE 754), so a restored state
// computes exactly what the saved one would have.
//
// Role: the only place that touches serialised bytes. ByteReader never reads
// past its input; every failure latches `failed()` and later reads return 0,
// so decoders check once at the end of a record. Threading: none.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace shoppulse {

// Writes into a buffer whose spare room it keeps as its own: a value is
// stored in place after one capacity check, with no call per value (a
// checkpoint writes hundreds of millions of them).
class ByteWriter {
 public:
  void u8(std::uint8_t v) {
    *room(1) = static_cast<char>(v);
    ++size_;
  }
  void varint(std::uint64_t v) {
    char* p = room(10);
    std::size_t n = 0;
    while (v >= 0x80) {
      p[n++] = static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    p[n++] = static_cast<char>(v);
    size_ += n;
  }
  void svarint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void bytes(std::string_view b) {
    varint(b.size());
    if (b.empty()) return;
    std::memcpy(room(b.size()), b.data(), b.size());
    size_ += b.size();
  }
  void f32(float v) { fixed(std::bit_cast<std::uint32_t>(v), 4); }
  void f64(double v) { fixed(std::bit_cast<std::uint64_t>(v), 8); }

  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {buffer_.data(), size_}; }
  // Room for `bytes` in all (written and spare) without growing.
  void reserve(std::size_t bytes) {
    if (bytes > buffer_.size()) grow(bytes - size_);
  }
  // Forgets what was written; keeps the room.
  void clear() noexcept { size_ = 0; }
  // The bytes written so far and the room they are in.
  std::size_t capacity() const noexcept { return buffer_.size(); }
  // Gives the room back.
  void release() noexcept {
    std::string().swap(buffer_);
    size_ = 0;
  }
  // What was written, moved out; the writer is empty afterwards.
  std::string take() {
    buffer_.resize(size_);
    size_ = 0;
    std::string out = std::move(buffer_);
    buffer_.clear();
    return out;
  }

 private:
  // Where the next n bytes go; size_ + n <= buffer_.size() afterwards.
  char* room(std::size_t n) {
    if (buffer_.size() - size_ < n) grow(n);
    return buffer_.data() + size_;
  }
  void grow(std::size_t n) {
    // The string's own growth is geometric; the spare room it allocates
    // becomes this writer's.
    buffer_.resize(size_);
    buffer_.reserve(std::max<std::size_t>(size_ + n, 64));
    buffer_.resize(buffer_.capacity());
  }
  void fixed(std::uint64_t v, int n) {
    char* p = room(8);
    for (int i = 0; i < n; ++i, v >>= 8) p[i] = static_cast<char>(v & 0xFF);
    size_ += static_cast<std::size_t>(n);
  }
  std::string buffer_;  // [0, size_) written; the rest is room
  std::size_t size_ = 0;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  bool failed() const noexcept { return failed_; }
  bool at_end() const noexcept { return pos_ == in_.size(); }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  void fail() noexcept { failed_ = true; }

  std::uint8_t u8() noexcept {
    if (failed_ || pos_ >= in_.size()) return fail(), 0;
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint64_t varint() noexcept {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (failed_ || pos_ >= in_.size()) return fail(), 0;
      const auto b = static_cast<std::uint8_t>(in_[pos_++]);
      if (shift == 63 && b > 1) return fail(), 0;  // would overflow 64 bits
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    return fail(), 0;
  }
  std::int64_t svarint() noexcept {
    const std::uint64_t u = varint();
    return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  // A signed value within [-limit, limit]: a time or an hour in a checkpoint
  // past that is damage, and arithmetic on it could overflow.
  std::int64_t svarint_within(std::int64_t limit) noexcept {
    const std::int64_t v = svarint();
    if (v < -limit || v > limit) return fail(), 0;
    return v;
  }
  // A value that must fit in 32 bits.
  std::uint32_t u32() noexcept {
    const std::uint64_t v = varint();
    if (v > 0xFFFFFFFFull) return fail(), 0;
    return static_cast<std::uint32_t>(v);
  }
  // An element count; every element takes at least min_bytes, so a count the
  // remaining input cannot hold is corrupt (and never drives an allocation).
  std::size_t count(std::size_t min_bytes = 1) noexcept {
    const std::uint64_t n = varint();
    if (n > remaining() / (min_bytes ? min_bytes : 1)) return fail(), 0;
    return static_cast<std::size_t>(n);
  }
  float f32() noexcept { return std::bit_cast<float>(static_cast<std::uint32_t>(fixed(4))); }
  double f64() noexcept { return std::bit_cast<double>(fixed(8)); }
  std::string_view bytes() noexcept {
    const std::size_t n = count();
    if (failed_) return {};
    const std::string_view b = in_.substr(pos_, n);
    pos_ += n;
    return b;
  }

 private:
  std::uint64_t fixed(std::size_t n) noexcept {
    if (failed_ || remaining() < n) return fail(), 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v |= std::uint64_t{static_cast<std::uint8_t>(in_[pos_ + i])} << (8 * i);
    pos_ += n;
    return v;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// A 64-bit checksum of bytes (not cryptographic): detects damage in stored
// checkpoints. Eight bytes per step; the result depends only on the bytes.
inline std::uint64_t checksum64(std::string_view bytes) noexcept {
  const auto mix = [](std::uint64_t h, std::uint64_t v) {
    h ^= v * 0x9E3779B97F4A7C15ull;
    h = (h << 27) | (h >> 37);
    return h * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  };
  std::uint64_t h = 0x6A09E667F3BCC908ull ^ bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < 8; ++k) v |= std::uint64_t{static_cast<std::uint8_t>(bytes[i + k])} << (8 * k);
    h = mix(h, v);
  }
  std::uint64_t v = 0;
  for (std::size_t k = 0; i + k < bytes.size(); ++k) v |= std::uint64_t{static_cast<std::uint8_t>(bytes[i + k])} << (8 * k);
  h = mix(h, v);
  h ^= h >> 31;
  return h;
}

}  // namespace shoppulse
