#pragma once
// Owning wrappers of librdkafka handles, private to the kafka module.
#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/core/result.hpp"

namespace shoppulse::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const noexcept { rd_kafka_topic_destroy(t); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

using ErrorCallback = void (*)(rd_kafka_t*, int, const char*, void*);
using DeliveryCallback = void (*)(rd_kafka_t*, const rd_kafka_message_t*, void*);
using RebalanceCallback = void (*)(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*, void*);

// A client with the given settings; the error callback gets opaque. A
// consumer's main queue is redirected to rd_kafka_consumer_poll.
inline Result<Handle> make_handle(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings,
                                  void* opaque, ErrorCallback on_error, DeliveryCallback on_delivery = nullptr,
                                  RebalanceCallback on_rebalance = nullptr) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return make_error(Errc::invalid_argument, std::string("librdkafka ") + key + ": " + errstr);
    }
  }
  rd_kafka_conf_set_opaque(conf, opaque);
  if (on_error) rd_kafka_conf_set_error_cb(conf, on_error);
  if (on_delivery) rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  if (on_rebalance) rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);  // takes conf on success
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return make_error(Errc::invalid_argument, std::string("librdkafka: ") + errstr);
  }
  if (type == RD_KAFKA_CONSUMER) rd_kafka_poll_set_consumer(rk);
  return Handle(rk);
}

inline void close_consumer(rd_kafka_t* rk) { (void)rd_kafka_consumer_close(rk); }

}  // namespace shoppulse::kafka
