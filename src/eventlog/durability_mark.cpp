#include "durability_mark.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "rocksdb_layout.hpp"
#include "shoppulse/core/byte_codec.hpp"

namespace shoppulse::eventlog {
namespace {

constexpr std::string_view kHeader = "shoppulse-durability 1\n";

Error corrupt(std::string what) { return make_error(Errc::corrupt, "durability mark: " + std::move(what)); }

const char* state_name(DurabilityMark::State state) {
  switch (state) {
    case DurabilityMark::State::closed: return "closed";
    case DurabilityMark::State::open_process: return "open-process";
    case DurabilityMark::State::open_fsync: return "open-fsync";
  }
  return "closed";
}

std::string body_of(const DurabilityMark& mark) {
  std::string body(kHeader);
  body += "incarnation " + incarnation_hex(mark.incarnation) + "\n";
  body += "synced_through " + std::to_string(mark.synced_through) + "\n";
  body += std::string("state ") + state_name(mark.state) + "\n";
  for (const PastIncarnation& p : mark.past)
    body += "past " + incarnation_hex(p.id) + " " + std::to_string(p.kept_through) + "\n";
  return body;
}

// write() all of bytes; false with errno set on failure.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

Error os_error(const char* what) {
  // The message names the step and the system's reason, not the path: it
  // may reach an HTTP client through the health endpoint. A full disk is
  // worded as the log's own writes word it, whichever write met it last.
  const int code = errno;
  if (code == ENOSPC)
    return make_error(Errc::no_space, std::string("disk full: the event log cannot write (durability mark: ") + what +
                                          "); it resumes once space is freed");
  return make_error(Errc::io_error, std::string("durability mark: ") + what + ": " + std::strerror(code));
}

}  // namespace

std::string incarnation_hex(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

std::uint64_t new_incarnation_id() {
  std::random_device device;
  std::uint64_t id = 0;
  while (id == 0) id = (std::uint64_t{device()} << 32) ^ device();
  return id;
}

Result<std::optional<DurabilityMark>> read_durability_mark(const std::string& dir) {
  const std::string path = dir + "/" + kDurabilityMarkFile;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    if (errno == ENOENT) return std::optional<DurabilityMark>();
    return os_error("open");
  }
  std::string text;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return os_error("read");

  const std::size_t sum_at = text.rfind("checksum ");
  if (text.compare(0, kHeader.size(), kHeader) != 0 || sum_at == std::string::npos)
    return corrupt("unrecognised contents");
  const std::string body = text.substr(0, sum_at);
  if (text.substr(sum_at) != "checksum " + incarnation_hex(checksum64(body)) + "\n")
    return corrupt("checksum mismatch");

  DurabilityMark mark;
  std::istringstream in(body.substr(kHeader.size()));
  std::string word;
  bool have_incarnation = false;
  while (in >> word) {
    if (word == "incarnation") {
      std::string hex;
      in >> hex;
      mark.incarnation = std::strtoull(hex.c_str(), nullptr, 16);
      have_incarnation = mark.incarnation != 0;
    } else if (word == "synced_through") {
      in >> mark.synced_through;
    } else if (word == "state") {
      std::string state;
      in >> state;
      if (state == "closed") mark.state = DurabilityMark::State::closed;
      else if (state == "open-process") mark.state = DurabilityMark::State::open_process;
      else if (state == "open-fsync") mark.state = DurabilityMark::State::open_fsync;
      else return corrupt("unknown state '" + state + "'");
    } else if (word == "past") {
      std::string hex;
      PastIncarnation p;
      in >> hex >> p.kept_through;
      p.id = std::strtoull(hex.c_str(), nullptr, 16);
      mark.past.push_back(p);
    } else {
      return corrupt("unknown field '" + word + "'");
    }
    if (!in) return corrupt("truncated field '" + word + "'");
  }
  if (!have_incarnation) return corrupt("no incarnation");
  return std::optional<DurabilityMark>(std::move(mark));
}

Result<void> write_durability_mark(const std::string& dir, const DurabilityMark& mark) {
  std::string text = body_of(mark);
  text += "checksum " + incarnation_hex(checksum64(text)) + "\n";
  const std::string path = dir + "/" + kDurabilityMarkFile;
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return os_error("create");
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    Error error = os_error("write");
    ::close(fd);
    ::unlink(temporary.c_str());
    return error;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return os_error("rename");
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return os_error("open directory");
  if (::fsync(dir_fd) != 0) {
    Error error = os_error("sync directory");
    ::close(dir_fd);
    return error;
  }
  ::close(dir_fd);
  return {};
}

Result<void> preserve_tables(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path kept = fs::path(dir) / kPreservedTablesDir;
  std::error_code ec;
  bool made = false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".sst") continue;
    if (!made) {
      fs::create_directories(kept, ec);
      if (ec) return make_error(Errc::io_error, "keep table files: " + ec.message());
      made = true;
    }
    const fs::path link = kept / entry.path().filename();
    if (::link(entry.path().c_str(), link.c_str()) != 0 && errno != EEXIST) return os_error("link table file");
  }
  if (ec) return make_error(Errc::io_error, "list data directory: " + ec.message());
  return {};
}

std::size_t restore_preserved_tables(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path kept = fs::path(dir) / kPreservedTablesDir;
  std::error_code ec;
  std::size_t restored = 0;
  for (const auto& entry : fs::directory_iterator(kept, ec)) {
    const fs::path original = fs::path(dir) / entry.path().filename();
    if (::link(entry.path().c_str(), original.c_str()) == 0) ++restored;
  }
  return restored;
}

void drop_preserved_tables(const std::string& dir) {
  std::error_code ignored;  // a leftover directory of links costs only its names
  std::filesystem::remove_all(std::filesystem::path(dir) / kPreservedTablesDir, ignored);
}

}  // namespace shoppulse::eventlog
