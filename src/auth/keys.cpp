#include "shoppulse/auth/keys.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sha256.hpp"

namespace shoppulse::auth {
namespace {

constexpr std::string_view kHeader = "# shoppulse keys v1: id scopes sha256(secret) created_ms revoked_ms public origins name";
constexpr std::size_t kIdHexDigits = 12;
constexpr std::size_t kSecretHexDigits = 48;

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return !s.empty();
}

Result<std::string> random_hex(std::size_t digits) {
  std::string bytes(digits / 2, '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::io_error, std::string("no random bytes: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

bool parse_i64(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// Holds an exclusive flock on <dir>/keys.lock for its lifetime.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);  // released by close
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

Result<std::vector<KeyEntry>> read_entries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::vector<KeyEntry>{};
    return make_error(Errc::io_error, "cannot read the keys file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_key_file(text.str());
}

Result<void> write_entries(const std::string& dir, const std::string& path, const std::vector<KeyEntry>& entries) {
  const std::string tmp = path + ".tmp";
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(Errc::io_error, std::string("cannot write the keys file: ") + std::strerror(errno));
    const std::string text = render_key_file(entries);
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int e = errno;
        ::close(fd);
        return make_error(Errc::io_error, std::string("cannot write the keys file: ") + std::strerror(e));
      }
      done += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) return make_error(Errc::io_error, "cannot sync the keys file");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(Errc::io_error, std::string("cannot replace the keys file: ") + std::strerror(errno));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);  // deliberately ignored: the rename is already visible
    ::close(dfd);
  }
  return {};
}

}  // namespace

std::optional<unsigned> parse_scopes(std::string_view text) {
  unsigned out = 0;
  for (std::string_view part : split(text, ',')) {
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part == "read") out |= kScopeRead;
    else if (part == "ingest") out |= kScopeIngest;
    else if (part == "admin") out |= kScopeAdmin;
    else return std::nullopt;
  }
  return out == 0 ? std::nullopt : std::optional<unsigned>(out);
}

std::string scopes_text(unsigned scopes) {
  std::string out;
  auto add = [&](unsigned bit, const char* name) {
    if (!(scopes & bit)) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(kScopeRead, "read");
  add(kScopeIngest, "ingest");
  add(kScopeAdmin, "admin");
  return out;
}

std::optional<PresentedKey> split_key(std::string_view key) {
  if (key.size() != 3 + kIdHexDigits + 1 + kSecretHexDigits || key.substr(0, 3) != "sp_" ||
      key[3 + kIdHexDigits] != '_')
    return std::nullopt;
  PresentedKey out{std::string(key.substr(3, kIdHexDigits)), std::string(key.substr(4 + kIdHexDigits))};
  if (!is_hex(out.id) || !is_hex(out.secret)) return std::nullopt;
  return out;
}

bool secret_matches(const KeyEntry& entry, std::string_view secret) {
  const std::string hash = sha256_hex(secret);
  if (hash.size() != entry.secret_hash.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < hash.size(); ++i) diff |= static_cast<unsigned char>(hash[i] ^ entry.secret_hash[i]);
  return diff == 0;
}

std::optional<std::string> normalize_origin(std::string_view origin) {
  std::string o;
  for (char c : origin) o += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!o.empty() && o.back() == '/') o.pop_back();
  std::string scheme;
  if (o.rfind("https://", 0) == 0) scheme = "https";
  else if (o.rfind("http://", 0) == 0) scheme = "http";
  else return std::nullopt;
  std::string host = o.substr(scheme.size() + 3);
  if (host.empty() || host.find_first_of("/?#@ \t,") != std::string::npos) return std::nullopt;
  if (scheme == "https" && host.size() > 4 && host.substr(host.size() - 4) == ":443") host.resize(host.size() - 4);
  if (scheme == "http" && host.size() > 3 && host.substr(host.size() - 3) == ":80") host.resize(host.size() - 3);
  return scheme + "://" + host;
}

Result<std::vector<KeyEntry>> parse_key_file(std::string_view text) {
  std::vector<KeyEntry> out;
  long line_no = 0;
  for (std::string_view line : split(text, '\n')) {
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const auto f = split(line, '\t');
    auto bad = [&] { return make_error(Errc::corrupt, "malformed line in the keys file", "", line_no); };
    if (f.size() != 8) return bad();
    KeyEntry e;
    e.id = std::string(f[0]);
    const auto scopes = parse_scopes(f[1]);
    if (!is_hex(e.id) || e.id.size() != kIdHexDigits || !scopes || f[2].size() != 64 || !is_hex(f[2])) return bad();
    e.scopes = *scopes;
    e.secret_hash = std::string(f[2]);
    if (!parse_i64(f[3], e.created_ms) || !parse_i64(f[4], e.revoked_ms)) return bad();
    if (f[5] != "public" && f[5] != "private") return bad();
    e.is_public = f[5] == "public";
    if (!f[6].empty() && f[6] != "-")
      for (std::string_view o : split(f[6], ',')) e.origins.emplace_back(o);
    e.name = std::string(f[7]);
    out.push_back(std::move(e));
  }
  return out;
}

