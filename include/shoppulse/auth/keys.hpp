#pragma once
// API keys: what a key may do (scopes), how it is stored (hashed, one line
// per key in <data_dir>/auth/keys) and how `shoppulse keys` and the server
// share that file.
//
// A key is "sp_<id>_<secret>": the id (12 hex digits) finds the entry, the
// secret (48 hex digits, 192 random bits) proves possession; only the
// SHA-256 of the secret is stored. The file is rewritten whole (temporary
// file + rename) under an exclusive lock on auth/keys.lock, so the command
// may run while the server is running; the server notices the new file on
// the next request.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/result.hpp"

namespace shoppulse::auth {

// Bit set of what a key may do. admin includes read and ingest.
enum Scope : unsigned {
  kScopeNone = 0,
  kScopeRead = 1,    // GET of analytics, products, status, /metrics, the WebSocket feed
  kScopeIngest = 2,  // POST /api/events
  kScopeAdmin = 4,   // component start/stop, import, logs
};

// "read,ingest" -> bits; nullopt on an unknown name or an empty list.
std::optional<unsigned> parse_scopes(std::string_view text);
std::string scopes_text(unsigned scopes);

struct KeyEntry {
  std::string id;           // 12 hex digits, public
  unsigned scopes = 0;      // Scope bits
  std::string secret_hash;  // SHA-256 hex of the secret part
  std::int64_t created_ms = 0;
  std::int64_t revoked_ms = 0;  // 0 while valid
  std::string name;             // the operator's label
  // A public key is published in a shop's pages: it may only send the six
  // browser event types to POST /api/events, only from these origins, and
  // is rate limited per client address rather than per key.
  bool is_public = false;
  std::vector<std::string> origins;  // "https://shop.example" (scheme://host[:port])

  bool revoked() const noexcept { return revoked_ms != 0; }
};

// The id and secret of a presented key; nullopt when it is not of the form
// sp_<12 hex>_<48 hex>.
struct PresentedKey {
  std::string id;
  std::string secret;
};
std::optional<PresentedKey> split_key(std::string_view key);

// True when secret hashes to entry.secret_hash (constant-time compare).
bool secret_matches(const KeyEntry& entry, std::string_view secret);

// The keys file of one data dir.
// Lifecycle: a value naming a path; each call opens, locks and closes the
// file. Thread: any; calls serialise on the file lock.
class KeyFile {
 public:
  explicit KeyFile(std::string data_dir);

  const std::string& path() const noexcept { return path_; }

  // Every entry, revoked ones included; empty when the file does not exist.
  Result<std::vector<KeyEntry>> load() const;

  struct Created {
    KeyEntry entry;
    std::string key;  // the full key; shown once, never stored
  };
  // Adds a new key. invalid_argument when scopes is empty, when a public key
  // has scopes other than ingest or no origin, or an origin is malformed.
  Result<Created> create(unsigned scopes, std::string name, bool is_public, std::vector<std::string> origins,
                         std::int64_t now_ms) const;
  // Marks the key revoked (by id or by full key). not_found when unknown.
  Result<KeyEntry> revoke(std::string_view id_or_key, std::int64_t now_ms) const;

  // A file identity that changes whenever the file is replaced; 0 when it
  // does not exist. Used by the server to reload only on change.
  std::uint64_t version() const noexcept;

 private:
  std::string dir_;
  std::string path_;
};

// Parses the file's text (exposed for tests). corrupt on a malformed line.
Result<std::vector<KeyEntry>> parse_key_file(std::string_view text);
std::string render_key_file(const std::vector<KeyEntry>& entries);

// "https://Shop.example:443/" -> "https://shop.example"; nullopt when not
// an http(s) origin.
std::optional<std::string> normalize_origin(std::string_view origin);

}  // namespace shoppulse::auth
