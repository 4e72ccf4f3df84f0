#include "kafka_server.hpp"

#include <librdkafka/rdkafka.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace shoppulse::servers {
namespace {

std::string fetch_jars() {
  const std::string cmd = std::string(SHOPPULSE_SOURCE_DIR) + "/tests/servers/kafka/fetch.sh";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  std::array<char, 4096> buf{};
  std::string out;
  while (std::fgets(buf.data(), int(buf.size()), p)) out += buf.data();
  const int rc = ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (rc != 0 || out.empty()) throw std::runtime_error(cmd + " failed (needs java and mvn: make deps-test)");
  return out;
}

// A random cluster id in Kafka's form: 16 bytes, URL-safe base64, unpadded.
std::string cluster_id() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device rd;
  std::string id;
  std::uint32_t bits = 0;
  int have = 0;
  for (int i = 0; i < 16; ++i) {
    bits = (bits << 8) | (rd() & 0xff);
    have += 8;
    while (have >= 6) {
      have -= 6;
      id += kAlphabet[(bits >> have) & 63];
    }
  }
  if (have) id += kAlphabet[(bits << (6 - have)) & 63];
  // StorageTool's argument parser takes an id that starts with '-' for an option.
  if (id.front() == '-') id.front() = 'A';
  return id;
}

rd_kafka_t* new_client(rd_kafka_type_t type, const std::string& bootstrap,
                       std::vector<std::pair<std::string, std::string>> extra = {}) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  extra.emplace_back("bootstrap.servers", bootstrap);
  extra.emplace_back("log_level", "0");
  for (const auto& [k, v] : extra) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(k + ": " + err);
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  return rk;
}

bool answers_metadata(const std::string& bootstrap) {
  rd_kafka_t* rk = new_client(RD_KAFKA_PRODUCER, bootstrap);
  const rd_kafka_metadata_t* md = nullptr;
  const bool ok = rd_kafka_metadata(rk, 1, nullptr, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0;
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  return ok;
}

}  // namespace

KafkaServer::KafkaServer() : dir_("kafka") {}
KafkaServer::~KafkaServer() { stop(); }

std::string KafkaServer::bootstrap() const { return "127.0.0.1:" + std::to_string(port_); }

void KafkaServer::start() {
  const std::string libs = fetch_jars() + "/*";
  if (!formatted_) {
    port_ = free_port();
    do controller_port_ = free_port();
    while (controller_port_ == port_);
    const auto props = dir_.path() / "server.properties";
    std::ofstream out(props);
    out << "process.roles=broker,controller\nnode.id=1\n"
        << "controller.quorum.voters=1@127.0.0.1:" << controller_port_ << "\n"
        << "listeners=PLAINTEXT://127.0.0.1:" << port_ << ",CONTROLLER://127.0.0.1:" << controller_port_ << "\n"
        << "advertised.listeners=PLAINTEXT://127.0.0.1:" << port_ << "\n"
        << "controller.listener.names=CONTROLLER\n"
        << "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        << "inter.broker.listener.name=PLAINTEXT\n"
        << "log.dirs=" << (dir_.path() / "data").string() << "\n"
        << "offsets.topic.replication.factor=1\noffsets.topic.num.partitions=3\n"
        << "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n"
        << "group.initial.rebalance.delay.ms=0\nnum.partitions=1\nauto.create.topics.enable=true\n";
    out.close();
    ChildProcess format;
    format.spawn({"java", "-Xmx256m", "-cp", libs, "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c",
                  props.string()},
                 dir_.path() / "format.log");
    if (!wait_for([&] { return !format.alive(); }, Millis(60000)))
      throw std::runtime_error("kafka storage format did not finish:\n" + log_tail());
    formatted_ = true;
  }
  process_.spawn({"java", "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-cp", libs, "kafka.Kafka",
                  (dir_.path() / "server.properties").string()},
                 dir_.path() / "broker.log");
  if (!wait_for([&] { return !process_.alive() || answers_metadata(bootstrap()); }, Millis(90000), Millis(200)) ||
      !process_.alive())
    throw std::runtime_error("kafka broker did not start:\n" + log_tail());
}

void KafkaServer::stop() { process_.terminate(Millis(30000)); }

std::string KafkaServer::log_tail() const {
  std::stringstream ss;
  for (const char* f : {"format.log", "broker.log"}) {
    std::ifstream in(dir_.path() / f);
    ss << in.rdbuf();
  }
  const std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

void KafkaServer::create_topic(const std::string& topic, int partitions) { create_topic(topic, partitions, {}); }

void KafkaServer::create_topic(const std::string& topic, int partitions,
                               const std::vector<std::pair<std::string, std::string>>& configs) {
  rd_kafka_t* rk = new_client(RD_KAFKA_PRODUCER, bootstrap());
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  for (const auto& [key, value] : configs) rd_kafka_NewTopic_set_config(nt, key.c_str(), value.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string error = ev ? "" : "no answer";
  if (ev) {
    if (rd_kafka_event_error(ev)) error = rd_kafka_event_error_string(ev);
    else {
      std::size_t n = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (std::size_t i = 0; i < n; ++i)
        if (rd_kafka_topic_result_error(results[i])) error = rd_kafka_topic_result_error_string(results[i]);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  if (!error.empty()) throw std::runtime_error("create topic " + topic + ": " + error);
}

// Idempotent: a request retried on a loaded machine (one that timed out)
// lands neither twice nor after the messages sent behind it, so one
// partition keeps the order the messages were sent in, as the tests rely on.
TestProducer::TestProducer(const std::string& bootstrap)
    : rk_(new_client(RD_KAFKA_PRODUCER, bootstrap,
                     {{"acks", "all"}, {"linger.ms", "5"}, {"enable.idempotence", "true"}})) {}
TestProducer::~TestProducer() {
  rd_kafka_flush(static_cast<rd_kafka_t*>(rk_), 10000);
  rd_kafka_destroy(static_cast<rd_kafka_t*>(rk_));
}

void TestProducer::send(const std::string& topic, std::int32_t partition, const std::string& key,
                        const std::string& value) {
  auto* rk = static_cast<rd_kafka_t*>(rk_);
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
    if (!err) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    rd_kafka_poll(rk, 50);
  }
}

void TestProducer::flush() {
  if (rd_kafka_flush(static_cast<rd_kafka_t*>(rk_), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("produce: flush timed out");
}

std::vector<ReadMessage> read_topic(const std::string& bootstrap, const std::string& topic, std::size_t count,
                                    Millis timeout) {
  rd_kafka_t* rk = new_client(RD_KAFKA_CONSUMER, bootstrap,
                              {{"group.id", "test-reader"}, {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(rk);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* th = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  int partitions = 0;
  if (rd_kafka_metadata(rk, 0, th, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topic_cnt; ++i) partitions = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(th);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<ReadMessage> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      ReadMessage r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
          r.headers[name] = std::string(static_cast<const char*>(value), size);
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace shoppulse::servers
