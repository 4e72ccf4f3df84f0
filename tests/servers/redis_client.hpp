#pragma once
// A plain hiredis client for checking what the adapter wrote: the oracle
// reads Redis independently of the writer under test.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace shoppulse::servers {

class RedisClient {
 public:
  explicit RedisClient(std::uint16_t port, long timeout_ms = 10000) {
    const timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c_ || c_->err) throw std::runtime_error("cannot connect to Redis");
    redisSetTimeout(c_, tv);
  }
  ~RedisClient() { redisFree(c_); }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  std::map<std::string, std::string> hgetall(const std::string& key) {
    std::map<std::string, std::string> out;
    auto* r = command({"HGETALL", key});
    for (std::size_t i = 0; i + 1 < r->elements; i += 2)
      out.emplace(std::string(r->element[i]->str, r->element[i]->len),
                  std::string(r->element[i + 1]->str, r->element[i + 1]->len));
    freeReplyObject(r);
    return out;
  }
  // Members with scores, highest score first.
  std::vector<std::pair<std::string, std::string>> zrevrange(const std::string& key) {
    std::vector<std::pair<std::string, std::string>> out;
    auto* r = command({"ZREVRANGE", key, "0", "-1", "WITHSCORES"});
    for (std::size_t i = 0; i + 1 < r->elements; i += 2)
      out.emplace_back(std::string(r->element[i]->str, r->element[i]->len),
                       std::string(r->element[i + 1]->str, r->element[i + 1]->len));
    freeReplyObject(r);
    return out;
  }
  long long integer(const std::vector<std::string>& args) {
    auto* r = command(args);
    const long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    freeReplyObject(r);
    return v;
  }
  void subscribe(const std::string& channel) { freeReplyObject(command({"SUBSCRIBE", channel})); }
  // The next published message on a subscribed channel; nullopt on timeout.
  std::optional<std::string> next_message() {
    void* raw = nullptr;
    if (redisGetReply(c_, &raw) != REDIS_OK || !raw) return std::nullopt;
    auto* r = static_cast<redisReply*>(raw);
    std::optional<std::string> out;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) out.emplace(r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
    return out;
  }

 private:
  redisReply* command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c_, int(argv.size()), argv.data(), lens.data()));
    if (!r) throw std::runtime_error("Redis command failed: " + args[0]);
    return r;
  }
  redisContext* c_ = nullptr;
};

}  // namespace shoppulse::servers