std::string render_key_file(const std::vector<KeyEntry>& entries) {
  std::string out(kHeader);
  out += '\n';
  for (const KeyEntry& e : entries) {
    std::string origins;
    for (const auto& o : e.origins) origins += (origins.empty() ? "" : ",") + o;
    std::string name = e.name;
    for (char& c : name)
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    out += e.id + '\t' + scopes_text(e.scopes) + '\t' + e.secret_hash + '\t' + std::to_string(e.created_ms) + '\t' +
           std::to_string(e.revoked_ms) + '\t' + (e.is_public ? "public" : "private") + '\t' +
           (origins.empty() ? "-" : origins) + '\t' + name + '\n';
  }
  return out;
}

KeyFile::KeyFile(std::string data_dir)
    : dir_(std::move(data_dir) + "/auth"), path_(dir_ + "/keys") {}

Result<std::vector<KeyEntry>> KeyFile::load() const { return read_entries(path_); }

Result<KeyFile::Created> KeyFile::create(unsigned scopes, std::string name, bool is_public,
                                          std::vector<std::string> origins, std::int64_t now_ms) const {
  if (scopes == 0) return make_error(Errc::invalid_argument, "a key needs at least one scope", "scope");
  if (is_public && scopes != kScopeIngest)
    return make_error(Errc::invalid_argument, "a public key may only have the ingest scope", "scope");
  if (is_public && origins.empty())
    return make_error(Errc::invalid_argument, "a public key needs at least one --origin", "origin");
  for (auto& o : origins) {
    auto normal = normalize_origin(o);
    if (!normal) return make_error(Errc::invalid_argument, "not an http(s) origin: " + o, "origin");
    o = *normal;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(Errc::io_error, "cannot create the keys directory: " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  FileLock lock(dir_ + "/keys.lock");
  if (!lock.ok()) return make_error(Errc::io_error, "cannot lock the keys file");
  auto entries = read_entries(path_);
  if (!entries) return std::move(entries).error();
  auto id = random_hex(kIdHexDigits);
  auto secret = random_hex(kSecretHexDigits);
  if (!id) return std::move(id).error();
  if (!secret) return std::move(secret).error();
  KeyEntry e;
  e.id = *id;
  e.scopes = scopes;
  e.secret_hash = sha256_hex(*secret);
  e.created_ms = now_ms;
  e.name = std::move(name);
  e.is_public = is_public;
  e.origins = std::move(origins);
  entries->push_back(e);
  if (auto w = write_entries(dir_, path_, *entries); !w) return std::move(w).error();
  return Created{std::move(e), "sp_" + *id + "_" + *secret};
}

Result<KeyEntry> KeyFile::revoke(std::string_view id_or_key, std::int64_t now_ms) const {
  std::string id(id_or_key);
  if (auto presented = split_key(id_or_key)) id = presented->id;
  FileLock lock(dir_ + "/keys.lock");
  if (!std::filesystem::exists(path_)) return make_error(Errc::not_found, "no key " + id);
  if (!lock.ok()) return make_error(Errc::io_error, "cannot lock the keys file");
  auto entries = read_entries(path_);
  if (!entries) return std::move(entries).error();
  for (KeyEntry& e : *entries) {
    if (e.id != id) continue;
    if (!e.revoked()) e.revoked_ms = now_ms == 0 ? 1 : now_ms;
    KeyEntry out = e;
    if (auto w = write_entries(dir_, path_, *entries); !w) return std::move(w).error();
    return out;
  }
  return make_error(Errc::not_found, "no key " + id);
}

std::uint64_t KeyFile::version() const noexcept {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return 0;
  std::uint64_t v = static_cast<std::uint64_t>(st.st_ino);
  v = v * 1000003u ^ static_cast<std::uint64_t>(st.st_mtim.tv_sec);
  v = v * 1000003u ^ static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
  v = v * 1000003u ^ static_cast<std::uint64_t>(st.st_size);
  return v == 0 ? 1 : v;
}

}  // namespace shoppulse::auth
